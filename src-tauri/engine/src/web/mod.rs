//! The web service (`http` on port 80, `https` on 443; both off until the wizard or the admin turns them
//! on): it serves only what mail programs and sending servers fetch to set themselves up —
//!
//! - Thunderbird's autoconfig: `GET /.well-known/autoconfig/mail/config-v1.1.xml` and
//!   `GET /mail/config-v1.1.xml` (the latter as asked of `autoconfig.<domain>`), `?emailaddress=` optional;
//! - Outlook's Autodiscover (POX): `POST /autodiscover/autodiscover.xml`, any letter case;
//! - an Apple configuration profile: `GET /mail.mobileconfig?emailaddress=…`;
//! - the MTA-STS policy: `GET /.well-known/mta-sts.txt`.
//!
//! Anything else is 404; other methods 405. The domain comes from the address asked for, else from the
//! Host (with `autoconfig.`, `autodiscover.` or `mta-sts.` taken off) and must be a local domain.
//!
//! **Nothing tells which addresses exist.** Every address at a local domain gets the same answer, with
//! the address itself as the login (users log in with their name, an alias, or either as an address:
//! see `Directory::verify`) and no real name; only the domain decides between an answer and a 404, and
//! the local domains are public anyway (they are in the MX records).
//!
//! **What a mail program trusts is sent over TLS.** Autodiscover and the profile on a connection without
//! TLS are redirected to `https://` on the same host (302 for GET, as Outlook's redirect method from
//! `http://autodiscover.<domain>` expects; 308 for POST), only for this server's own names, so nobody
//! between can swap the servers in them. Thunderbird's
//! autoconfig (it fetches `http://autoconfig.<domain>` when there is no HTTPS) and the MTA-STS policy
//! (senders fetch it over HTTPS only; a copy over HTTP misleads nobody) are served on both.
//!
//! HTTP/1.1 with keep-alive, read within bounds before anything is parsed: a request head of at most
//! [`MAX_HEAD`] bytes and [`MAX_HEADERS`] fields, complete within [`HEAD_TIMEOUT`] of its first byte
//! (parsed again only when a blank line may have arrived, and empty lines before the request line
//! dropped unparsed, so a head trickled byte by byte costs no more than one sent at once); a body (only Autodiscover's) of at most [`MAX_BODY`] bytes with a Content-Length
//! of digits only (chunked bodies are refused with 411, two lengths or two Hosts with 400); at most
//! [`MAX_REQUESTS`] requests per connection, [`IDLE_TIMEOUT`] between them and [`MAX_LIFETIME`] in all,
//! so a connection slot held by a slow client frees itself within a minute. The database is asked by
//! at most [`LOOKUPS`] requests at a time. Answers are a few kilobytes and are written with the session
//! kit's write deadline. Each request is one line in postroom.log at debug level (target `http`);
//! refusals are at info.

pub mod account;
pub mod documents;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::net::{BoxStream, Registry, SessionContext};
use crate::settings::Settings;
use crate::store::Store;
use account::MailProgramSettings;

/// The largest request head (request line and fields) read.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header fields in one request.
pub const MAX_HEADERS: usize = 48;
/// The largest request body read (an Autodiscover request is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// Time for a request head (from its first byte) and, separately, for its body.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection with no new request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests answered on one connection before it is closed (a mail program asks for one or two).
pub const MAX_REQUESTS: usize = 10;
/// A connection ends this long after it was accepted, whatever it is doing.
pub const MAX_LIFETIME: Duration = Duration::from_secs(60);
/// Requests that read the database at the same time; the others wait their turn.
pub const LOOKUPS: usize = 4;

/// What the web service shares between connections.
pub struct Shared {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub lookups: tokio::sync::Semaphore,
}

impl Shared {
    pub fn new(store: Store, registry: Arc<Registry>) -> Shared {
        Shared { store, registry, lookups: tokio::sync::Semaphore::new(LOOKUPS) }
    }
}

impl crate::net::Service for Shared {
    fn serve(self: Arc<Self>, ctx: SessionContext<()>, stream: BoxStream) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(run(ctx.with_shared(self), stream))
    }

    fn refusal(&self, _server_name: &str, why: &str) -> String {
        plain_response(503, why, true)
    }

    fn denial(&self, _server_name: &str) -> String {
        plain_response(403, "access from your address is not allowed", true)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A whole response with a short text body.
fn plain_response(status: u16, text: &str, close: bool) -> String {
    let body = format!("{text}\n");
    let mut head = head(status, "text/plain; charset=utf-8", body.len(), close);
    head.push_str(&body);
    head
}

fn head(status: u16, content_type: &str, length: usize, close: bool) -> String {
    format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nServer: Postroom\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{}\r\n",
        reason(status),
        crate::time_text::http_date(crate::store::now()),
        if close { "Connection: close\r\n" } else { "" }
    )
}

