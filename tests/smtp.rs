//! SMTP as mail programs and other servers use it: Python's smtplib, swaks and curl deliver to local
//! users over 25, 587 (STARTTLS + AUTH) and 465; relaying is refused to strangers; smuggling, size
//! limits and failed logins behave.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

struct Office {
    _tmp: tempfile::TempDir,
    server: Server,
    ports: Vec<(&'static str, u16)>,
}

impl Office {
    /// A server with users alice (alias sales) and bob at office.test; `trusted` networks may relay.
    fn start(trusted: &str) -> Office {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ports = configure_loopback(d);
        ok(d, &["settings", "set", "smtp.trusted_networks", trusted, "general.server_name", "mail.office.test"], "");
        ok(d, &["domain", "add", "office.test"], "");
        ok(d, &["user", "add", "alice", "--password-stdin", "--real-name", "Alice", "--alias", "sales"], "alice-secret\n");
        ok(d, &["user", "add", "bob", "--password-stdin"], "bob-secret\n");
        let server = Server::start(d, &[]);
        Office { _tmp: tmp, server, ports }
    }

    fn dir(&self) -> &Path {
        &self.server.dir
    }

    fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|p| p.0 == service).unwrap().1
    }

    /// (message count, bytes) of a user's mailbox, from `postroomd user list --json`.
    fn mailbox(&self, user: &str) -> (i64, i64) {
        let users: Value = serde_json::from_str(&ok(self.dir(), &["user", "list", "--json"], "")).unwrap();
        let u = users.as_array().unwrap().iter().find(|u| u["name"] == user).unwrap();
        (u["message_count"].as_i64().unwrap(), u["mailbox_bytes"].as_i64().unwrap())
    }

    /// A SQL query through the sqlite3 shell, as an admin would look.
    fn sql(&self, query: &str) -> String {
        let out = Command::new("sqlite3").arg(self.dir().join("postroom.db")).arg(query).output().expect("sqlite3 runs");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

fn python(script: &str, args: &[String]) -> (bool, String) {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

const SMTPLIB_SEND: &str = r#"
import smtplib, ssl, sys
port, mode, user, password, to = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
msg = "From: alice@office.test\r\nTo: %s\r\nSubject: hello over %s\r\n\r\nBody line one.\r\n.dot line\r\n" % (to, mode)
if mode == "ssl":
    s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx)
else:
    s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("client.test")
if mode == "starttls":
    s.starttls(context=ctx); s.ehlo("client.test")
if user:
    s.login(user, password)
refused = s.sendmail("alice@office.test", [to], msg)
s.quit()
print("sent", refused)
"#;

fn smtplib(port: u16, mode: &str, auth: Option<(&str, &str)>, to: &str) -> (bool, String) {
    let (user, password) = auth.unwrap_or(("", ""));
    python(SMTPLIB_SEND, &[port.to_string(), mode.into(), user.into(), password.into(), to.into()])
}

#[tokio::test]
async fn smtplib_delivers_over_25_587_and_465_into_the_inbox() {
    let office = Office::start("");
    let (ok25, out) = smtplib(office.port("smtp"), "plain", None, "alice@office.test");
    assert!(ok25, "{out}");
    let (ok587, out) = smtplib(office.port("submission"), "starttls", Some(("alice", "alice-secret")), "sales@office.test");
    assert!(ok587, "{out}");
    let (ok465, out) = smtplib(office.port("smtps"), "ssl", Some(("bob", "bob-secret")), "alice@office.test");
    assert!(ok465, "{out}");
    let (count, bytes) = office.mailbox("alice");
    assert_eq!(count, 3);
    let sizes = office.sql("SELECT group_concat(m.size) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'INBOX'");
    let total: i64 = sizes.split(',').map(|s| s.parse::<i64>().unwrap()).sum();
    assert_eq!(total, bytes, "sizes agree between the mailbox view and the rows");
    assert_eq!(office.sql("SELECT group_concat(uid) FROM messages"), "1,2,3");
    assert_eq!(office.sql("SELECT sum(seen + answered + flagged + deleted + draft) FROM messages"), "0", "new mail is unread");
    // The stored message carries a Received trace with protocol and user, a Message-ID, and the
    // unstuffed ".dot line".
    let blob = office.sql("SELECT data FROM blobs b JOIN messages m ON m.blob_id = b.id WHERE m.uid = 3");
    assert!(blob.contains("with ESMTPSA") && blob.contains("(authenticated as bob)"), "{blob}");
    assert!(blob.contains("Message-ID: <") && blob.ends_with("\r\nBody line one.\r\n.dot line"), "{blob}");
    assert_eq!(office.mailbox("bob").0, 0);
}

#[tokio::test]
async fn swaks_sends_with_starttls_and_auth_on_submission_and_without_auth_is_refused() {
    let office = Office::start("");
    let port = office.port("submission").to_string();
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port, "--tls", "--auth", "LOGIN", "--auth-user", "bob", "--auth-password", "bob-secret"])
        .args(["--from", "bob@office.test", "--to", "alice@office.test", "--helo", "swaks.test", "--header", "Subject: via swaks"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("250 2.0.0 OK: queued as"), "{text}");
    assert_eq!(office.mailbox("alice").0, 1);
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port, "--tls", "--from", "x@office.test", "--to", "alice@office.test"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("530 5.7.0 authentication required"));
    assert_eq!(office.mailbox("alice").0, 1);
}

