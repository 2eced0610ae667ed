//! A whole SMTP session fed arbitrary client bytes over an in-memory stream, against a real store with
//! one user. It must never panic, and must end once the client has nothing more to say.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use postroom_engine::access::Bans;
use postroom_engine::net::tls::TlsManager;
use postroom_engine::settings::{ServiceId, Settings, TlsSettings};
use postroom_engine::smtp::{self, SessionContext, Shared};
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
        let shared = Arc::new(Shared { store: store.clone(), directory, bans: Arc::new(Bans::new(store)), queue_wake: Default::default() });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        World { runtime, shared, tls: Arc::new(tls), settings: Arc::new(settings), _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    w.runtime.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        let ctx = SessionContext {
            shared: w.shared.clone(),
            settings: w.settings.clone(),
            service: ServiceId::Smtp,
            peer: "192.0.2.1:40000".parse().unwrap(),
            tls: w.tls.clone(),
            tls_active: false,
            starttls: true,
            shutdown: Default::default(),
        };
        let session = tokio::spawn(smtp::run(ctx, Box::new(server)));
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
