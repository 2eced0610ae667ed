//! `bandwidth.lua`: the admin's `GetBandwidth(params)`, run in a sandbox.
//!
//! The script gets `string`, `table`, `math` and a reduced `os` (`date`, `time`, `clock`, `difftime`);
//! no `io`, `os.execute`, `require`, `load`, `dofile`, `string.dump`, and only text chunks are loaded.
//! Each call has a time budget (checked every 1000 VM instructions, so `while true do end` stops within
//! milliseconds) and the state a memory cap.
//!
//! `os.date("*t")` gives `wday` 0 (Sunday) to 6 (Saturday), C's numbering, as VPOP3's scripts expect:
//! its documented time-of-day example tests `t.wday == 6 or t.wday == 0` for the weekend.

pub mod examples;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

/// The longest one call may run.
pub const TIME_BUDGET: Duration = Duration::from_millis(20);
/// The most memory the script's state may use.
pub const MEMORY_LIMIT: usize = 8 << 20;

/// VM instructions between two looks at the clock while a call is within its budget.
const CHECK_EVERY: u32 = 1000;

/// Installs the time-budget hook. Past the deadline it raises an error, and from then on it fires on
/// every instruction: `pcall` can catch the error, but the very next instruction of the code that called
/// `pcall` raises it again, so no nesting of `pcall`/`xpcall` keeps a script running past its budget.
fn set_budget_hook(lua: &Lua, deadline: &Arc<Mutex<Option<Instant>>>, every: u32) -> mlua::Result<()> {
    let hook_deadline = deadline.clone();
    lua.set_hook(HookTriggers::new().every_nth_instruction(every), move |lua, _debug| {
        let over = hook_deadline.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|d| Instant::now() > d);
        if over {
            if every != 1 {
                set_budget_hook(lua, &hook_deadline, 1)?;
            }
            return Err(mlua::Error::RuntimeError(format!("stopped: the script ran longer than {} ms", TIME_BUDGET.as_millis())));
        }
        Ok(VmState::Continue)
    })
}

/// Limits on the string functions that run long in C, where the budget's hook cannot interrupt them.
pub const MAX_REP_BYTES: usize = 1 << 20;
pub const MAX_PATTERN_SUBJECT: usize = 1024;
pub const MAX_PATTERN_LEN: usize = 128;
/// The most steps Lua's matcher may take, in the worst case, for one call (a few tens of milliseconds).
pub const MAX_PATTERN_STEPS: u64 = 1 << 24;

/// Whether `pattern` may run over `subject` (a plain find, `plain` true, is always fine). `anchored_ok`
/// is false for `gmatch`, where a leading `^` does not anchor in every Lua version.
fn check_pattern(subject: &[u8], pattern: &[u8], plain: bool, anchored_ok: bool) -> Result<(), PatternError> {
    if plain {
        return Ok(());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong);
    }
    if subject.len() > MAX_PATTERN_SUBJECT {
        return Err(PatternError::TextTooLong);
    }
    let steps = pattern_steps(subject.len(), pattern, anchored_ok);
    if steps > MAX_PATTERN_STEPS {
        return Err(PatternError::TooCostly(steps));
    }
    Ok(())
}

/// Why a pattern function was refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum PatternError {
    #[error("pattern longer than {MAX_PATTERN_LEN} characters")]
    TooLong,
    #[error("text longer than {MAX_PATTERN_SUBJECT} characters given to a pattern function")]
    TextTooLong,
    #[error(
        "pattern could run for minutes on this text: its * + - ? %b allow up to {0} steps (at most {MAX_PATTERN_STEPS}); \
         use fewer repetitions, anchor it with ^ or give it a shorter text"
    )]
    TooCostly(u64),
}

/// An upper bound on the steps of Lua's backtracking matcher: every start position, times the subject's
/// length for each `*`, `+`, `-` and `%b` (each may try every position again), times two for each `?`
/// (each tries both ways). Counting too much only refuses a pattern; counting too little would let a call
/// run in C past the budget, so anything unclear counts.
fn pattern_steps(subject_len: usize, pattern: &[u8], anchored_ok: bool) -> u64 {
    let n = subject_len as u64 + 1;
    let mut steps = if anchored_ok && pattern.first() == Some(&b'^') { 1 } else { n };
    let mut i = 0;
    while i < pattern.len() {
        // One single-character item (or %b, which takes two characters), then perhaps its quantifier.
        match pattern[i] {
            b'%' if pattern.get(i + 1) == Some(&b'b') => {
                steps = steps.saturating_mul(n);
                i += 4;
                continue;
            }
            b'%' => i += 2,
            b'[' => i = end_of_set(pattern, i),
            _ => i += 1,
        }
        match pattern.get(i) {
            Some(b'*' | b'+' | b'-') => {
                steps = steps.saturating_mul(n);
                i += 1;
            }
            Some(b'?') => {
                steps = steps.saturating_mul(2);
                i += 1;
            }
            _ => {}
        }
    }
    steps
}

