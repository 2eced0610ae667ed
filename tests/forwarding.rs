//! Forwarding to the office's main server, with Postfix from Debian's packages playing it on loopback:
//! a LAN rule sends mail for sales@ on (rewritten to the main server's domain), waits while Postfix is
//! down and goes once it is back; Store and Forward keeps mail readable over IMAP and POP3 while the main
//! server is down, forwards exactly what the user did not delete (moved mail too), then leaves the local
//! copies in the Recycle Bin; a 5xx from the main server keeps the copy and warns the admin, never bouncing.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::postfix::{Postfix, PostfixConfig};
use common::*;
use serde_json::Value;

fn sql(dir: &Path, query: &str) -> String {
    let out = Command::new("sqlite3").arg(dir.join("postroom.db")).arg(query).output().expect("sqlite3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn wait(what: &str, seconds: u64, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fields drop in order: the server, then Postfix, then the folder.
struct Office {
    _server: Server,
    main: Postfix,
    dir: PathBuf,
    ports: Vec<(&'static str, u16)>,
    _tmp: tempfile::TempDir,
}

impl Office {
    fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|p| p.0 == service).unwrap().1
    }

    fn queue(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&ok(&self.dir, &["queue", "list", "--json"], "")).unwrap().as_array().unwrap().clone()
    }

    /// The forwarding targets `postroomd status` warns about.
    fn forwarding_problems(&self) -> Vec<Value> {
        let status: Value = serde_json::from_str(&ok(&self.dir, &["status", "--json"], "")).unwrap();
        status["forwarding_problems"].as_array().unwrap().clone()
    }

    /// What an admin does once the main server is back, instead of waiting for the next retry. (One
    /// flush, not a retry per listed entry: a running server may send an entry between the list and
    /// its retry, which then rightly says there is no such queued recipient.)
    fn retry_all(&self) {
        ok(&self.dir, &["queue", "retry", "--all"], "");
    }

    /// Sends `count` messages from a stranger to `to` over port 25, numbered in their subjects.
    fn deliver(&self, to: &str, count: usize) {
        let script = "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\nfor n in range(1, int(sys.argv[3]) + 1):\n    \
            s.sendmail('bob@far.example', [sys.argv[2]], 'From: bob@far.example\\r\\nTo: %s\\r\\nSubject: note %d\\r\\n\\r\\nhello %d\\r\\n' % (sys.argv[2], n, n))\ns.quit()\n";
        let out = Command::new("python3").args(["-c", script, &self.port("smtp").to_string(), to, &count.to_string()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The office (Postroom, office.test, users alice and sales) and its main server (Postfix, main.example,
/// mailboxes alice and sales), not started.
fn office() -> Office {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let ports = configure_loopback(&dir);
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let main = Postfix::configure(&tmp.path().join("postfix"), &PostfixConfig { listen, domain: "main.example", users: &["alice", "sales"], return_route: None });
    ok(&dir, &["settings", "set", "general.server_name", "mail.office.test"], "");
    ok(&dir, &["domain", "add", "office.test"], "");
    for user in ["alice", "sales"] {
        ok(&dir, &["user", "add", user, "--password-stdin"], &format!("{user}-secret\n"));
    }
    let server = Server::start(&dir, &[]);
    Office { _server: server, main, dir, ports, _tmp: tmp }
}

#[test]
fn a_lan_rule_forwards_rewritten_mail_that_waits_while_the_main_server_is_down() {
    let office = office();
    let d = &office.dir;
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    let id = ok(d, &["lan-forward", "add", "--address", "sales@office.test", "--server", &server, "--rewrite", "*@main.example"], "").trim().to_string();
    let listed = ok(d, &["lan-forward", "list"], "");
    assert!(listed.lines().nth(1).unwrap().starts_with(&format!("{id:<5} sales@office.test")) && listed.contains(&server), "{listed}");
    // Port 465 is refused with the reason.
    let refused = run(d, &["lan-forward", "add", "--address", "x@office.test", "--server", "127.0.0.1:465"], "");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("implicit TLS"));

    // The main server is down: the message is accepted and waits in the queue, with its target.
    office.deliver("sales@office.test", 1);
    wait("a failed attempt", 30, || office.queue().first().is_some_and(|e| e["attempts"].as_u64() == Some(1)));
    let entry = &office.queue()[0];
    assert_eq!((entry["recipient"].as_str(), entry["kind"].as_str(), entry["target"].as_str()), (Some("sales@main.example"), Some("lan"), Some(server.as_str())));
    assert!(ok(d, &["queue", "list"], "").contains(&server), "the text list shows the target");
    assert_eq!(sql(d, "SELECT count(*) FROM messages"), "0", "a LAN rule keeps no local copy");

    office.main.start();
    // The admin's flush, as `postqueue -f` is Postfix's.
    assert_eq!(ok(d, &["queue", "retry", "--all"], ""), "1 waiting recipients will be tried now\n");
    wait("the message at the main server", 30, || office.main.mailbox("sales").len() == 1);
    let copy = String::from_utf8(office.main.mailbox("sales")[0].clone()).unwrap();
    assert!(copy.contains("Received: from ") && copy.contains("by mail.office.test"), "our Received: is there: {copy}");
    assert!(copy.ends_with("From: bob@far.example\nTo: sales@office.test\nSubject: note 1\n\nhello 1\n"), "the message is unchanged: {copy}");
    wait("the queue to empty", 10, || office.queue().is_empty());
}

#[test]
fn store_and_forward_keeps_mail_readable_then_forwards_exactly_what_was_not_deleted() {
    let office = office();
    let d = &office.dir;
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    ok(d, &["user", "set", "alice", "--store-forward-target", "alice@main.example", "--store-forward-server", &server], "");
    // The main server is down: 20 messages arrive and can be read here.
    office.deliver("alice@office.test", 20);
    let script = r#"
import imaplib, poplib, sys
imap_port, pop_port = int(sys.argv[1]), int(sys.argv[2])
p = poplib.POP3('127.0.0.1', pop_port); p.user('alice'); p.pass_('alice-secret')
print('pop3', p.stat()[0]); p.quit()
i = imaplib.IMAP4('127.0.0.1', imap_port); i.login('alice', 'alice-secret')
print('imap', i.select('INBOX')[1][0].decode())
i.store('1:3', '+FLAGS.SILENT', '(\\Deleted)'); i.expunge()
i.create('Archive'); i.uid('MOVE', '20', 'Archive')
print('left', i.select('INBOX')[1][0].decode()); i.logout()
"#;
    let out = Command::new("python3").args(["-c", script, &office.port("imap").to_string(), &office.port("pop3").to_string()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("pop3 20") && text.contains("imap 20") && text.contains("left 16"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    wait("the forwards to be tried", 30, || office.queue().iter().all(|e| e["attempts"].as_u64() >= Some(1)));
    assert_eq!(office.queue().len(), 20);
    assert!(office.queue().iter().all(|e| e["kind"] == "store_forward" && e["recipient"] == "alice@main.example"));
    // The admin is told the main server is down, and how much waits for it (main window, tray, status).
    let problems = office.forwarding_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0]["target"].as_str(), problems[0]["waiting"].as_i64(), problems[0]["unreachable"].as_bool(), problems[0]["refused"].as_i64()),
        (Some(server.as_str()), Some(20), Some(true), Some(0)), "{problems:?}");
    assert!(problems[0]["since"].is_string() && problems[0]["last_error"].as_str().unwrap().contains("cannot connect"), "{problems:?}");
    assert!(ok(d, &["status"], "").contains(&format!("forwarding: {server} unreachable, 20 held since ")));

    // The main server is back: exactly the 17 not deleted arrive (the moved one too), none twice.
    office.main.start();
    office.retry_all();
    wait("17 messages at the main server", 60, || office.main.mailbox("alice").len() >= 17 && office.queue().is_empty());
    let arrived: Vec<String> = office.main.mailbox("alice").iter().map(|m| {
        let m = String::from_utf8_lossy(m);
        m.lines().find(|l| l.starts_with("Subject: ")).unwrap().to_string()
    }).collect();
    let mut distinct = arrived.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((arrived.len(), distinct.len()), (17, 17), "{arrived:?}");
    for gone in ["Subject: note 1", "Subject: note 2", "Subject: note 3"] {
        assert!(!arrived.iter().any(|s| s == gone), "{gone} was deleted here and must not be forwarded");
    }
    assert!(arrived.iter().any(|s| s == "Subject: note 20"), "the moved message is forwarded");
    assert!(office.forwarding_problems().is_empty(), "the warning goes once the main server takes the mail");
    // The local copies went to the Recycle Bin: 17 forwarded, 3 deleted by the user.
    assert_eq!(sql(d, "SELECT count(*) FROM messages"), "0");
    assert_eq!(sql(d, "SELECT reason, count(*) FROM recycled GROUP BY reason ORDER BY reason"), "IMAP expunge|3\nstore and forward|17");
    // A forwarded message restored from the bin stays here: it is not sent again.
    let id = sql(d, "SELECT id FROM recycled WHERE reason = 'store and forward' LIMIT 1");
    ok(d, &["recycle", "restore", &id], "");
    std::thread::sleep(Duration::from_secs(2));
    assert!(office.queue().is_empty() && office.main.mailbox("alice").len() == 17);
    assert_eq!(sql(d, "SELECT count(*) FROM messages"), "1");
}

#[test]
fn a_refusal_by_the_main_server_keeps_the_copy_and_warns_without_bouncing() {
    let office = office();
    let d = &office.dir;
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    // The main server has no mailbox "nobody": it refuses the recipient with a 5xx.
    ok(d, &["user", "set", "sales", "--store-forward-target", "nobody@main.example", "--store-forward-server", &server], "");
    office.main.start();
    office.deliver("sales@office.test", 1);
    wait("the refusal", 30, || office.queue().first().is_some_and(|e| e["state"] == "failed"));
    let entry = &office.queue()[0];
    assert!(entry["last_error"].as_str().unwrap().contains(" said: 5"), "{entry}");
    assert_eq!(sql(d, "SELECT count(*) FROM messages"), "1", "the copy stays in the user's mailbox");
    assert_eq!(sql(d, "SELECT count(*) FROM recycled"), "0");
    let problems = office.forwarding_problems();
    assert_eq!((problems[0]["refused"].as_i64(), problems[0]["since"].is_null()), (Some(1), true), "a standing warning until the admin sees to it: {problems:?}");
    // No report goes to the sender (their mail was delivered here); the admin is told.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sql(d, "SELECT count(*) FROM queue q WHERE q.sender = ''"), "0", "no bounce was queued");
    wait("the warning in errors.log", 20, || {
        std::fs::read_to_string(d.join("logs/errors.log")).unwrap_or_default().contains("Store and Forward could not hand the message to the main server")
    });
}

#[test]
fn a_rule_pointing_at_this_server_fails_at_once_instead_of_looping() {
    let office = office();
    let d = &office.dir;
    let ourselves = format!("127.0.0.1:{}", office.port("smtp"));
    ok(d, &["lan-forward", "add", "--address", "loop@office.test", "--server", &ourselves], "");
    office.deliver("loop@office.test", 1);
    wait("the refusal", 30, || office.queue().iter().any(|e| e["recipient"] == "loop@office.test" && e["state"] == "failed"));
    let entry = office.queue().into_iter().find(|e| e["recipient"] == "loop@office.test").unwrap();
    assert!(entry["last_error"].as_str().unwrap().contains("is this server itself (a mail loop)"), "{entry}");
    assert_eq!(entry["attempts"], 1, "one attempt, no circles");
}

#[test]
fn forwarded_mail_past_its_lifetime_goes_back_to_the_sender() {
    let office = office();
    let d = &office.dir;
    ok(d, &["settings", "set", "outbound.forward_lifetime_hours", "1"], "");
    // Nobody listens on the main server's port: every attempt fails for now.
    ok(d, &["lan-forward", "add", "--address", "sales@office.test", "--server", &format!("127.0.0.1:{}", office.main.listen.port())], "");
    office.deliver("sales@office.test", 1);
    wait("a failed attempt", 30, || office.queue().first().is_some_and(|e| e["attempts"].as_u64() == Some(1) && e["state"] == "queued"));
    // Two hours later (the clock is set back in the queue): the next attempt gives up and bounces.
    sql(d, "UPDATE queue SET created_at = created_at - 7200");
    office.retry_all();
    wait("the bounce", 30, || sql(d, "SELECT count(*) FROM queue_recipients WHERE recipient = 'bob@far.example'") == "1");
    let gave_up = sql(d, "SELECT last_error FROM queue_recipients WHERE recipient = 'sales@office.test'");
    assert!(gave_up.starts_with("gave up after 1 hours"), "{gave_up}");
}

#[test]
fn a_rule_logs_in_to_a_second_postroom_only_where_plain_text_login_is_allowed() {
    let office = office();
    let d = &office.dir;
    // The target: another Postroom (branch.example) whose submission port wants a login.
    let tmp = tempfile::tempdir().unwrap();
    let branch = tmp.path().join("branch");
    let ports = configure_loopback(&branch);
    ok(&branch, &["domain", "add", "branch.example"], "");
    ok(&branch, &["user", "add", "relay", "--password-stdin"], "relay-secret\n");
    ok(&branch, &["user", "add", "ann", "--password-stdin"], "ann-secret-1\n");
    let _target = Server::start(&branch, &[]);
    let submission = ports.iter().find(|p| p.0 == "submission").unwrap().1;
    let server = format!("relay:relay-secret@127.0.0.1:{submission}");
    // Its certificate is self-signed: without --plain-auth the login is never sent.
    ok(d, &["lan-forward", "add", "--address", "ann@office.test", "--server", &server, "--rewrite", "*@branch.example"], "");
    office.deliver("ann@office.test", 1);
    wait("the refused login", 30, || office.queue().first().is_some_and(|e| e["attempts"].as_u64() >= Some(1)));
    let error = office.queue()[0]["last_error"].as_str().unwrap().to_string();
    assert!(error.contains("not sending the login") && error.contains("on the forwarding rule"), "{error}");
    // Allowed on the LAN: the rule is replaced, and the next attempt logs in and delivers.
    let id = serde_json::from_str::<Value>(&ok(d, &["lan-forward", "list", "--json"], "")).unwrap()[0]["id"].to_string();
    ok(d, &["lan-forward", "del", &id], "");
    ok(d, &["lan-forward", "add", "--address", "ann@office.test", "--server", &server, "--rewrite", "*@branch.example", "--plain-auth"], "");
    // The queued recipient keeps the target it was queued with; new mail takes the new rule.
    office.deliver("ann@office.test", 1);
    wait("the message in ann's mailbox at the branch", 30, || sql(&branch, "SELECT count(*) FROM messages") == "1");
}

#[test]
fn a_kill_during_store_and_forward_loses_nothing() {
    let mut office = office();
    let d = office.dir.clone();
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    ok(&d, &["user", "set", "alice", "--store-forward-target", "alice@main.example", "--store-forward-server", &server], "");
    ok(&d, &["settings", "set", "outbound.max_parallel", "8"], "");
    office.deliver("alice@office.test", 500);
    wait("every forward tried once", 60, || office.queue().iter().all(|e| e["attempts"].as_u64() >= Some(1)));
    office.main.start();
    office.retry_all();
    wait("some to arrive", 60, || office.main.mailbox("alice").len() >= 100);
    // kill -9 in the middle of forwarding, then start again: every message reaches the main server.
    unsafe { libc::kill(office._server.child.id() as i32, libc::SIGKILL) };
    let _ = office._server.child.wait();
    office._server = Server::start(&d, &[]);
    office.retry_all();
    wait("the queue to empty", 120, || office.queue().is_empty());
    let subjects: Vec<String> = office.main.mailbox("alice").iter().map(|m| {
        String::from_utf8_lossy(m).lines().find(|l| l.starts_with("Subject: ")).unwrap().to_string()
    }).collect();
    let mut distinct = subjects.clone();
    distinct.sort();
    distinct.dedup();
    let duplicates = subjects.len() - distinct.len();
    eprintln!("after kill -9: {} delivered, {} distinct, {duplicates} duplicates", subjects.len(), distinct.len());
    assert_eq!(distinct.len(), 500, "none lost");
    assert!(duplicates <= 16, "at most the transactions in flight at the kill are sent twice: {duplicates}");
    assert_eq!(sql(&d, "SELECT count(*) FROM messages"), "0");
}

#[test]
fn as_a_backup_mx_listed_recipients_are_accepted_held_while_the_primary_is_down_and_passed_on() {
    let office = office();
    let d = &office.dir;
    // This office is the backup MX of main.example, whose primary is the Postfix.
    // (This machine is not a trusted network here, so nothing is relayed for it as a client.)
    let relay = r#"[{"domain": "main.example", "any_recipient": false, "recipients": ["alice"]}]"#;
    ok(d, &["settings", "set", "smtp.trusted_networks", "", "relay.domains", relay], "");
    let to = |address: &str| {
        let script = "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\ntry:\n    s.sendmail('bob@far.example', [sys.argv[2]], 'Subject: hi\\r\\n\\r\\nhello\\r\\n'); print('accepted')\nexcept smtplib.SMTPRecipientsRefused as e:\n    print('refused', list(e.recipients.values())[0][0])\n";
        let out = Command::new("python3").args(["-c", script, &office.port("smtp").to_string(), address]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // No rule passes the mail on yet: refused for now (the sender keeps it), not accepted and bounced.
    // (The running server takes the new settings within a second.)
    wait("the relay domain in effect", 10, || to("alice@main.example") == "refused 451");
    ok(d, &["lan-forward", "add", "--address", "~@main.example", "--server", &format!("127.0.0.1:{}", office.main.listen.port())], "");
    assert_eq!(to("nobody@main.example"), "refused 550", "only the listed recipients");
    // The primary is down: the message is accepted and waits, without a bounce.
    assert_eq!(to("alice@main.example"), "accepted");
    wait("a failed attempt", 30, || office.queue().first().is_some_and(|e| e["attempts"].as_u64() >= Some(1) && e["state"] == "queued"));
    assert_eq!(sql(d, "SELECT count(*) FROM queue WHERE sender = ''"), "0", "no bounce while the primary is merely down");
    office.main.start();
    office.retry_all();
    wait("the message at the primary", 30, || office.main.mailbox("alice").len() == 1);
}

#[test]
fn forwarded_messages_share_connections_and_one_the_main_server_dropped_costs_nothing() {
    let office = office();
    let d = &office.dir;
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    ok(d, &["lan-forward", "add", "--address", "sales@office.test", "--server", &server, "--rewrite", "*@main.example"], "");
    office.main.start();
    // Sessions that carried mail: every connect, less the readiness probe's (it says nothing).
    let sessions = || {
        let log = office.main.log();
        log.matches(": connect from ").count() - log.matches("lost connection after CONNECT").count()
    };
    let parallel: usize = ok(d, &["settings", "get", "outbound.max_parallel"], "").trim().parse().unwrap();
    office.deliver("sales@office.test", 20);
    wait("20 messages at the main server", 30, || office.main.mailbox("sales").len() == 20);
    assert!(sessions() <= parallel, "20 messages took {} connections (at most {parallel} at once, each kept for the next):\n{}", sessions(), office.main.log());

    // The main server restarts while our connections wait for the next message: they are found dead
    // and replaced, and no message counts a failed attempt.
    office.main.stop();
    office.main.start();
    office.deliver("sales@office.test", 5);
    wait("25 messages at the main server", 30, || office.main.mailbox("sales").len() == 25);
    wait("the queue to empty", 10, || office.queue().is_empty());
    assert_eq!(sql(d, "SELECT max(attempts), count(*) FROM queue_recipients WHERE state = 'sent'"), "1|25", "each message went at its first attempt");
}

#[test]
fn a_catch_all_rule_takes_only_what_specific_rules_users_and_aliases_left() {
    let office = office();
    let d = &office.dir;
    let server = format!("127.0.0.1:{}", office.main.listen.port());
    // sales moved to the main server; carol stays here; alice's mail goes there by a specific rule.
    ok(d, &["user", "del", "sales"], "");
    ok(d, &["user", "add", "carol", "--password-stdin"], "carol-secret\n");
    ok(d, &["lan-forward", "add", "--address", "~@office.test", "--server", &server, "--rewrite", "*@main.example"], "");
    ok(d, &["lan-forward", "add", "--address", "alice@office.test", "--server", &server, "--rewrite", "*@main.example"], "");
    office.main.start();
    for to in ["carol@office.test", "sales@office.test", "alice@office.test"] {
        office.deliver(to, 1);
    }
    wait("sales and alice at the main server", 30, || office.main.mailbox("sales").len() == 1 && office.main.mailbox("alice").len() == 1);
    // The specific rule, listed second, still came before alice's own mailbox; the catch-all took sales
    // only because no user, alias or specific rule did; carol's mail stayed here.
    let local = sql(d, "SELECT u.name FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id");
    assert_eq!(local, "carol");
    wait("the queue to empty", 10, || office.queue().is_empty());
}
