//! compio's runtime as its servers use it: io_uring or nothing.

use std::io;

/// compio's runtime, refused unless it runs on io_uring.
pub(super) fn runtime() -> io::Result<compio::runtime::Runtime> {
    let rt = compio::runtime::RuntimeBuilder::new().build()?;
    if !rt.driver_type().is_iouring() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("compio runs on {:?}, not io_uring", rt.driver_type()),
        ));
    }
    Ok(rt)
}
