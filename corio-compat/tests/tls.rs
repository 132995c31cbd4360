//! The tls_echo example, run as a child process: a rustls client on corio (tokio-rustls over
//! the compat stream) and Debian's `openssl s_client` complete a verified handshake against
//! the generated certificate and get their bytes echoed exactly.

mod support;

use corio_compat::Compat;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{assert_driver, have, noise, run, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls_echo() -> (Server, PathBuf) {
    let cert = std::env::temp_dir().join(format!(
        "corio-compat-{}-{:?}-cert.pem",
        std::process::id(),
        std::thread::current().id()
    ));
    let server = Server::start(
        env!("CARGO_BIN_EXE_tls_echo"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--cert-out",
            cert.to_str().unwrap(),
        ],
    );
    assert_driver(&server);
    (server, cert)
}

fn client_config(
    cert: &PathBuf,
    version: &'static rustls::SupportedProtocolVersion,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).expect("the server's PEM"))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[test]
fn rustls_client_on_corio_gets_its_bytes_echoed() {
    let (server, cert) = tls_echo();
    let addr = server.addr;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&cert, version)));
        run(Duration::from_secs(60), async move {
            let stream = corio::net::TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, Compat::new(stream)).await.unwrap();
            assert_eq!(tls.get_ref().1.protocol_version(), Some(version.version));
            let (mut rd, mut wr) = tokio::io::split(tls);
            let data = noise(11, 1 << 20);
            let send = data.clone();
            let writer = corio::spawn(async move {
                for chunk in send.chunks(50_000) {
                    wr.write_all(chunk).await.unwrap();
                    wr.flush().await.unwrap();
                }
                wr.shutdown().await.unwrap();
            });
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.unwrap();
            assert_eq!(got.len(), data.len());
            assert!(got == data, "echoed bytes differ");
            writer.await.unwrap();
        });
    }
    let _ = std::fs::remove_file(cert);
}

#[test]
fn a_client_trusting_another_certificate_is_refused() {
    let (server, cert) = tls_echo();
    let (_other, other_cert) = tls_echo();
    let addr = server.addr;
    let config = client_config(&other_cert, &rustls::version::TLS13);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    run(Duration::from_secs(30), async move {
        let stream = corio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let err = connector
            .connect(name, Compat::new(stream))
            .await
            .expect_err("the certificate is not trusted");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    });
    let _ = std::fs::remove_file(cert);
    let _ = std::fs::remove_file(other_cert);
}

#[test]
fn openssl_s_client_completes_a_verified_handshake_and_gets_its_bytes_echoed() {
    if !have("openssl", "openssl_s_client_completes_a_verified_handshake") {
        return;
    }
    let (server, cert) = tls_echo();
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &server.addr.to_string()])
        .args(["-servername", "localhost", "-verify_return_error", "-quiet"])
        .arg("-CAfile")
        .arg(&cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    // Printable lines: s_client passes them through unchanged.
    let data: Vec<u8> = noise(12, 64 << 10)
        .iter()
        .enumerate()
        .map(|(i, b)| if i % 64 == 63 { b'\n' } else { b'a' + b % 26 })
        .collect();
    let mut stdin = client.stdin.take().unwrap();
    let send = data.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&send).unwrap();
        stdin // kept open: s_client -quiet would otherwise not wait for the echo
    });
    let mut stdout = client.stdout.take().unwrap();
    let want = data.len();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        while got.len() < want {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    });
    let start = Instant::now();
    while !reader.is_finished() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = client.kill(); // by pid; ends the reader if the echo never came
    let got = reader.join().unwrap();
    let stdin = writer.join().unwrap();
    drop(stdin);
    let mut stderr = String::new();
    let _ = client.stderr.take().unwrap().read_to_string(&mut stderr);
    let _ = client.wait();
    assert_eq!(got.len(), data.len(), "s_client stderr: {stderr}");
    assert!(got == data, "echoed bytes differ");
    let _ = std::fs::remove_file(cert);
}
