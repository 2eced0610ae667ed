//! The engine's bandwidth control: the pools, the loaded `bandwidth.lua`, and every live connection's
//! limit. A connection asks for its limit when it starts ([`Bandwidth::connect`]) and again when a user
//! logs in ([`Connection::login`]): the script decides when there is one and it gives a good answer;
//! otherwise the service's own setting applies. A script error is kept for the windows and logged at
//! most once a minute, however many connections meet it.
//!
//! The script file is reloaded when it changes ([`watch_script`]): a version that does not compile
//! leaves the previous one running, and the compile error is shown until a good version is saved.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::script::{Params, Script, ScriptError, Verdict};
use super::shaper::{LimitSource, Pools, Shaper};
use crate::settings::{BandwidthSettings, ServiceId, Settings, POOLS};

/// The script's file name, in the data folder.
pub const SCRIPT_FILE: &str = "bandwidth.lua";
/// A script error is logged at most this often.
pub const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// How often pool throughput is sampled, and over how many samples it is averaged.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const SAMPLES: usize = 3;
/// A call slower than this moves the script's later calls to the blocking pool.
const SLOW_CALL: Duration = Duration::from_millis(1);
/// The longest a connection waits for a script that has once been slow.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// How often the script file is looked at even without a change notice (a missed event, a network drive).
const POLL_SCRIPT: Duration = Duration::from_secs(5);

/// Which rule gave a connection its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum LimitOrigin {
    /// The service's Bandwidth Throttling setting.
    Service,
    /// The logged-in user's own limit (Users → the user's Bandwidth).
    User,
    /// `GetBandwidth` in bandwidth.lua.
    Script,
}

/// One live connection, for the windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ConnectionLive {
    /// The `[#N]` of its log lines.
    #[ts(type = "number")]
    pub session: u64,
    pub service: ServiceId,
    pub client: String,
    /// Empty until a login.
    pub user: String,
    pub limit: LimitSource,
    pub origin: LimitOrigin,
    #[ts(type = "number")]
    pub connected_at: i64,
}

/// One pool's current use. Only pools with connections or traffic are listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct PoolLive {
    pub id: u32,
    /// Connections assigned to this pool itself (not its children).
    pub connections: u32,
    /// Bytes per second sent to clients and received from them, this pool and its children together,
    /// averaged over the last few seconds.
    #[ts(type = "number")]
    pub sending: u64,
    #[ts(type = "number")]
    pub receiving: u64,
}

/// The state of bandwidth.lua.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ScriptStatus {
    pub path: String,
    /// A script is running (the file may have changed since; see `compile_error`).
    pub active: bool,
    /// The file is there.
    pub present: bool,
    #[ts(type = "number | null")]
    pub loaded_at: Option<i64>,
    /// Why the file as it is now could not be used (the previous version keeps running).
    pub compile_error: Option<String>,
    /// The latest error from a call (a bad return value, a runtime error, over budget).
    pub last_error: Option<String>,
    #[ts(type = "number | null")]
    pub last_error_at: Option<i64>,
    /// Calls that failed since the script was loaded.
    #[ts(type = "number")]
    pub failed_calls: u64,
    /// Versions loaded since the server started.
    #[ts(type = "number")]
    pub loads: u64,
}

/// Everything the Bandwidth Pools window shows live.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct BandwidthLive {
    pub pools: Vec<PoolLive>,
    pub connections: Vec<ConnectionLive>,
    pub script: ScriptStatus,
}

#[derive(Default)]
struct ScriptSlot {
    script: Option<Arc<Script>>,
    status: ScriptStatus,
    /// The file's size and modification time when last read.
    seen: Option<(u64, std::time::SystemTime)>,
}

#[derive(Default)]
struct ErrorGate {
    last_logged: Option<Instant>,
    suppressed: u64,
}

/// Pool throughput: the last few samples of every pool's byte counters.
#[derive(Default)]
struct Samples {
    history: VecDeque<(Instant, Vec<(u64, u64)>)>,
}

