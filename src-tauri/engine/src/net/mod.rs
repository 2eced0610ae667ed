//! Listeners and the accept pipeline.
//!
//! One listener per enabled service. [`run_listeners`] reconciles what is bound with what the settings,
//! the `--listen` overrides and the pause switch ask for, whenever one of them changes: a listener whose
//! address, port or TLS mode changed is closed and bound again; a port that cannot be bound (in use, no
//! permission) marks only that service failed, with the reason, and is retried every [`RETRY_BIND`].
//! Each accepted connection becomes a session task (implicit TLS first where the service asks for it),
//! tracked so that shutdown waits for sessions to say goodbye.

pub mod conversation;
pub mod limits;
pub mod line;
mod registry;
pub mod tap;
pub mod tls;
pub mod transcript;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use conversation::Conversation;
pub use registry::{ConnectionGuard, Registry, ServiceState, ServiceStatus};

use crate::access::login::LoginOutcome;
use crate::settings::{Protocol, ServiceId, Settings, TlsMode};
use tls::TlsManager;

/// How often a service that failed to bind tries again.
pub const RETRY_BIND: Duration = Duration::from_secs(10);
/// Time allowed for a TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A client that does not read our replies for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// A session's replies are sent once this many bytes wait, even while the client pipelines commands: a
/// client that asks for much and reads nothing holds at most this (plus one item) in our memory.
pub const OUTPUT_BOUND: usize = 256 * 1024;

/// Writes everything, or fails if the client does not take it within [`WRITE_TIMEOUT`].
pub async fn write_all<W: tokio::io::AsyncWrite + Unpin + ?Sized>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    tokio::time::timeout(WRITE_TIMEOUT, async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))?
}

/// A byte stream a session runs over: plain TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// What a protocol session is given: what its service shares (`S`), the settings at connect time, and
/// the connection's facts.
pub struct SessionContext<S> {
    pub shared: Arc<S>,
    pub settings: Arc<Settings>,
    pub service: ServiceId,
    pub peer: SocketAddr,
    pub tls: Arc<TlsManager>,
    /// TLS is already on (an implicit-TLS port, or after STARTTLS).
    pub tls_active: bool,
    /// STARTTLS/STLS may be offered.
    pub starttls: bool,
    /// Cancelled when the engine shuts down, or when the logged-in user's account changes (see
    /// [`crate::access::accounts`]); [`SessionContext::server_shutdown`] tells which.
    pub shutdown: CancellationToken,
    pub server_shutdown: CancellationToken,
    /// Where a login registers the session with its account.
    pub accounts: Arc<crate::access::Accounts>,
    /// This conversation's session log (smtpsvr, pop3svr, imapsvr).
    pub transcript: transcript::Transcript,
    /// The connection's bandwidth limit; told about logins.
    pub bandwidth: Arc<crate::bandwidth::Connection>,
}

impl<S> SessionContext<S> {
    /// Registers this session with the account it logged in as: changing the account ends it.
    pub fn logged_in(&self, store: &crate::store::Store, user_id: i64) {
        self.accounts.watch(store, user_id, self.shutdown.clone());
    }

    /// Why the session's token was cancelled: the server stops (true), or the account changed (false).
    pub fn server_stopping(&self) -> bool {
        self.server_shutdown.is_cancelled()
    }

