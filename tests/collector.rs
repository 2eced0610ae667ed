//! The Mail Collector against Debian's Dovecot playing the ISP: messages collected to one user, routed by
//! their headers, left at the ISP for N days and deleted exactly when due, never delivered twice — not
//! after a connection cut before QUIT, nor after `kill -9` in the middle of a download — over plain
//! POP3, STLS, implicit TLS and APOP, with a refused login shown in the collector list.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::dovecot::Dovecot;
use common::*;

fn sql(dir: &Path, query: &str) -> String {
    // The collector writes while the test reads: wait for a lock rather than fail.
    let out = Command::new("sqlite3").args(["-cmd", ".timeout 10000"]).arg(dir.join("postroom.db")).arg(query).output().expect("sqlite3 runs");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An office (mail.office.test, office.test) with these users, and no server running: the collector
/// commands work on the data folder directly, as a script would.
fn office(users: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    ok(&dir, &["settings", "set", "general.server_name", "mail.office.test", "log.session.pop3clt.enabled", "true"], "");
    ok(&dir, &["domain", "add", "office.test"], "");
    for u in users {
        ok(&dir, &["user", "add", u, "--password-stdin"], &format!("{u}-secret\n"));
    }
    (tmp, dir)
}

fn inbox(dir: &Path, user: &str) -> usize {
    sql(dir, &format!("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = '{user}'")).parse().unwrap()
}

fn message(n: usize, headers: &str) -> Vec<u8> {
    format!("Return-Path: <sender{n}@far.example>\r\nFrom: Sender {n} <sender{n}@far.example>\r\n{headers}Subject: message {n}\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID: <m{n}@far.example>\r\n\r\nBody of message {n}.\r\n.starts with a dot\r\n")
        .into_bytes()
}

fn add(dir: &Path, name: &str, port: u16, extra: &[&str]) {
    let server = format!("127.0.0.1:{port}");
    let args = [&["collector", "add", name, "--protocol", "pop3", "--server", &server, "--user", "office", "--password-stdin"][..], extra].concat();
    ok(dir, &args, "isp-secret\n");
}

fn collect(dir: &Path, name: &str) -> String {
    ok(dir, &["collector", "run", name], "").trim().to_string()
}

#[test]
fn fifty_messages_are_collected_to_one_user_deleted_at_the_isp_and_never_fetched_twice() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    for n in 0..50 {
        isp.put("office", "INBOX", &format!("m{n}"), &message(n, "To: alice@office.test\r\n"));
    }
    let (_tmp, dir) = office(&["alice"]);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--to", "alice"]);
    assert_eq!(collect(&dir, "isp"), "collected 50 messages");
    assert_eq!(inbox(&dir, "alice"), 50);
    assert_eq!(isp.count("office", "INBOX"), 0, "deleted at the ISP after download (leave 0 days)");
    assert_eq!(collect(&dir, "isp"), "collected 0 messages");
    assert_eq!(inbox(&dir, "alice"), 50);

    // The message as collected: our Received on top, the body intact (dot-stuffing undone).
    let hex = sql(&dir, "SELECT hex(b.data) FROM messages m JOIN blobs b ON b.id = m.blob_id ORDER BY m.id LIMIT 1");
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(&format!("Received: from 127.0.0.1 (127.0.0.1:{})\r\n\tby mail.office.test (Postroom) with POP3 (collector isp);\r\n", isp.pop3)), "{text}");
    assert!(text.contains("X-Spam-Status: No, score=0 required=5 tests=none\r\nReturn-Path: <sender0@far.example>\r\n"), "the content filter read it: {text}");
    assert!(text.ends_with("\r\n\r\nBody of message 0.\r\n.starts with a dot\r\n"), "{text}");

    // The list shows the success; pop3clt.log has the dialogue without the password.
    let list: serde_json::Value = serde_json::from_str(&ok(&dir, &["collector", "list", "--json"], "")).unwrap();
    assert_eq!((list[0]["last_error"].as_str(), list[0]["last_collected"].as_u64(), list[0]["failures"].as_u64()), (Some(""), Some(0), Some(0)));
    assert!(list[0]["last_success_at"].as_i64().is_some());
    let log = std::fs::read_to_string(dir.join("logs").join("pop3clt.log")).unwrap();
    assert!(log.contains(">>> AUTH PLAIN ****") && log.contains(">>> RETR 50") && log.contains(">>> DELE 50") && log.contains(">>> QUIT"), "SASL PLAIN, as Dovecot offers it: {log}");
    assert!(!log.contains("isp-secret"), "{log}");
}

