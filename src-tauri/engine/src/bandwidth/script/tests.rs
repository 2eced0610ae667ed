use super::*;

use super::examples::{EXTERNAL_LIMITED, THE_BOSS, TIME_OF_DAY};

fn params(ip: &str, user: &str) -> Params {
    Params { clientip: ip.into(), username: user.into(), servertype: "IMAP4".into(), serverid: "imap".into(), ..Params::default() }
}

/// Unix time of a local date and time.
fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    use chrono::TimeZone;
    chrono::Local.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().timestamp()
}

#[test]
fn external_addresses_are_limited() {
    let s = Script::compile(EXTERNAL_LIMITED).unwrap();
    assert_eq!(s.call(&params("192.168.1.20", "")), Ok(Verdict::NoLimit));
    assert_eq!(s.call(&params("81.2.69.142", "")), Ok(Verdict::Pool(1)));
}

#[test]
fn the_boss_is_not_limited() {
    let s = Script::compile(THE_BOSS).unwrap();
    assert_eq!(s.call(&params("81.2.69.142", "theboss")), Ok(Verdict::NoLimit));
    assert_eq!(s.call(&params("81.2.69.142", "alice")), Ok(Verdict::Pool(1)));
    assert_eq!(s.call(&params("81.2.69.142", "")), Ok(Verdict::Pool(1)), "before a login");
}

#[test]
fn time_of_day_picks_the_pool_and_weekends_are_saturday_and_sunday() {
    let s = Script::compile(TIME_OF_DAY).unwrap();
    let at = |unix: i64, ip: &str, user: &str| {
        s.set_clock(Some(unix));
        s.call(&params(ip, user)).unwrap()
    };
    // Wednesday 25 November 2026.
    assert_eq!(at(local(2026, 11, 25, 10, 0), "81.2.69.142", "alice"), Verdict::Pool(1), "a weekday morning");
    assert_eq!(at(local(2026, 11, 25, 17, 29), "81.2.69.142", "alice"), Verdict::Pool(1));
    assert_eq!(at(local(2026, 11, 25, 17, 30), "81.2.69.142", "alice"), Verdict::Pool(2), "from 5:30 pm");
    assert_eq!(at(local(2026, 11, 25, 7, 59), "81.2.69.142", "alice"), Verdict::Pool(2), "before 8 am");
    assert_eq!(at(local(2026, 11, 27, 12, 0), "81.2.69.142", "alice"), Verdict::Pool(1), "Friday is a weekday");
    assert_eq!(at(local(2026, 11, 28, 12, 0), "81.2.69.142", "alice"), Verdict::Pool(2), "Saturday");
    assert_eq!(at(local(2026, 11, 29, 12, 0), "81.2.69.142", "alice"), Verdict::Pool(2), "Sunday");
    assert_eq!(at(local(2026, 11, 29, 12, 0), "192.168.0.9", "alice"), Verdict::NoLimit);
    assert_eq!(at(local(2026, 11, 28, 23, 0), "81.2.69.142", "theboss"), Verdict::NoLimit);
}

#[test]
fn the_sandbox_keeps_the_script_inside() {
    for (escape, what) in [
        ("return io.open('/etc/passwd')", "io"),
        ("return os.execute('touch /tmp/postroom-escaped')", "execute"),
        ("return os.remove('/tmp/x')", "remove"),
        ("return os.getenv('HOME')", "getenv"),
        ("return require('os')", "require"),
        ("return load('return 1')()", "load"),
        ("return dofile('/etc/passwd')", "dofile"),
        ("return string.dump(GetBandwidth)", "dump"),
        ("return debug.getinfo(1)", "debug"),
    ] {
        let s = Script::compile(&format!("function GetBandwidth(p) {escape} end")).unwrap();
        let err = s.call(&params("1.2.3.4", "")).unwrap_err().to_string();
        assert!(err.contains("nil value"), "{what}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/postroom-escaped").exists());
    let binary = Script::compile("\x1bLua\x54\x00 binary").err().unwrap().to_string();
    assert!(binary.contains("binary"), "{binary}");
}

#[test]
fn runaway_scripts_are_stopped() {
    let s = Script::compile("function GetBandwidth(p) while true do end end").unwrap();
    let err = s.call(&params("1.2.3.4", "")).unwrap_err().to_string();
    assert!(err.contains("ran longer than 20 ms"), "{err}");
    // The state is still usable afterwards.
    assert!(s.call(&params("1.2.3.4", "")).is_err());
    let at_load = Script::compile("while true do end function GetBandwidth(p) return 0 end").err().unwrap().to_string();
    assert!(at_load.contains("ran longer"), "{at_load}");
    let hungry = Script::compile("function GetBandwidth(p) local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end return 0 end").unwrap();
    let err = hungry.call(&params("1.2.3.4", "")).unwrap_err().to_string();
    assert!(err.contains("memory") || err.contains("ran longer"), "{err}");
}