/// The index just past the `]` that closes the set opening at `open` (Lua's rules: a `^` and then a `]`
/// first are part of the set, `%` escapes the next character); the pattern's end if it never closes.
fn end_of_set(pattern: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    if pattern.get(i) == Some(&b'^') {
        i += 1;
    }
    if pattern.get(i) == Some(&b']') {
        i += 1;
    }
    while i < pattern.len() {
        match pattern[i] {
            b'%' => i += 2,
            b']' => return i + 1,
            _ => i += 1,
        }
    }
    pattern.len()
}

/// What `GetBandwidth` is told about the connection (VPOP3's parameter names).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct Params {
    pub clientip: String,
    pub serveraddress: String,
    pub serverport: u16,
    /// "SMTP", "POP3", "IMAP4".
    pub servertype: String,
    /// The service's key: "smtp", "pop3s", …
    pub serverid: String,
    /// The service's own setting, in the script's terms (0, bytes per second, or −pool).
    #[ts(type = "number")]
    pub serverbandwidth: i64,
    /// The connection's current limit, in the same terms.
    #[ts(type = "number")]
    pub bandwidth: i64,
    /// Empty until a login.
    pub username: String,
    #[ts(type = "number")]
    pub usernumber: i64,
    #[ts(type = "number")]
    pub userbandwidth: i64,
}

/// Why bandwidth.lua could not be loaded or did not give a usable answer; the text is what the editor and
/// errors.log show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Lua's own message (a syntax error with its line, a runtime error, a limit the sandbox enforces).
    #[error("{0}")]
    Lua(String),
    #[error("cannot prepare the sandbox: {0}")]
    Sandbox(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("bandwidth.lua is not UTF-8 text")]
    NotUtf8,
    #[error("bandwidth.lua does not define a function GetBandwidth(params)")]
    NoGetBandwidth,
    #[error("GetBandwidth returned {0}, not a whole number")]
    NotAWholeNumber(String),
    #[error("GetBandwidth returned {0}: use 0 (no limit), 1 to 999999999 (bytes per second) or -1 to -1000 (a pool)")]
    NotALimit(i64),
    #[error("the script's call failed: {0}")]
    CallFailed(String),
    #[error("GetBandwidth did not answer within {0} ms")]
    NoAnswer(u128),
}

impl ScriptError {
    /// The line the error is on, when Lua says (`bandwidth.lua:3: 'end' expected`).
    pub fn line(&self) -> Option<u32> {
        let ScriptError::Lua(text) = self else { return None };
        let rest = &text[text.find("bandwidth.lua:")? + "bandwidth.lua:".len()..];
        rest[..rest.find(':')?].parse().ok()
    }
}

/// What the script decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    NoLimit,
    Rate(u64),
    Pool(u32),
}

impl Verdict {
    /// The script's return value: 0, 1..999999999 or −1..−1000.
    pub fn from_value(v: i64) -> Result<Verdict, ScriptError> {
        crate::settings::check_limit_value(v).map_err(|_| ScriptError::NotALimit(v))?;
        Ok(match v {
            0 => Verdict::NoLimit,
            1.. => Verdict::Rate(v as u64),
            _ => Verdict::Pool(v.unsigned_abs() as u32),
        })
    }
}

pub struct Script {
    lua: Mutex<Lua>,
    deadline: Arc<Mutex<Option<Instant>>>,
    /// The clock `os.date` and `os.time` read (Unix seconds); `i64::MIN` = the real clock.
    clock: Arc<AtomicI64>,
}