#[test]
fn by_headers_each_local_user_gets_a_message_once_and_the_rest_goes_to_the_fallback() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    isp.put("office", "INBOX", "a", &message(1, "To: Alice <alice@office.test>\r\nCc: bob@office.test, alice@office.test\r\nDelivered-To: carol@office.test\r\n"));
    isp.put("office", "INBOX", "b", &message(2, "To: list@lists.example\r\nX-Original-To: bob@office.test\r\n"));
    isp.put("office", "INBOX", "c", &message(3, "To: stranger@elsewhere.example\r\nCc: nobody@office.test\r\n"));
    isp.put("office", "INBOX", "d", &message(4, "To: undisclosed-recipients:;\r\nX-Envelope-To: carol@office.test\r\n"));
    let (_tmp, dir) = office(&["alice", "bob", "carol", "admin"]);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--auth", "user", "--by-headers", "--fallback", "admin", "--header", "X-Envelope-To"]);
    assert_eq!(collect(&dir, "isp"), "collected 4 messages");
    let counts: Vec<usize> = ["alice", "bob", "carol", "admin"].iter().map(|u| inbox(&dir, u)).collect();
    assert_eq!(counts, [1, 2, 2, 1], "alice: 1; bob: 1 and 2; carol: 1 and 4 (the admin's own header); admin: 3");
    // One body for the three users of message 1.
    assert_eq!(sql(&dir, "SELECT count(*) FROM blobs"), "4");
    let log = std::fs::read_to_string(dir.join("logs").join("pop3clt.log")).unwrap();
    assert!(log.contains(">>> USER office") && log.contains(">>> PASS ****") && !log.contains("isp-secret"), "{log}");
}

#[test]
fn leave_on_server_deletes_exactly_when_the_days_are_up() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    isp.put("office", "INBOX", "a", &message(1, "To: alice@office.test\r\n"));
    isp.put("office", "INBOX", "b", &message(2, "To: alice@office.test\r\n"));
    let (_tmp, dir) = office(&["alice"]);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--to", "alice", "--leave-days", "3"]);
    assert_eq!(collect(&dir, "isp"), "collected 2 messages");
    assert_eq!((inbox(&dir, "alice"), isp.count("office", "INBOX")), (2, 2), "collected and left at the ISP");
    // The clock moves on: message 1 was first seen 3 days ago, message 2 two days and 23 hours ago.
    sql(&dir, "UPDATE collector_uidls SET first_seen = first_seen - 3 * 86400 WHERE uidl = (SELECT min(uidl) FROM collector_uidls)");
    sql(&dir, "UPDATE collector_uidls SET first_seen = first_seen - 3 * 86400 + 3600 WHERE uidl = (SELECT max(uidl) FROM collector_uidls)");
    assert_eq!(collect(&dir, "isp"), "collected 0 messages");
    assert_eq!(isp.count("office", "INBOX"), 1, "only the one three days old is deleted");
    sql(&dir, "UPDATE collector_uidls SET first_seen = first_seen - 3600");
    assert_eq!(collect(&dir, "isp"), "collected 0 messages");
    assert_eq!((inbox(&dir, "alice"), isp.count("office", "INBOX")), (2, 0));
}

/// A TCP proxy to `port` that, while `cut` is set, cuts both sides when the client sends `QUIT`, before
/// the server sees it.
fn cutting_proxy(port: u16) -> (u16, Arc<AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(true));
    let cutting = cut.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = s2.read(&mut buf) {
                    if n == 0 || c2.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let mut buf = [0u8; 65536];
            while let Ok(n) = client.read(&mut buf) {
                if n == 0 || (cutting.load(Ordering::SeqCst) && buf[..n].windows(4).any(|w| w == b"QUIT")) {
                    break;
                }
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
        }
    });
    (proxy, cut)
}