#[tokio::test]
async fn curl_sends_over_implicit_tls() {
    let office = Office::start("");
    let message = office.dir().join("message.eml");
    std::fs::write(&message, "From: bob@office.test\r\nTo: alice@office.test\r\nSubject: via curl\r\n\r\nHi Alice.\r\n").unwrap();
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--user", "bob:bob-secret"])
        .arg(format!("smtps://127.0.0.1:{}", office.port("smtps")))
        .args(["--mail-from", "bob@office.test", "--mail-rcpt", "alice@office.test", "--upload-file"])
        .arg(&message)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(office.mailbox("alice").0, 1);
    assert!(office.sql("SELECT data FROM blobs").contains("Subject: via curl"));
}

/// Sends raw SMTP lines and returns every reply line.
async fn converse(port: u16, script: &[&str]) -> Vec<String> {
    let mut c = connect(port).await;
    let mut replies = vec![c.line().await];
    for step in script {
        c.send(step).await;
        if step.ends_with('\n') && !step.starts_with("DATA-BODY") {
            let reply = c.until(|l| l.len() >= 4 && &l[3..4] == " ").await;
            replies.push(reply);
        }
    }
    replies
}

#[tokio::test]
async fn strangers_cannot_relay_by_any_trick_but_local_mail_and_bounces_are_accepted() {
    let office = Office::start("");
    let port = office.port("smtp");
    let tricks = [
        "someone@far.example",
        "alice%far.example@office.test",
        "far.example!alice@office.test",
        "\"alice@far.example\"@office.test",
        "alice@[192.0.2.1]",
        "@relay.example:alice@far.example",
    ];
    for trick in tricks {
        let replies = converse(port, &["EHLO stranger.test\r\n", "MAIL FROM:<x@stranger.test>\r\n", &format!("RCPT TO:<{trick}>\r\n")]).await;
        let rcpt = &replies[3];
        assert!(rcpt.starts_with('5'), "{trick} was not refused: {rcpt}");
    }
    // The null sender may reach a local user (bounces must arrive) but not relay.
    let r = converse(port, &["EHLO b.test\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<bob@office.test>\r\n", "RCPT TO:<x@far.example>\r\n"]).await;
    assert!(r[3].starts_with("250"), "{:?}", r);
    assert!(r[4].starts_with("554 5.7.1"), "{:?}", r);
    assert_eq!(office.sql("SELECT count(*) FROM queue_recipients"), "0");
}

#[tokio::test]
async fn authenticated_and_trusted_clients_relay_into_the_queue() {
    let office = Office::start("127.0.0.0/8");
    let r = converse(office.port("smtp"), &["EHLO lan.test\r\n", "MAIL FROM:<pc@office.test>\r\n", "RCPT TO:<friend@far.example>\r\n"]).await;
    assert!(r[3].starts_with("250"), "{r:?}");
    let (sent, out) = smtplib(office.port("submission"), "starttls", Some(("alice", "alice-secret")), "partner@far.example");
    assert!(sent, "{out}");
    assert_eq!(office.sql("SELECT recipient || ' ' || state FROM queue_recipients"), "partner@far.example queued");
    assert_eq!(office.sql("SELECT auth_user FROM queue"), "alice");
    let status: Value = serde_json::from_str(&ok(office.dir(), &["status", "--json"], "")).unwrap();
    assert_eq!(status["queue_size"], 1);
}