pub struct Bandwidth {
    pools: Arc<Pools>,
    settings: Mutex<BandwidthSettings>,
    script_path: PathBuf,
    slot: Mutex<ScriptSlot>,
    /// Held while the file is read and compiled, so that two reloads (a save, a change notice) do not cross.
    reloading: Mutex<()>,
    errors: Mutex<ErrorGate>,
    live: Mutex<HashMap<u64, Weak<Connection>>>,
    samples: Mutex<Samples>,
    /// The running script has taken longer than [`SLOW_CALL`]: call it on the blocking pool from now on.
    slow_script: AtomicBool,
    /// Counts connections starting, logging in and ending, and script changes (status.json and the
    /// windows follow).
    pub version: tokio::sync::watch::Sender<u64>,
    /// Counts the samples in which a pool's traffic moved (only the windows follow).
    pub traffic: tokio::sync::watch::Sender<u64>,
}

impl Bandwidth {
    pub fn new(data_dir: &Path, settings: &BandwidthSettings) -> Arc<Bandwidth> {
        let script_path = data_dir.join(SCRIPT_FILE);
        let slot = ScriptSlot { status: ScriptStatus { path: script_path.display().to_string(), ..Default::default() }, ..Default::default() };
        Arc::new(Bandwidth {
            pools: Arc::new(Pools::new(settings)),
            settings: Mutex::new(settings.clone()),
            script_path,
            slot: Mutex::new(slot),
            reloading: Mutex::default(),
            errors: Mutex::default(),
            live: Mutex::default(),
            samples: Mutex::default(),
            version: tokio::sync::watch::Sender::new(0),
            traffic: tokio::sync::watch::Sender::new(0),
            slow_script: AtomicBool::new(false),
        })
    }

    pub fn script_path(&self) -> &Path {
        &self.script_path
    }

    /// A shaper for a connection of the engine's own (the mail collector's) that shares pool `pool`.
    pub fn pool_shaper(&self, pool: u32) -> Arc<Shaper> {
        let throttle = crate::settings::Throttle { mode: crate::settings::ThrottleMode::Pool, bytes_per_sec: 0, pool };
        Shaper::new(self.pools.clone(), &throttle)
    }

    /// New settings: pools re-rated, and every connection that follows its service's setting moved to
    /// the new one at once.
    pub fn apply(&self, settings: &BandwidthSettings) {
        self.pools.apply(settings);
        *lock(&self.settings) = settings.clone();
        for conn in self.connections() {
            let state = lock(&conn.state);
            if state.origin == LimitOrigin::Service {
                conn.shaper.set(LimitSource::from_throttle(settings.get(conn.service)));
            }
        }
    }

    fn connections(&self) -> Vec<Arc<Connection>> {
        lock(&self.live).values().filter_map(Weak::upgrade).collect()
    }

    /// A new connection: limited by the service's setting, or by the script's answer.
    pub async fn connect(self: &Arc<Self>, session: u64, service: ServiceId, peer: SocketAddr, local: SocketAddr, settings: &Settings) -> Arc<Connection> {
        let throttle = settings.bandwidth.get(service);
        let conn = Arc::new(Connection {
            session,
            service,
            peer,
            local,
            connected_at: crate::store::now(),
            shaper: Shaper::new(self.pools.clone(), throttle),
            state: Mutex::new(ConnState { user: None, origin: LimitOrigin::Service }),
            control: self.clone(),
        });
        lock(&self.live).insert(session, Arc::downgrade(&conn));
        conn.decide().await;
        self.touched();
        conn
    }

    /// The script now in use, if any.
    fn script(&self) -> Option<Arc<Script>> {
        lock(&self.slot).script.clone()
    }

