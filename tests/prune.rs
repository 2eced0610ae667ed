//! Prune rules as a script or an admin uses them: rules added, listed and deleted in the exact forms
//! scripts rely on, folder patterns refused with VPOP3's reason, the preview, and passes — started by a
//! rule change in the running server, or by `prune run` — that open IMAP and POP3 sessions live through.
//! The clock is controlled by setting arrival times back in the database (the server's clock is not moved).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::imap::Session;
use common::mail::MailOffice;
use common::{ok, run};

/// alice with three messages; the first two arrived 400 days ago, and the first is read.
fn office() -> MailOffice {
    let office = MailOffice::start();
    office.deliver(3, r#""From: bob@far.example\r\nTo: alice@office.test\r\nSubject: note %d\r\n\r\n%s\r\n" % (n, "x" * (1000 * n))"#);
    office.sql("UPDATE messages SET arrived_at = arrived_at - 400 * 86400 WHERE uid IN (1, 2)");
    office.sql("UPDATE messages SET seen = 1 WHERE uid = 1");
    office
}

#[test]
fn rules_are_added_listed_previewed_and_deleted_in_the_scripted_forms() {
    let office = office();
    let d = office.dir();
    assert_eq!(ok(d, &["prune", "rules", "list"], ""), "no prune rules\n");
    // The seed's rule: read messages older than a year, in the Inbox (any case).
    let read = ok(d, &["prune", "rules", "add", "--folder", "inbox", "--age", "365", "--read", "read"], "").trim().to_string();
    let big = ok(d, &["prune", "rules", "add", "--user", "alice", "--folder", "*", "--age", "0", "--min-size", "2500"], "").trim().to_string();
    assert!(read.parse::<i64>().is_ok() && big.parse::<i64>().is_ok(), "ids: {read} {big}");
    let listed = ok(d, &["prune", "rules", "list"], "");
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("ID    USER         FOLDER"), "{listed}");
    assert!(lines[1].starts_with(&format!("{read:<5} (global)     INBOX")) && lines[1].contains(" read "), "{listed}");
    assert!(lines[2].starts_with(&format!("{big:<5} alice        *")) && lines[2].contains(" 2500 "), "{listed}");
    let json: serde_json::Value = serde_json::from_str(&ok(d, &["prune", "rules", "list", "--user", "alice", "--json"], "")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["read"], "yes");

    // What they would take now: message 1 (read, 400 days) by the first rule, message 3 (3 KB) by alice's.
    let preview = ok(d, &["prune", "preview"], "");
    assert!(preview.starts_with("the rules would prune 2 messages ("), "{preview}");
    assert!(preview.contains("alice INBOX UID 1 ") && preview.contains("alice INBOX UID 3 "), "{preview}");
    assert!(!preview.contains("UID 2 "), "unread and small: kept\n{preview}");
    let json: serde_json::Value = serde_json::from_str(&ok(d, &["prune", "preview", "--user", "alice", "--json"], "")).unwrap();
    assert_eq!(json["messages"], 2);
    // Nothing was taken: alice still has three messages.
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "3");
    // Flags count when the rules look: reading message 2 puts it under the first rule.
    office.sql("UPDATE messages SET seen = 1 WHERE uid = 2");
    assert!(ok(d, &["prune", "preview"], "").starts_with("the rules would prune 3 messages"));

    assert_eq!(ok(d, &["prune", "rules", "del", &big], ""), format!("prune rule {big} deleted\n"));
    let again = run(d, &["prune", "rules", "del", &big], "");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains(&format!("there is no prune rule {big}")));
}

#[test]
fn a_folder_pattern_or_an_unknown_user_is_refused_with_the_reason() {
    let office = office();
    let d = office.dir();
    let pattern = run(d, &["prune", "rules", "add", "--folder", "Inbox/*", "--age", "30"], "");
    assert!(!pattern.status.success());
    let why = String::from_utf8_lossy(&pattern.stderr);
    assert!(why.contains("'Inbox/*' will not work: a rule names one folder"), "{why}");
    let nobody = run(d, &["prune", "rules", "add", "--user", "carol", "--folder", "*", "--age", "30"], "");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user is called 'carol'"));
    let bad_read = run(d, &["prune", "rules", "add", "--folder", "*", "--age", "30", "--read", "sometimes"], "");
    assert!(!bad_read.status.success() && String::from_utf8_lossy(&bad_read.stderr).contains("possible values: read, unread, either"));
    assert_eq!(ok(d, &["prune", "rules", "list"], ""), "no prune rules\n");
}

/// A raw POP3 session as alice: (reader, writer).
fn pop3(office: &MailOffice) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", office.port("pop3"))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut pop = (BufReader::new(stream.try_clone().unwrap()), stream);
    assert!(pop3_line(&mut pop, None).starts_with("+OK"));
    assert!(pop3_line(&mut pop, Some("USER alice")).starts_with("+OK"));
    assert!(pop3_line(&mut pop, Some("PASS alice-secret")).starts_with("+OK"));
    pop
}

fn pop3_line(pop: &mut (BufReader<TcpStream>, TcpStream), command: Option<&str>) -> String {
    if let Some(c) = command {
        pop.1.write_all(format!("{c}\r\n").as_bytes()).unwrap();
    }
    let mut line = String::new();
    pop.0.read_line(&mut line).unwrap();
    line
}

