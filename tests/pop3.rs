//! POP3 as mail programs use it: Python's poplib (plain, STLS, port 995, AUTH PLAIN), curl's pop3://
//! and fetchmail into a local mbox. DELE takes effect only at QUIT, UIDs stay put across sessions, a
//! second session on the same mailbox is refused with [IN-USE], and failed logins ban the address for
//! SMTP too.

mod common;

use std::path::Path;
use std::process::Command;

use common::mail::MailOffice;
use common::*;

/// alice with `count` messages in her INBOX, delivered over SMTP.
fn office(count: usize) -> MailOffice {
    let office = MailOffice::start();
    office.deliver(count, r#""Subject: note %d\r\n\r\nLine one of %d.\r\n.leading dot\r\nLast line.\r\n" % (n, n)"#);
    office
}

#[test]
fn poplib_lists_retrieves_and_deletes_only_at_quit_with_stable_uids() {
    let office = office(3);
    let sizes: Vec<i64> = office.sql("SELECT size FROM messages ORDER BY uid").lines().map(|s| s.parse().unwrap()).collect();
    let validity = office.sql("SELECT uidvalidity FROM folders WHERE path = 'INBOX'");
    let (ok1, out) = office.python("", 
        r#"
p = poplib.POP3("127.0.0.1", pop3)
print("welcome", p.getwelcome())
p.user("alice"); p.pass_("alice-secret")
print("stat", p.stat())
print("list", p.list()[1])
print("uidl", p.uidl()[1])
resp, lines, octets = p.retr(2)
print("retr2", resp, lines)
print("top1", p.top(1, 1)[1])
p.dele(1)
print("stat-after-dele", p.stat())
try:
    p.retr(1)
except poplib.error_proto as e:
    print("retr-deleted", e)
p.quit()
"#,
    );
    assert!(ok1, "{out}");
    assert!(out.contains("welcome b'+OK mail.office.test Postroom POP3 ready'"), "{out}");
    assert_eq!(sizes.len(), 3);
    assert!(out.contains(&format!("stat ({}, {})", 3, sizes.iter().sum::<i64>())), "{out}");
    assert!(out.contains(&format!("list [b'1 {}', b'2 {}', b'3 {}']", sizes[0], sizes[1], sizes[2])), "{out}");
    assert!(out.contains(&format!("uidl [b'1 {validity}.1', b'2 {validity}.2', b'3 {validity}.3']")), "{out}");
    // The body comes back with the dot-stuffing undone by poplib: the client sees what was sent.
    assert!(out.contains("b'Subject: note 2'") && out.contains("b'Line one of 2.', b'.leading dot', b'Last line.'"), "{out}");
    assert!(out.contains("top1 [") && out.contains("b'Line one of 1.']"), "TOP 1 1 is headers and one body line: {out}");
    assert!(out.contains(&format!("stat-after-dele ({}, {})", 2, sizes[1] + sizes[2])), "{out}");
    assert!(out.contains("retr-deleted b'-ERR message 1 is deleted'"), "{out}");
    assert_eq!(office.sql("SELECT group_concat(uid) FROM messages ORDER BY uid"), "2,3", "DELE applied at QUIT");
    assert_eq!(office.sql("SELECT seen FROM messages WHERE uid = 2"), "1", "RETR marks the message read");
    assert_eq!(office.sql("SELECT seen FROM messages WHERE uid = 3"), "0");

    // A second session: the same UIDs for the messages that stayed; a DELE without QUIT changes nothing.
    let (ok2, out) = office.python("", 
        r#"
p = poplib.POP3("127.0.0.1", pop3)
p.user("alice"); p.pass_("alice-secret")
print("uidl", p.uidl()[1])
p.dele(1); p.dele(2)
p.sock.close()
"#,
    );
    assert!(ok2, "{out}");
    assert!(out.contains(&format!("uidl [b'1 {validity}.2', b'2 {validity}.3']")), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "2", "no QUIT, no deletion");
}

#[test]
fn stls_and_pop3s_and_auth_plain_log_in_and_a_second_session_is_in_use() {
    let office = office(1);
    let (ok, out) = office.python("", 
        r#"
p = poplib.POP3("127.0.0.1", pop3)
print("capa", sorted(p.capa().keys()))
p.stls(context=ctx)
print("capa-tls", sorted(p.capa().keys()))
p.user("alice"); p.pass_("alice-secret")
q = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx)
try:
    q._shortcmd("AUTH PLAIN " + __import__("base64").b64encode(b"\0alice\0alice-secret").decode())
except poplib.error_proto as e:
    print("second", e)
p.quit()
r = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx)
print("third", r._shortcmd("AUTH PLAIN " + __import__("base64").b64encode(b"\0alice\0alice-secret").decode()))
print("stat", r.stat())
r.quit()
"#,
    );
    assert!(ok, "{out}");
    assert!(out.contains("capa ['AUTH-RESP-CODE', 'EXPIRE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'STLS', 'TOP', 'UIDL', 'USER']"), "{out}");
    assert!(out.contains("capa-tls [") && !out.contains("capa-tls ['AUTH-RESP-CODE', 'EXPIRE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'STLS'"), "no STLS once TLS is on: {out}");
    assert!(out.contains("second b'-ERR [IN-USE] the mailbox is open in another POP3 session'"), "{out}");
    assert!(out.contains("third b'+OK alice has 1 messages"), "the lock is released at QUIT: {out}");
}