    /// Reads bandwidth.lua again if it changed (or `force`): a good version replaces the running one, a
    /// bad one is reported and leaves it running, a removed file stops scripting.
    pub fn reload_script(&self, force: bool) {
        let _one_at_a_time = lock(&self.reloading);
        let meta = std::fs::metadata(&self.script_path).ok().map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
        if !force && meta == lock(&self.slot).seen {
            return;
        }
        // Compiled outside the slot's lock: connections keep getting the running script meanwhile.
        let compiled = meta.map(|_| {
            std::fs::read(&self.script_path)
                .map_err(|e| ScriptError::Unreadable { path: self.script_path.display().to_string(), reason: e.to_string() })
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| ScriptError::NotUtf8))
                .and_then(|text| Script::compile(&text))
        });
        let mut slot = lock(&self.slot);
        slot.seen = meta;
        match compiled {
            None => {
                if slot.script.take().is_some() || slot.status.compile_error.is_some() {
                    tracing::info!(target: "bandwidth", "bandwidth.lua removed: each service's own Bandwidth Throttling applies");
                }
                slot.status = ScriptStatus { path: slot.status.path.clone(), loads: slot.status.loads, ..Default::default() };
            }
            Some(Ok(script)) => {
                tracing::info!(target: "bandwidth", "bandwidth.lua loaded: GetBandwidth decides each new connection's limit");
                slot.script = Some(Arc::new(script));
                self.slow_script.store(false, Ordering::Relaxed);
                *lock(&self.errors) = ErrorGate::default();
                let loads = slot.status.loads + 1;
                slot.status = ScriptStatus { path: slot.status.path.clone(), active: true, present: true, loaded_at: Some(crate::store::now()), loads, ..Default::default() };
            }
            Some(Err(e)) => {
                let keeping = if slot.script.is_some() { "the previous version keeps running" } else { "each service's own setting applies" };
                tracing::error!(target: "bandwidth", error = %e, "bandwidth.lua cannot be used ({keeping})");
                slot.status.present = true;
                slot.status.compile_error = Some(e.to_string());
            }
        }
        drop(slot);
        self.touched();
    }

    /// Calls `GetBandwidth`. A call takes a few microseconds and runs on the session's own thread
    /// (stepping aside from the runtime's other tasks, so even a long C-level call inside the script
    /// does not hold them up). A script that has once been slow is called on the blocking pool instead,
    /// and a connection waits at most [`CALL_TIMEOUT`] for it.
    async fn call(&self, script: Arc<Script>, params: Params) -> Result<Verdict, ScriptError> {
        if self.slow_script.load(Ordering::Relaxed) {
            let call = tokio::task::spawn_blocking(move || script.call(&params));
            return match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(done) => done.unwrap_or_else(|e| Err(ScriptError::CallFailed(e.to_string()))),
                Err(_) => Err(ScriptError::NoAnswer(CALL_TIMEOUT.as_millis())),
            };
        }
        let started = Instant::now();
        let in_place = || script.call(&params);
        let answer = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(in_place),
            _ => in_place(),
        };
        if started.elapsed() > SLOW_CALL {
            self.slow_script.store(true, Ordering::Relaxed);
        }
        answer
    }

    /// Notes a failed call, logging it unless one was logged within the last minute.
    fn call_failed(&self, error: &ScriptError) {
        {
            let mut slot = lock(&self.slot);
            slot.status.last_error = Some(error.to_string());
            slot.status.last_error_at = Some(crate::store::now());
            slot.status.failed_calls += 1;
        }
        let mut gate = lock(&self.errors);
        let due = gate.last_logged.is_none_or(|t| t.elapsed() >= ERROR_LOG_INTERVAL);
        if !due {
            gate.suppressed += 1;
            return;
        }
        let more = std::mem::take(&mut gate.suppressed);
        gate.last_logged = Some(Instant::now());
        let also = if more > 0 { format!(" ({more} more failed calls in the last minute were not logged)") } else { String::new() };
        tracing::error!(target: "bandwidth", "bandwidth.lua: {error}; the service's own setting applies{also}");
    }

    pub fn script_status(&self) -> ScriptStatus {
        lock(&self.slot).status.clone()
    }

    /// A connection started, logged in or ended, or the script changed.
    fn touched(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Takes a throughput sample of every pool (called every second). The rates shown change while
    /// bytes flow and once more when they stop: only then are the windows told.
    pub fn sample(&self) {
        let counts: Vec<(u64, u64)> = (1..=POOLS as u32)
            .map(|id| self.pools.get(id).map_or((0, 0), |p| (p.send.granted(), p.receive.granted())))
            .collect();
        let mut s = lock(&self.samples);
        let mut recent = s.history.iter().rev().map(|(_, c)| c);
        let moving = match (recent.next(), recent.next()) {
            (Some(last), Some(before)) => *last != counts || last != before,
            _ => true,
        };
        s.history.push_back((Instant::now(), counts));
        while s.history.len() > SAMPLES + 1 {
            s.history.pop_front();
        }
        drop(s);
        if moving {
            self.traffic.send_modify(|v| *v += 1);
        }
    }

    /// The live figures: pools in use, connections with their limits, the script's state.
    pub fn live(&self) -> BandwidthLive {
        let rates = {
            let s = lock(&self.samples);
            match (s.history.front(), s.history.back()) {
                (Some((t0, first)), Some((t1, last))) if t1 > t0 => {
                    let secs = t1.duration_since(*t0).as_secs_f64();
                    first.iter().zip(last).map(|(a, b)| (((b.0.saturating_sub(a.0)) as f64 / secs) as u64, ((b.1.saturating_sub(a.1)) as f64 / secs) as u64)).collect()
                }
                _ => vec![(0, 0); POOLS],
            }
        };
        let pools = rates
            .iter()
            .enumerate()
            .filter_map(|(i, &(sending, receiving))| {
                let id = i as u32 + 1;
                let connections = self.pools.get(id).map_or(0, |p| p.connections.load(std::sync::atomic::Ordering::Relaxed)) as u32;
                (connections > 0 || sending > 0 || receiving > 0).then_some(PoolLive { id, connections, sending, receiving })
            })
            .collect();
        let mut connections: Vec<ConnectionLive> = self.connections().iter().map(|c| c.live()).collect();
        connections.sort_by_key(|c| c.session);
        BandwidthLive { pools, connections, script: self.script_status() }
    }
}

