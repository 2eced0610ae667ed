//! The Engine: opens a data folder, starts the services and background tasks, answers the admin API the
//! GUI and the command line use, and shuts everything down gracefully.
//!
//! Life cycle: [`Engine::open`] (folder, lock, database, settings, certificate) → [`Engine::start`]
//! (inside a tokio runtime: listeners, settings watcher, status writer) → [`Engine::shutdown`]
//! (listeners close, sessions say goodbye, tasks end, the writer commits what it holds).
//!
//! Settings flow: a change through this API is validated, committed, then published on a `watch`
//! channel. Changes made by another process (`postroomd settings set`) are noticed by polling SQLite's
//! `data_version` every [`WATCH_INTERVAL`] and published the same way.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{ApiError, ApiResult};
use crate::certs::CertificateInfo;
use crate::net::tls::TlsManager;
use crate::net::{NetContext, Registry, ServiceStatus};
use crate::paths::DataDir;
use crate::logwriter::{LogFile, LogWriterStats};
use crate::settings::{self, LogSettings, ServiceId, Settings, TlsSettings};
use crate::status::{self, RuntimeStatus};
use crate::store::Store;
use crate::users::Directory;
use crate::delivery::quarantine::HeldMessage;
use crate::views::{MailboxAccess, OutboundForm, OutboundView, Overview, ServiceView, SmtpView};

fn not_held(id: i64) -> ApiError {
    ApiError::not_found(format!("no message {id} in the quarantine (released or deleted already)"))
}

/// How often the engine looks for changes made by other processes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// How long shutdown waits for the disk to take the last log lines.
pub const LOG_FLUSH_AT_EXIT: Duration = Duration::from_secs(10);
/// How long shutdown waits for sessions to finish their goodbye.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The wizard's smart host Test gives up after this long (a server that never greets, or port 465
/// waiting for TLS).
const SMART_HOST_TEST_TIME: Duration = Duration::from_secs(45);

#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `--listen SERVICE=HOST:PORT`: where to listen instead of the stored setting; never saved.
    pub listen: BTreeMap<ServiceId, SocketAddr>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    dir: DataDir,
    store: Store,
    directory: Directory,
    options: EngineOptions,
    settings: watch::Sender<Arc<Settings>>,
    paused: watch::Sender<bool>,
    tls: Arc<TlsManager>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    started_at: i64,
    /// Wakes the outbound queue (a message was queued, or another process changed the database).
    queue_wake: Arc<tokio::sync::Notify>,
    /// Sender authentication's resolver and caches (SMTP sessions, the DNS records page).
    auth: Arc<crate::auth::Authenticator>,
    bans: Arc<crate::access::Bans>,
    accounts: Arc<crate::access::Accounts>,
    geoip: Arc<crate::geoip::GeoIp>,
    geoip_import: Arc<Mutex<crate::geoip::ImportState>>,
    /// Counts the GeoIP import's progress reports (the windows follow).
    geoip_progress: watch::Sender<u64>,
    bandwidth: Arc<crate::bandwidth::Bandwidth>,
    lock: File,
}

impl Engine {
    /// Opens the data folder for serving. Fails if another process is already serving it.
    pub fn open(data_dir: &Path, options: EngineOptions) -> ApiResult<Engine> {
        limit_malloc_arenas();
        if let Some(moved) = crate::paths::moved(data_dir) {
            return Err(ApiError::conflict(crate::paths::moved_message(data_dir, &moved)));
        }
        let dir = DataDir::create(data_dir).map_err(|e| ApiError::io(format!("cannot create {}: {e}", data_dir.display())))?;
        let lock = lock_data_dir(&dir)?;
        let store = Store::open(&dir.database()).map_err(|e| ApiError::io(format!("cannot open the database: {e}")))?;
        let settings = settings::load(&store)?;
        let tls = TlsManager::new(&dir.certs(), &settings.tls, &settings.general.server_name)
            .map_err(|e| ApiError::io(format!("cannot prepare the TLS certificate: {e}")))?;
        let registry = Registry::new(&settings.services);
        Ok(Engine {
            inner: Arc::new(Inner {
                directory: Directory::new(store.clone()),
                bans: Arc::new(crate::access::Bans::new(store.clone())),
                accounts: Arc::default(),
                geoip: Arc::new(crate::geoip::GeoIp::default()),
                geoip_import: Arc::new(Mutex::new(Default::default())),
                geoip_progress: watch::Sender::new(0),
                bandwidth: crate::bandwidth::Bandwidth::new(dir.root(), &settings.bandwidth),
                dir,
                store,
                options,
                settings: watch::Sender::new(Arc::new(settings)),
                paused: watch::Sender::new(false),
                tls: Arc::new(tls),
                registry: Arc::new(registry),
                shutdown: CancellationToken::new(),
                sessions: TaskTracker::new(),
                tasks: Mutex::new(Vec::new()),
                started_at: crate::store::now(),
                queue_wake: Arc::new(tokio::sync::Notify::new()),
                auth: Arc::default(),
                lock,
            }),
        })
    }

