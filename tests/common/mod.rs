//! Shared by the integration tests: run `postroomd` against a temporary data folder on loopback ports,
//! and talk to it over real sockets (plain and TLS).
#![allow(dead_code)]

pub mod dns;
pub mod dovecot;
pub mod imap;
pub mod mail;
pub mod netns;
pub mod postfix;
pub mod rspamd;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

pub const SERVICES: [&str; 7] = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"];

pub fn postroomd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_postroomd"));
    c.env_remove("POSTROOM_DATA_DIR").env("RUST_LOG", "info");
    c
}

/// Runs a `postroomd` command against `dir`, with `stdin` as its input.
pub fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = postroomd()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("postroomd runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(dir: &Path, args: &[&str], stdin: &str) -> String {
    let out = run(dir, args, stdin);
    assert!(out.status.success(), "postroomd {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A port nobody is listening on right now. Taken below the kernel's range for outgoing connections
/// (32768 and up), so that no client socket of a parallel test can take it before the server binds
/// it, and handed out from a per-process counter so that two tests never get the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(0, 20_000 + (std::process::id() % 600) as u16 * 20, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = 20_000 + port.wrapping_sub(20_000) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Stores settings that put every service on its own free loopback port; returns the ports.
pub fn configure_loopback(dir: &Path) -> Vec<(&'static str, u16)> {
    SERVICES
        .iter()
        .map(|s| {
            let port = free_port();
            ok(dir, &["settings", "set", &format!("services.{s}.bind_address"), "127.0.0.1"], "");
            ok(dir, &["settings", "set", &format!("services.{s}.port"), &port.to_string()], "");
            (*s, port)
        })
        .collect()
}

/// A running `postroomd serve`, stopped with SIGTERM when dropped. Its standard error is read as it
/// comes (a full pipe would stall the server) and kept for [`Server::stderr`].
pub struct Server {
    pub dir: PathBuf,
    pub child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    pub fn start(dir: &Path, extra: &[String]) -> Server {
        let child = postroomd()
            .arg("serve")
            .arg("--data-dir")
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("postroomd serve starts");
        let mut child = child;
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            use std::io::Read;
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let server = Server { dir: dir.to_path_buf(), child, stderr: Some(stderr) };
        server.wait_for(|s| s["running"] == true && s["services"].as_array().unwrap().iter().all(|x| x["state"] != "stopped"));
        server
    }

    /// `postroomd status --json` as JSON.
    pub fn status(&self) -> Value {
        let out = run(&self.dir, &["status", "--json"], "");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    pub fn service(&self, id: &str) -> Value {
        self.status()["services"].as_array().unwrap().iter().find(|s| s["id"] == id).cloned().unwrap()
    }

    /// Waits (up to 15 s) until the status satisfies `check`.
    pub fn wait_for(&self, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.status();
            if s.is_object() && check(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "status never matched; last: {s:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

    pub fn stderr(mut self) -> String {
        self.terminate();
        self.stderr.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A line-oriented client over any stream.
pub struct Client<S> {
    pub stream: BufReader<S>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client { stream: BufReader::new(stream) }
    }

    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_line(&mut line)).await.expect("a reply in time").unwrap();
        line
    }

    /// Reads lines until one that `last` accepts; returns them all joined.
    pub async fn until(&mut self, last: impl Fn(&str) -> bool) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed; got so far: {all}");
            all.push_str(&line);
            if last(&line) {
                return all;
            }
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.stream.get_mut().write_all(text.as_bytes()).await.unwrap();
    }
}

pub async fn connect(port: u16) -> Client<TcpStream> {
    Client::new(TcpStream::connect(addr(port)).await.expect("connects"))
}

/// A TLS client that trusts exactly the certificate in `cert_pem`.
pub fn tls_connector(cert_pem: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

pub async fn tls_handshake<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    connector: &tokio_rustls::TlsConnector,
    name: &str,
    stream: S,
) -> tokio_rustls::client::TlsStream<S> {
    connector.connect(ServerName::try_from(name.to_string()).unwrap(), stream).await.expect("TLS handshake")
}

pub fn self_signed_cert(dir: &Path) -> PathBuf {
    dir.join("certs").join("selfsigned.pem")
}