/// What applies when the script does not decide.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// There is no script: the user's own limit, else the service's.
    UserThenService,
    /// The script failed: the service's own setting.
    Service,
}

struct ConnState {
    /// The logged-in user's name, number and own limit (in the script's terms).
    user: Option<(String, i64, i64)>,
    origin: LimitOrigin,
}

/// One connection's bandwidth: its shaper, and what the script is told about it.
pub struct Connection {
    session: u64,
    service: ServiceId,
    peer: SocketAddr,
    local: SocketAddr,
    connected_at: i64,
    shaper: Arc<Shaper>,
    state: Mutex<ConnState>,
    control: Arc<Bandwidth>,
}

impl Connection {
    pub fn shaper(&self) -> &Arc<Shaper> {
        &self.shaper
    }

    /// A user logged in: the script is asked again, with the user's details. Without a script, the
    /// user's own limit applies if they have one.
    pub async fn login(&self, user: &crate::users::VerifiedUser) {
        lock(&self.state).user = Some((user.name.clone(), user.id, user.bandwidth));
        self.decide().await;
        self.control.touched();
    }

    /// Asks the script (if there is one) and applies its answer; on any failure the service's own
    /// setting applies, as VPOP3 does.
    async fn decide(&self) {
        let Some(script) = self.control.script() else {
            self.follow(Fallback::UserThenService);
            return;
        };
        match self.control.call(script, self.params()).await {
            Ok(verdict) => {
                let mut state = lock(&self.state);
                state.origin = LimitOrigin::Script;
                self.shaper.set(verdict.into());
            }
            Err(e) => {
                self.control.call_failed(&e);
                self.follow(Fallback::Service);
            }
        }
    }

    /// The limit when the script does not decide.
    fn follow(&self, fallback: Fallback) {
        let mut state = lock(&self.state);
        let own = state.user.as_ref().map_or(0, |u| u.2);
        if let (Fallback::UserThenService, true, Ok(limit)) = (fallback, own != 0, Verdict::from_value(own).map(LimitSource::from)) {
            state.origin = LimitOrigin::User;
            self.shaper.set(limit);
            return;
        }
        state.origin = LimitOrigin::Service;
        let throttle = *lock(&self.control.settings).get(self.service);
        self.shaper.set(LimitSource::from_throttle(&throttle));
    }