    /// Starts listeners and background tasks. Call from within a tokio runtime.
    /// The protocols the listeners serve: each registers its shared state here.
    fn protocol_services(&self) -> std::collections::HashMap<crate::settings::Protocol, Arc<dyn crate::net::Service>> {
        let i = &self.inner;
        let smtp = crate::smtp::Shared { store: i.store.clone(), directory: i.directory.clone(), bans: i.bans.clone(), queue_wake: i.queue_wake.clone(), auth: i.auth.clone() };
        let pop3 = crate::pop3::Shared::new(i.store.clone(), i.directory.clone(), i.bans.clone());
        let imap = crate::imap::Shared::new(i.store.clone(), i.directory.clone(), i.bans.clone());
        [
            (crate::settings::Protocol::Smtp, Arc::new(smtp) as Arc<dyn crate::net::Service>),
            (crate::settings::Protocol::Pop3, Arc::new(pop3)),
            (crate::settings::Protocol::Imap, Arc::new(imap)),
            (crate::settings::Protocol::Http, Arc::new(crate::web::Shared::new(i.store.clone(), i.registry.clone()))),
        ]
        .into()
    }

    pub fn start(&self) {
        crate::logging::attach(self.inner.dir.logs(), &self.settings().log);
        if let Err(e) = self.refresh_geoip() {
            tracing::error!(target: "geoip", error = %e, "cannot load the GeoIP data");
        }
        // bandwidth.lua decides from the first connection on.
        self.inner.bandwidth.reload_script(true);
        let ctx = NetContext {
            settings: self.inner.settings.subscribe(),
            paused: self.inner.paused.subscribe(),
            overrides: Arc::new(self.inner.options.listen.clone()),
            tls: self.inner.tls.clone(),
            registry: self.inner.registry.clone(),
            shutdown: self.inner.shutdown.clone(),
            sessions: self.inner.sessions.clone(),
            services: Arc::new(self.protocol_services()),
            limits: Default::default(),
            bans: self.inner.bans.clone(),
            geoip: self.inner.geoip.clone(),
            bandwidth: self.inner.bandwidth.clone(),
            accounts: self.inner.accounts.clone(),
        };
        let queue = crate::queue::client::QueueContext {
            store: self.inner.store.clone(),
            settings: self.inner.settings.subscribe(),
            wake: self.inner.queue_wake.clone(),
            shutdown: self.inner.shutdown.clone(),
        };
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(tokio::spawn(crate::net::run_listeners(ctx)));
        tasks.push(tokio::spawn(crate::queue::client::run(queue)));
        tasks.push(tokio::spawn(watch_other_processes(self.clone())));
        tasks.push(tokio::spawn(write_status(self.clone())));
        tasks.push(tokio::spawn(crate::housekeeping::sweep_now_and_then(self.inner.store.clone(), self.inner.settings.subscribe(), self.inner.shutdown.clone())));
        tasks.push(tokio::spawn(crate::housekeeping::prune_now_and_then(self.inner.store.clone(), self.inner.shutdown.clone())));
        tasks.push(tokio::spawn(crate::spam::upkeep(self.inner.store.clone(), self.inner.settings.subscribe(), self.inner.shutdown.clone())));
        tasks.push(tokio::spawn(end_sessions_of_changed_accounts(self.inner.store.clone(), self.inner.accounts.clone(), self.inner.shutdown.clone())));
        tasks.push(tokio::spawn(crate::bandwidth::control::watch_script(self.inner.bandwidth.clone(), self.inner.shutdown.clone())));
        let collectors = self.clone();
        tasks.push(tokio::spawn(crate::collector::schedule::run(move || collectors.collector_context(), self.inner.shutdown.clone())));
        tracing::info!(target: "engine", data_dir = %self.inner.dir.root().display(), "Postroom started");
    }