#[test]
fn commands_pipelined_after_stls_are_not_run() {
    let office = office(1);
    let (ok, out) = office.python("", 
        r#"
s = socket.create_connection(("127.0.0.1", pop3))
s.recv(1000)
s.sendall(b"STLS\r\nUSER alice\r\nPASS alice-secret\r\n")
import time; time.sleep(0.5)
print("plain", s.recv(1000))
t = ctx.wrap_socket(s)
t.sendall(b"STAT\r\n")
print("after", t.recv(1000))
"#,
    );
    assert!(ok, "{out}");
    assert!(out.contains("plain b'+OK begin TLS negotiation\\r\\n'"), "{out}");
    assert!(out.contains("after b'-ERR log in first\\r\\n'"), "USER/PASS sent before TLS did not run: {out}");
}

#[test]
fn curl_lists_and_retrieves_over_pop3() {
    let office = office(2);
    let url = format!("pop3://127.0.0.1:{}/", office.port("pop3"));
    let list = Command::new("curl").args(["-s", "--user", "alice:alice-secret", &url]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let sizes = office.sql("SELECT group_concat(size, ' ') FROM messages ORDER BY uid");
    let listing = String::from_utf8(list.stdout).unwrap();
    let expected: Vec<String> = sizes.split(' ').enumerate().map(|(i, s)| format!("{} {s}\r\n", i + 1)).collect();
    assert_eq!(listing, expected.concat());
    let one = Command::new("curl").args(["-s", "--user", "alice:alice-secret", &format!("{url}2")]).output().unwrap();
    let stored = office.sql("SELECT hex(b.data) FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.uid = 2");
    let hex: String = one.stdout.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, stored, "curl gets the message byte for byte");
}

#[test]
fn fetchmail_fetches_everything_into_a_local_mbox_and_deletes_it_from_the_server() {
    let office = office(3);
    let dir = office.dir().to_path_buf();
    let mbox = dir.join("fetched.mbox");
    let mda = dir.join("mda.sh");
    std::fs::write(&mda, format!("#!/bin/sh\n{{ echo \"From postroom-test $(date)\"; cat; echo; }} >> {}\n", mbox.display())).unwrap();
    Command::new("chmod").arg("755").arg(&mda).status().unwrap();
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "poll 127.0.0.1 with proto POP3 and port {} and timeout 20\n  user alice there with password \"alice-secret\" is alice here\n  sslproto TLS1.2+ no sslcertck mda \"{}\"\n",
            office.port("pop3"),
            mda.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("600").arg(&rc).status().unwrap();
    let out = Command::new("fetchmail")
        .args(["-f"])
        .arg(&rc)
        .args(["--nosyslog", "--nodetach", "-v"])
        .env("HOME", &dir)
        .env("FETCHMAILHOME", &dir)
        .output()
        .expect("fetchmail runs (scripts/setup.sh installs it)");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("STLS"), "fetchmail upgraded to TLS: {log}");
    let fetched = std::fs::read_to_string(&mbox).unwrap();
    assert_eq!(fetched.matches("From postroom-test").count(), 3, "{fetched}");
    for i in 1..=3 {
        assert!(fetched.contains(&format!("Subject: note {i}")), "{fetched}");
    }
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "0", "fetched mail is deleted from the server");
}

#[test]
fn failed_pop3_logins_ban_the_address_for_smtp_as_well() {
    let office = office(0);
    let (ok, out) = office.python("", 
        r#"
for attempt in range(5):
    p = poplib.POP3("127.0.0.1", pop3)
    p.user("alice")
    try:
        p.pass_("wrong-%d" % attempt)
    except poplib.error_proto as e:
        print("refused", e)
s = socket.create_connection(("127.0.0.1", smtp))
print("smtp", s.recv(1000))
"#,
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("refused b'-ERR [AUTH]").count(), 5, "{out}");
    assert!(out.contains("smtp b'421 4.7.0"), "the ban covers SMTP: {out}");
    assert!(ok_list_has_ban(office.dir()), "the ban is listed for the admin");
}

fn ok_list_has_ban(dir: &Path) -> bool {
    ok(dir, &["bans", "list"], "").contains("127.0.0.1")
}