    /// The script's parameters for this connection as it is now.
    pub fn params(&self) -> Params {
        let throttle = *lock(&self.control.settings).get(self.service);
        let user = lock(&self.state).user.clone();
        Params {
            clientip: self.peer.ip().to_canonical().to_string(),
            serveraddress: self.local.ip().to_canonical().to_string(),
            serverport: self.local.port(),
            servertype: self.service.protocol().name().to_string(),
            serverid: self.service.key().to_string(),
            serverbandwidth: LimitSource::from_throttle(&throttle).script_value(),
            bandwidth: self.shaper.source().script_value(),
            username: user.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
            usernumber: user.as_ref().map_or(0, |u| u.1),
            userbandwidth: user.as_ref().map_or(0, |u| u.2),
        }
    }

    fn live(&self) -> ConnectionLive {
        let state = lock(&self.state);
        ConnectionLive {
            session: self.session,
            service: self.service,
            client: self.peer.ip().to_canonical().to_string(),
            user: state.user.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
            limit: self.shaper.source(),
            origin: state.origin,
            connected_at: self.connected_at,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        lock(&self.control.live).remove(&self.session);
        self.control.touched();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps bandwidth.lua loaded as it changes, and samples pool throughput, until shutdown.
/// The engine loads the script before its listeners start ([`Bandwidth::reload_script`]).
pub async fn watch_script(control: Arc<Bandwidth>, shutdown: CancellationToken) {
    let changed = Arc::new(tokio::sync::Notify::new());
    let _watcher = file_watcher(&control.script_path, changed.clone());
    let mut sample = tokio::time::interval(SAMPLE_EVERY);
    let mut poll = tokio::time::interval(POLL_SCRIPT);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = sample.tick() => { control.sample(); continue; }
            _ = changed.notified() => {
                // Editors write in several steps: let them finish, then read it whatever its size and time.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let load = control.clone();
                let _ = tokio::task::spawn_blocking(move || load.reload_script(true)).await;
                continue;
            }
            _ = poll.tick() => {}
        }
        let load = control.clone();
        let _ = tokio::task::spawn_blocking(move || load.reload_script(false)).await;
    }
}

/// A notify watcher on the data folder that wakes `changed` when bandwidth.lua is written, created,
/// renamed or removed. Without one (no inotify left), the five-second look still finds changes.
fn file_watcher(script: &Path, changed: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let folder = script.parent()?.to_path_buf();
    let name = script.file_name()?.to_os_string();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reading the file (as the reload does) is an event too: only writes, creation, renames and
        // removal count.
        use notify::event::ModifyKind;
        let written = matches!(
            event.kind,
            notify::EventKind::Create(_) | notify::EventKind::Remove(_) | notify::EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
        );
        if written && event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str())) {
            changed.notify_one();
        }
    };
    let watched = notify::recommended_watcher(handler).and_then(|mut w| w.watch(&folder, notify::RecursiveMode::NonRecursive).map(|()| w));
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(target: "bandwidth", error = %e, "cannot watch the data folder; bandwidth.lua changes are noticed within 5 s instead");
            None
        }
    }
}

/// The editor's syntax check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ScriptCheck {
    pub ok: bool,
    pub error: Option<String>,
    /// The line the error is on, when Lua says.
    pub line: Option<u32>,
}

impl ScriptCheck {
    pub fn of(source: &str) -> ScriptCheck {
        match Script::compile(source) {
            Ok(_) => ScriptCheck { ok: true, error: None, line: None },
            Err(e) => ScriptCheck { ok: false, line: e.line(), error: Some(e.to_string()) },
        }
    }
}

/// The editor's Test panel: the script as typed, the parameters as filled in, and optionally a moment
/// for `os.date`/`os.time` to see.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ScriptTestRequest {
    pub source: String,
    pub params: Params,
    /// Unix seconds; none for now.
    #[ts(type = "number | null")]
    pub at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct ScriptTestResult {
    /// What GetBandwidth returned, when it returned a usable value.
    #[ts(type = "number | null")]
    pub value: Option<i64>,
    /// The value in words ("no limit", "100000 bytes per second", "Bandwidth Pool 2 (Evening)").
    pub meaning: Option<String>,
    pub error: Option<String>,
    pub line: Option<u32>,
    /// How long the call took, in microseconds.
    pub micros: f64,
}

