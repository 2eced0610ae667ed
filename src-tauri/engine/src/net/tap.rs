//! A stream wrapper that writes a client conversation into its session log: for the outbound queue
//! (smtpclt.log), whose SMTP dialogue is driven by mail-send rather than by our own code. It sits above
//! TLS, so the log shows the plain text. Message data after DATA is summed up, and AUTH exchanges are
//! masked (the AUTH line by [`Transcript`], the lines answering a 334 entirely).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::transcript::Transcript;

/// Longest partial line kept while waiting for its end.
const MAX_PENDING: usize = 4096;

pub struct Tap<S> {
    inner: S,
    transcript: Transcript,
    sent: Vec<u8>,
    received: Vec<u8>,
    /// Bytes of message data written since DATA (None outside DATA).
    data: Option<usize>,
    /// The last bytes written during DATA, to see the end "\r\n.\r\n".
    data_tail: [u8; 5],
    /// An AUTH exchange is under way: what we send is a credential.
    auth: bool,
}

impl<S> Tap<S> {
    pub fn new(inner: S, transcript: Transcript) -> Tap<S> {
        Tap { inner, transcript, sent: Vec::new(), received: Vec::new(), data: None, data_tail: [0; 5], auth: false }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    pub fn transcript(&self) -> Transcript {
        self.transcript
    }

    fn on_sent(&mut self, bytes: &[u8]) {
        if !self.transcript.on() {
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(count) = self.data.as_mut() {
                // Message data: only counted, until CRLF "." CRLF.
                let mut consumed = 0;
                for &b in rest {
                    consumed += 1;
                    *count += 1;
                    self.data_tail.rotate_left(1);
                    self.data_tail[4] = b;
                    if &self.data_tail == b"\r\n.\r\n" {
                        break;
                    }
                }
                if &self.data_tail == b"\r\n.\r\n" {
                    let n = self.data.take().unwrap_or(0);
                    self.transcript.sent_summary(&format!("<message data: {n} bytes, then \".\">"));
                    self.data_tail = [0; 5];
                }
                rest = &rest[consumed..];
                continue;
            }
            let Some(line) = next_line(&mut self.sent, &mut rest) else { break };
            let upper = line.to_ascii_uppercase();
            if self.auth {
                self.transcript.sent_summary("****");
            } else {
                self.transcript.sent(&line);
            }
            if upper.starts_with(b"AUTH ") {
                self.auth = true;
            } else if upper == b"DATA\r\n" || upper == b"DATA\n" {
                self.data = Some(0);
                self.data_tail = [b'\r', b'\n', 0, 0, 0];
            }
        }
    }

    fn on_received(&mut self, bytes: &[u8]) {
        if !self.transcript.on() {
            return;
        }
        let mut rest = bytes;
        while let Some(line) = next_line(&mut self.received, &mut rest) {
            if self.auth && !line.starts_with(b"334") {
                self.auth = false;
            }
            self.transcript.received(&line);
        }
    }
}

/// Moves bytes from `rest` into `pending` up to and including the next line end; returns the complete
/// line, or `None` when `rest` ran out first (the part stays pending, up to [`MAX_PENDING`] bytes).
fn next_line(pending: &mut Vec<u8>, rest: &mut &[u8]) -> Option<Vec<u8>> {
    let end = rest.iter().position(|&b| b == b'\n').map(|i| i + 1);
    let (part, after) = rest.split_at(end.unwrap_or(rest.len()));
    if pending.len() < MAX_PENDING {
        pending.extend_from_slice(part);
    }
    *rest = after;
    end.map(|_| std::mem::take(pending))
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && self.transcript.on() {
            let new = buf.filled()[before..].to_vec();
            self.on_received(&new);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.on_sent(&buf[..*n]);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