    /// Checks a login (refused while the address or the login is locked; a failure counted towards a
    /// ban); counts the failure in the conversation. The protocol answers in its own words, and calls
    /// [`SessionContext::admit`] once it has taken what it needs (a maildrop lock, a session slot).
    pub async fn check_login(&self, talk: &mut Conversation, service: &'static str, user: &str, password: &str) -> LoginOutcome
    where
        S: LoginDesk,
    {
        let outcome = crate::access::login::check(self.shared.directory(), self.shared.bans(), service, self.peer.ip(), user, password).await;
        if outcome == LoginOutcome::Refused {
            talk.login_refused();
        }
        outcome
    }

    /// The rest of a successful login: the login deadline is lifted, the bandwidth script hears who it
    /// is, and the session is registered with the account (changing the account ends it).
    pub async fn admit(&self, talk: &mut Conversation, verified: &crate::users::VerifiedUser)
    where
        S: LoginDesk,
    {
        talk.logged_in();
        self.bandwidth.login(verified).await;
        self.logged_in(self.shared.store(), verified.id);
    }

    /// Whether a password may be sent on this connection: over TLS, from this computer (private, as
    /// Dovecot treats it), or anywhere when the service's `allow_plaintext_login` setting says so.
    pub fn password_in_clear_allowed(&self, setting_allows: bool) -> bool {
        self.tls_active || self.peer.ip().is_loopback() || setting_allows
    }
}

/// What a service shares that a login needs.
pub trait LoginDesk {
    fn store(&self) -> &crate::store::Store;
    fn directory(&self) -> &crate::users::Directory;
    fn bans(&self) -> &Arc<crate::access::Bans>;
}

/// Implements [`LoginDesk`] for a service's shared state with `store`, `directory` and `bans` fields.
#[macro_export]
macro_rules! login_desk {
    ($shared:ty) => {
        impl $crate::net::LoginDesk for $shared {
            fn store(&self) -> &$crate::store::Store {
                &self.store
            }
            fn directory(&self) -> &$crate::users::Directory {
                &self.directory
            }
            fn bans(&self) -> &std::sync::Arc<$crate::access::Bans> {
                &self.bans
            }
        }
    };
}

/// A protocol served on the listeners. SMTP, POP3 and IMAP each register one at start (see
/// [`NetContext::services`]): the accept pipeline knows no protocol, only this.
pub trait Service: Send + Sync + 'static {
    /// Runs one session to its end, with the service's shared state added to `ctx`.
    fn serve(self: Arc<Self>, ctx: SessionContext<()>, stream: BoxStream) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;
    /// The protocol's way of turning a client away before the greeting, for now (busy, banned).
    fn refusal(&self, server_name: &str, why: &str) -> String;
    /// The protocol's way of saying "not from your address" for good (access restrictions).
    fn denial(&self, server_name: &str) -> String;
}

impl SessionContext<()> {
    /// The same connection with its service's shared state.
    pub fn with_shared<S>(self, shared: Arc<S>) -> SessionContext<S> {
        SessionContext {
            shared,
            settings: self.settings,
            service: self.service,
            peer: self.peer,
            tls: self.tls,
            tls_active: self.tls_active,
            starttls: self.starttls,
            shutdown: self.shutdown,
            server_shutdown: self.server_shutdown,
            accounts: self.accounts,
            transcript: self.transcript,
            bandwidth: self.bandwidth,
        }
    }
}

/// What a protocol session does after a command.
pub enum Next {
    Continue,
    Close,
    /// Upgrade the connection with TLS (STARTTLS / STLS), dropping anything pipelined after it.
    StartTls,
}

/// Everything the listeners need from the engine.
#[derive(Clone)]
pub struct NetContext {
    pub settings: watch::Receiver<Arc<Settings>>,
    pub paused: watch::Receiver<bool>,
    pub overrides: Arc<BTreeMap<ServiceId, SocketAddr>>,
    pub tls: Arc<TlsManager>,
    pub registry: Arc<Registry>,
    pub shutdown: CancellationToken,
    pub sessions: TaskTracker,
    /// The protocols served, registered by the engine at start.
    pub services: Arc<HashMap<Protocol, Arc<dyn Service>>>,
    pub limits: Arc<limits::ConnectionLimits>,
    pub bans: Arc<crate::access::Bans>,
    pub geoip: Arc<crate::geoip::GeoIp>,
    pub bandwidth: Arc<crate::bandwidth::Bandwidth>,
    pub accounts: Arc<crate::access::Accounts>,
}

#[derive(PartialEq, Clone, Copy)]
struct Wanted {
    addr: SocketAddr,
    tls_mode: TlsMode,
}

struct Bound {
    wanted: Wanted,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Keeps the listeners in step with the settings until shutdown.
pub async fn run_listeners(mut ctx: NetContext) {
    let mut bound: BTreeMap<ServiceId, Bound> = BTreeMap::new();
    loop {
        reconcile(&ctx, &mut bound).await;
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            r = ctx.settings.changed() => if r.is_err() { break },
            r = ctx.paused.changed() => if r.is_err() { break },
            _ = tokio::time::sleep(RETRY_BIND) => {}
        }
    }
    for (_, b) in std::mem::take(&mut bound) {
        close(b).await;
    }
}