/// Runs `GetBandwidth` as the Test panel asks; pool names come from `settings`.
pub fn test_script(request: &ScriptTestRequest, settings: &BandwidthSettings) -> ScriptTestResult {
    let failed = |e: ScriptError| ScriptTestResult { value: None, meaning: None, line: e.line(), error: Some(e.to_string()), micros: 0.0 };
    let script = match Script::compile(&request.source) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    script.set_clock(request.at);
    let started = Instant::now();
    let verdict = script.call(&request.params);
    let micros = started.elapsed().as_secs_f64() * 1e6;
    match verdict {
        Ok(v) => {
            let (value, meaning) = match v {
                Verdict::NoLimit => (0, "no limit".to_string()),
                Verdict::Rate(r) => (r as i64, format!("{r} bytes per second for this connection")),
                Verdict::Pool(p) => {
                    let name = settings.pools.iter().find(|x| x.id == p).map(|x| x.name.trim()).filter(|n| !n.is_empty());
                    let allowed = match settings.allowed(p) {
                        0 => "no limit".to_string(),
                        a if a < 0 => format!("shares pool {}", a.unsigned_abs()),
                        a => format!("{a} bytes per second"),
                    };
                    (-(p as i64), format!("Bandwidth Pool {p}{} ({allowed})", name.map(|n| format!(" \"{n}\"")).unwrap_or_default()))
                }
            };
            ScriptTestResult { value: Some(value), meaning: Some(meaning), error: None, line: None, micros }
        }
        Err(e) => ScriptTestResult { micros, ..failed(e) },
    }
}

impl From<Verdict> for LimitSource {
    fn from(v: Verdict) -> LimitSource {
        match v {
            Verdict::NoLimit => LimitSource::None,
            Verdict::Rate(r) => LimitSource::Custom(r),
            Verdict::Pool(p) => LimitSource::Pool(p),
        }
    }
}

impl LimitSource {
    /// The limit in the script's terms: 0, bytes per second, or −pool.
    pub fn script_value(&self) -> i64 {
        match *self {
            LimitSource::None => 0,
            LimitSource::Custom(r) => r as i64,
            LimitSource::Pool(p) => -(p as i64),
        }
    }
}