impl Script {
    /// Compiles `source` in a fresh sandbox; the error says what is wrong (with a line number from Lua).
    pub fn compile(source: &str) -> Result<Script, ScriptError> {
        let sandbox_failed = |e: mlua::Error| ScriptError::Sandbox(e.to_string());
        let lua = Lua::new_with(StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::OS, LuaOptions::default()).map_err(sandbox_failed)?;
        let clock = Arc::new(AtomicI64::new(i64::MIN));
        sandbox(&lua, clock.clone()).map_err(sandbox_failed)?;
        lua.set_memory_limit(MEMORY_LIMIT).map_err(sandbox_failed)?;
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        set_budget_hook(&lua, &deadline, CHECK_EVERY).map_err(sandbox_failed)?;
        let script = Script { lua: Mutex::new(lua), deadline, clock };
        script.with_budget(|lua| lua.load(source).set_name("=bandwidth.lua").set_mode(ChunkMode::Text).exec()).map_err(|e| clean(&e))?;
        let defined = script.with_budget(|lua| Ok(matches!(lua.globals().get::<Value>("GetBandwidth")?, Value::Function(_)))).map_err(|e| clean(&e))?;
        if !defined {
            return Err(ScriptError::NoGetBandwidth);
        }
        Ok(script)
    }

    /// Makes `os.date`/`os.time` read this Unix time instead of the clock (tests, the editor's Test panel).
    pub fn set_clock(&self, unix: Option<i64>) {
        self.clock.store(unix.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    fn with_budget<T>(&self, f: impl FnOnce(&Lua) -> mlua::Result<T>) -> mlua::Result<T> {
        let lua = self.lock_within(TIME_BUDGET)?;
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + TIME_BUDGET);
        let result = f(&lua);
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // A call that overran left the hook firing on every instruction: back to the cheap check.
        if set_budget_hook(&lua, &self.deadline, CHECK_EVERY).is_err() {
            tracing::error!(target: "bandwidth", "cannot reset the script's time budget");
        }
        result
    }

    /// The Lua state, waiting at most `limit` for another call to finish (one stuck in a long C-level
    /// function cannot be interrupted by the budget's hook, and must not hold up every connection).
    fn lock_within(&self, limit: Duration) -> mlua::Result<std::sync::MutexGuard<'_, Lua>> {
        let deadline = Instant::now() + limit;
        loop {
            match self.lua.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_micros(50)),
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(mlua::Error::RuntimeError(format!("another connection's call has been running for over {} ms", limit.as_millis())))
                }
            }
        }
    }

    /// Calls `GetBandwidth(params)`.
    pub fn call(&self, p: &Params) -> Result<Verdict, ScriptError> {
        let value = self
            .with_budget(|lua| {
                let t = lua.create_table()?;
                t.set("clientip", p.clientip.as_str())?;
                t.set("serveraddress", p.serveraddress.as_str())?;
                t.set("serverport", p.serverport)?;
                t.set("servertype", p.servertype.as_str())?;
                t.set("serverid", p.serverid.as_str())?;
                t.set("serverbandwidth", p.serverbandwidth)?;
                t.set("bandwidth", p.bandwidth)?;
                t.set("username", p.username.as_str())?;
                t.set("usernumber", p.usernumber)?;
                t.set("userbandwidth", p.userbandwidth)?;
                let f: mlua::Function = lua.globals().get("GetBandwidth")?;
                f.call::<Value>(t)
            })
            .map_err(|e| clean(&e))?;
        let n = match value {
            Value::Integer(i) => i,
            Value::Number(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
            other => return Err(ScriptError::NotAWholeNumber(describe(&other))),
        };
        Verdict::from_value(n)
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Nil => "nothing (nil)".into(),
        Value::Number(f) => f.to_string(),
        Value::String(s) => format!("the text \"{}\"", s.to_string_lossy()),
        other => format!("a {}", other.type_name()),
    }
}

/// Lua's error text without the Rust-side wrapping and stack traceback.
fn clean(e: &mlua::Error) -> ScriptError {
    let mut e = e;
    while let mlua::Error::CallbackError { cause, .. } = e {
        e = cause;
    }
    let text = e.to_string();
    ScriptError::Lua(text.split("\nstack traceback:").next().unwrap_or(&text).trim().to_string())
}

