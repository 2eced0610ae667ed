//! Asking an rspamd the admin runs (`spam.rspamd_url`) about a message: its HTTP protocol, `POST /checkv2`
//! to the normal worker with the envelope in request headers (`IP`, `Helo`, `From`, `Rcpt`, `Hostname`),
//! answered with JSON (`score`, `action`, `symbols`). Its score is added to the built-in one, or replaces it
//! (`spam.rspamd_only`); rspamd's own "reject" action counts as reaching the refusal threshold.
//!
//! Bounds: connect, send and read within `spam.rspamd_timeout` seconds altogether; the answer is read up to
//! [`ANSWER_MAX`] bytes. When rspamd fails, `spam.rspamd_fail_open` says whether the message is accepted
//! without its opinion or deferred (451).

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest answer read.
pub const ANSWER_MAX: u64 = 1024 * 1024;

/// What rspamd said.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub score: f64,
    /// `no action`, `greylist`, `add header`, `rewrite subject`, `soft reject`, `reject`.
    pub action: String,
    /// Its symbols that scored, with their scores, highest first.
    pub symbols: Vec<(String, f64)>,
    /// The reason it gives for its action (`messages.smtp_message`: "Gtube pattern"), if any.
    pub message: String,
}

#[derive(Deserialize)]
struct Reply {
    score: f64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    symbols: std::collections::BTreeMap<String, Symbol>,
    #[serde(default)]
    messages: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

/// The envelope rspamd is told about.
pub struct Envelope<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    pub sender: &'a str,
    pub recipients: &'a [String],
    /// The client's name if its address has one pointing back to it (rspamd's `Hostname`: else "unknown",
    /// which spares rspamd a lookup of its own).
    pub client_name: Option<&'a str>,
}

/// Scans `message` with rspamd at `address` (`HOST:PORT`).
pub async fn check(address: &str, timeout: Duration, envelope: &Envelope<'_>, message: &[u8]) -> Result<Answer, String> {
    tokio::time::timeout(timeout, ask(address, envelope, message)).await.map_err(|_| format!("rspamd at {address} did not answer within {} s", timeout.as_secs()))?
}

/// Header values must not break the request: anything but printable ASCII goes.
fn clean(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(1000).collect()
}

async fn ask(address: &str, envelope: &Envelope<'_>, message: &[u8]) -> Result<Answer, String> {
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("cannot connect to rspamd at {address}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut head = format!(
        "POST /checkv2 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\nIP: {}\r\nHelo: {}\r\nFrom: {}\r\nHostname: {}\r\n",
        clean(address),
        message.len(),
        envelope.ip,
        clean(envelope.helo),
        clean(envelope.sender),
        clean(envelope.client_name.unwrap_or("unknown")),
    );
    for r in envelope.recipients.iter().take(100) {
        head.push_str(&format!("Rcpt: {}\r\n", clean(r)));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(|e| format!("rspamd at {address}: {e}"))?;
    stream.write_all(message).await.map_err(|e| format!("rspamd at {address}: {e}"))?;
    let mut answer = Vec::new();
    (&mut stream).take(ANSWER_MAX).read_to_end(&mut answer).await.map_err(|e| format!("rspamd at {address}: {e}"))?;
    parse(&answer).map_err(|e| format!("rspamd at {address}: {e}"))
}

/// Reads an HTTP answer holding rspamd's JSON.
fn parse(answer: &[u8]) -> Result<Answer, String> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no complete answer")?;
    let status_line = String::from_utf8_lossy(&answer[..split]).lines().next().unwrap_or("").to_string();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered '{status_line}'"));
    }
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let mut body = &answer[split + 4..];
    let dechunked;
    if head.contains("transfer-encoding: chunked") {
        dechunked = dechunk(body)?;
        body = &dechunked;
    }
    let reply: Reply = serde_json::from_slice(body).map_err(|e| format!("unreadable answer: {e}"))?;
    let mut symbols: Vec<(String, f64)> = reply.symbols.into_iter().map(|(name, s)| (name, s.score)).filter(|(_, s)| *s != 0.0).collect();
    symbols.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let message = reply.messages.get("smtp_message").and_then(|m| m.as_str()).map(clean).unwrap_or_default();
    Ok(Answer { score: reply.score, action: reply.action, symbols, message })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("a broken chunk")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| "a broken chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("a short chunk")?);
        body = body.get(size + 2..).ok_or("a short chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_plain_or_chunked_and_errors_named() {
        let json = r#"{"is_skipped":false,"score":7.5,"required_score":15,"action":"add header","symbols":{"GTUBE":{"name":"GTUBE","score":0},"R_SPF_FAIL":{"name":"R_SPF_FAIL","score":1.5},"MISSING_DATE":{"score":6.0}},"messages":{"smtp_message":"Gtube\r\npattern"}}"#;
        let plain = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{json}", json.len());
        let a = parse(plain.as_bytes()).unwrap();
        assert_eq!((a.score, a.action.as_str()), (7.5, "add header"));
        assert_eq!(a.symbols, [("MISSING_DATE".to_string(), 6.0), ("R_SPF_FAIL".to_string(), 1.5)]);
        assert_eq!(a.message, "Gtubepattern", "no line breaks reach the log");
        let chunked = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{json}\r\n0\r\n\r\n", json.len());
        assert_eq!(parse(chunked.as_bytes()).unwrap(), a);
        assert!(parse(b"HTTP/1.1 500 Internal\r\n\r\n{}").unwrap_err().contains("500"));
        assert_eq!(clean("a\r\nInjected: x"), "aInjected: x");
    }
}
