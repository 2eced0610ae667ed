//! Prune rules from the command line, as a script or an admin uses them (issue 15, first part): rules
//! added, listed and deleted in the exact forms scripts rely on, folder patterns refused with VPOP3's
//! reason, and the preview — what the rules would take now — against mail delivered over SMTP whose
//! arrival is set back in the database (the server's clock is not moved).

mod common;

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
