//! A pump: one long-lived future per direction that runs corio's owned-buffer operations for
//! a poll-based caller.
//!
//! The poll-based traits borrow the caller's buffer for one call only, while a corio operation
//! owns its buffer until it completes and borrows the stream. So each direction keeps one
//! future, created with the stream (`Rc`-shared, so the future is `'static`) and boxed once,
//! that loops: take a request from the mailbox, run the operation, leave the reply.
//!
//! The pump is never spawned: the poll-based side polls it in place, with the caller's
//! context, right after posting a request and whenever it waits for the reply. Hence:
//! - the operation's waker is always the waker of the task that is waiting for it;
//! - waiting for a request returns `Pending` without keeping a waker — the side that posts a
//!   request polls the pump itself straight after, so nothing needs waking;
//! - an operation in flight belongs to the pump, not to the caller's future: a caller that
//!   stops polling (a dropped `read()` future, an elapsed timeout) leaves it in flight, and the
//!   next call finds it there with whatever it received. No byte is lost, and none is read
//!   twice.
//!
//! Dropping the pump drops its operation: corio then cancels it, keeping what a read
//! received on the stream (its lossless cancellation).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Where a request waits for the pump and the pump's reply waits for the caller.
pub(crate) struct Mailbox<Req, Rep> {
    request: Cell<Option<Req>>,
    reply: Cell<Option<Rep>>,
}

impl<Req, Rep> Mailbox<Req, Rep> {
    /// The pump's side: waits for the next request.
    pub(crate) fn next_request(&self) -> NextRequest<'_, Req, Rep> {
        NextRequest { mailbox: self }
    }

    /// The pump's side: leaves the outcome of the last request.
    #[inline]
    pub(crate) fn reply(&self, rep: Rep) {
        self.reply.set(Some(rep));
    }
}

/// The future of [`Mailbox::next_request`]. `Pending` keeps no waker: see the module docs.
pub(crate) struct NextRequest<'a, Req, Rep> {
    mailbox: &'a Mailbox<Req, Rep>,
}

impl<Req, Rep> Future for NextRequest<'_, Req, Rep> {
    type Output = Req;

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Req> {
        match self.mailbox.request.take() {
            Some(req) => Poll::Ready(req),
            None => Poll::Pending,
        }
    }
}

/// The caller's handle on a pump: post one request at a time, poll for its reply.
pub(crate) struct Pump<Req, Rep> {
    mailbox: Rc<Mailbox<Req, Rep>>,
    future: Pin<Box<dyn Future<Output = ()>>>,
    busy: bool,
}

impl<Req: 'static, Rep: 'static> Pump<Req, Rep> {
    /// Starts a pump: `run(mailbox)` is its loop (it never returns).
    pub(crate) fn new<F, Fut>(run: F) -> Pump<Req, Rep>
    where
        F: FnOnce(Rc<Mailbox<Req, Rep>>) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let mailbox = Rc::new(Mailbox {
            request: Cell::new(None),
            reply: Cell::new(None),
        });
        let future = Box::pin(run(mailbox.clone()));
        Pump {
            mailbox,
            future,
            busy: false,
        }
    }

    /// True from `post` until `poll_reply` has returned the reply.
    #[inline]
    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// Hands `req` to the pump; the caller polls for the reply next.
    #[inline]
    pub(crate) fn post(&mut self, req: Req) {
        assert!(!self.busy, "a pump takes one request at a time");
        self.mailbox.request.set(Some(req));
        self.busy = true;
    }

    /// Runs the pump until the reply to the posted request is there.
    #[inline(always)]
    pub(crate) fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Rep> {
        assert!(self.busy, "poll_reply without a posted request");
        if self.future.as_mut().poll(cx).is_ready() {
            unreachable!("a pump's loop never ends");
        }
        match self.mailbox.reply.take() {
            Some(rep) => {
                self.busy = false;
                Poll::Ready(rep)
            }
            None => Poll::Pending,
        }
    }
}