/// One answer, before it is written.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Extra header fields, each ending in CRLF.
    pub extra: String,
}

impl Answer {
    fn ok(content_type: &'static str, body: String) -> Answer {
        Answer { status: 200, content_type, body, extra: String::new() }
    }

    fn error(status: u16, text: &str) -> Answer {
        Answer { status, content_type: "text/plain; charset=utf-8", body: format!("{text}\n"), extra: String::new() }
    }
}

/// The parts of a request the service acts on, owned (the head's buffer is reused).
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: String,
    pub content_length: Option<usize>,
    pub chunked: bool,
    pub close: bool,
    pub body: Vec<u8>,
}

/// Why a connection ends without a further answer, or with a last error answer.
enum Stop {
    /// The client closed, went quiet between requests, or the server stops: nothing more to say.
    Quiet,
    /// Answer this and close.
    Fail(u16, &'static str),
}

/// Reads one request head into `buf` (bytes after it stay in `buf` for the body or the next request).
async fn read_head(ctx: &SessionContext<Shared>, stream: &mut BoxStream, buf: &mut Vec<u8>) -> Result<Request, Stop> {
    let mut deadline: Option<Instant> = (!buf.is_empty()).then(|| Instant::now() + HEAD_TIMEOUT);
    // A head ends with a blank line: until one may have arrived, what came is not parsed again (a head
    // trickled a byte or a line at a time costs what one sent at once costs).
    let mut complete_possible = !buf.is_empty();
    loop {
        // Empty lines before a request line are ignored (RFC 9112 2.2), here rather than by the parser, so
        // a client sending nothing but line breaks never makes it parse.
        let blank = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        buf.drain(..blank);
        if complete_possible && !buf.is_empty() {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut fields);
            match parsed.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let request = take_request(&parsed)?;
                    buf.drain(..len);
                    return Ok(request);
                }
                Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(Stop::Fail(431, "the request head is too large")),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(Stop::Fail(431, "too many header fields")),
                Err(httparse::Error::Version) => return Err(Stop::Fail(505, "only HTTP/1.0 and HTTP/1.1 are served")),
                Err(_) => return Err(Stop::Fail(400, "the request could not be read")),
            }
        }
        let wait_until = deadline.unwrap_or_else(|| Instant::now() + IDLE_TIMEOUT);
        let mut chunk = [0u8; 4096];
        let room = (MAX_HEAD + 1).saturating_sub(buf.len()).min(chunk.len());
        let read = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Err(Stop::Quiet),
            r = tokio::time::timeout_at(wait_until, stream.read(&mut chunk[..room])) => r,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Quiet),
            Ok(Ok(n)) => {
                // The new bytes with the three before them, where "\n\r\n" or "\n\n" would show.
                let from = buf.len().saturating_sub(3);
                buf.extend_from_slice(&chunk[..n]);
                let tail = &buf[from..];
                complete_possible = tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n") || buf.len() > MAX_HEAD;
                deadline.get_or_insert_with(|| Instant::now() + HEAD_TIMEOUT);
            }
            Err(_) if deadline.is_some() => return Err(Stop::Fail(408, "the request took too long")),
            Err(_) => return Err(Stop::Quiet),
        }
    }
}

fn take_request(parsed: &httparse::Request) -> Result<Request, Stop> {
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: parsed.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        // HTTP/1.0 closes after each answer unless asked otherwise.
        close: parsed.version == Some(0),
        ..Request::default()
    };
    // HTTP/1.1 requires exactly one Host field; HTTP/1.0 may have none.
    let mut hosts = 0;
    for field in parsed.headers.iter() {
        let value = std::str::from_utf8(field.value).unwrap_or("").trim();
        match field.name.to_ascii_lowercase().as_str() {
            "host" => {
                hosts += 1;
                request.host = value.to_ascii_lowercase();
            }
            "content-length" => {
                // Digits only: "+5", " 5" or "5,5" are read differently by different parsers.
                let n: usize = Some(value)
                    .filter(|v| !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse().ok())
                    .ok_or(Stop::Fail(400, "Content-Length is not a number"))?;
                if request.content_length.is_some_and(|m| m != n) {
                    return Err(Stop::Fail(400, "two different Content-Length fields"));
                }
                request.content_length = Some(n);
            }
            "transfer-encoding" => request.chunked = true,
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    request.close = true;
                } else if v.contains("keep-alive") {
                    request.close = false;
                }
            }
            _ => {}
        }
    }
    if hosts > 1 || (hosts == 0 && parsed.version != Some(0)) {
        return Err(Stop::Fail(400, "an HTTP/1.1 request has exactly one Host field"));
    }
    Ok(request)
}

