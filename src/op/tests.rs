//! Rules about the op files themselves.

/// Issue 21 defect 1: an op's SQE names each of its files only through `SharedFd::file_ref`
/// and the `FileRef` builders, which set the flag that goes with each kind (docs/architecture.md,
/// "What an SQE names"). Two ops built theirs from the raw fd while the driver flagged the SQE
/// as naming a slot, and the kernel read the fd number as another socket's slot. So no op file
/// makes an io_uring file target itself; the close ops, which close a bare number or slot
/// already taken out of its `SharedFd` (into the close's own field, not the fd field), and the
/// working directory (`AT_FDCWD`) are the exceptions.
#[test]
fn no_op_puts_a_file_in_an_sqe_but_through_file_ref() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/op");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "close.rs" || name == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let makes_target = ["types::Fd(", "types::Fixed(", "sqe_fd", "Flags::FIXED_FILE"]
                .iter()
                .any(|p| line.contains(p));
            if makes_target && !line.contains("AT_FDCWD") {
                offenders.push(format!("src/op/{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "ops naming a file in an SQE without FileRef:\n{}",
        offenders.join("\n")
    );
}
