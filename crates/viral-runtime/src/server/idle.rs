//! A connection that is closed when nothing moves on it: no byte read and none written
//! for the idle timeout. It bounds what hyper's header-read timeout does not: a request
//! body trickling in a byte a minute, or a client that stops reading the answer, each of
//! which would otherwise hold a connection (and a place under the connection limit)
//! forever. Any progress in either direction counts, so a long answer that keeps being
//! read, or an event stream with its keep-alives, is never cut.
//!
//! The deadline is moved on every read or write (a cheap store); the timer is only
//! re-armed when it fires before the deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        Self {
            inner,
            timeout,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    fn progress(&mut self) {
        self.deadline = Instant::now() + self.timeout;
    }

    /// Called when the inner stream is not ready: an error once the deadline has passed,
    /// else a wake-up registered for it.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= self.deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nothing read or written within the idle timeout",
                ));
            }
            let deadline = self.deadline;
            self.timer.as_mut().reset(deadline);
        }
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> IdleTimeout<T> {
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progress();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const IDLE: Duration = Duration::from_secs(10);

    /// The paused clock jumps straight to the timer, which tokio rounds up to the next
    /// millisecond.
    fn within_a_tick(elapsed: Duration) -> bool {
        (IDLE..=IDLE + Duration::from_millis(1)).contains(&elapsed)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_given_up_after_the_idle_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = IdleTimeout::new(server, IDLE);
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(within_a_tick(started.elapsed()), "{:?}", started.elapsed());
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_either_way_keeps_the_connection() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = IdleTimeout::new(server, IDLE);
        let mut buf = [0u8; 8];
        let started = Instant::now();
        // Five pauses of most of the timeout, each ended by a byte in, then one out.
        for round in 0..5u8 {
            tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
            if round % 2 == 0 {
                client.write_all(&[round]).await.unwrap();
                assert_eq!(server.read(&mut buf).await.unwrap(), 1);
            } else {
                server.write_all(&[round]).await.unwrap();
                assert_eq!(client.read(&mut buf).await.unwrap(), 1);
            }
        }
        assert!(started.elapsed() > IDLE * 4);
        // Then silence: given up one timeout after the last byte.
        let last = Instant::now();
        assert_eq!(
            server.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        assert!(within_a_tick(last.elapsed()), "{:?}", last.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_is_given_up() {
        let (_client, server) = tokio::io::duplex(16);
        let mut server = IdleTimeout::new(server, IDLE);
        // The pipe holds 16 bytes; the rest waits for a reader that never comes.
        let e = server.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