impl crate::settings::Consumer for Bandwidth {
    fn apply(&self, old: &crate::settings::Settings, new: &crate::settings::Settings) {
        if old.bandwidth != new.bandwidth {
            Bandwidth::apply(self, &new.bandwidth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ThrottleMode;

    fn control_with(script: &str, settings: &Settings) -> (tempfile::TempDir, Arc<Bandwidth>) {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join(SCRIPT_FILE), script).unwrap();
        let control = Bandwidth::new(folder.path(), &settings.bandwidth);
        control.reload_script(true);
        (folder, control)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_runaway_script_is_stopped_and_the_service_setting_applies() {
        let mut settings = Settings::default();
        settings.bandwidth.pop3.mode = ThrottleMode::Custom;
        settings.bandwidth.pop3.bytes_per_sec = 64_000;
        let (_folder, control) = control_with("function GetBandwidth(p) while true do end end", &settings);
        for session in 1..=2 {
            let conn = control.connect(session, ServiceId::Pop3, addr("203.0.113.9:4000"), addr("127.0.0.1:110"), &settings).await;
            assert_eq!(conn.shaper().source(), LimitSource::Custom(64_000));
            assert_eq!(conn.live().origin, LimitOrigin::Service);
        }
        let status = control.script_status();
        assert!(status.last_error.as_deref().unwrap_or("").contains("ran longer than 20 ms"), "{status:?}");
        assert_eq!(status.failed_calls, 2);
        assert!(control.slow_script.load(Ordering::Relaxed), "later calls go to the blocking pool");
    }

    #[tokio::test]
    async fn the_script_sees_the_login_and_the_live_figures_follow() {
        let settings = Settings::default();
        let (_folder, control) = control_with(
            "function GetBandwidth(p)\n if p.username == 'theboss' then return 0 end\n if p.servertype == 'IMAP4' and p.serverport == 143 and p.clientip == '203.0.113.9' then return -12 end\n return 5000\nend",
            &settings,
        );
        let conn = control.connect(7, ServiceId::Imap, addr("[::ffff:203.0.113.9]:4000"), addr("127.0.0.1:143"), &settings).await;
        assert_eq!(conn.shaper().source(), LimitSource::Pool(12));
        let live = control.live();
        assert_eq!(live.connections.len(), 1);
        assert_eq!((live.connections[0].session, live.connections[0].origin), (7, LimitOrigin::Script));
        assert_eq!(live.pools.iter().map(|p| (p.id, p.connections)).collect::<Vec<_>>(), vec![(12, 1)]);
        conn.login(&crate::users::VerifiedUser { id: 3, name: "theboss".into(), bandwidth: 0 }).await;
        assert_eq!(conn.params().usernumber, 3);
        assert_eq!(conn.shaper().source(), LimitSource::None);
        assert!(control.live().pools.is_empty(), "pool 12 no longer used");
        drop(conn);
        assert!(control.live().connections.is_empty());
    }

    #[tokio::test]
    async fn a_users_own_limit_applies_at_login_and_the_script_sees_it() {
        let settings = Settings::default();
        let folder = tempfile::tempdir().unwrap();
        let control = Bandwidth::new(folder.path(), &settings.bandwidth);
        let conn = control.connect(1, ServiceId::Pop3, addr("192.0.2.1:1000"), addr("127.0.0.1:110"), &settings).await;
        conn.login(&crate::users::VerifiedUser { id: 4, name: "alice".into(), bandwidth: 50_000 }).await;
        assert_eq!((conn.shaper().source(), conn.live().origin), (LimitSource::Custom(50_000), LimitOrigin::User));
        let (_folder, scripted) = control_with("function GetBandwidth(p)\n if p.userbandwidth < 0 then return p.userbandwidth end\n return 0\nend", &settings);
        let conn = scripted.connect(2, ServiceId::Pop3, addr("192.0.2.1:1000"), addr("127.0.0.1:110"), &settings).await;
        conn.login(&crate::users::VerifiedUser { id: 5, name: "bob".into(), bandwidth: -8 }).await;
        assert_eq!(conn.params().userbandwidth, -8);
        assert_eq!((conn.shaper().source(), conn.live().origin), (LimitSource::Pool(8), LimitOrigin::Script));
    }

    #[tokio::test]
    async fn connections_following_their_service_move_with_its_setting() {
        let mut settings = Settings::default();
        let folder = tempfile::tempdir().unwrap();
        let control = Bandwidth::new(folder.path(), &settings.bandwidth);
        let conn = control.connect(1, ServiceId::Smtp, addr("192.0.2.1:1000"), addr("127.0.0.1:25"), &settings).await;
        assert_eq!(conn.shaper().source(), LimitSource::None);
        settings.bandwidth.smtp.mode = ThrottleMode::Pool;
        settings.bandwidth.smtp.pool = 9;
        control.apply(&settings.bandwidth);
        assert_eq!(conn.shaper().source(), LimitSource::Pool(9));
    }

    #[test]
    fn the_test_panel_says_what_a_value_means_and_where_an_error_is() {
        let mut settings = BandwidthSettings::default();
        settings.pools.push(crate::settings::BandwidthPool { id: 2, name: "Evening".into(), allowed: 50_000 });
        let request = |source: &str, at: Option<i64>| ScriptTestRequest { source: source.into(), params: Params { clientip: "203.0.113.5".into(), ..Default::default() }, at };
        let r = test_script(&request("function GetBandwidth(p) return -2 end", None), &settings);
        assert_eq!((r.value, r.meaning.as_deref()), (Some(-2), Some("Bandwidth Pool 2 \"Evening\" (50000 bytes per second)")));
        let r = test_script(&request("function GetBandwidth(p)\n  return os.date('*t').hour\nend", Some(1_700_000_000)), &settings);
        assert!(r.value.is_some_and(|h| (0..24).contains(&h)), "{r:?}");
        let r = test_script(&request("function GetBandwidth(p)\n  return = 1\nend", None), &settings);
        assert_eq!(r.line, Some(2), "{r:?}");
        let r = test_script(&request("function GetBandwidth(p)\n  return 1e12\nend", None), &settings);
        assert!(r.error.as_deref().unwrap_or("").contains("returned 1000000000000"), "{r:?}");
        assert_eq!(ScriptCheck::of("function GetBandwidth(p) end").ok, true);
        assert_eq!(ScriptCheck::of("x = ").line, Some(1));
    }
}
