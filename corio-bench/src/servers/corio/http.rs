//! hyper on corio, through corio-compat (`Compat` for hyper's I/O traits, `CorioTimer`).

use super::accept::accept_loop;
use crate::servers::contract::{Counters, Worker};
use crate::servers::http_service;
use corio::DriverChoice;
use hyper::server::conn::http1;
use std::io;
use std::sync::Arc;

pub(super) fn serve(driver: DriverChoice, w: Worker) -> io::Result<()> {
    accept_loop(driver, w, |_, counters| {
        let counters = counters.clone();
        Ok(move |stream| conn(stream, counters.clone()))
    })
}

async fn conn(stream: corio::net::TcpStream, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    let conn = http1::Builder::new()
        .timer(corio_compat::CorioTimer)
        .serve_connection(
            corio_compat::Compat::new(stream),
            http_service::service(counters),
        );
    // A connection that ends in an error (the client reset it) ends only itself.
    let _ = conn.await;
}