/// Reads the body the request announced, within [`MAX_BODY`] and [`HEAD_TIMEOUT`].
async fn read_body(stream: &mut BoxStream, buf: &mut Vec<u8>, request: &mut Request) -> Result<(), Stop> {
    if request.chunked {
        // Nothing we serve is sent chunked; refusing is simpler and safer than decoding it.
        return Err(Stop::Fail(411, "send the body with a Content-Length"));
    }
    let want = request.content_length.unwrap_or(0);
    if want > MAX_BODY {
        return Err(Stop::Fail(413, "the request body is too large"));
    }
    let deadline = Instant::now() + HEAD_TIMEOUT;
    while buf.len() < want {
        let mut chunk = [0u8; 4096];
        let room = (want - buf.len()).min(chunk.len());
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..room])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Quiet),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err(Stop::Fail(408, "the request body took too long")),
        }
    }
    request.body = buf.drain(..want).collect();
    Ok(())
}

/// Serves one connection to its end, or to [`MAX_LIFETIME`].
pub async fn run(ctx: SessionContext<Shared>, mut stream: BoxStream) -> std::io::Result<()> {
    match tokio::time::timeout(MAX_LIFETIME, serve(&ctx, &mut stream)).await {
        Ok(result) => result,
        Err(_) => {
            tracing::debug!(target: "http", peer = %ctx.peer, "connection ended after its lifetime");
            Ok(())
        }
    }
}

async fn serve(ctx: &SessionContext<Shared>, stream: &mut BoxStream) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    for served in 1..=MAX_REQUESTS {
        let mut request = match read_head(ctx, stream, &mut buf).await {
            Ok(r) => r,
            Err(stop) => return fail(ctx, stream, stop).await,
        };
        if let Err(stop) = read_body(stream, &mut buf, &mut request).await {
            return fail(ctx, stream, stop).await;
        }
        let answer = answer(ctx, &request).await;
        let close = request.close || served == MAX_REQUESTS || ctx.shutdown.is_cancelled();
        tracing::debug!(target: "http", peer = %ctx.peer, service = ctx.service.key(), method = %printable(&request.method), path = %printable(&request.path), status = answer.status, "request");
        let mut bytes = head(answer.status, answer.content_type, answer.body.len(), close);
        if !answer.extra.is_empty() {
            // The extra fields go before the blank line that ends the head.
            bytes.truncate(bytes.len() - 2);
            bytes.push_str(&answer.extra);
            bytes.push_str("\r\n");
        }
        if request.method != "HEAD" {
            bytes.push_str(&answer.body);
        }
        crate::net::write_all(stream, bytes.as_bytes()).await?;
        if close {
            break;
        }
    }
    linger_close(stream).await;
    Ok(())
}

/// Ends the connection so that the client reads our last answer: closing a socket with its requests
/// unread makes the kernel reset it, and a reset can destroy answers the client has not read yet. So the
/// sending side is shut first and what still arrives is read and dropped, [`LINGER_BYTES`] and
/// [`LINGER_TIME`] at most.
async fn linger_close(stream: &mut BoxStream) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        let _ = stream.shutdown().await;
        let mut chunk = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// What [`linger_close`] reads and drops at most.
const LINGER_BYTES: usize = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

async fn fail(ctx: &SessionContext<Shared>, stream: &mut BoxStream, stop: Stop) -> std::io::Result<()> {
    if let Stop::Fail(status, why) = stop {
        tracing::info!(target: "http", peer = %ctx.peer, service = ctx.service.key(), status, reason = why, "request refused");
        crate::net::write_all(stream, plain_response(status, why, true).as_bytes()).await?;
        linger_close(stream).await;
    }
    Ok(())
}

