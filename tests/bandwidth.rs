//! Bandwidth throttling as a mail program feels it: Python's poplib downloading a large message from a
//! real `postroomd serve` whose POP3 service is limited to a custom rate, or shares a pool.

mod common;

use common::mail::MailOffice;
use common::*;

/// A message of about `kb` KB for alice and, with `bob`, one for bob too (a second POP3 session needs a
/// mailbox of its own: one maildrop is open to one POP3 session at a time).
fn big_messages(office: &MailOffice, kb: usize, bob: bool) {
    let to = if bob {
        ok(office.dir(), &["user", "add", "bob", "--password-stdin"], "alice-secret\n");
        "['alice@office.test', 'bob@office.test']"
    } else {
        "['alice@office.test']"
    };
    let script = format!(
        "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n\
         s.sendmail('big@far.example', {to}, 'Subject: big\\r\\n\\r\\n' + ('x' * 998 + '\\r\\n') * {kb})\ns.quit()\n"
    );
    let (sent, out) = mail::python(&script, &[office.port("smtp").to_string()]);
    assert!(sent, "{out}");
}

/// Downloads message 1 over POP3 on `clients` connections at once; prints "bytes seconds" per client.
const RETR: &str = r#"
import poplib, sys, threading, time
port, clients = int(sys.argv[1]), int(sys.argv[2])
results = [None] * clients
def fetch(i):
    p = poplib.POP3("127.0.0.1", port, timeout=60)
    p.user(["alice", "bob"][i]); p.pass_("alice-secret")
    t = time.monotonic()
    resp, lines, octets = p.retr(1)
    results[i] = (octets, time.monotonic() - t)
    p.quit()
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
for octets, secs in results: print(octets, secs)
"#;

fn rates(office: &MailOffice, clients: usize) -> Vec<f64> {
    let (done, out) = mail::python(RETR, &[office.port("pop3").to_string(), clients.to_string()]);
    assert!(done, "{out}");
    out.lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let octets: f64 = parts.next().unwrap().parse().unwrap();
            let secs: f64 = parts.next().unwrap().parse().unwrap();
            octets / secs
        })
        .collect()
}

#[test]
fn a_custom_limit_of_100000_bytes_a_second_holds_within_5_percent_over_10_seconds() {
    let office = MailOffice::start();
    big_messages(&office, 1_100, false);
    ok(office.dir(), &["settings", "set", "bandwidth.pop3.mode", "custom", "bandwidth.pop3.bytes_per_sec", "100000"], "");
    std::thread::sleep(std::time::Duration::from_millis(1500)); // the server picks the change up
    let rate = rates(&office, 1)[0];
    println!("custom 100000 B/s: measured {rate:.0} B/s");
    assert!((95_000.0..=105_000.0).contains(&rate), "measured {rate:.0} B/s");
}

