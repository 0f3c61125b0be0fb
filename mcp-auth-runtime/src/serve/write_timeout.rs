//! A connection whose writes may not stall longer than the write timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once output has waited for
/// [`ServeConfig::write_timeout`] without any of it being taken: hyper then closes the
/// connection, and its slot is given back. hyper's own timer covers reading headers only, and
/// does not run while hyper waits for a write.
pub(super) struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Created at the first write that has to wait, reset at the next ones: a connection that
    /// never waits costs no timer, and one that waits often allocates once.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether output is waiting, since the timer's deadline minus the timeout.
    armed: bool,
}

impl<T> WriteTimeout<T> {
    pub(super) fn new(inner: T, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            timer: None,
            armed: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> WriteTimeout<T> {
    /// Runs one output operation: any answer disarms the timer; waiting arms it, if it is not
    /// armed yet, and fails once it fires.
    fn timed<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if let Poll::Ready(result) = op(Pin::new(&mut self.inner), cx) {
            self.armed = false;
            return Poll::Ready(result);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timer = match &mut self.timer {
            Some(timer) if self.armed => timer,
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client has not read its answers within the write timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().timed(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .timed(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}
