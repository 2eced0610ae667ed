//! A whole IMAP session fed arbitrary client bytes over an in-memory stream, against a real store with one
//! user who has a message. The first byte picks whether the bytes come after a login and SELECT, so the
//! fuzzer reaches every command, not only the ones allowed before login. It must never panic, and must end
//! once the client has nothing more to say. This covers imap-codec's framing and parsing as we use them
//! (literal announcements, TOOBIG, IDLE/DONE, AUTHENTICATE continuations) and every handler.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use postroom_engine::access::Bans;
use postroom_engine::net::tls::TlsManager;
use postroom_engine::settings::{ServiceId, Settings, TlsSettings};
use postroom_engine::delivery::{deliver, route, Envelope};
use postroom_engine::imap::{self, SessionContext, Shared};
use postroom_engine::store::Store;
use postroom_engine::users::{Directory, UserForm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    tls: Arc<TlsManager>,
    settings: Arc<Settings>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let store = Store::open(&dir.path().join("postroom.db")).unwrap();
        let directory = Directory::new(store.clone());
        let form = UserForm { name: "alice".into(), real_name: String::new(), enabled: true, aliases: vec![], password: Some("password".into()) };
        directory.create(form).unwrap();
        let mut settings = Settings::default();
        settings.general.server_name = "fuzz.test".into();
        let tls = TlsManager::new(dir.path(), &TlsSettings::default(), "fuzz.test").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let alice = store.read(|c| route(c, "fuzz.test", "alice@fuzz.test", false)).unwrap().unwrap();
        let envelope = Envelope { sender: "bob@far.example".into(), recipients: vec![alice], auth_user: None, dsn: Default::default() };
        let message = b"From: Bob <bob@far.example>\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\none\r\n--B--\r\n".to_vec();
        runtime.block_on(deliver(&store, envelope, message)).unwrap();
        let shared = Arc::new(Shared::new(store.clone(), directory, Arc::new(Bans::new(store))));
        World { runtime, shared, tls: Arc::new(tls), settings: Arc::new(settings), _dir: dir }
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let mut data = Vec::new();
    if mode & 1 == 1 {
        data.extend_from_slice(b"a LOGIN alice password\r\nb SELECT INBOX\r\n");
    }
    data.extend_from_slice(rest);
    let data = &data[..];
    let w = world();
    w.runtime.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let ctx = SessionContext {
            shared: w.shared.clone(),
            settings: w.settings.clone(),
            service: ServiceId::Imap,
            peer: "127.0.0.1:40000".parse().unwrap(),
            tls: w.tls.clone(),
            tls_active: false,
            starttls: true,
            shutdown: Default::default(),
        };
        let session = tokio::spawn(imap::run(ctx, Box::new(server)));
        let (mut reader, mut writer) = tokio::io::split(client);
        let send = async {
            let _ = writer.write_all(data).await;
            let _ = writer.shutdown().await;
        };
        let drain = async {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink).await;
        };
        tokio::join!(send, drain);
        let ended = tokio::time::timeout(Duration::from_secs(10), session).await;
        assert!(ended.is_ok(), "the session did not end after the client closed");
    });
});