#[test]
fn two_connections_in_one_pool_share_it_fairly() {
    let office = MailOffice::start();
    big_messages(&office, 600, true);
    ok(
        office.dir(),
        &["settings", "set", "bandwidth.pools", r#"[{"id":1,"name":"POP3 downloads","allowed":100000}]"#, "bandwidth.pop3.mode", "pool", "bandwidth.pop3.pool", "1"],
        "",
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = rates(&office, 2);
    println!("pool of 100000 B/s, two connections: {r:.0?} B/s");
    for rate in &r {
        assert!((45_000.0..=55_000.0).contains(rate), "each within 10% of half the pool: {r:?}");
    }
}

/// The running server's live bandwidth figures (`postroomd bandwidth status --json`) once `check`
/// holds, waiting up to 10 s (status.json follows connections within about a second).
fn live_when(office: &MailOffice, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let doc: serde_json::Value = serde_json::from_str(&ok(office.dir(), &["bandwidth", "status", "--json"], "")).unwrap();
        if check(&doc) {
            return doc;
        }
        assert!(std::time::Instant::now() < deadline, "never happened; last figures: {doc:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn write_script(office: &MailOffice, text: &str) {
    // Written to a temporary name and renamed, as editors do.
    let tmp = office.dir().join("bandwidth.lua.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, office.dir().join("bandwidth.lua")).unwrap();
}

/// A POP3 connection held open (Python's poplib in a child process), logging in when told to.
struct HeldPop3 {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl HeldPop3 {
    const SCRIPT: &'static str = r#"
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=60)
print("connected", flush=True)
for line in sys.stdin:
    user = line.strip()
    if not user: break
    p.user(user); p.pass_("alice-secret")
    print("logged in", flush=True)
p.quit()
"#;

    fn open(office: &MailOffice) -> HeldPop3 {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(Self::SCRIPT)
            .arg(office.port("pop3").to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "connected");
        HeldPop3 { child, stdin, stdout }
    }

    fn login(&mut self, user: &str) {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{user}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "logged in");
    }

    fn close(mut self) {
        use std::io::Write;
        let _ = writeln!(self.stdin);
        let _ = self.child.wait();
    }
}

fn connections(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    doc["connections"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_login_moves_a_connection_from_no_limit_to_a_pool_mid_session() {
    let office = MailOffice::start();
    big_messages(&office, 500, true);
    ok(office.dir(), &["settings", "set", "bandwidth.pools", r#"[{"id":1,"name":"Limited","allowed":100000}]"#], "");
    write_script(&office, "function GetBandwidth(params)\n  if params.username == 'alice' then return -1 end\n  return 0\nend\n");
    live_when(&office, |d| d["script"]["active"] == true);
    // Connected, not logged in: the script gave no limit.
    let mut alice = HeldPop3::open(&office);
    let before = live_when(&office, |d| connections(d).len() == 1);
    let c = &connections(&before)[0];
    assert_eq!((c["limit"]["source"].as_str(), c["origin"].as_str(), c["user"].as_str()), (Some("none"), Some("script"), Some("")), "{before:#}");
    // Logged in: the same connection is now in pool 1.
    alice.login("alice");
    let after = live_when(&office, |d| connections(d).first().is_some_and(|c| c["user"] == "alice"));
    let c = &connections(&after)[0];
    assert_eq!((c["limit"]["source"].as_str(), c["limit"]["value"].as_u64(), c["origin"].as_str()), (Some("pool"), Some(1), Some("script")), "{after:#}");
    assert_eq!(c["session"], connections(&before)[0]["session"], "the same connection");
    let pool = after["pools"].as_array().unwrap().iter().find(|p| p["id"] == 1).cloned().expect("pool 1 in use");
    assert_eq!(pool["connections"], 1);
    alice.close();
    // And the limit holds for the download: alice at the pool's rate, bob (no limit by the script) not.
    let r = rates(&office, 2);
    println!("after login: alice {:.0} B/s (pool 1 = 100000), bob {:.0} B/s (no limit)", r[0], r[1]);
    assert!((90_000.0..=110_000.0).contains(&r[0]), "alice in pool 1: {r:?}");
    assert!(r[1] > 1_000_000.0, "bob is not limited: {r:?}");
}

#[test]
fn children_of_a_nested_pool_together_stay_under_the_parent() {
    let office = MailOffice::start();
    big_messages(&office, 600, true);
    // VPOP3's example: POP3 and IMAP4 pools share the "VPOP3" pool's 100000 bytes a second.
    let pools = r#"[{"id":3,"name":"VPOP3","allowed":100000},{"id":4,"name":"POP3","allowed":-3},{"id":5,"name":"IMAP4","allowed":-3}]"#;
    ok(
        office.dir(),
        &["settings", "set", "bandwidth.pools", pools, "bandwidth.pop3.mode", "pool", "bandwidth.pop3.pool", "4", "bandwidth.imap.mode", "pool", "bandwidth.imap.pool", "5"],
        "",
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // bob downloads over POP3 while alice fetches over IMAP4, at the same moment.
    let body = r#"
import threading
results = {}
def pop():
    p = poplib.POP3("127.0.0.1", pop3, timeout=60); p.user("bob"); p.pass_("alice-secret")
    t = time.monotonic(); resp, lines, octets = p.retr(1); results["pop3"] = (octets, t, time.monotonic()); p.quit()
def imap_fetch():
    m = imaplib.IMAP4("127.0.0.1", imap); m.login("alice", "alice-secret"); m.select("INBOX")
    t = time.monotonic(); typ, data = m.fetch("1", "(RFC822)"); results["imap"] = (len(data[0][1]), t, time.monotonic()); m.logout()
threads = [threading.Thread(target=pop), threading.Thread(target=imap_fetch)]
for th in threads: th.start()
for th in threads: th.join()
start = min(r[1] for r in results.values()); end = max(r[2] for r in results.values())
overlap = min(r[2] for r in results.values()) - max(r[1] for r in results.values())
total = sum(r[0] for r in results.values())
print(total / (end - start), results["pop3"][0] / (results["pop3"][2] - results["pop3"][1]), results["imap"][0] / (results["imap"][2] - results["imap"][1]), overlap)
"#;
    let (done, out) = office.python("", body);
    assert!(done, "{out}");
    let figures: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let (together, pop3, imap, overlap) = (figures[0], figures[1], figures[2], figures[3]);
    println!("nested pools under 100000 B/s: together {together:.0} B/s, POP3 {pop3:.0}, IMAP4 {imap:.0}, overlapping {overlap:.1} s");
    assert!(overlap > 5.0, "the two downloads ran at the same time: {out}");
    assert!(together <= 105_000.0, "the children together stay under the parent's 100000 B/s: {together:.0}");
    assert!(together >= 85_000.0, "and use it: {together:.0}");
    for rate in [pop3, imap] {
        assert!((40_000.0..=60_000.0).contains(&rate), "each child gets a fair share: POP3 {pop3:.0}, IMAP4 {imap:.0}");
    }
}

#[test]
fn bandwidth_lua_is_reloaded_on_change_and_a_broken_one_keeps_the_previous_running() {
    let office = MailOffice::start();
    let status = |check: &dyn Fn(&serde_json::Value) -> bool| live_when(&office, |d| check(d));
    let limit_of_new_connection = || {
        let held = HeldPop3::open(&office);
        let doc = live_when(&office, |d| connections(d).len() == 1);
        held.close();
        live_when(&office, |d| connections(d).is_empty());
        let c = connections(&doc)[0].clone();
        (c["limit"]["source"].as_str().unwrap().to_string(), c["limit"]["value"].as_i64(), c["origin"].as_str().unwrap().to_string())
    };
    status(&|d| d["script"]["present"] == false);
    assert_eq!(limit_of_new_connection(), ("none".into(), None, "service".into()));

    write_script(&office, "function GetBandwidth(params) return -7 end");
    status(&|d| d["script"]["active"] == true);
    assert_eq!(limit_of_new_connection(), ("pool".into(), Some(7), "script".into()));

    // A version that does not compile: the error is shown, the previous script keeps deciding.
    write_script(&office, "function GetBandwidth(params)\n  return -3\n");
    let doc = status(&|d| d["script"]["compile_error"].is_string());
    assert!(doc["script"]["compile_error"].as_str().unwrap().contains("bandwidth.lua:"), "{doc:#}");
    assert_eq!(limit_of_new_connection(), ("pool".into(), Some(7), "script".into()));

    // Fixed: the new version decides from the next connection, and the error is gone.
    write_script(&office, "function GetBandwidth(params)\n  return 12345\nend\n");
    status(&|d| d["script"]["compile_error"].is_null() && d["script"]["active"] == true);
    assert_eq!(limit_of_new_connection(), ("custom".into(), Some(12345), "script".into()));

    // A bad return value: the service's own setting applies, and the error is logged once a minute,
    // not once per connection.
    let loads = status(&|_| true)["script"]["loads"].as_u64().unwrap();
    // Loaded once per change, not again and again (reading the file is no change).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(status(&|_| true)["script"]["loads"].as_u64().unwrap(), loads, "reloaded without a change");
    write_script(&office, "function GetBandwidth(params)\n  return 5000000000\nend\n");
    status(&|d| d["script"]["loads"].as_u64() > Some(loads));
    ok(office.dir(), &["settings", "set", "bandwidth.pop3.mode", "custom", "bandwidth.pop3.bytes_per_sec", "64000"], "");
    std::thread::sleep(std::time::Duration::from_millis(1500)); // the server picks the change up
    for _ in 0..3 {
        assert_eq!(limit_of_new_connection(), ("custom".into(), Some(64000), "service".into()));
    }
    let doc = status(&|d| d["script"]["failed_calls"] == 3);
    assert!(doc["script"]["last_error"].as_str().unwrap().contains("returned 5000000000"), "{doc:#}");
    // errors.log is written in bursts: wait for the line, then make sure it is there only once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let errors = loop {
        let text = std::fs::read_to_string(office.dir().join("logs/errors.log")).unwrap_or_default();
        if text.contains("returned 5000000000") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(errors.matches("returned 5000000000").count(), 1, "logged once, not per connection:\n{errors}");

    // Removed: no script, the services' settings apply.
    std::fs::remove_file(office.dir().join("bandwidth.lua")).unwrap();
    status(&|d| d["script"]["present"] == false && d["script"]["active"] == false);
}

#[test]
fn the_three_vpop3_examples_answer_as_their_comments_say_through_the_command_line() {
    let office = MailOffice::start();
    ok(office.dir(), &["settings", "set", "bandwidth.pools", r#"[{"id":1,"name":"Limited","allowed":20000}]"#], "");
    write_script(
        &office,
        "function GetBandwidth(params)\n-- pool '1' is set to the limited pool\n  if string.find(params[\"clientip\"], \"^192%.168%.\") then\n    return 0; -- unlimited\n  else\n    return -1; -- use pool 1\n  end\nend\n",
    );
    let out = ok(office.dir(), &["bandwidth", "test", "--clientip", "192.168.1.20"], "");
    assert!(out.contains("returned 0: no limit"), "{out}");
    let out = ok(office.dir(), &["bandwidth", "test", "--clientip", "203.0.113.9"], "");
    assert!(out.contains("returned -1: Bandwidth Pool 1 \"Limited\" (20000 bytes per second)"), "{out}");
    write_script(&office, "function GetBandwidth(params)\n  if params[\"username\"] == \"theboss\" then\n    return 0;\n  else\n    return -1;\n  end\nend\n");
    assert!(ok(office.dir(), &["bandwidth", "test", "--username", "theboss"], "").contains("returned 0"));
    assert!(ok(office.dir(), &["bandwidth", "test", "--username", "alice"], "").contains("returned -1"));
    // A broken script: the error and its line, exit status 1.
    write_script(&office, "function GetBandwidth(params)\n  return -1\n");
    let out = run(office.dir(), &["bandwidth", "test"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bandwidth.lua:"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_users_own_limit_applies_when_they_log_in() {
    let office = MailOffice::start();
    big_messages(&office, 300, false);
    ok(office.dir(), &["user", "set", "alice", "--bandwidth", "50000"], "");
    let listed: serde_json::Value = serde_json::from_str(&ok(office.dir(), &["user", "list", "--json"], "")).unwrap();
    assert_eq!(listed[0]["bandwidth"], 50000);
    let mut held = HeldPop3::open(&office);
    let before = live_when(&office, |d| connections(d).len() == 1);
    assert_eq!(connections(&before)[0]["origin"], "service");
    held.login("alice");
    let after = live_when(&office, |d| connections(d).first().is_some_and(|c| c["user"] == "alice"));
    let c = &connections(&after)[0];
    assert_eq!((c["limit"]["source"].as_str(), c["limit"]["value"].as_u64(), c["origin"].as_str()), (Some("custom"), Some(50000), Some("user")), "{after:#}");
    held.close();
    let rate = rates(&office, 1)[0];
    println!("alice's own limit 50000 B/s: measured {rate:.0} B/s");
    assert!((45_000.0..=55_000.0).contains(&rate), "{rate:.0}");
    // A limit outside the script's terms is refused and changes nothing.
    let out = run(office.dir(), &["user", "set", "alice", "--bandwidth", "-1001"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("-1 to -1000"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn mail_sent_to_the_server_is_limited_too() {
    let office = MailOffice::start();
    ok(office.dir(), &["settings", "set", "bandwidth.smtp.mode", "custom", "bandwidth.smtp.bytes_per_sec", "100000"], "");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // About 700 KB uploaded with smtplib: the DATA goes from the client to the server.
    let script = "import smtplib, sys, time\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\nmsg = 'Subject: upload\\r\\n\\r\\n' + ('y' * 998 + '\\r\\n') * 700\n\
                  t = time.monotonic()\ns.sendmail('big@far.example', ['alice@office.test'], msg)\nprint(len(msg) / (time.monotonic() - t))\ns.quit()\n";
    let (sent, out) = mail::python(script, &[office.port("smtp").to_string()]);
    assert!(sent, "{out}");
    let rate: f64 = out.trim().parse().unwrap();
    println!("SMTP upload under custom 100000 B/s: {rate:.0} B/s");
    assert!((90_000.0..=110_000.0).contains(&rate), "{rate:.0} B/s");
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "1", "and the message arrived whole");
}
