//! The two ends of a pair: ours (a corio stream, TCP or Unix) and the peer (a plain std
//! socket, non-blocking, driven from the script's task between corio's operations).

use corio::buf::BufResult;
use corio::net::{TcpStream, UnixStream};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};

pub enum Ours {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Ours {
    pub async fn read(&self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        match self {
            Ours::Tcp(s) => s.read(buf).await,
            Ours::Unix(s) => s.read(buf).await,
        }
    }
    pub async fn read_exact(&self, buf: Vec<u8>) -> BufResult<(), Vec<u8>> {
        match self {
            Ours::Tcp(s) => s.read_exact(buf).await,
            Ours::Unix(s) => s.read_exact(buf).await,
        }
    }
    pub async fn write(&self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        match self {
            Ours::Tcp(s) => s.write(buf).await,
            Ours::Unix(s) => s.write(buf).await,
        }
    }
    pub async fn write_all(&self, buf: Vec<u8>) -> BufResult<(), Vec<u8>> {
        match self {
            Ours::Tcp(s) => s.write_all(buf).await,
            Ours::Unix(s) => s.write_all(buf).await,
        }
    }
    pub async fn writev(&self, bufs: Vec<Vec<u8>>) -> BufResult<usize, Vec<Vec<u8>>> {
        match self {
            Ours::Tcp(s) => s.writev(bufs).await,
            Ours::Unix(s) => s.writev(bufs).await,
        }
    }
    pub async fn shutdown(&self) -> io::Result<()> {
        match self {
            Ours::Tcp(s) => s.shutdown(Shutdown::Write).await,
            Ours::Unix(s) => s.shutdown(Shutdown::Write).await,
        }
    }
    pub async fn close(&self) -> io::Result<()> {
        match self {
            Ours::Tcp(s) => s.close().await,
            Ours::Unix(s) => s.close().await,
        }
    }
    pub fn raw(&self) -> RawFd {
        match self {
            Ours::Tcp(s) => s.as_raw_fd(),
            Ours::Unix(s) => s.as_raw_fd(),
        }
    }
}

pub enum Peer {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

/// What one non-blocking read of the peer found.
pub enum Got {
    Data(usize),
    Nothing,
    Eof,
    Error(io::ErrorKind),
}

impl Peer {
    pub fn is_tcp(&self) -> bool {
        matches!(self, Peer::Tcp(_))
    }
    pub fn set_nonblocking(&self) {
        match self {
            Peer::Tcp(s) => s.set_nonblocking(true).unwrap(),
            Peer::Unix(s) => s.set_nonblocking(true).unwrap(),
        }
    }
    pub fn try_read(&mut self, buf: &mut [u8]) -> Got {
        loop {
            let res = match self {
                Peer::Tcp(s) => s.read(buf),
                Peer::Unix(s) => s.read(buf),
            };
            return match res {
                Ok(0) => Got::Eof,
                Ok(n) => Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Got::Error(e.kind()),
            };
        }
    }
    pub fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.write(buf),
            Peer::Unix(s) => s.write(buf),
        }
    }
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Peer::Tcp(s) => s.shutdown(Shutdown::Write),
            Peer::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }
    pub fn raw(&self) -> RawFd {
        match self {
            Peer::Tcp(s) => s.as_raw_fd(),
            Peer::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// Sets an int socket option at SOL_SOCKET level.
pub fn set_sock_opt(fd: RawFd, opt: i32, value: i32) {
    // SAFETY: setsockopt reads an i32 that lives for the call, on an fd the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}