/// Takes away everything that reaches outside the script, and gives `os.date`/`os.time` the injectable
/// clock and C's weekday numbering.
fn sandbox(lua: &Lua, clock: Arc<AtomicI64>) -> mlua::Result<()> {
    let g = lua.globals();
    for name in ["load", "loadstring", "dofile", "loadfile", "require", "collectgarbage", "print", "module", "package", "io", "debug"] {
        g.set(name, Value::Nil)?;
    }
    let string: Table = g.get("string")?;
    string.set("dump", Value::Nil)?;
    // string.rep, find, match, gmatch and gsub run in C, out of the hook's reach: their arguments are
    // limited instead (also for the method form, "x":rep(n), which looks them up in this same table).
    let rep: mlua::Function = string.get("rep")?;
    string.set(
        "rep",
        lua.create_function(move |_, (s, n, sep): (mlua::LuaString, i64, Option<mlua::LuaString>)| {
            let piece = s.as_bytes().len() + sep.as_ref().map_or(0, |x| x.as_bytes().len());
            if n > 0 && (piece as u128) * (n as u128) > MAX_REP_BYTES as u128 {
                return Err(mlua::Error::RuntimeError(format!("string.rep: the result would be over {MAX_REP_BYTES} bytes")));
            }
            rep.call::<mlua::Value>((s, n, sep))
        })?,
    )?;
    for name in ["find", "match", "gmatch", "gsub"] {
        let original: mlua::Function = string.get(name)?;
        string.set(
            name,
            lua.create_function(move |_, args: mlua::MultiValue| {
                let text = |i: usize| match args.get(i) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Integer(n)) => n.to_string().into_bytes(),
                    Some(Value::Number(n)) => n.to_string().into_bytes(),
                    _ => Vec::new(),
                };
                let plain = name == "find" && matches!(args.get(3), Some(v) if !matches!(v, Value::Nil | Value::Boolean(false)));
                check_pattern(&text(0), &text(1), plain, name != "gmatch").map_err(|why| mlua::Error::RuntimeError(format!("string.{name}: {why}")))?;
                original.call::<mlua::MultiValue>(args)
            })?,
        )?;
    }
    let os: Table = g.get("os")?;
    let now = lua.create_function(move |_, ()| {
        let fixed = clock.load(Ordering::Relaxed);
        Ok(if fixed == i64::MIN {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
        } else {
            fixed
        })
    })?;
    // xpcall's message handler runs while the error is being raised, which for the budget's error is inside
    // the hook, where Lua runs no hooks: a handler that loops would never be stopped. This xpcall calls the
    // handler after the error has unwound, under the budget like any other code. No finalizers (__gc: they
    // run when the state is closed, outside any call's budget) and no to-be-closed variables (__close: Lua
    // runs them while unwinding the budget's error, where no hook stops them); rawset goes, so neither can
    // be added to a metatable afterwards.
    lua.load(
        r#"
        local pcall, pack, unpack, select, rawget, setmetatable, error = pcall, table.pack, table.unpack, select, rawget, setmetatable, error
        xpcall = function(f, handler, ...)
            local r = pack(pcall(f, ...))
            if r[1] then return unpack(r, 1, r.n) end
            return false, handler(r[2])
        end
        local getmetatable, rawset = getmetatable, rawset
        local banned = { __gc = true, __close = true }
        local guard = { __newindex = function(m, k, v)
            if banned[k] then error(k .. " is not allowed in bandwidth.lua", 2) end
            rawset(m, k, v)
        end }
        _G.setmetatable = function(t, mt)
            if type(mt) == "table" then
                for k in pairs(banned) do
                    if rawget(mt, k) ~= nil then error(k .. " is not allowed in bandwidth.lua", 2) end
                end
                if getmetatable(mt) == nil then setmetatable(mt, guard)
                elseif getmetatable(mt) ~= guard then error("a metatable with a metatable of its own is not allowed in bandwidth.lua", 2) end
            end
            return setmetatable(t, mt)
        end
        _G.rawset = nil
        "#,
    )
    .set_mode(ChunkMode::Text)
    .exec()?;
    let make: mlua::Function = lua
        .load(
            r#"
            local real_date, real_time, clock, difftime, now = ...
            local os = {}
            function os.date(format, t)
                local r = real_date(format, t or now())
                if type(r) == "table" then r.wday = r.wday - 1 end
                return r
            end
            function os.time(t)
                if t == nil then return now() end
                return real_time(t)
            end
            os.clock = clock
            os.difftime = difftime
            return os
            "#,
        )
        .set_mode(ChunkMode::Text)
        .into_function()?;
    let safe_os: Table = make.call((os.get::<Value>("date")?, os.get::<Value>("time")?, os.get::<Value>("clock")?, os.get::<Value>("difftime")?, now))?;
    g.set("os", safe_os)?;
    Ok(())
}

#[cfg(test)]
mod tests;