#[tokio::test]
async fn smuggled_end_of_data_forms_stay_inside_one_message() {
    let office = Office::start("");
    let mut c = connect(office.port("smtp")).await;
    c.line().await;
    c.send("EHLO smuggler.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<alice@office.test>\r\nDATA\r\n").await;
    let replies = c.until(|l| l.starts_with("354")).await;
    assert!(replies.contains("250 2.1.5"), "{replies}");
    c.send("Subject: one\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@office.test>\r\nDATA\r\nsmuggled\r\n.\r\n").await;
    let reply = c.line().await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("221"));
    assert_eq!(office.mailbox("alice").0, 1);
    assert_eq!(office.mailbox("bob").0, 0, "no second message was smuggled to bob");
    let body = office.sql("SELECT data FROM blobs");
    assert!(body.contains("first\r\n.\r\nMAIL FROM:<evil@x.test>"), "the bare LF became CRLF inside the one message: {body}");
}

#[tokio::test]
async fn oversize_messages_are_refused_and_the_session_goes_on() {
    let office = Office::start("");
    ok(office.dir(), &["settings", "set", "smtp.max_message_size", "2000"], "");
    office.server.wait_for(|_| true);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let mut c = connect(office.port("smtp")).await;
    c.line().await;
    c.send("EHLO big.test\r\n").await;
    assert!(c.until(|l| l.starts_with("250 ")).await.contains("SIZE 2000"));
    c.send("MAIL FROM:<a@x.test> SIZE=5000\r\n").await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<alice@office.test>\r\nDATA\r\n").await;
    c.until(|l| l.starts_with("354")).await;
    c.send(&format!("Subject: big\r\n\r\n{}\r\n.\r\nNOOP\r\n", "x".repeat(5000))).await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    assert!(c.line().await.starts_with("250 2.0.0 OK"), "NOOP still answered");
    assert_eq!(office.mailbox("alice").0, 0);
}

#[tokio::test]
async fn auth_is_only_offered_over_tls_and_repeated_failures_end_the_session() {
    let office = Office::start("");
    let r = converse(office.port("smtp"), &["EHLO c.test\r\n", "AUTH PLAIN AGFsaWNlAHg=\r\n"]).await;
    assert!(!r[1].contains("AUTH"), "no AUTH before STARTTLS: {}", r[1]);
    assert!(r[2].starts_with("538 5.7.11"), "{r:?}");
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
s.ehlo("c.test")
s.user, s.password = "alice", "wrong-password"
codes = []
for attempt in range(3):
    try:
        s.auth("PLAIN", s.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
try:
    codes.append(s.noop()[0])
except smtplib.SMTPServerDisconnected:
    codes.append("closed")
print(codes)
"#;
    let (_, out) = python(script, &[office.port("smtps").to_string()]);
    // Three wrong passwords, then the server hangs up with 421 (read as the NOOP's answer or a closed line).
    assert!(out.contains("[535, 535, 535, 421]") || out.contains("[535, 535, 535, 'closed']"), "{out}");
}

/// Sends messages from 4 threads until the server dies; prints the subject of every acknowledged one.
const LOAD_UNTIL_KILLED: &str = r#"
import smtplib, sys, threading
port = int(sys.argv[1])
lock = threading.Lock()
def worker(w):
    for i in range(100000):
        subject = "load-%d-%d" % (w, i)
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=10)
            s.sendmail("load@x.test", ["alice@office.test"], "Subject: %s\r\n\r\nbody %s\r\n" % (subject, subject))
            with lock:
                print(subject, flush=True)
            s.quit()
        except Exception:
            return
threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
"#;

#[tokio::test]
async fn kill_9_during_a_load_loses_no_acknowledged_message_and_duplicates_none() {
    let mut office = Office::start("");
    let port = office.port("smtp").to_string();
    let load = Command::new("python3")
        .args(["-c", LOAD_UNTIL_KILLED, &port])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    unsafe { libc::kill(office.server.child.id() as i32, libc::SIGKILL) };
    office.server.child.wait().unwrap();
    let out = load.wait_with_output().unwrap();
    let acknowledged: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    assert!(acknowledged.len() >= 20, "the load ran: {} acknowledged", acknowledged.len());
    // Restart on the same folder: the database recovers from its WAL.
    office.server = Server::start(&office.server.dir.clone(), &[]);
    let stored = office.sql("SELECT data FROM blobs");
    let subjects: Vec<&str> = stored.lines().filter_map(|l| l.strip_prefix("Subject: ")).map(str::trim).collect();
    for subject in &acknowledged {
        assert!(subjects.contains(&subject.as_str()), "{subject} was acknowledged but is not in the mailbox");
    }
    let mut unique = subjects.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), subjects.len(), "a message was stored twice");
    let rows: usize = office.sql("SELECT count(*) FROM messages").parse().unwrap();
    assert_eq!(rows, subjects.len(), "one mailbox row per stored message");
}

