//! The test world every session target runs against, built once per process: a temporary data
//! directory with a store, the user alice (password "password") and a multipart message in her INBOX,
//! the settings (server name fuzz.test), a TLS manager with its self-signed certificate, bandwidth
//! control without a script, the local domain fuzz.test (for the web service), and a runtime whose one worker thread runs the sessions.
//!
//! [`World::context`] is the only place in fuzz/ that builds a `SessionContext`: when the engine's
//! gains a field, fix it there.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use postroom_engine::access::{Accounts, Bans};
use postroom_engine::bandwidth::Bandwidth;
use postroom_engine::delivery::{deliver, route, Envelope};
use postroom_engine::logwriter::LogFile;
use postroom_engine::net::tls::TlsManager;
use postroom_engine::net::transcript::Transcript;
use postroom_engine::net::{BoxStream, SessionContext};
use postroom_engine::settings::{Protocol, ServiceId, Settings, TlsSettings};
use postroom_engine::store::Store;
use postroom_engine::users::{Directory, UserForm};
use postroom_engine::{imap, pop3, smtp, web};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The message delivered to alice when the world is made (and again if a session expunged it).
pub const MESSAGE: &[u8] = b"From: Bob <bob@far.example>\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\none\r\n--B--\r\n";

/// The folders a new mailbox has; [`World::tidy`] removes any other.
const DEFAULT_FOLDERS: &str = "'INBOX', 'Sent', 'Drafts', 'Trash', 'Junk'";

pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub store: Store,
    pub directory: Directory,
    pub settings: Arc<Settings>,
    pub tls: Arc<TlsManager>,
    pub bandwidth: Arc<Bandwidth>,
    pub smtp: Arc<smtp::Shared>,
    pub imap: Arc<imap::Shared>,
    pub pop3: Arc<pop3::Shared>,
    pub web: Arc<web::Shared>,
    /// Where logins register their sessions with their account.
    pub accounts: Arc<Accounts>,
    /// The engine's shutdown token (never cancelled here); each session gets a child of it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The row id of [`MESSAGE`] in alice's INBOX.
    message: AtomicI64,
    next_session: AtomicU64,
    _dir: tempfile::TempDir,
}

