//! HTTP requests with huge counts and sizes, for the web service.
//!
//! Layout: shape byte, size (2 bytes), variant byte, then filler.

use crate::gen::{repeat, Gen};

pub const SHAPES: &[&str] = &[
    "many-fields", // one request with N header fields (N ≤ 100,000)
    "long-line",   // a request target, method or field of N bytes (N ≤ 1,000,000)
    "pipelined",   // N requests on one connection (N ≤ 10,000), every path and method
    "body",        // Autodiscover POSTs: huge, doubled or negative Content-Length, chunked, N-byte bodies
    "query",       // an address of N percent-escapes (N ≤ 100,000), or EMailAddress nested N deep
];

pub const MAX: usize = 100_000;
pub const MAX_LINE: usize = 1_000_000;
pub const MAX_REQUESTS: usize = 10_000;

const PATHS: &[&str] = &[
    "/mail/config-v1.1.xml",
    "/mail/config-v1.1.xml?emailaddress=sales%40fuzz.test",
    "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=dora@fuzz.test",
    "/autodiscover/autodiscover.xml",
    "/mail.mobileconfig?emailaddress=alice@fuzz.test",
    "/mail.mobileconfig?emailaddress=nobody%40fuzz.test&emailaddress=x",
    "/.well-known/mta-sts.txt",
    "/",
    "*",
];
/// Fields a client may add, each changing how the connection goes on.
const EXTRAS: &[&str] = &["", "Connection: close", "Connection: keep-alive", "Content-Length: +0", "Host: second.example", "Transfer-Encoding: chunked"];
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "OPTIONS", "CONNECT"];

pub fn generate(g: &mut Gen) -> Vec<u8> {
    let shape = SHAPES[g.choose(SHAPES.len())];
    let max = match shape {
        "long-line" => MAX_LINE,
        "pipelined" => MAX_REQUESTS,
        _ => MAX,
    };
    let n = g.size(max);
    let v = g.byte();
    let mut f = g.fill();
    let mut c = Vec::new();
    match shape {
        "many-fields" => {
            c.extend_from_slice(b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.fuzz.test\r\n");
            for i in 0..n {
                c.extend_from_slice(format!("X-{i}: {}\r\n", f.word(3)).as_bytes());
            }
            c.extend_from_slice(b"\r\n");
        }
        "long-line" => match v % 3 {
            0 => {
                c.extend_from_slice(b"GET /mail/config-v1.1.xml?emailaddress=");
                repeat(&mut c, b"a", n);
                c.extend_from_slice(b" HTTP/1.1\r\nHost: fuzz.test\r\n\r\n");
            }
            1 => {
                repeat(&mut c, b"G", n);
                c.extend_from_slice(b" / HTTP/1.1\r\n\r\n");
            }
            _ => {
                c.extend_from_slice(b"GET / HTTP/1.1\r\nHost: ");
                repeat(&mut c, b"x.", n / 2);
                c.extend_from_slice(b"\r\n\r\n");
            }
        },
        "pipelined" => {
            for _ in 0..n {
                let method = f.pick(METHODS);
                let path = f.pick(PATHS);
                let host = f.pick(&["fuzz.test", "autoconfig.fuzz.test", "mta-sts.fuzz.test:443", "elsewhere.example"]);
                // Bare LF line ends on odd variants, as some clients send.
                let eol = if v % 2 == 1 { "\n" } else { "\r\n" };
                let extra = f.pick(EXTRAS);
                let extra = if extra.is_empty() { String::new() } else { format!("{extra}{eol}") };
                c.extend_from_slice(format!("{method} {path} HTTP/1.{}{eol}Host: {host}{eol}{extra}", f.number(2)).as_bytes());
                if method == "POST" {
                    let who = f.pick(&["alice", "sales", "dora", "nobody", "alice@elsewhere.example"]);
                    let body = format!("<Autodiscover><Request><EMailAddress>{who}@fuzz.test</EMailAddress></Request></Autodiscover>");
                    c.extend_from_slice(format!("Content-Length: {}{eol}{eol}{body}", body.len()).as_bytes());
                } else {
                    c.extend_from_slice(eol.as_bytes());
                }
            }
        }
        "body" => {
            c.extend_from_slice(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.fuzz.test\r\n");
            let length = match v % 6 {
                0 => "18446744073709551616".to_string(),
                1 => "-1".to_string(),
                2 => format!("{n}\r\nContent-Length: {}", n + 1),
                3 => format!("{n}\r\nTransfer-Encoding: chunked"),
                4 => "9".repeat(n.min(10_000) + 1),
                _ => n.to_string(),
            };
            c.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
            c.extend_from_slice(&f.text(n));
        }
        _ => {
            if v % 2 == 0 {
                c.extend_from_slice(b"GET /mail.mobileconfig?emailaddress=");
                repeat(&mut c, b"%41", n);
                c.extend_from_slice(b"@fuzz.test HTTP/1.1\r\nHost: fuzz.test\r\n\r\n");
            } else {
                let mut body = Vec::new();
                repeat(&mut body, b"<EMailAddress>", n);
                body.extend_from_slice(b"alice@fuzz.test");
                repeat(&mut body, b"</EMailAddress>", n);
                c.extend_from_slice(format!("POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: fuzz.test\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
                c.extend_from_slice(&body);
            }
        }
    }
    c
}