/// At most 200 characters, control characters shown as '?', for the log.
fn printable(text: &str) -> String {
    text.chars().take(200).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The answer to one request.
async fn answer(ctx: &SessionContext<Shared>, request: &Request) -> Answer {
    let path = request.path.to_ascii_lowercase();
    let route = match path.as_str() {
        "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml" => Route::Autoconfig,
        "/autodiscover/autodiscover.xml" => Route::Autodiscover,
        "/mail.mobileconfig" => Route::Profile,
        "/.well-known/mta-sts.txt" => Route::MtaSts,
        _ => return Answer::error(404, "not found"),
    };
    if !ctx.tls_active && matches!(route, Route::Autodiscover | Route::Profile) {
        return redirect_to_https(ctx, request, route).await;
    }
    let allowed = if route == Route::Autodiscover { "POST" } else { "GET, HEAD" };
    if !allowed.split(", ").any(|m| m == request.method) {
        let mut a = Answer::error(405, "method not allowed");
        a.extra = format!("Allow: {allowed}\r\n");
        return a;
    }
    let settings = ctx.settings.clone();
    let status = ctx.shared.registry.snapshot();
    let store = ctx.shared.store.clone();
    let asked = Asked::from_request(request, route);
    let Ok(_turn) = ctx.shared.lookups.acquire().await else { return Answer::error(503, "try again") };
    tokio::task::spawn_blocking(move || respond(&store, &settings, &status, route, asked))
        .await
        .unwrap_or_else(|_| Answer::error(503, "try again"))
}

/// The same host and target over HTTPS (on the standard port: the https service's own port is what the
/// admin publishes for it, and a client asked for this host by name): 302 for GET and HEAD (what
/// Outlook's redirect method expects), 308 for anything else (the method and body stay). Only for this
/// server's own names (a local domain, with its `autodiscover.` or `autoconfig.`, or the server name).
async fn redirect_to_https(ctx: &SessionContext<Shared>, request: &Request, route: Route) -> Answer {
    let host = host_name(&request.host);
    let host_ok = !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    if !host_ok {
        return Answer::error(404, "not a domain of this server");
    }
    let asked = Asked::from_request(request, route);
    let ours = asked.host_domain == ctx.settings.general.server_name || {
        let Ok(_turn) = ctx.shared.lookups.acquire().await else { return Answer::error(503, "try again") };
        let store = ctx.shared.store.clone();
        tokio::task::spawn_blocking(move || is_local(&store, &asked.host_domain)).await.unwrap_or(false)
    };
    if !ours {
        return Answer::error(404, "not a domain of this server");
    }
    let mut target = request.path.clone();
    if !request.query.is_empty() {
        target.push('?');
        target.push_str(&request.query);
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Answer::error(400, "the request target is not plain ASCII");
    }
    let status = if matches!(request.method.as_str(), "GET" | "HEAD") { 302 } else { 308 };
    let mut a = Answer::error(status, "use HTTPS");
    a.extra = format!("Location: https://{host}{target}\r\n");
    a
}

/// A Host field's name, without its port.
fn host_name(host: &str) -> &str {
    host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h)
}

