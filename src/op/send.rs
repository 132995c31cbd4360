//! Send (write): the initialized bytes of an owned buffer.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBuf, Slice};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBuf> Operation for Send<B> {
    const OPCODE: Opcode = opcodes::SEND;
    #[inline(always)]
    fn sqe(&mut self) -> squeue::Entry {
        let (ptr, len) = crate::buf::init_bytes(&self.buf);
        self.fd.file_ref().sqe(|fd| {
            // `len <= MAX_RW`: it fits.
            opcode::Send::new(fd, ptr, len as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    #[inline(always)]
    fn attempt(&mut self) -> io::Result<u32> {
        let (ptr, len) = crate::buf::init_bytes(&self.buf);
        crate::sys::raw::send(self.fd.raw(), ptr, len, libc::MSG_NOSIGNAL)
    }
}

impl<B: IoBuf> OpAble for Send<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
}

/// Sends once; returns how many bytes went out.
pub(crate) async fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> BufResult<usize, B> {
    let done = Op::new(Send {
        fd: fd.clone(),
        buf,
    })
    .await;
    (done.result.map(|n| n as usize), done.data.buf)
}

/// Sends every initialized byte of `buf`, looping over short writes (one op at a time; the
/// fd moves from one op to the next).
#[inline(always)]
pub(crate) fn write_all<B: IoBuf>(fd: &SharedFd, buf: B) -> WriteAll<B> {
    let total = buf.bytes_init();
    if total == 0 {
        return WriteAll::Done(Some(buf));
    }
    WriteAll::Sending {
        op: Op::new(Send {
            fd: fd.clone(),
            buf: buf.slice(0..total),
        }),
        total,
    }
}

/// The future of `write_all`.
pub(crate) enum WriteAll<B: IoBuf> {
    /// Nothing to send.
    Done(Option<B>),
    /// The send of `begin..total` of the buffer.
    Sending {
        op: Op<Send<Slice<B>>>,
        total: usize,
    },
}

impl<B: IoBuf> Future for WriteAll<B> {
    type Output = BufResult<(), B>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<(), B>> {
        let (op, total) = match self.get_mut() {
            WriteAll::Sending { op, total } => (op, *total),
            WriteAll::Done(buf) => {
                return Poll::Ready((Ok(()), buf.take().expect("polled after completion")))
            }
        };
        loop {
            let res = ready!(op.poll_result(cx));
            let Send { fd, buf } = op.take_data();
            let begin = match res {
                Ok(0) => {
                    return Poll::Ready((Err(io::ErrorKind::WriteZero.into()), buf.into_inner()))
                }
                Ok(n) => buf.begin() + n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.begin(),
                Err(e) => return Poll::Ready((Err(e), buf.into_inner())),
            };
            let buf = buf.into_inner();
            if begin >= total {
                return Poll::Ready((Ok(()), buf));
            }
            *op = Op::new(Send {
                fd,
                buf: buf.slice(begin..total),
            });
        }
    }
}