fn wanted(ctx: &NetContext, id: ServiceId) -> Option<Wanted> {
    let settings = ctx.settings.borrow().clone();
    let s = settings.services.get(id);
    if !s.enabled || *ctx.paused.borrow() {
        return None;
    }
    let addr = match ctx.overrides.get(&id) {
        Some(addr) => *addr,
        None => SocketAddr::new(s.bind_ip()?, s.port),
    };
    Some(Wanted { addr, tls_mode: s.tls_mode })
}

async fn reconcile(ctx: &NetContext, bound: &mut BTreeMap<ServiceId, Bound>) {
    let paused = *ctx.paused.borrow();
    // Close first, so that a port moving between services is free before it is bound again.
    let mut to_bind = Vec::new();
    for id in ServiceId::ALL {
        let want = wanted(ctx, id);
        let current = bound.get(&id).map(|b| b.wanted);
        if current.is_some() && current != want {
            if let Some(b) = bound.remove(&id) {
                close(b).await;
            }
        }
        match want {
            Some(w) if !bound.contains_key(&id) => to_bind.push((id, w)),
            Some(_) => {}
            None => {
                let state = if paused && ctx.settings.borrow().services.get(id).enabled {
                    ServiceState::Paused
                } else {
                    ServiceState::Disabled
                };
                ctx.registry.set_idle(id, state, ctx.settings.borrow().services.get(id));
            }
        }
    }
    for (id, want) in to_bind {
        match TcpListener::bind(want.addr).await {
            Ok(listener) => {
                let local = listener.local_addr().unwrap_or(want.addr);
                tracing::info!(target: "net", service = id.key(), address = %local, "listening");
                ctx.registry.set_running(id, local, want.tls_mode);
                let stop = CancellationToken::new();
                let task = tokio::spawn(accept_loop(ctx.clone(), id, want.tls_mode, listener, stop.clone()));
                bound.insert(id, Bound { wanted: want, stop, task });
            }
            Err(e) => {
                let reason = bind_error_text(want.addr, &e);
                if ctx.registry.set_failed(id, want.addr, want.tls_mode, &reason) {
                    tracing::error!(target: "net", service = id.key(), %reason, "{} cannot start", id.display_name());
                }
            }
        }
    }
}

async fn close(b: Bound) {
    b.stop.cancel();
    let _ = b.task.await;
}