/// The world, made on first use.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(World::new)
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let store = Store::open(&dir.path().join("postroom.db")).unwrap();
        let directory = Directory::new(store.clone());
        let form = UserForm { name: "alice".into(), real_name: "Alice <Fuzz> & \"Co\"".into(), enabled: true, aliases: vec!["sales".into()], password: Some("password".into()), ..UserForm::default() };
        directory.create(form).unwrap();
        // A disabled user: the web service must answer for her address as for anyone's.
        directory.create(UserForm { name: "dora".into(), enabled: false, password: Some("password".into()), ..UserForm::default() }).unwrap();
        let mut settings = Settings::default();
        settings.general.server_name = "fuzz.test".into();
        // No DNS from the fuzzer: sender authentication would wait for a resolver on every message.
        settings.spam = postroom_engine::settings::SpamSettings { spf: false, dkim: false, dmarc: false, arc: false, ..Default::default() };
        let tls = TlsManager::new(dir.path(), &TlsSettings::default(), "fuzz.test").unwrap();
        let bandwidth = Bandwidth::new(dir.path(), &settings.bandwidth);
        // Sessions run on the one worker, with the stack postroomd's workers have.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_stack_size(crate::WORKER_STACK).enable_all().build().unwrap();
        let bans = Arc::new(Bans::new(store.clone()));
        let smtp = Arc::new(smtp::Shared { store: store.clone(), directory: directory.clone(), bans: bans.clone(), queue_wake: Default::default(), auth: Default::default() });
        let imap = Arc::new(imap::Shared::new(store.clone(), directory.clone(), bans.clone()));
        let pop3 = Arc::new(pop3::Shared::new(store.clone(), directory.clone(), bans));
        // The web service answers for local domains only: fuzz.test is one.
        directory.add_domain("fuzz.test").unwrap();
        let registry = Arc::new(postroom_engine::net::Registry::new(&settings.services));
        let web = Arc::new(web::Shared::new(store.clone(), registry));
        let world = World {
            runtime,
            store,
            directory,
            settings: Arc::new(settings),
            tls: Arc::new(tls),
            bandwidth,
            smtp,
            imap,
            pop3,
            web,
            accounts: Arc::default(),
            shutdown: Default::default(),
            message: AtomicI64::new(0),
            next_session: AtomicU64::new(1),
            _dir: dir,
        };
        world.deliver_message();
        world
    }

    fn deliver_message(&self) {
        let alice = self.store.read(|c| route(c, "fuzz.test", &Default::default(), "alice@fuzz.test", false)).unwrap().unwrap();
        let envelope = Envelope { sender: "bob@far.example".into(), recipients: vec![alice], auth_user: None, dsn: Default::default(), spam: Default::default() };
        self.runtime.block_on(deliver(&self.store, envelope, MESSAGE.to_vec())).unwrap();
        let id = self.store.read(|c| Ok(c.query_row("SELECT max(id) FROM messages", [], |r| r.get::<_, i64>(0))?)).unwrap();
        self.message.store(id, Ordering::Relaxed);
    }

    /// A session's context, as the listener would give it for a plain (STARTTLS-capable) connection
    /// from `peer`. Call inside the runtime.
    pub async fn context<S>(&self, shared: Arc<S>, service: ServiceId, peer: SocketAddr) -> SessionContext<S> {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let local: SocketAddr = "127.0.0.1:2525".parse().unwrap();
        let bandwidth = self.bandwidth.connect(session, service, peer, local, &self.settings).await;
        SessionContext {
            shared,
            settings: self.settings.clone(),
            service,
            peer,
            tls: self.tls.clone(),
            // The https service's TLS is taken as done: the fuzzer feeds what comes out of it.
            tls_active: service == ServiceId::Https,
            starttls: true,
            shutdown: self.shutdown.child_token(),
            server_shutdown: self.shutdown.clone(),
            accounts: self.accounts.clone(),
            transcript: match service.protocol() {
                Protocol::Smtp => Transcript::new(LogFile::Smtpsvr),
                Protocol::Pop3 => Transcript::new(LogFile::Pop3svr),
                Protocol::Imap => Transcript::new(LogFile::Imapsvr),
                Protocol::Http => Transcript::none(),
            },
            bandwidth,
        }
    }

    /// Runs one whole session: `data` is what the client sends (then it closes its side) over an
    /// in-memory stream, while everything the server says is read (and printed to stderr, lines cut at
    /// 200 bytes, when `POSTROOM_FUZZ_SHOW` is set). The session must end within 10 s of the client
    /// closing. Afterwards the world is put back as it was ([`World::tidy`]).
    pub fn converse<S, F, Fut>(&self, shared: &Arc<S>, service: ServiceId, peer: &str, data: &[u8], run: F)
    where
        S: Send + Sync + 'static,
        F: FnOnce(SessionContext<S>, BoxStream) -> Fut,
        Fut: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let peer: SocketAddr = peer.parse().unwrap();
        self.runtime.block_on(async {
            let (client, server) = tokio::io::duplex(1 << 16);
            let ctx = self.context(shared.clone(), service, peer).await;
            let session = tokio::spawn(run(ctx, Box::new(server)));
            let (mut reader, mut writer) = tokio::io::split(client);
            let send = async {
                let _ = writer.write_all(data).await;
                let _ = writer.shutdown().await;
            };
            let drain = async {
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink).await;
                sink
            };
            let ((), replies) = tokio::join!(send, drain);
            if show_replies() {
                show(&replies);
            }
            let ended = tokio::time::timeout(Duration::from_secs(10), session).await;
            assert!(ended.is_ok(), "the session did not end after the client closed");
        });
        self.tidy();
    }

    /// Undoes what a session left behind, so the store does not grow run after run and every run
    /// starts from the same state: messages and folders other than the world's own, queued mail, bans
    /// (failed logins would otherwise lock alice out), the flags of the world's message; and if a
    /// session expunged that message, it is delivered again.
    pub fn tidy(&self) {
        let message = self.message.load(Ordering::Relaxed);
        let dirty = self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT (SELECT count(*) FROM messages) != 1
                             OR NOT EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND seen + answered + flagged + deleted + draft + spam = 0 AND keywords = '')
                             OR EXISTS (SELECT 1 FROM folders WHERE path NOT IN ({DEFAULT_FOLDERS}))
                             OR EXISTS (SELECT 1 FROM queue) OR EXISTS (SELECT 1 FROM bans)"
                    ),
                    [message],
                    |r| r.get::<_, bool>(0),
                )?)
            })
            .unwrap_or(true);
        if !dirty {
            return;
        }
        let gone: Vec<String> = self
            .store
            .write(move |c| {
                c.execute("DELETE FROM messages WHERE id != ?1", [message])?;
                c.execute(&format!("DELETE FROM folders WHERE path NOT IN ({DEFAULT_FOLDERS})"), [])?;
                c.execute("UPDATE messages SET seen = 0, answered = 0, flagged = 0, deleted = 0, draft = 0, spam = 0, keywords = '' WHERE id = ?1", [message])?;
                c.execute("DELETE FROM queue", [])?;
                c.execute("DELETE FROM bans", [])?;
                let mut stmt = c.prepare(
                    "DELETE FROM blobs WHERE id NOT IN (SELECT blob_id FROM messages) AND id NOT IN (SELECT blob_id FROM queue)
                     RETURNING sha256, data IS NULL",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?;
                let mut files = Vec::new();
                for row in rows {
                    let (sha256, in_file) = row?;
                    if in_file {
                        files.push(sha256);
                    }
                }
                Ok(files)
            })
            .unwrap();
        let blobs = self.store.blobs_dir();
        for sha256 in gone {
            let _ = std::fs::remove_file(blobs.join(sha256));
        }
        let still_there = self.store.read(move |c| Ok(c.query_row("SELECT count(*) FROM messages WHERE id = ?1", [message], |r| r.get::<_, i64>(0))?)).unwrap();
        if still_there == 0 {
            self.deliver_message();
        }
    }
}

fn show_replies() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("POSTROOM_FUZZ_SHOW").is_some())
}

fn show(replies: &[u8]) {
    for line in replies.split_inclusive(|&b| b == b'\n') {
        let cut = &line[..line.len().min(200)];
        eprintln!("S: {}{}", String::from_utf8_lossy(cut).trim_end(), if cut.len() < line.len() { format!(" …({} bytes)", line.len()) } else { String::new() });
    }
}