/// The lines of a multi-line POP3 answer after its +OK, up to the final dot.
fn pop3_body(pop: &mut (BufReader<TcpStream>, TcpStream)) -> String {
    let mut body = String::new();
    loop {
        let mut line = String::new();
        pop.0.read_line(&mut line).unwrap();
        if line == ".\r\n" {
            return body;
        }
        body.push_str(&line);
    }
}

#[test]
fn a_rule_change_starts_a_pass_that_an_idle_session_sees_and_pop3_keeps_its_snapshot() {
    let office = office();
    let d = office.dir();
    // A POP3 session has listed the maildrop, and an IMAP session waits in IDLE.
    let mut pop = pop3(&office);
    assert!(pop3_line(&mut pop, Some("STAT")).starts_with("+OK 3 "));
    let mut imap = Session::login(&office);
    let selected = imap.ok("SELECT INBOX (CONDSTORE)");
    let modseq_before = selected.iter().find_map(|l| l.strip_prefix("* OK [HIGHESTMODSEQ ")).map(|l| l.split(']').next().unwrap().parse::<u64>().unwrap()).unwrap();
    imap.writer.write_all(b"i IDLE\r\n").unwrap();
    assert_eq!(imap.unsolicited("+ "), ["+ idling"]);

    // The seed's rule: read mail older than a year. Adding it starts a pass within seconds.
    let rule = ok(d, &["prune", "rules", "add", "--folder", "INBOX", "--age", "365", "--read", "read"], "").trim().to_string();
    assert_eq!(imap.unsolicited("EXPUNGE"), ["* 1 EXPUNGE"], "the read 400-day-old message leaves the IDLE session's view");
    imap.writer.write_all(b"DONE\r\n").unwrap();
    assert_eq!(imap.unsolicited("i "), ["i OK IDLE terminated"]);
    let status = imap.ok("STATUS INBOX (MESSAGES HIGHESTMODSEQ)");
    let modseq_after: u64 = status[0].rsplit(' ').next().unwrap().trim_end_matches(')').parse().unwrap();
    assert!(status[0].contains("MESSAGES 2") && modseq_after > modseq_before, "{status:?} after {modseq_before}");

    // POP3 still has the message it listed: RETR gives it whole, and QUIT ends cleanly.
    assert!(pop3_line(&mut pop, Some("RETR 1")).starts_with("+OK"));
    let body = pop3_body(&mut pop);
    assert!(body.contains("Subject: note 1\r\n"), "{body}");
    assert!(pop3_line(&mut pop, Some("QUIT")).starts_with("+OK"));

    // It waits in the Recycle Bin, named by the rule; postroom.log has its line.
    let bin: serde_json::Value = serde_json::from_str(&ok(d, &["recycle", "list", "--json"], "")).unwrap();
    assert_eq!(bin.as_array().unwrap().len(), 1);
    assert_eq!((bin[0]["user"].as_str(), bin[0]["folder"].as_str(), bin[0]["subject"].as_str()), (Some("alice"), Some("INBOX"), Some("note 1")));
    assert_eq!(bin[0]["reason"], format!("prune rule {rule}"));
    let log = wait_for_log(d, "message pruned");
    assert!(log.contains("user=alice") && log.contains("folder=INBOX") && log.contains("uid=1") && log.contains(&format!("rule={rule} of=global")), "{log}");
    // The next pass finds nothing more: reading message 2 makes it due, and `prune run` takes it at once.
    office.sql("UPDATE messages SET seen = 1 WHERE uid = 2");
    let run = ok(d, &["prune", "run"], "");
    assert!(run.starts_with("pruned 1 messages (") && run.ends_with(" bytes)\n"), "{run}");
    assert_eq!(ok(d, &["prune", "run"], ""), "pruned 0 messages (0 bytes)\n");
}

/// The postroom.log lines containing `what`, once there is one (the log writer writes in bursts).
fn wait_for_log(dir: &std::path::Path, what: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(dir.join("logs/postroom.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(what)).collect();
        if !lines.is_empty() {
            return lines.join("\n");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no {what:?} in postroom.log");
}

#[test]
fn age_is_kept_across_an_imap_move_and_an_appended_date_does_not_count() {
    let office = office();
    let d = office.dir();
    let mut imap = Session::login(&office);
    imap.ok("SELECT INBOX");
    imap.ok("CREATE Archive");
    imap.ok("UID MOVE 2 Archive");
    // A mail program uploads a message dated 2000: the server first saw it now, so it is new to the rules.
    let body = "Subject: old upload\r\n\r\nhello";
    imap.ok(&format!("APPEND Archive \"01-Jan-2000 00:00:00 +0000\" {{{}+}}\r\n{body}", body.len()));
    ok(d, &["prune", "rules", "add", "--folder", "Archive", "--age", "365"], "");
    let preview = ok(d, &["prune", "preview"], "");
    assert!(preview.starts_with("the rules would prune 1 messages (") && preview.contains("alice Archive UID 1 "), "{preview}");
    // The pass (this one, or the server's that the new rule started) takes the moved message only.
    ok(d, &["prune", "run"], "");
    assert_eq!(imap.ok("STATUS Archive (MESSAGES)"), ["* STATUS \"Archive\" (MESSAGES 1)"], "the upload stays");
    assert_eq!(office.sql("SELECT folder || ' ' || uid FROM recycled"), "Archive 1");
}