#[tokio::test]
async fn repeated_failed_logins_ban_the_address_for_every_service_until_the_admin_clears_it() {
    let office = Office::start("");
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
codes = []
for session in range(3):
    try:
        s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
        s.ehlo("guesser.test"); s.user, s.password = "alice", "guess-%d" % session
        for attempt in range(2):
            try:
                s.auth("PLAIN", s.auth_plain)
            except smtplib.SMTPAuthenticationError as e:
                codes.append(e.smtp_code)
        s.close()
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError) as e:
        codes.append("refused")
print(codes)
"#;
    let (_, out) = python(script, &[office.port("smtps").to_string()]);
    // Four refusals, the fifth failure bans (421) and the next session is turned away at connect.
    assert!(out.contains("[535, 535, 535, 535, 421, 'refused']"), "failures counted across sessions: {out}");
    let bans: Value = serde_json::from_str(&ok(office.dir(), &["bans", "list", "--json"], "")).unwrap();
    let values: Vec<&str> = bans.as_array().unwrap().iter().map(|b| b["value"].as_str().unwrap()).collect();
    assert!(values.contains(&"127.0.0.1") && values.contains(&"alice from 127.0.0.1"), "the address, and alice for that address only: {bans}");
    // The ban is shared: POP3 refuses the address before its greeting too.
    assert!(connect(office.port("pop3")).await.line().await.starts_with("-ERR [SYS/TEMP] too many failed logins"));
    ok(office.dir(), &["bans", "clear", "127.0.0.1"], "");
    assert!(connect(office.port("pop3")).await.line().await.starts_with("+OK"));
    // The login stays blocked from that address even with the right password until it is cleared as well.
    let (sent, _) = smtplib(office.port("smtps"), "ssl", Some(("alice", "alice-secret")), "bob@office.test");
    assert!(!sent, "a banned login cannot send");
    ok(office.dir(), &["bans", "clear", "alice"], "");
    let (sent, out) = smtplib(office.port("smtps"), "ssl", Some(("alice", "alice-secret")), "bob@office.test");
    assert!(sent, "{out}");
}

#[tokio::test]
async fn an_over_long_line_is_refused_and_the_session_goes_on() {
    let office = Office::start("");
    let mut c = connect(office.port("smtp")).await;
    c.line().await;
    c.send(&format!("EHLO {}\r\nNOOP\r\n\r\n", "x".repeat(5000))).await;
    assert!(c.line().await.starts_with("500 5.5.2 line too long"));
    assert!(c.line().await.starts_with("250 2.0.0 OK"), "the next command is read normally");
    assert!(c.line().await.starts_with("500 5.5.1"), "an empty line is an unknown command");
}

#[tokio::test]
async fn notify_success_to_a_local_user_sends_the_sender_a_delivery_report() {
    // Success reports are only for senders we know (a trusted network here); a stranger's NOTIFY=SUCCESS
    // is dropped, or it would make us mail whatever address it forged.
    let office = Office::start("127.0.0.0/8");
    let script = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.sendmail("bob@office.test", ["alice@office.test"], "Subject: tracked\r\n\r\nhello\r\n",
           mail_options=["ENVID=trk-1"], rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;Alice@Office.Test"])
s.sendmail("bob@office.test", ["sales@office.test"], "Subject: untracked\r\n\r\nhello\r\n")
s.quit()
"#;
    let (sent, out) = python(script, &[office.port("smtp").to_string()]);
    assert!(sent, "{out}");
    assert_eq!(office.mailbox("alice").0, 2);
    assert_eq!(office.mailbox("bob").0, 1, "one report, for the message that asked");
    let report = office.sql(
        "SELECT b.data FROM blobs b JOIN messages m ON m.blob_id = b.id JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = 'bob'",
    );
    assert!(report.contains("Subject: Successful Mail Delivery Report"), "{report}");
    assert!(report.contains("Original-Envelope-Id: trk-1"), "{report}");
    assert!(report.contains("Original-Recipient: rfc822; Alice@Office.Test\r\nFinal-Recipient: rfc822; alice@office.test\r\nAction: delivered\r\nStatus: 2.0.0"), "{report}");
}