#[test]
fn bad_scripts_and_bad_return_values_are_explained() {
    assert!(Script::compile("function Other() return 0 end").err().unwrap().to_string().contains("does not define a function GetBandwidth"));
    let syntax = Script::compile("function GetBandwidth(p)\n  return 0 +\nend").err().unwrap().to_string();
    assert!(syntax.contains("bandwidth.lua:3"), "{syntax}");
    for (body, expected) in [
        ("return 1000000000", "returned 1000000000"),
        ("return -1001", "returned -1001"),
        ("return 'fast'", "the text \"fast\""),
        ("return nil", "nothing (nil)"),
        ("return 1.5", "1.5"),
        ("error('no data for ' .. p.clientip)", "no data for 1.2.3.4"),
    ] {
        let s = Script::compile(&format!("function GetBandwidth(p) {body} end")).unwrap();
        let err = s.call(&params("1.2.3.4", "")).unwrap_err().to_string();
        assert!(err.contains(expected), "{body}: {err}");
    }
    let ok = Script::compile("function GetBandwidth(p) return 65536 end").unwrap();
    assert_eq!(ok.call(&params("1.2.3.4", "")), Ok(Verdict::Rate(65_536)));
}

#[test]
fn a_budget_error_cannot_be_caught_by_pcall_or_xpcall() {
    for body in [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function() while true do end end) end",
        "local function f() while true do end end while true do pcall(pcall, pcall, f) end",
        "return select(2, pcall(function() while true do pcall(error) end end))",
        "xpcall(function() while true do end end, function() while true do end end) while true do end",
    ] {
        let s = Script::compile(&format!("function GetBandwidth(p) {body} end")).unwrap();
        let started = std::time::Instant::now();
        let err = s.call(&params("1.2.3.4", "")).unwrap_err().to_string();
        assert!(err.contains("ran longer than"), "{body}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{body} took {:?}", started.elapsed());
        // The next call gets a fresh budget and the cheap hook again.
        let ok = Script::compile("function GetBandwidth(p) local n = 0 for i = 1, 100000 do n = n + i end return 0 end").unwrap();
        assert_eq!(ok.call(&params("1.2.3.4", "")), Ok(Verdict::NoLimit));
    }
}

#[test]
fn string_functions_that_run_long_in_c_have_argument_limits() {
    let call = |script: &str| Script::compile(script).unwrap().call(&params("192.168.1.5", "alice@example.com"));
    let err = call("function GetBandwidth(p) return #string.find(string.rep('a', 5000), '.-.-.-.-b') end").unwrap_err().to_string();
    assert!(err.contains("string.find: text longer than 1024"), "{err}");
    let err = call("function GetBandwidth(p) local s = string.rep('a', 500) return string.find(s, '.-.-.-b') or 0 end").unwrap_err().to_string();
    assert!(err.contains("pattern could run for minutes"), "{err}");
    // Optional items backtrack too: each `a?` doubles the work (found by the fuzzer, which ran one for 60 s).
    let err = call("function GetBandwidth(p) return string.find(string.rep('a', 40), string.rep('a?', 40) .. string.rep('a', 40)) or 0 end").unwrap_err().to_string();
    assert!(err.contains("string.find: pattern could run for minutes"), "{err}");
    let err = call("function GetBandwidth(p) return select('#', string.match(string.rep('(', 1000), '%b()%b()%b()')) end").unwrap_err().to_string();
    assert!(err.contains("string.match: pattern could run for minutes"), "{err}");
    // A set's `-` is a range, not a repetition; an anchored pattern starts once.
    assert_eq!(call("function GetBandwidth(p) if string.find(p.clientip, '^[0-9]+%.[0-9]+%.[0-9]+%.[0-9]+$') then return 9 end return 0 end"), Ok(Verdict::Rate(9)));
    assert_eq!(call("function GetBandwidth(p) local u, d = string.match(string.rep('u', 1000) .. '@example.com', '^(.-)@(.*)$') return #u end"), Ok(Verdict::Rate(1000)));
    let err = call("function GetBandwidth(p) return #(('x'):rep(2000000)) end").unwrap_err().to_string();
    assert!(err.contains("string.rep: the result would be over"), "{err}");
    // What real scripts do still works.
    assert_eq!(call("function GetBandwidth(p) if string.find(p.clientip, '^192%.168%.') then return -1 end return 0 end"), Ok(Verdict::Pool(1)));
    assert_eq!(call("function GetBandwidth(p) local u, d = string.match(p.username, '^(.-)@(.*)$') if d == 'example.com' then return 5000 end return 0 end"), Ok(Verdict::Rate(5000)));
    assert_eq!(call("function GetBandwidth(p) return #(p.username:gsub('%.', '')) end"), Ok(Verdict::Rate(16)));
    assert_eq!(call("function GetBandwidth(p) return string.find(string.rep('ab', 3000), 'ba', 1, true) end"), Ok(Verdict::Rate(2)));
    assert_eq!(call("function GetBandwidth(p) local ok, v = xpcall(function() error('x') end, function(m) return 7 end) return v end"), Ok(Verdict::Rate(7)));
    for (script, refused) in [
        ("setmetatable({}, { __gc = function() while true do end end })", "__gc is not allowed"),
        ("local t <close> = setmetatable({}, { __close = function() while true do end end })", "__close is not allowed"),
        ("local mt = {} local t = setmetatable({}, mt) mt.__close = function() while true do end end", "__close is not allowed"),
        ("local mt = {} setmetatable({}, mt) rawset(mt, '__close', print)", "attempt to call a nil value (global 'rawset')"),
    ] {
        let err = call(&format!("function GetBandwidth(p) {script} return 0 end")).unwrap_err().to_string();
        assert!(err.contains(refused), "{script}: {err}");
    }
    let shared = call("local mt = { __index = { limit = 4096 } } function GetBandwidth(p) local a = setmetatable({}, mt) local b = setmetatable({}, mt) mt.extra = 1 return a.limit end");
    assert_eq!(shared, Ok(Verdict::Rate(4096)), "ordinary metatables still work");
}
