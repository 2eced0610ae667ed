//! What every line-based session shares: reading one command line with a length cap, an idle timeout
//! and the engine's shutdown; and the STARTTLS/STLS upgrade, which throws away anything the client
//! pipelined after the command (so no command runs from bytes sent before TLS).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::tls::TlsManager;
use super::BoxStream;

/// What came of waiting for a line.
#[derive(Debug, PartialEq, Eq)]
pub enum LineEvent {
    /// A whole line, with its line ending.
    Line(Vec<u8>),
    /// The line was longer than allowed; it has been read and thrown away.
    TooLong,
    /// The client closed the connection.
    Closed,
    /// The client sent nothing for the idle time.
    Idle,
    /// The engine is shutting down.
    Shutdown,
}

/// Reads the next line of at most `max` bytes.
pub async fn read_line(reader: &mut BufReader<BoxStream>, max: u64, idle: Duration, shutdown: &CancellationToken) -> std::io::Result<LineEvent> {
    let mut line = Vec::new();
    let read = {
        let mut limited = (&mut *reader).take(max + 1);
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(LineEvent::Shutdown),
            r = tokio::time::timeout(idle, limited.read_until(b'\n', &mut line)) => r,
        }
    };
    let Ok(read) = read else { return Ok(LineEvent::Idle) };
    if read? == 0 {
        return Ok(LineEvent::Closed);
    }
    if line.len() as u64 > max {
        if !line.ends_with(b"\n") {
            skip_rest_of_line(reader, max, idle).await?;
        }
        return Ok(LineEvent::TooLong);
    }
    Ok(LineEvent::Line(line))
}

async fn skip_rest_of_line(reader: &mut BufReader<BoxStream>, max: u64, idle: Duration) -> std::io::Result<()> {
    loop {
        let mut junk = Vec::new();
        let read = tokio::time::timeout(idle, (&mut *reader).take(max).read_until(b'\n', &mut junk)).await;
        let n = read.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle in an over-long line"))??;
        if n == 0 || junk.ends_with(b"\n") {
            return Ok(());
        }
    }
}

/// Swaps the plain connection for TLS. The old reader's buffer — whatever the client pipelined after
/// STARTTLS/STLS — is dropped unread.
pub async fn upgrade(reader: &mut BufReader<BoxStream>, tls: &TlsManager) -> std::io::Result<()> {
    let plain = std::mem::replace(reader, BufReader::new(Box::new(tokio::io::empty()) as BoxStream)).into_inner();
    let accepted = tokio::time::timeout(super::TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(plain)).await;
    let stream = accepted.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    *reader = BufReader::new(Box::new(stream));
    Ok(())
}
