//! The log files as an admin reads them: a real `postroomd serve`, real mail programs (Python's smtplib,
//! poplib, imaplib), and the files in the data folder's `logs/` afterwards — session transcripts
//! tagged per conversation with no password in sight, mail.log and security.log lines, settings changed
//! while running, `postroomd logwriter stats`, a full disk reported and caught up, and everything
//! written at shutdown.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::mail::MailOffice;
use common::*;
use serde_json::Value;

fn logs(dir: &Path) -> PathBuf {
    dir.join("logs")
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(logs(dir).join(name)).unwrap_or_default()
}

/// `postroomd logwriter stats --json`, once the running server's status shows `check` (up to 20 s:
/// status.json is refreshed every 5 s).
fn stats_when(dir: &Path, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(dir, &["logwriter", "stats", "--json"], "");
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if stats.is_object() && check(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "log writer stats never matched; last: {stats:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn file<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["files"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()
}

/// The session ids (`[#N]`) of the lines containing `needle`.
fn sessions_with(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.split_once("[#").and_then(|(_, rest)| rest.split_once(']')).map(|(id, _)| id.to_string()))
        .collect()
}

#[test]
fn session_logs_follow_each_conversation_and_never_show_a_password() {
    let mut office = MailOffice::start();
    let d = office.dir().to_path_buf();
    // Switched on while the server runs.
    ok(&d, &["settings", "set", "log.session.smtpsvr.enabled", "true", "log.session.pop3svr.enabled", "true", "log.session.imapsvr.enabled", "true"], "");
    stats_when(&d, |s| file(s, "smtpsvr.log")["enabled"] == true && file(s, "imapsvr.log")["enabled"] == true);

    let (done, out) = office.python(
        "",
        r#"
s = smtplib.SMTP("127.0.0.1", smtp); s.ehlo("first.client.test"); s.starttls(context=ctx); s.ehlo("first.client.test")
s.login("alice", "alice-secret")
s.sendmail("alice@office.test", ["alice@office.test"], "Subject: logged\r\n\r\nThe body is not logged: PINEAPPLE.\r\n")
s.quit()
p = poplib.POP3("127.0.0.1", pop3)
p.user("alice")
try:
    p.pass_("wrong-guess")
except poplib.error_proto as e:
    print("refused:", e)
p.quit()
p = poplib.POP3("127.0.0.1", pop3); p.user("alice"); p.pass_("alice-secret"); print(p.stat()); p.retr(1); p.quit()
m = imaplib.IMAP4("127.0.0.1", imap); m.login("alice", "alice-secret"); m.select("INBOX"); m.fetch("1", "(BODY[])"); m.logout()
"#,
    );
    assert!(done, "{out}");
    assert!(out.contains("refused:"), "{out}");
    let stats = stats_when(&d, |s| file(s, "mail.log")["lines"].as_u64() >= Some(1) && file(s, "smtpsvr.log")["lines"].as_u64() > Some(5));
    assert!(stats["interval_ms"].is_u64());

    // Switched off again while running: the next conversation is not transcribed.
    ok(&d, &["settings", "set", "log.session.smtpsvr.enabled", "false"], "");
    stats_when(&d, |s| file(s, "smtpsvr.log")["enabled"] == false);
    office.deliver(1, r#""Subject: second\r\n\r\nsecond\r\n""#);

    // The table an admin reads.
    let table = ok(&d, &["logwriter", "stats"], "");
    assert!(table.contains("time between bursts"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("mail.log")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("smtpsvr.log") && l.ends_with("(off)")), "{table}");

    // Everything is on disk once the server has stopped.
    assert!(office.server.terminate().success());
    let smtp = read_log(&d, "smtpsvr.log");
    assert!(smtp.to_ascii_lowercase().contains("<<< ehlo first.client.test"), "{smtp}");
    assert!(smtp.contains("--- TLS started"), "{smtp}");
    assert!(smtp.to_ascii_lowercase().contains("<<< auth plain ****"), "{smtp}");
    assert!(smtp.contains("<<< <message data:"), "{smtp}");
    assert!(smtp.contains(">>> 250"), "{smtp}");
    assert!(!smtp.contains("PINEAPPLE"), "message bodies stay out of the transcript");
    assert!(!smtp.contains("Subject: second"), "logged after it was switched off: {smtp}");
    // One conversation, one id on every line of it.
    let ids = sessions_with(&smtp, "first.client.test");
    assert!(!ids.is_empty());
    let first = &ids[0];
    let conversation: Vec<&str> = smtp.lines().filter(|l| l.contains(&format!("[#{first}]"))).collect();
    assert!(conversation.iter().any(|l| l.contains("connection from 127.0.0.1")), "{conversation:#?}");
    assert!(conversation.iter().any(|l| l.to_ascii_lowercase().contains("<<< quit")), "{conversation:#?}");
    assert!(conversation.iter().any(|l| l.ends_with("--- closed")), "{conversation:#?}");

    let pop3 = read_log(&d, "pop3svr.log");
    let pop3_lower = pop3.to_ascii_lowercase();
    assert!(pop3_lower.contains("<<< user alice") && pop3_lower.contains("<<< pass ****"), "{pop3}");
    assert!(pop3_lower.contains("<<< retr 1"), "{pop3}");
    let imap = read_log(&d, "imapsvr.log");
    assert!(imap.contains("LOGIN ****"), "{imap}");
    assert!(imap.contains("SELECT INBOX"), "{imap}");

    // security.log has the failed POP3 login, tagged with the conversation it happened in.
    let security = read_log(&d, "security.log");
    let failed: Vec<&str> = security.lines().filter(|l| l.contains("login failed")).collect();
    assert_eq!(failed.len(), 1, "{security}");
    assert!(failed[0].contains("service=POP3") && failed[0].contains("user=alice") && failed[0].contains("ip=127.0.0.1"), "{}", failed[0]);
    let failed_session = sessions_with(failed[0], "login failed");
    assert_eq!(failed_session.len(), 1);
    let pass_sessions = sessions_with(&pop3_lower, "pass ****");
    assert!(pass_sessions.contains(&failed_session[0]), "the same [#id] in security.log and pop3svr.log");

    // mail.log: one line per message received, also in the main log with level and source.
    let mail = read_log(&d, "mail.log");
    assert_eq!(mail.lines().filter(|l| l.contains("message received")).count(), 2, "{mail}");
    assert!(mail.contains("from=alice@office.test"), "{mail}");
    let main = read_log(&d, "postroom.log");
    assert!(main.lines().any(|l| l.contains("INFO  mail: [#") && l.contains("message received")), "{main}");
    assert!(main.contains("Postroom started"), "{main}");
    assert!(main.lines().last().unwrap_or_default().contains("Postroom stopped"), "the last line is written at shutdown: {main}");

    for name in ["smtpsvr.log", "pop3svr.log", "imapsvr.log", "security.log", "mail.log", "postroom.log", "errors.log"] {
        let text = read_log(&d, name);
        for secret in ["alice-secret", "wrong-guess", "YWxpY2UtYWxpY2Utc2VjcmV0"] {
            assert!(!text.contains(secret), "{name} shows a password");
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(logs(&d).join("security.log")).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// A data folder with alice@office.test and every service on a loopback port, not yet serving, with
/// these settings. Returns the folder and the (smtp, pop3) ports.
fn prepared(settings: &[&str]) -> (tempfile::TempDir, u16, u16) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ports = configure_loopback(d);
    let port = |name: &str| ports.iter().find(|p| p.0 == name).unwrap().1;
    ok(d, &["domain", "add", "office.test"], "");
    ok(d, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    if !settings.is_empty() {
        ok(d, &[&["settings", "set"][..], settings].concat(), "");
    }
    let (smtp, pop3) = (port("smtp"), port("pop3"));
    (tmp, smtp, pop3)
}

#[test]
fn a_full_disk_is_reported_and_the_lines_are_written_once_there_is_room() {
    let (tmp, _, pop3) = prepared(&[]);
    let d = tmp.path();
    // security.log sits on a disk that is full: a node like /dev/full answers every write with ENOSPC (not a
    // symbolic link: log files are never opened through one).
    std::fs::create_dir_all(logs(d)).unwrap();
    postroom_engine::paths::full_disk_node(&logs(d).join("security.log"));
    let mut server = Server::start(d, &[]);
    let script = "import poplib, sys\np = poplib.POP3('127.0.0.1', int(sys.argv[1])); p.user('alice')\ntry:\n    p.pass_('nope')\nexcept poplib.error_proto:\n    pass\np.quit()\n";
    let (done, out) = mail::python(script, &[pop3.to_string()]);
    assert!(done, "{out}");
    let stats = stats_when(d, |s| file(s, "security.log")["error"].is_string());
    assert!(file(&stats, "security.log")["error"].as_str().unwrap().contains("No space left on device"), "{stats:#}");
    assert!(file(&stats, "security.log")["lines_waiting"].as_u64() >= Some(1), "kept in memory: {stats:#}");
    let table = ok(d, &["logwriter", "stats"], "");
    assert!(table.lines().any(|l| l.starts_with("security.log") && l.contains("write failed: No space left on device")), "{table}");
    // Room again (the admin removed the culprit): the retry writes the waiting line, and the error clears.
    std::fs::remove_file(logs(d).join("security.log")).unwrap();
    let stats = stats_when(d, |s| file(s, "security.log")["error"].is_null() && file(s, "security.log")["lines_waiting"] == 0);
    assert!(file(&stats, "security.log")["writes"].as_u64() >= Some(1));
    let security = read_log(d, "security.log");
    assert!(security.contains("login failed") && security.contains("user=alice"), "{security}");
    assert!(server.terminate().success());
}

#[test]
fn logging_switched_off_writes_nothing() {
    let (tmp, smtp, _) = prepared(&["log.enabled", "false", "log.session.smtpsvr.enabled", "true"]);
    let d = tmp.path();
    let mut server = Server::start(d, &[]);
    let script = "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\ns.sendmail('a@b.example', ['alice@office.test'], 'Subject: x\\r\\n\\r\\nx\\r\\n')\ns.quit()\n";
    let (done, out) = mail::python(script, &[smtp.to_string()]);
    assert!(done, "{out}");
    let stats = stats_when(d, |s| s["enabled"] == false);
    assert_eq!(file(&stats, "mail.log")["lines_waiting"], 0);
    assert!(server.terminate().success());
    let written: Vec<String> = std::fs::read_dir(logs(d)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(written.is_empty(), "nothing is written with logging off: {written:?}");
}

#[test]
fn a_stalled_log_disk_costs_log_lines_never_mail() {
    let (tmp, smtp, _) = prepared(&["log.session.smtpsvr.enabled", "true", "log.writer.memory_limit_kb", "64"]);
    let d = tmp.path();
    // smtpsvr.log is a named pipe nobody reads: opening it for writing blocks, as a dead disk would.
    std::fs::create_dir_all(logs(d)).unwrap();
    let fifo = logs(d).join("smtpsvr.log");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let mut server = Server::start(d, &[]);
    // 300 messages in one SMTP session, each making a dozen transcript lines.
    let script = "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\nfor n in range(300):\n    s.sendmail('bob@far.example', ['alice@office.test'], 'Subject: %d\\r\\n\\r\\nbody\\r\\n' % n)\ns.quit()\n";
    let (done, out) = mail::python(script, &[smtp.to_string()]);
    assert!(done, "every message accepted while the log disk is stuck: {out}");
    let users: Value = serde_json::from_str(&ok(d, &["user", "list", "--json"], "")).unwrap();
    assert_eq!(users[0]["message_count"], 300);
    let stats = stats_when(d, |s| file(s, "smtpsvr.log")["dropped"].as_u64() > Some(0));
    assert!(stats["buffered_bytes"].as_u64().unwrap() <= 64 * 1024, "memory stays within the bound: {stats:#}");
    assert_eq!(file(&stats, "smtpsvr.log")["writes"], 0, "nothing could be written: {stats:#}");
    // The disk comes back: a reader opens the pipe; what was kept flows, with the count of what was not.
    let reader = std::process::Command::new("cat").arg(&fifo).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stats = stats_when(d, |s| file(s, "smtpsvr.log")["lines_waiting"] == 0 && file(s, "smtpsvr.log")["writes"].as_u64() > Some(0));
    let dropped = file(&stats, "smtpsvr.log")["dropped"].as_u64().unwrap();
    assert!(server.terminate().success());
    let transcript = String::from_utf8(reader.wait_with_output().unwrap().stdout).unwrap();
    let reported: u64 = transcript
        .lines()
        .filter_map(|l| l.split_once(" --- ").and_then(|(_, r)| r.split_once(" lines dropped")).and_then(|(n, _)| n.parse::<u64>().ok()))
        .sum();
    assert_eq!(reported, dropped, "the transcript says how many lines it lost");
    assert!(transcript.contains("<<< ") && transcript.contains(">>> 250"), "the kept lines arrived");
}