fn is_local(store: &Store, domain: &str) -> bool {
    let domain = domain.to_string();
    store.read(move |c| crate::users::is_local_domain(c, &domain)).unwrap_or(false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Autoconfig,
    Autodiscover,
    Profile,
    MtaSts,
}

/// What the request asks about: an address (query or Autodiscover body) and the Host's domain.
#[derive(Debug)]
struct Asked {
    address: Option<String>,
    host_domain: String,
}

impl Asked {
    fn from_request(request: &Request, route: Route) -> Asked {
        let address = match route {
            Route::Autodiscover => autodiscover_address(&request.body),
            _ => query_value(&request.query, "emailaddress"),
        };
        let host = host_name(&request.host).trim_end_matches('.');
        let host_domain = ["autoconfig.", "autodiscover.", "mta-sts."].iter().find_map(|p| host.strip_prefix(p)).unwrap_or(host).to_string();
        Asked { address: address.map(|a| a.trim().to_ascii_lowercase()), host_domain }
    }
}

/// `name`'s value in a query string, percent-decoded (`+` is a space); `None` if absent or not UTF-8.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k.eq_ignore_ascii_case(name)).then(|| percent_decode(v)).flatten()
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'%' => return None,
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The `<EMailAddress>` of an Autodiscover request (the body is at most [`MAX_BODY`]; no XML parser is
/// needed for one element of a fixed request schema).
fn autodiscover_address(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<EMailAddress>")? + "<EMailAddress>".len();
    let end = start + text[start..].find("</EMailAddress>")?;
    Some(text[start..end].to_string())
}

/// The address asked for, when it is a well-formed address at a local domain: (local part, domain).
fn local_address(c: &rusqlite::Connection, address: &str) -> crate::store::StoreResult<Option<(String, String)>> {
    let Some((local, domain)) = address.rsplit_once('@') else { return Ok(None) };
    let plain = |t: &str| !t.is_empty() && t.len() <= 254 && !t.chars().any(|ch| ch.is_control() || ch.is_whitespace() || "<>\"\\&".contains(ch));
    if !plain(local) || !plain(domain) || !crate::users::is_local_domain(c, domain)? {
        return Ok(None);
    }
    Ok(Some((local.to_string(), domain.to_string())))
}

fn respond(store: &Store, settings: &Settings, status: &[crate::net::ServiceStatus], route: Route, asked: Asked) -> Answer {
    let now = crate::store::now();
    let looked_up = store.read({
        let address = asked.address.clone();
        let host_domain = asked.host_domain.clone();
        move |c| {
            let account = match &address {
                Some(a) => local_address(c, a)?,
                None => None,
            };
            let host_is_local = crate::users::is_local_domain(c, &host_domain)?;
            Ok((account, host_is_local))
        }
    });
    let Ok((account, host_is_local)) = looked_up else {
        return Answer::error(503, "the server is busy; try again");
    };
    let xml = "application/xml; charset=utf-8";
    match route {
        Route::MtaSts => {
            if !host_is_local && account.is_none() {
                return Answer::error(404, "not a domain of this server");
            }
            let days = u64::from(settings.web.mta_sts_max_age_days);
            Answer::ok("text/plain; charset=utf-8", documents::mta_sts(settings.web.mta_sts_mode.key(), &settings.general.server_name, days * 86_400))
        }
        Route::Autoconfig => {
            // One document per domain, whoever asks: Thunderbird puts the address typed in for the placeholder.
            let domain = match (&account, &asked.address) {
                (Some((_, domain)), _) => domain.clone(),
                (None, None) if host_is_local => asked.host_domain.clone(),
                _ => return Answer::error(404, "not a domain of this server"),
            };
            let (incoming, outgoing) = account::servers(settings, status);
            Answer::ok(xml, documents::thunderbird(&domain, "%EMAILADDRESS%", &incoming, &outgoing))
        }
        Route::Autodiscover => match (&account, &asked.address) {
            (Some(found), _) => Answer::ok(xml, documents::autodiscover(&settings_for(settings, status, found))),
            (None, Some(_)) => Answer::ok(xml, documents::autodiscover_error(500, "The e-mail address cannot be found.", now)),
            (None, None) => Answer::ok(xml, documents::autodiscover_error(600, "Invalid Request", now)),
        },
        Route::Profile => {
            let Some(found) = &account else { return Answer::error(404, "not an address at a domain of this server") };
            let mail = settings_for(settings, status, found);
            match documents::mobileconfig(&mail, &settings.general.server_name) {
                Some(profile) => {
                    let mut a = Answer::ok("application/x-apple-aspen-config", profile);
                    a.extra = format!("Content-Disposition: attachment; filename=\"{}.mobileconfig\"\r\n", found.0.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-' && c != '_', "_"));
                    a
                }
                None => Answer::error(404, "no encrypted IMAP, POP3 or SMTP service is on"),
            }
        }
    }
}

/// The settings for an address at a local domain, logging in with the address itself (no real name:
/// the answer is the same whether or not someone has the address).
fn settings_for(settings: &Settings, status: &[crate::net::ServiceStatus], (local, domain): &(String, String)) -> MailProgramSettings {
    let address = format!("{local}@{domain}");
    account::for_user(settings, status, &address, &address, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_bad_escapes_refused() {
        assert_eq!(query_value("a=1&emailaddress=ann%40example.com", "emailaddress").as_deref(), Some("ann@example.com"));
        assert_eq!(query_value("EmailAddress=a+b", "emailaddress").as_deref(), Some("a b"));
        assert_eq!(query_value("emailaddress=%4", "emailaddress"), None);
        assert_eq!(query_value("emailaddress=%zz", "emailaddress"), None);
        assert_eq!(query_value("emailaddress=%ff", "emailaddress"), None, "not UTF-8");
        assert_eq!(query_value("x=1", "emailaddress"), None);
    }

    #[test]
    fn the_autodiscover_address_is_read_from_the_request() {
        let body = b"<Autodiscover><Request><EMailAddress>ann@example.com</EMailAddress></Request></Autodiscover>";
        assert_eq!(autodiscover_address(body).as_deref(), Some("ann@example.com"));
        assert_eq!(autodiscover_address(b"<EMailAddress>unterminated"), None);
    }
}