#[test]
fn a_connection_cut_before_quit_loses_nothing_and_doubles_nothing() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    for n in 0..5 {
        isp.put("office", "INBOX", &format!("m{n}"), &message(n, "To: alice@office.test\r\n"));
    }
    let (_tmp, dir) = office(&["alice"]);
    let (proxy, cut) = cutting_proxy(isp.pop3);
    add(&dir, "cut", proxy, &["--security", "none", "--to", "alice"]);
    let out = run(&dir, &["collector", "run", "cut"], "");
    assert!(!out.status.success(), "the download fails at QUIT");
    assert!(String::from_utf8_lossy(&out.stderr).contains("collector 'cut': connection:"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(inbox(&dir, "alice"), 5, "what arrived was kept");
    assert_eq!(isp.count("office", "INBOX"), 5, "the ISP undid the DELEs");
    let list: serde_json::Value = serde_json::from_str(&ok(&dir, &["collector", "list", "--json"], "")).unwrap();
    assert!(list[0]["last_error"].as_str().unwrap().contains("connection"), "{list}");
    assert_eq!(list[0]["failures"], 1);

    // The next download, on a connection that holds, delivers nothing again and deletes them.
    cut.store(false, Ordering::SeqCst);
    assert_eq!(collect(&dir, "cut"), "collected 0 messages");
    assert_eq!((inbox(&dir, "alice"), isp.count("office", "INBOX")), (5, 0));
}

/// 300 different messages of 200 KiB: a download that takes a while.
fn fill_big(isp: &Dovecot) {
    let filler = "x".repeat(998);
    let body: String = (0..200).map(|_| format!("{filler}\r\n")).collect();
    for n in 0..300 {
        isp.put("office", "INBOX", &format!("m{n}"), format!("To: alice@office.test\r\nSubject: big {n}\r\nMessage-ID: <big{n}@far.example>\r\n\r\n{body}").as_bytes());
    }
}

/// Waits (up to 60 s) until alice's mailbox holds at least `n` messages.
fn wait_for_inbox(dir: &Path, n: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let have = inbox(dir, "alice");
        if have >= n {
            return have;
        }
        assert!(std::time::Instant::now() < deadline, "only {have} of {n} delivered");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn kill_9_of_the_server_in_a_scheduled_download_then_a_restart_finishes_it_exactly_once() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    fill_big(&isp);
    let (_tmp, dir) = office(&["alice"]);
    configure_loopback(&dir);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--to", "alice", "--every", "60"]);
    // The scheduler looks when the server starts: the collector has never run, so it is due.
    let mut server = Server::start(&dir, &[]);
    wait_for_inbox(&dir, 20);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let delivered = inbox(&dir, "alice");
    assert!(delivered < 300, "killed in the middle: {delivered} delivered");
    assert_eq!(isp.count("office", "INBOX"), 300);
    // Restarted: the download cut short is taken up at once, although the next slot is an hour away.
    let server = Server::start(&dir, &[]);
    wait_for_inbox(&dir, 300);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while isp.count("office", "INBOX") > 0 {
        assert!(std::time::Instant::now() < deadline, "the ISP still holds {}", isp.count("office", "INBOX"));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(inbox(&dir, "alice"), 300, "each exactly once");
    assert_eq!(sql(&dir, "SELECT count(DISTINCT b.sha256) FROM messages m JOIN blobs b ON b.id = m.blob_id"), "300");
    drop(server);
}

#[test]
fn kill_9_in_the_middle_of_a_download_then_a_new_run_delivers_every_message_exactly_once() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    fill_big(&isp);
    let (_tmp, dir) = office(&["alice"]);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--to", "alice"]);
    let mut child = postroomd().arg("--data-dir").arg(&dir).args(["collector", "run", "isp"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n = inbox(&dir, "alice");
        if n >= 20 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the download never got going ({n} delivered)");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let delivered = inbox(&dir, "alice");
    assert!(delivered < 300, "killed in the middle: {delivered} delivered");
    assert_eq!(isp.count("office", "INBOX"), 300, "no QUIT: nothing deleted at the ISP");
    assert_eq!(sql(&dir, "SELECT count(*) FROM collector_uidls WHERE collected = 1"), delivered.to_string(), "each delivered message is remembered, and only those");

    // A new run (the dead one's claim is stale) fetches the rest, once each.
    assert_eq!(collect(&dir, "isp"), format!("collected {} messages", 300 - delivered));
    assert_eq!((inbox(&dir, "alice"), isp.count("office", "INBOX")), (300, 0));
    assert_eq!(sql(&dir, "SELECT count(DISTINCT b.sha256) FROM messages m JOIN blobs b ON b.id = m.blob_id"), "300", "300 different messages");
}

#[test]
fn stls_implicit_tls_and_apop_work_and_a_refused_login_is_shown_in_the_list() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    let (_tmp, dir) = office(&["alice"]);
    isp.put("office", "INBOX", "a", &message(1, "To: alice@office.test\r\n"));
    add(&dir, "stls", isp.pop3, &["--security", "starttls", "--no-verify-certificate", "--to", "alice"]);
    assert_eq!(collect(&dir, "stls"), "collected 1 messages");
    isp.put("office", "INBOX", "b", &message(2, "To: alice@office.test\r\n"));
    add(&dir, "tls", isp.pop3s, &["--security", "tls", "--no-verify-certificate", "--to", "alice"]);
    assert_eq!(collect(&dir, "tls"), "collected 1 messages");
    isp.put("office", "INBOX", "c", &message(3, "To: alice@office.test\r\n"));
    add(&dir, "apop", isp.pop3, &["--security", "none", "--auth", "apop", "--to", "alice"]);
    assert_eq!(collect(&dir, "apop"), "collected 1 messages");
    assert_eq!((inbox(&dir, "alice"), isp.count("office", "INBOX")), (3, 0));
    let log = std::fs::read_to_string(dir.join("logs").join("pop3clt.log")).unwrap();
    assert!(log.contains(">>> STLS") && log.contains("--- TLS started") && log.contains(">>> APOP office "), "{log}");

    // A certificate that does not check out is refused unless the collector says otherwise.
    add(&dir, "checked", isp.pop3s, &["--security", "tls", "--to", "alice"]);
    let out = run(&dir, &["collector", "run", "checked"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("TLS:"), "{}", String::from_utf8_lossy(&out.stderr));

    // A wrong password: the run fails and the list says why.
    ok(&dir, &["collector", "add", "wrong", "--protocol", "pop3", "--server", &format!("127.0.0.1:{}", isp.pop3), "--user", "office", "--password-stdin", "--security", "none", "--to", "alice"], "not-the-password\n");
    let out = run(&dir, &["collector", "run", "wrong"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("login refused"), "{}", String::from_utf8_lossy(&out.stderr));
    let text = ok(&dir, &["collector", "list"], "");
    let line = text.lines().find(|l| l.starts_with("wrong")).unwrap();
    assert!(line.contains("login refused") && line.contains("(1 in a row)"), "{text}");
    let errors = std::fs::read_to_string(dir.join("logs").join("errors.log")).unwrap_or_default();
    assert!(errors.contains("collecting failed: login refused"), "{errors}");
}

#[test]
fn an_imap_folder_is_collected_by_uid_and_its_messages_moved_or_deleted_at_the_isp() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    for n in 0..3 {
        isp.put("office", "Incoming", &format!("i{n}"), &message(n, "To: alice@office.test\r\n"));
    }
    isp.put("office", "INBOX", "x", &message(9, "To: alice@office.test\r\n"));
    isp.make_folder("office", "Collected");
    let (_tmp, dir) = office(&["alice"]);
    let server = format!("127.0.0.1:{}", isp.imap);
    let args = ["collector", "add", "folder", "--protocol", "imap", "--server", &server, "--user", "office", "--password-stdin", "--security", "starttls", "--no-verify-certificate", "--folder", "Incoming", "--move-to", "Collected", "--to", "alice"];
    ok(&dir, &args, "isp-secret\n");
    assert_eq!(collect(&dir, "folder"), "collected 3 messages");
    assert_eq!((isp.count("office", "Incoming"), isp.count("office", "Collected"), isp.count("office", "INBOX")), (0, 3, 1), "moved, and INBOX untouched");
    assert_eq!(collect(&dir, "folder"), "collected 0 messages");
    assert_eq!(inbox(&dir, "alice"), 3);

    // IMAPS, INBOX, deleted after download.
    let server = format!("127.0.0.1:{}", isp.imaps);
    ok(&dir, &["collector", "add", "inbox", "--protocol", "imap", "--server", &server, "--user", "office", "--password-stdin", "--security", "tls", "--no-verify-certificate", "--to", "alice"], "isp-secret\n");
    assert_eq!(collect(&dir, "inbox"), "collected 1 messages");
    assert_eq!((isp.count("office", "INBOX"), inbox(&dir, "alice")), (0, 4));
    let hex = sql(&dir, "SELECT hex(b.data) FROM messages m JOIN blobs b ON b.id = m.blob_id ORDER BY m.id DESC LIMIT 1");
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("with IMAP (collector inbox)") && text.ends_with("\r\n\r\nBody of message 9.\r\n.starts with a dot\r\n"), "{text}");
    let log = std::fs::read_to_string(dir.join("logs").join("pop3clt.log")).unwrap();
    assert!(log.contains("STARTTLS") && log.contains("UID MOVE") && log.contains("BODY.PEEK[]") && log.contains("AUTHENTICATE PLAIN ****"), "{log}");
    assert!(!log.contains("isp-secret"), "{log}");

    // APOP is POP3's: refused for IMAP when the collector is made.
    let bad = run(&dir, &["collector", "add", "apop", "--protocol", "imap", "--server", &server, "--user", "office", "--password-stdin", "--auth", "apop", "--to", "alice"], "x\n");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("APOP is for POP3"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn a_message_over_the_size_limit_stays_at_the_isp_its_recipient_is_told_once_and_it_comes_when_allowed() {
    let isp = Dovecot::start(&[("office", "isp-secret")]);
    isp.put("office", "INBOX", "small", &message(1, "To: alice@office.test\r\n"));
    let mut big = message(2, "To: Bob <bob@office.test>\r\n");
    big.extend(std::iter::repeat_n(b'z', 300_000));
    big.extend_from_slice(b"\r\n");
    isp.put("office", "INBOX", "big", &big);
    let (_tmp, dir) = office(&["alice", "bob", "admin"]);
    add(&dir, "isp", isp.pop3, &["--security", "none", "--by-headers", "--fallback", "admin", "--max-size", "100000"]);
    assert_eq!(collect(&dir, "isp"), "collected 1 messages");
    assert_eq!(isp.count("office", "INBOX"), 1, "the large one waits at the ISP");
    let subjects = |user: &str| sql(&dir, &format!("SELECT b.data FROM messages m JOIN blobs b ON b.id = m.blob_id JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = '{user}'"));
    let told = subjects("bob");
    assert!(told.contains("Subject: A message for you waits at the ISP (too large to collect)") && told.contains("Subject: message 2") && told.contains("(294 KB; the limit is 97 KB)"), "{told}");
    assert_eq!(inbox(&dir, "admin"), 0, "the notice went to the one the message names");
    assert_eq!(collect(&dir, "isp"), "collected 0 messages");
    assert_eq!(inbox(&dir, "bob"), 1, "told once");
    ok(&dir, &["collector", "set", "isp", "--max-size", "0"], "");
    assert_eq!(collect(&dir, "isp"), "collected 1 messages");
    assert_eq!((inbox(&dir, "bob"), isp.count("office", "INBOX")), (2, 0));
}