fn bind_error_text(addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!("port {} is already in use by another program", addr.port()),
        std::io::ErrorKind::PermissionDenied => format!(
            "no permission to use port {} (ports below 1024 need administrator rights)",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => format!("{} is not an address of this computer", addr.ip()),
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

async fn accept_loop(ctx: NetContext, id: ServiceId, tls_mode: TlsMode, listener: TcpListener, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            _ = ctx.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((socket, peer)) => {
                let _ = socket.set_nodelay(true);
                let guard = ctx.registry.connection(id);
                let session_ctx = ctx.clone();
                // Every line logged for this connection carries its session id.
                let sid = crate::logging::next_session_id();
                let span = tracing::info_span!("session", sid);
                ctx.sessions.spawn(
                    async move {
                        serve_connection(session_ctx, id, tls_mode, socket, peer, sid).await;
                        drop(guard);
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Out of file descriptors and similar: back off briefly instead of spinning, and log
                // once a second at most so the error list is not flooded.
                static LAST_LOGGED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
                let now = crate::store::now();
                if LAST_LOGGED.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
                    tracing::warn!(target: "net", service = id.key(), error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(ctx: NetContext, id: ServiceId, tls_mode: TlsMode, mut socket: tokio::net::TcpStream, peer: SocketAddr, sid: u64) {
    let settings = ctx.settings.borrow().clone();
    let transcript = transcript_of(id.protocol());
    let Some(service) = ctx.services.get(&id.protocol()).cloned() else {
        tracing::error!(target: "net", service = id.key(), "no {} service registered; connection closed", id.display_name());
        return;
    };
    if transcript.on() {
        let local = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
        transcript.note(&format!("{} connection from {peer} to {local}{}", id.display_name(), if tls_mode == TlsMode::Implicit { " (TLS)" } else { "" }));
    }
    let (per_address, total) = match id.protocol() {
        Protocol::Smtp => (settings.smtp.max_connections_per_address, settings.smtp.max_connections),
        Protocol::Pop3 => (settings.pop3.max_connections_per_address, settings.pop3.max_connections),
        Protocol::Imap => (settings.imap.max_connections_per_address, settings.imap.max_connections),
        Protocol::Http => (limits::HTTP_PER_ADDRESS, limits::HTTP_CONNECTIONS),
    };
    let Some(_slot) = limits::ConnectionLimits::acquire(&ctx.limits, id.protocol(), peer.ip(), per_address, total) else {
        tracing::warn!(target: "security", service = id.key(), %peer, "too many connections; refused");
        let busy = service.refusal(&settings.general.server_name, "too many connections from your address; try later");
        transcript.sent(busy.as_bytes());
        let _ = write_all(&mut socket, busy.as_bytes()).await;
        return;
    };
    let bans = ctx.bans.clone();
    let ip = peer.ip();
    if tokio::task::spawn_blocking(move || bans.address_banned(ip)).await.unwrap_or(false) {
        tracing::info!(target: "security", service = id.key(), %peer, "banned address refused");
        let text = service.refusal(&settings.general.server_name, "too many failed logins from your address; try later");
        transcript.sent(text.as_bytes());
        let _ = write_all(&mut socket, text.as_bytes()).await;
        return;
    }
    if let Err(why) = crate::access::rules::check(&settings, id, peer.ip(), &ctx.geoip.index()) {
        tracing::warn!(target: "security", service = id.key(), %peer, rule = %why, "access refused");
        let text = service.denial(&settings.general.server_name);
        transcript.sent(text.as_bytes());
        let _ = write_all(&mut socket, text.as_bytes()).await;
        return;
    }
    // Bandwidth throttling (the service's setting or the script's answer), below TLS so that everything
    // on the wire counts.
    let local = socket.local_addr().unwrap_or(peer);
    let bandwidth = ctx.bandwidth.connect(sid, id, peer, local, &settings).await;
    let socket = crate::bandwidth::Throttled::new(socket, bandwidth.shaper().clone());
    let stream: BoxStream = if tls_mode == TlsMode::Implicit {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, ctx.tls.acceptor().accept(socket)).await {
            Ok(Ok(tls)) => Box::new(tls),
            Ok(Err(e)) => {
                tracing::info!(target: "net", service = id.key(), %peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(target: "net", service = id.key(), %peer, "TLS handshake timed out");
                return;
            }
        }
    } else {
        Box::new(socket)
    };
    let ended = service.clone().serve(session_context(&ctx, settings, id, peer, tls_mode, bandwidth), stream).await;
    match ended {
        Ok(()) => transcript.note("closed"),
        Err(e) => {
            transcript.note(&format!("closed: {e}"));
            tracing::debug!(target: "net", service = id.key(), %peer, error = %e, "session ended with an error");
        }
    }
}

fn transcript_of(protocol: Protocol) -> transcript::Transcript {
    transcript::Transcript::new(match protocol {
        Protocol::Smtp => crate::logwriter::LogFile::Smtpsvr,
        Protocol::Pop3 => crate::logwriter::LogFile::Pop3svr,
        Protocol::Imap => crate::logwriter::LogFile::Imapsvr,
        Protocol::Http => return transcript::Transcript::none(),
    })
}

fn session_context(ctx: &NetContext, settings: Arc<Settings>, service: ServiceId, peer: SocketAddr, tls_mode: TlsMode, bandwidth: Arc<crate::bandwidth::Connection>) -> SessionContext<()> {
    SessionContext {
        shared: Arc::new(()),
        settings,
        service,
        peer,
        tls: ctx.tls.clone(),
        tls_active: tls_mode == TlsMode::Implicit,
        starttls: tls_mode == TlsMode::Starttls,
        shutdown: ctx.shutdown.child_token(),
        server_shutdown: ctx.shutdown.clone(),
        accounts: ctx.accounts.clone(),
        transcript: transcript_of(service.protocol()),
        bandwidth,
    }
}