    /// Graceful stop: listeners close, open sessions get their protocol's goodbye, background tasks end
    /// and the store commits everything it was given.
    pub async fn shutdown(&self) {
        tracing::info!(target: "engine", "Postroom shutting down");
        self.inner.shutdown.cancel();
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        self.inner.sessions.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.sessions.wait()).await.is_err() {
            tracing::warn!(target: "engine", "some sessions did not end in time");
        }
        let _ = std::fs::remove_file(self.inner.dir.status_file());
        let store = self.inner.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        // Another process may serve the folder now (the system service the app hands it to).
        let _ = self.inner.lock.unlock();
        tracing::info!(target: "engine", "Postroom stopped");
        // Everything logged, written: the log writer's last burst.
        let _ = tokio::task::spawn_blocking(|| crate::logging::shutdown(LOG_FLUSH_AT_EXIT)).await;
    }

    /// Whether shutdown has been requested.
    pub fn is_stopped(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Resolves when shutdown has been requested (by [`Engine::shutdown`]).
    pub async fn stopped(&self) {
        self.inner.shutdown.cancelled().await
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.inner.dir
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The DNS records a local domain should publish, each checked (Domains → DNS records).
    pub async fn domain_records(&self, domain: &str) -> ApiResult<Vec<crate::auth::records::DnsRecord>> {
        let settings = self.settings();
        crate::auth::records::check(&self.inner.store, &settings, &self.inner.auth, domain).await
    }

    /// New DKIM keys for a local domain; the records to publish follow from [`Engine::domain_records`].
    pub async fn rotate_dkim(&self, domain: &str) -> ApiResult<()> {
        let domain = crate::auth::dkim::local_domain(&self.inner.store, domain).await?;
        crate::auth::dkim::rotate(&self.inner.store, &domain).await?;
        Ok(())
    }

    /// The messages held in the quarantine, newest first.
    pub async fn quarantine(&self) -> ApiResult<Vec<HeldMessage>> {
        Ok(self.inner.store.read_async(crate::delivery::quarantine::list).await?)
    }

    /// Delivers a held message to its recipients (exactly once); how many copies were stored.
    pub async fn release_quarantined(&self, id: i64) -> ApiResult<usize> {
        let receipt = self.inner.store.write_async(move |c| crate::delivery::quarantine::release(c, id)).await?;
        let receipt = receipt.ok_or_else(|| not_held(id))?;
        if receipt.queued > 0 {
            self.inner.queue_wake.notify_one();
        }
        tracing::info!(target: "mail", id, local = receipt.local, queued = receipt.queued, "released from the quarantine");
        Ok(receipt.local + receipt.queued)
    }

    pub async fn delete_quarantined(&self, id: i64) -> ApiResult<()> {
        if !self.inner.store.write_async(move |c| crate::delivery::quarantine::delete(c, id)).await? {
            return Err(not_held(id));
        }
        tracing::info!(target: "mail", id, "deleted from the quarantine");
        Ok(())
    }

    /// Puts a held message's sender (its From: address, or the envelope sender without one) on the global
    /// allow list and releases the message; the address added.
    pub async fn allow_quarantined_sender(&self, id: i64) -> ApiResult<String> {
        let address = self.inner.store.read_async(move |c| crate::delivery::quarantine::sender_to_allow(c, id)).await?.ok_or_else(|| not_held(id))?;
        if address.is_empty() {
            return Err(ApiError::conflict("the message has no sender address to allow"));
        }
        let added = address.clone();
        self.update_settings(move |s| {
            s.spam.allow(&added);
            Ok(())
        })?;
        self.release_quarantined(id).await?;
        Ok(address)
    }

    /// What the Bayesian classifier has learnt.
    pub async fn bayes_status(&self) -> ApiResult<crate::spam::bayes::BayesStatus> {
        Ok(self.inner.store.read_async(crate::spam::bayes::status).await?)
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.inner.settings.borrow().clone()
    }

    /// What the user `name` types into a mail program (Users → user → Mail Program).
    pub fn mail_program_settings(&self, name: &str) -> ApiResult<crate::web::account::MailProgramSettings> {
        crate::web::account::for_named_user(&self.inner.store, &self.settings(), &self.inner.registry.snapshot(), name)
    }

    /// The Apple Mail profile for the user `name` (what `/mail.mobileconfig` serves).
    pub fn mail_profile(&self, name: &str) -> ApiResult<String> {
        let settings = self.settings();
        let account = self.mail_program_settings(name)?;
        crate::web::documents::mobileconfig(&account, &settings.general.server_name)
            .ok_or_else(|| ApiError::conflict("no encrypted IMAP, POP3 or SMTP service is on: turn one on in the Services window"))
    }

    /// What a mail collector's download needs, with the settings now in effect.
    fn collector_context(&self) -> crate::collector::Context {
        crate::collector::Context { store: self.inner.store.clone(), auth: self.inner.auth.clone(), settings: self.settings(), bandwidth: self.inner.bandwidth.clone() }
    }

    // ----- First-run wizard (setup.rs) -----

    /// Whether the wizard is needed (no users and no local domains), and the plan it starts from.
    pub fn setup_start(&self) -> ApiResult<crate::setup::SetupStart> {
        let empty = self.inner.store.read(|c| {
            Ok(c.query_row("SELECT NOT EXISTS (SELECT 1 FROM users WHERE deleted_at IS NULL) AND NOT EXISTS (SELECT 1 FROM domains)", [], |r| r.get::<_, bool>(0))?)
        })?;
        Ok(crate::setup::SetupStart { needed: empty, plan: crate::setup::starting_plan(&self.settings()) })
    }

    /// The problems on one page of the wizard (every page with `None`), including names already taken.
    pub fn check_setup(&self, plan: &crate::setup::SetupPlan, page: Option<crate::setup::SetupPage>) -> ApiResult<Vec<crate::error::FieldError>> {
        let mut errors = crate::setup::check(plan, page);
        if page.is_none() || page == Some(crate::setup::SetupPage::Users) {
            for (i, form) in crate::setup::user_forms(plan).iter().enumerate() {
                let field = format!("users.{i}.name");
                if !errors.iter().any(|e| e.field == field) {
                    if let Some(why) = self.inner.directory.name_in_use(&form.name)? {
                        errors.push(crate::error::FieldError::new(field, why));
                    }
                }
            }
        }
        Ok(errors)
    }

    /// Applies the wizard's plan: the domains not yet local, then the users, then the settings (one
    /// validated change, so services open only once their users exist). Everything is checked before
    /// anything is written, so a refused plan changes nothing; what follows the writes (the records, the
    /// mail program settings) is shown as far as it can be and never turns a done set-up into an error.
    pub async fn finish_setup(&self, plan: crate::setup::SetupPlan) -> ApiResult<crate::setup::SetupDone> {
        let errors = {
            let (engine, plan) = (self.clone(), plan.clone());
            tokio::task::spawn_blocking(move || engine.check_setup(&plan, None)).await.map_err(|e| ApiError::internal(e))??
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let engine = self.clone();
        let applied = plan.clone();
        let domains = tokio::task::spawn_blocking(move || -> ApiResult<Vec<String>> {
            // The settings are checked as a whole before the first write: a plan they refuse adds nothing.
            let mut trial = (*engine.settings()).clone();
            crate::setup::apply_settings(&applied, &mut trial);
            crate::settings::validate_change(&trial, Some(&engine.settings()))?;
            let mut domains = Vec::new();
            for d in &applied.domains {
                domains.push(crate::names::validate_domain(d).map_err(|e| ApiError::field("domains", e))?);
            }
            // Domains, users and settings in one write: all of it, or (refused, failed) none of it.
            let forms = crate::setup::user_forms(&applied);
            let stored = engine.inner.directory.set_up(domains.clone(), forms, move |s| {
                crate::setup::apply_settings(&applied, s);
                Ok(())
            })?;
            engine.publish(stored);
            Ok(domains)
        })
        .await
        .map_err(|e| ApiError::internal(e))??;
        tracing::info!(target: "desktop", domains = domains.len(), users = plan.users.len(), "first-run set-up finished");
        let mut records = Vec::new();
        for domain in &domains {
            let found = self.domain_records(domain).await.unwrap_or_default();
            records.push(crate::setup::SetupDomainRecords { domain: domain.clone(), records: found });
        }
        let accounts = crate::setup::user_forms(&plan).iter().filter_map(|form| self.mail_program_settings(&form.name).ok()).collect();
        Ok(crate::setup::SetupDone { domains: records, accounts })
    }

    /// Connects to the smart host the plan names (with its login) and says QUIT: what happened, in words.
    pub async fn try_smart_host(&self, plan: &crate::setup::SetupPlan) -> ApiResult<String> {
        let errors = crate::setup::check(plan, Some(crate::setup::SetupPage::Sending));
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        if plan.smart_host.trim().is_empty() {
            return Err(ApiError::field("smart_host", "enter the smart host to test"));
        }
        let mut settings = (*self.settings()).clone();
        crate::setup::apply_settings(plan, &mut settings);
        match tokio::time::timeout(SMART_HOST_TEST_TIME, crate::queue::client::try_smart_host(&settings)).await {
            Ok(result) => result.map_err(ApiError::io),
            Err(_) => Err(ApiError::io(format!(
                "{} did not answer within {} s{}",
                plan.smart_host.trim(),
                SMART_HOST_TEST_TIME.as_secs(),
                if plan.smart_host_port == 465 { " (port 465 speaks TLS from the start; use 587 with STARTTLS)" } else { "" }
            ))),
        }
    }

    /// What the DNS says this server's name is.
    pub async fn look_up_name(&self, name: &str) -> crate::setup::NameLookup {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let found = crate::queue::client::look_up(&self.settings().outbound, &name).await;
        match found {
            Ok(ips) if !ips.is_empty() => crate::setup::NameLookup { name, addresses: ips.iter().map(|ip| ip.to_string()).collect(), problem: None },
            Ok(_) => crate::setup::NameLookup { problem: Some(format!("{name} has no address")), name, addresses: Vec::new() },
            Err(why) => crate::setup::NameLookup { name, addresses: Vec::new(), problem: Some(why) },
        }
    }

    /// The Mail Collectors with their last results.
    pub fn collectors(&self) -> ApiResult<Vec<crate::collector::CollectorInfo>> {
        Ok(self.inner.store.read(crate::collector::list)?)
    }

    pub fn add_collector(&self, form: crate::collector::CollectorForm) -> ApiResult<crate::collector::CollectorInfo> {
        crate::collector::add(&self.inner.store, form)
    }

    pub fn update_collector(&self, name: &str, form: crate::collector::CollectorForm) -> ApiResult<crate::collector::CollectorInfo> {
        crate::collector::update(&self.inner.store, name, form)
    }

    pub fn delete_collector(&self, name: &str) -> ApiResult<()> {
        crate::collector::delete(&self.inner.store, name)
    }

    /// One download now (the window's Run now).
    pub async fn run_collector(&self, name: &str) -> ApiResult<crate::collector::RunReport> {
        crate::collector::run(&self.collector_context(), name).await
    }

    /// Changes the settings (atomically, validated) and applies the result to the running engine.
    pub fn update_settings<F>(&self, change: F) -> ApiResult<()>
    where
        F: FnOnce(&mut Settings) -> ApiResult<()> + Send + 'static,
    {
        let stored = settings::update(&self.inner.store, change)?;
        self.publish(stored);
        Ok(())
    }

    fn publish(&self, new: Settings) {
        let old = self.settings();
        if *old == new {
            return;
        }
        let consumers: [&dyn settings::Consumer; 4] = [&*self.inner.tls, &crate::logging::Logging, &*self.inner.bandwidth, &self.inner.settings];
        for consumer in consumers {
            consumer.apply(&old, &new);
        }
    }

    pub fn services(&self) -> Vec<ServiceView> {
        let settings = self.settings();
        ServiceId::ALL.into_iter().map(|id| ServiceView::new(id, &settings)).collect()
    }

    pub fn mailbox_access(&self) -> MailboxAccess {
        let settings = self.settings();
        MailboxAccess { pop3: settings.pop3.clone(), imap: settings.imap.clone(), web: settings.web.clone() }
    }

    /// Saves the Services window in one change: the services and, when given, the POP3/IMAP4 settings.
    /// Field names in errors are `<service>.<field>` (e.g. `pop3.port`) and `pop3.<setting>`.
    pub fn save_services(&self, views: &[ServiceView], access: Option<MailboxAccess>) -> ApiResult<()> {
        let views = views.to_vec();
        self.update_settings(move |s| {
            for view in &views {
                *s.services.get_mut(view.id) = view.settings();
                *s.bandwidth.get_mut(view.id) = view.bandwidth;
            }
            if let Some(access) = access {
                s.pop3 = access.pop3;
                s.imap = access.imap;
                s.web = access.web;
            }
            Ok(())
        })
        .map_err(|mut e| {
            for f in &mut e.fields {
                f.field = match f.field.strip_prefix("bandwidth.").and_then(|rest| rest.split_once('.')) {
                    // bandwidth.pop3.bytes_per_sec → pop3.bandwidth.bytes_per_sec, next to the service's other fields.
                    Some((service, field)) => format!("{service}.bandwidth.{field}"),
                    None => f.field.trim_start_matches("services.").to_string(),
                };
            }
            ApiError::invalid(e.fields)
        })
    }

    pub fn smtp_settings(&self) -> SmtpView {
        SmtpView::new(&self.settings())
    }

    pub fn save_smtp_settings(&self, view: SmtpView) -> ApiResult<()> {
        self.update_settings(move |s| {
            view.apply(s);
            Ok(())
        })
    }

    pub fn outbound_settings(&self) -> OutboundView {
        OutboundView::new(&self.settings().outbound)
    }

    pub fn save_outbound_settings(&self, form: OutboundForm) -> ApiResult<()> {
        self.update_settings(move |s| {
            form.apply(&mut s.outbound);
            Ok(())
        })
    }

    pub fn service_status(&self) -> Vec<ServiceStatus> {
        self.inner.registry.snapshot()
    }

    pub fn paused(&self) -> bool {
        *self.inner.paused.borrow()
    }

    /// Pause closes every listener (open sessions continue); resume binds them again.
    pub fn set_paused(&self, paused: bool) {
        if self.inner.paused.send_replace(paused) != paused {
            self.inner.registry.version.send_modify(|v| *v += 1);
            tracing::info!(target: "engine", "services {}", if paused { "paused" } else { "resumed" });
        }
    }

    /// The change signals, each with the kinds of change it stands for: a receiver wakes (coalescing a
    /// burst into one wake-up) when its source changed. The desktop shell turns them into events.
    pub fn change_signals(&self) -> Vec<(&'static [crate::views::Change], watch::Receiver<u64>)> {
        use crate::views::Change;
        vec![
            (&[Change::Services], self.inner.registry.version.subscribe()),
            (&[Change::Services, Change::Bandwidth], self.inner.bandwidth.version.subscribe()),
            (&[Change::Bandwidth], self.inner.bandwidth.traffic.subscribe()),
            (&[Change::Data], self.inner.geoip_progress.subscribe()),
            (&[Change::Data], self.inner.store.changes()),
            (&[Change::Errors], crate::recent::changes()),
            (&[Change::LogWriter], crate::logging::changes()),
        ]
    }

    pub fn overview(&self) -> ApiResult<Overview> {
        let services = self.service_status();
        let today = crate::time_text::start_of_today();
        let (received_today, sent_today, queue_size, user_count, forwarding, collectors) = self.inner.store.read(move |c| {
            let count = |sql: &str, arg: i64| -> rusqlite::Result<i64> { c.query_row(sql, [arg], |r| r.get(0)) };
            Ok((
                count("SELECT count(*) FROM messages WHERE received_at >= ?1", today)?,
                count("SELECT count(*) FROM queue_recipients WHERE state = 'sent' AND updated_at >= ?1", today)?,
                crate::queue::waiting(c)?,
                count("SELECT count(*) FROM users WHERE deleted_at IS NULL AND ?1 = ?1", 0)?,
                crate::queue::forwarding_problems(c)?,
                crate::collector::problems(c)?,
            ))
        })?;
        Ok(Overview {
            version: crate::version_text().into(),
            data_dir: self.inner.dir.root().display().to_string(),
            paused: self.paused(),
            connections: services.iter().map(|s| s.connections).sum(),
            services,
            received_today,
            sent_today,
            queue_size,
            recent_errors: crate::recent::recent_errors(),
            log_problem: crate::logging::write_problem(),
            user_count,
            forwarding,
            collectors,
        })
    }

    pub fn certificate(&self) -> CertificateInfo {
        self.inner.tls.info()
    }

    /// Switches to the admin's own certificate; a bad pair is refused and the current one stays.
    pub fn set_certificate(&self, cert_file: &str, key_file: &str) -> ApiResult<CertificateInfo> {
        let tls = TlsSettings { cert_file: cert_file.trim().into(), key_file: key_file.trim().into() };
        self.update_settings(move |s| {
            s.tls = tls;
            Ok(())
        })?;
        Ok(self.certificate())
    }

    pub fn use_self_signed_certificate(&self) -> ApiResult<CertificateInfo> {
        self.update_settings(|s| {
            s.tls = TlsSettings::default();
            Ok(())
        })?;
        Ok(self.certificate())
    }

    fn runtime_status(&self) -> RuntimeStatus {
        RuntimeStatus {
            pid: std::process::id(),
            version: crate::version_text().into(),
            started_at: self.inner.started_at,
            updated_at: crate::store::now(),
            paused: self.paused(),
            services: self.service_status(),
            certificate_problem: self.inner.tls.problem(),
            log_writer: crate::logging::stats(false),
            bandwidth: Some(self.inner.bandwidth.live()),
        }
    }

    // ----- GeoIP -----

    /// Loads what changed in the GeoIP tables (blocking).
    pub fn refresh_geoip(&self) -> ApiResult<bool> {
        let geoip = self.inner.geoip.clone();
        Ok(self.inner.store.read(move |conn| Ok(geoip.refresh(conn)?))?)
    }

    pub fn geoip(&self) -> &crate::geoip::GeoIp {
        &self.inner.geoip
    }

    pub fn geoip_status(&self) -> crate::geoip::GeoIpStatus {
        let (v4, v6, _) = self.inner.geoip.index().counts();
        let state = self.inner.geoip.state();
        crate::geoip::GeoIpStatus {
            v4_rows: v4 as u64,
            v6_rows: v6 as u64,
            imported_at: state.imported_at.map(crate::time_text::rfc3339),
            source: state.source,
            import: self.inner.geoip_import.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Every GeoIP result for an address, as the access rules see them.
    pub fn geoip_lookup(&self, address: &str) -> ApiResult<Vec<String>> {
        let ip: std::net::IpAddr = address.trim().parse().map_err(|_| ApiError::field("address", format!("'{}' is not an IP address", address.trim())))?;
        Ok(self.inner.geoip.lookup(ip).iter().map(|r| r.to_string()).collect())
    }

    /// The first rows of a CSV file, for the import wizard's preview.
    pub fn geoip_preview(&self, path: &str, delimiter: &str) -> ApiResult<Vec<Vec<String>>> {
        let request = crate::geoip::ImportRequest { kind: "columns".into(), files: vec![path.into()], columns: "123".into(), delimiter: delimiter.into(), skip_header: false, append: false };
        let (_, options) = request.source_and_options()?;
        crate::geoip::preview(Path::new(path.trim()), options.delimiter, 10).map_err(ApiError::io)
    }

    /// Starts an import on a thread of its own; [`Engine::geoip_status`] follows it.
    pub fn start_geoip_import(&self, request: crate::geoip::ImportRequest) -> ApiResult<()> {
        let (source, options) = request.source_and_options()?;
        {
            let mut state = self.inner.geoip_import.lock().unwrap_or_else(|p| p.into_inner());
            if state.running {
                return Err(ApiError::conflict("an import is already running"));
            }
            *state = crate::geoip::ImportState { running: true, ..Default::default() };
        }
        let engine = self.clone();
        let db = self.inner.dir.database();
        std::thread::Builder::new()
            .name("geoip-import".into())
            .spawn(move || {
                let shared = engine.inner.geoip_import.clone();
                let mut progress = |p: crate::geoip::import::Progress| {
                    shared.lock().unwrap_or_else(|e| e.into_inner()).progress = Some(p);
                    engine.inner.geoip_progress.send_modify(|v| *v += 1);
                };
                let result = crate::geoip::import::import(&db, &source, &options, &mut progress);
                if let Ok(report) = &result {
                    tracing::info!(target: "geoip", v4 = report.v4_rows, v6 = report.v6_rows, skipped = report.skipped, "GeoIP import finished");
                    let _ = engine.refresh_geoip();
                }
                let mut state = engine.inner.geoip_import.lock().unwrap_or_else(|p| p.into_inner());
                state.running = false;
                match result {
                    Ok(report) => state.report = Some(report),
                    Err(e) => state.error = Some(e.to_string()),
                }
                drop(state);
                engine.inner.geoip_progress.send_modify(|v| *v += 1);
            })
            .map_err(|e| ApiError::io(format!("cannot start the import: {e}")))?;
        Ok(())
    }

    // ----- access restrictions -----

    pub fn access_settings(&self) -> crate::settings::AccessSettings {
        self.settings().access.clone()
    }

    pub fn save_access(&self, access: crate::settings::AccessSettings) -> ApiResult<()> {
        self.update_settings(move |s| {
            s.access = access;
            Ok(())
        })
    }

    // ----- bandwidth -----

    pub fn bandwidth_settings(&self) -> crate::settings::BandwidthSettings {
        self.settings().bandwidth.clone()
    }

    /// Saves the Bandwidth Pools table. Pools left with no name and no limit are not stored.
    pub fn save_bandwidth_pools(&self, pools: Vec<crate::settings::BandwidthPool>) -> ApiResult<()> {
        let pools: Vec<_> = pools
            .into_iter()
            .map(|p| crate::settings::BandwidthPool { name: p.name.trim().to_string(), ..p })
            .filter(|p| p.allowed != 0 || !p.name.is_empty())
            .collect();
        self.update_settings(move |s| {
            s.bandwidth.pools = pools;
            Ok(())
        })
    }

    pub fn bandwidth_live(&self) -> crate::bandwidth::BandwidthLive {
        self.inner.bandwidth.live()
    }

    /// bandwidth.lua as it is on disk (empty when there is none), and how the server is using it.
    pub fn bandwidth_script(&self) -> ApiResult<crate::views::ScriptFile> {
        let path = self.inner.bandwidth.script_path();
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ApiError::io(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(crate::views::ScriptFile { text, status: self.inner.bandwidth.script_status() })
    }

    /// Writes bandwidth.lua and loads it at once. The text is saved even when it does not compile (the
    /// admin's work is never lost); the previous script then keeps running, and the check says why.
    pub fn save_bandwidth_script(&self, text: &str) -> ApiResult<crate::views::ScriptFile> {
        let path = self.inner.bandwidth.script_path();
        crate::paths::write_private(path, text.as_bytes(), crate::paths::Durability::Durable).map_err(|e| ApiError::io(format!("cannot save {}: {e}", path.display())))?;
        self.inner.bandwidth.reload_script(true);
        self.bandwidth_script()
    }

    pub fn test_bandwidth_script(&self, request: &crate::bandwidth::ScriptTestRequest) -> crate::bandwidth::ScriptTestResult {
        crate::bandwidth::control::test_script(request, &self.settings().bandwidth)
    }

    // ----- Diagnostics -----

    pub fn log_settings(&self) -> LogSettings {
        self.settings().log.clone()
    }

    /// Saves the Diagnostics window's settings. A log folder must be an absolute path this process can
    /// create and write to.
    pub fn save_log_settings(&self, log: LogSettings) -> ApiResult<()> {
        let folder = log.folder.trim().to_string();
        if !folder.is_empty() {
            check_log_folder(Path::new(&folder)).map_err(|m| ApiError::field("log.folder", m))?;
        }
        self.update_settings(move |s| {
            s.log = LogSettings { folder, ..log };
            Ok(())
        })
    }

    /// The log writer's figures; with `graph`, the per-second series of the last 10 minutes.
    pub fn log_writer_stats(&self, graph: bool) -> ApiResult<LogWriterStats> {
        crate::logging::stats(graph).ok_or_else(|| ApiError::not_found("this process does not write log files"))
    }

    /// The end of a log file (up to `max_bytes`), after writing what is waiting.
    pub fn log_tail(&self, file: LogFile, max_bytes: u64) -> ApiResult<crate::logging::LogTail> {
        crate::logging::tail(file, max_bytes.clamp(1024, 16 * 1024 * 1024)).map_err(|e| ApiError::io(format!("cannot read {}.log: {e}", file.name())))
    }
}

/// After commits (this process's or another's), ends the sessions of accounts that were disabled, deleted
/// or given a new password. Commits come in bursts: one look per quarter second at most.
async fn end_sessions_of_changed_accounts(store: crate::store::Store, accounts: Arc<crate::access::Accounts>, shutdown: tokio_util::sync::CancellationToken) {
    let mut changes = store.changes();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
        }
        if accounts.any() {
            let (s, a) = (store.clone(), accounts.clone());
            let _ = tokio::task::spawn_blocking(move || a.revalidate(&s)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Why a log folder cannot be used.
#[derive(Debug, thiserror::Error)]
enum LogFolderError {
    #[error("give the full path of the folder")]
    NotAbsolute,
    #[error("cannot create it: {0}")]
    Create(std::io::Error),
    #[error("cannot write there: {0}")]
    Write(std::io::Error),
}

fn check_log_folder(folder: &Path) -> Result<(), LogFolderError> {
    if !folder.is_absolute() {
        return Err(LogFolderError::NotAbsolute);
    }
    std::fs::create_dir_all(folder).map_err(LogFolderError::Create)?;
    let probe = folder.join(".postroom-write-test");
    crate::paths::create_private(&probe).map_err(LogFolderError::Write)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn lock_data_dir(dir: &DataDir) -> ApiResult<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.lock_file())
        .map_err(|e| ApiError::io(format!("cannot create the lock file: {e}")))?;
    let _ = crate::paths::owner_only_file(&dir.lock_file());
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ApiError::conflict(format!(
            "another Postroom is already serving {}",
            dir.root().display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ApiError::io(format!("cannot lock the data folder: {e}"))),
    }
}

/// Threads for blocking work (store reads, hashing): enough for every session to have one waiting.
pub const MAX_BLOCKING_THREADS: usize = 64;

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), and freed memory
/// stays in them; and after a large block is freed it raises its mmap threshold, so the next large
/// blocks (argon2's 19 MB) come from those arenas and stay. A server whose sessions hop between
/// threads then holds hundreds of MB it does not use. Two arenas and a fixed 1 MB threshold keep the
/// footprint close to what is live.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before the server starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Publishes settings committed by other processes.
async fn watch_other_processes(engine: Engine) {
    let store = engine.inner.store.clone();
    let watcher = match tokio::task::spawn_blocking(move || store.change_watcher()).await {
        Ok(Ok(w)) => w,
        other => {
            tracing::error!(target: "engine", "cannot watch the database for changes: {:?}", other.err());
            return;
        }
    };
    let mut seen = watcher.data_version().unwrap_or(0);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            _ = engine.inner.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let version = match watcher.data_version() {
            Ok(v) => v,
            Err(_) => continue,
        };
        if version == seen {
            continue;
        }
        seen = version;
        engine.inner.store.note_external_change();
        // GeoIP rows changed by the importer or by hand: in effect for the next connection.
        let geo = engine.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || geo.refresh_geoip()).await {
            tracing::error!(target: "geoip", error = %e, "cannot load the GeoIP data");
        }
        // Reading settings and applying them (certificate files) is blocking work.
        let applier = engine.clone();
        let applied = tokio::task::spawn_blocking(move || settings::load(&applier.inner.store).map(|s| applier.publish(s))).await;
        if let Ok(Err(e)) = applied {
            tracing::error!(target: "engine", error = %e, "stored settings are unreadable");
        }
        // `postroomd queue retry` and the like: let the queue look again — after the settings committed in
        // the same moment are in effect, so that `settings set …; queue retry` tries with the new settings.
        engine.inner.queue_wake.notify_one();
    }
}

/// Keeps `status.json` current for `postroomd status`.
async fn write_status(engine: Engine) {
    let path = engine.inner.dir.status_file();
    let mut paused = engine.inner.paused.subscribe();
    let mut services = engine.inner.registry.version.subscribe();
    let mut connections = engine.inner.bandwidth.version.subscribe();
    loop {
        let (path, snapshot) = (path.clone(), engine.runtime_status());
        match tokio::task::spawn_blocking(move || status::write(&path, &snapshot)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(target: "engine", error = %e, "cannot write status.json"),
            Err(e) => tracing::warn!(target: "engine", error = %e, "status writer failed"),
        }
        tokio::select! {
            _ = engine.inner.shutdown.cancelled() => return,
            _ = services.changed() => {}
            _ = paused.changed() => {}
            _ = connections.changed() => {
                // Connections come and go quickly on a busy server: at most one write a second for them,
                // unless a service or the pause switch changes meanwhile.
                tokio::select! {
                    _ = engine.inner.shutdown.cancelled() => return,
                    _ = services.changed() => {}
                    _ = paused.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            _ = tokio::time::sleep(status::HEARTBEAT) => {}
        }
    }
}
