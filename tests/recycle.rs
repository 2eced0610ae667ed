//! The Recycle Bin as a user and an admin meet it: mail deleted by IMAP and POP3 programs waits there
//! (a MOVE does not), comes back with `recycle restore` — by id, or a user's since a time, marked or not —
//! with new UIDs into its folder (made again when it was deleted); expiry after the retention time frees
//! the body file on disk; a deleted user comes back with their mail and aliases, or is purged with it.
//! Times are controlled by setting deletion times back in the database.

mod common;

use std::time::Duration;

use common::imap::Session;
use common::mail::MailOffice;
use common::{ok, run};
use serde_json::Value;

/// alice with four messages, the fourth large enough (200 KB) to be kept as a file.
fn office() -> MailOffice {
    let office = MailOffice::start();
    office.deliver(4, r#""From: Bob <bob@far.example>\r\nTo: alice@office.test\r\nSubject: note %d\r\n\r\n%s\r\n" % (n, "y" * (200000 if n == 4 else 10))"#);
    office
}

fn bin(office: &MailOffice, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["recycle", "list", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str::<Value>(&ok(office.dir(), &all, "")).unwrap().as_array().unwrap().clone()
}

fn subjects(entries: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = entries.iter().map(|e| e["subject"].as_str().unwrap().to_string()).collect();
    s.sort();
    s
}

#[test]
fn deleted_mail_waits_in_the_bin_and_comes_back_with_new_uids() {
    let office = office();
    let d = office.dir();
    // IMAP: message 1 expunged, message 2 moved to a folder (a move is not a deletion).
    let mut imap = Session::login(&office);
    imap.ok("SELECT INBOX");
    imap.ok("CREATE Archive");
    imap.ok("UID MOVE 2 Archive");
    imap.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(imap.ok("EXPUNGE"), ["* 1 EXPUNGE"]);
    // POP3: message 3 (the first left is UID 3) deleted at QUIT.
    let (done, out) = office.python(
        "",
        "p = poplib.POP3('127.0.0.1', pop3); p.user('alice'); p.pass_('alice-secret')\nassert p.uidl(1).split()[2].endswith(b'.3'), p.uidl(1)\np.dele(1); p.quit()\n",
    );
    assert!(done, "{out}");
    let entries = bin(&office, &[]);
    assert_eq!(subjects(&entries), ["note 1", "note 3"]);
    let reason = |subject: &str| entries.iter().find(|e| e["subject"] == subject).unwrap()["reason"].as_str().unwrap().to_string();
    assert_eq!((reason("note 1"), reason("note 3")), ("IMAP expunge".to_string(), "POP3 delete".to_string()));
    assert!(entries.iter().all(|e| e["from"] == "Bob <bob@far.example>" && e["user"] == "alice" && e["folder"] == "INBOX"));
    // Searching finds by subject; the text list says how much the bin holds.
    assert_eq!(subjects(&bin(&office, &["--search", "NOTE 3"])), ["note 3"]);
    assert!(ok(d, &["recycle", "list"], "").starts_with("the Recycle Bin holds 2 messages ("));

    // Undelete "since": the expunge is set back two days, so only the POP3 deletion is since yesterday.
    office.sql("UPDATE recycled SET deleted_at = deleted_at - 2 * 86400 WHERE reason = 'IMAP expunge'");
    let yesterday = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 86_400).to_string();
    let restored = ok(d, &["recycle", "restore", "--user", "alice", "--since", &yesterday, "--mark"], "");
    assert!(restored.contains(" to alice INBOX UID 5\n") && restored.ends_with("restored 1 messages\n"), "{restored}");
    // By id, unmarked: message 1 comes back as UID 6 (UIDs are never used twice).
    let id = bin(&office, &[])[0]["id"].as_i64().unwrap().to_string();
    assert!(ok(d, &["recycle", "restore", &id], "").contains(" to alice INBOX UID 6\n"));
    assert!(bin(&office, &[]).is_empty());
    // A second session sees them as any new mail, with their flags: the marked one \Flagged, none \Deleted.
    let mut other = Session::login(&office);
    other.ok("SELECT INBOX");
    assert_eq!(other.ok("UID FETCH 5:6 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])").iter().filter(|l| l.starts_with("* ")).cloned().collect::<Vec<_>>().len(), 2);
    let flags = other.ok("UID FETCH 5:6 FLAGS");
    assert!(flags[0].contains("UID 5 FLAGS (\\Seen \\Flagged") || flags[0].contains("UID 5 FLAGS (\\Flagged"), "{flags:?}");
    assert!(!flags[1].contains("\\Flagged") && !flags[1].contains("\\Deleted"), "{flags:?}");
    // POP3 lists them under new UIDLs.
    let (done, out) = office.python("", "p = poplib.POP3('127.0.0.1', pop3); p.user('alice'); p.pass_('alice-secret')\nprint(sorted(l.split()[1].decode().split('.')[1] for l in p.uidl()[1])); p.quit()\n");
    assert!(done && out.contains("['4', '5', '6']"), "{out}");
    // A restore of something that is not there fails with the reason.
    let again = run(d, &["recycle", "restore", &id], "");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("no entry"));
}

#[test]
fn a_deleted_folder_comes_back_and_expiry_frees_the_body_file() {
    let office = office();
    let d = office.dir();
    let mut imap = Session::login(&office);
    imap.ok("SELECT INBOX");
    imap.ok("CREATE Projects");
    imap.ok("UID MOVE 4 Projects");
    imap.ok("DELETE Projects");
    let entries = bin(&office, &[]);
    assert_eq!((entries.len(), entries[0]["reason"].as_str(), entries[0]["folder"].as_str()), (1, Some("folder deleted"), Some("Projects")));
    let id = entries[0]["id"].as_i64().unwrap().to_string();
    assert!(ok(d, &["recycle", "restore", &id], "").contains(" to alice Projects UID 1\n"), "the folder is made again");
    let listed = imap.ok("LIST \"\" Projects");
    assert!(listed.len() == 1 && listed[0].contains("Projects"), "{listed:?}");
    // Deleted again, it expires after the retention (72 hours): the body's file leaves the disk. Another
    // large message, deleted 71 hours ago, stays.
    imap.ok("SELECT Projects");
    imap.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    imap.ok("EXPUNGE");
    office.deliver(1, r#""Subject: younger\r\n\r\n%s\r\n" % ("z" * 200000)"#);
    imap.ok("SELECT INBOX");
    imap.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)");
    imap.ok("EXPUNGE");
    let file_of = |subject: &str| {
        let sha = office.sql(&format!("SELECT b.sha256 FROM recycled r JOIN blobs b ON b.id = r.blob_id WHERE r.folder = '{subject}'"));
        d.join("blobs").join(sha)
    };
    let (old, young) = (file_of("Projects"), file_of("INBOX"));
    assert!(old.exists() && young.exists(), "200 KB bodies are files");
    office.sql("UPDATE recycled SET deleted_at = deleted_at - 73 * 3600 WHERE folder = 'Projects'");
    office.sql("UPDATE recycled SET deleted_at = deleted_at - 71 * 3600 WHERE folder = 'INBOX'");
    for _ in 0..80 {
        if !old.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!old.exists(), "the sweep deleted the expired body");
    assert!(young.exists() && subjects(&bin(&office, &[])) == ["younger"], "71 hours: still kept");
}

#[test]
fn a_deleted_user_comes_back_with_their_mail_or_is_purged_with_it() {
    let office = office();
    let d = office.dir();
    ok(d, &["user", "del", "alice"], "");
    let listed = ok(d, &["recycle", "list"], "");
    assert!(listed.contains("deleted user alice (deleted at ") && listed.contains("): 4 messages ("), "{listed}");
    assert_eq!(ok(d, &["user", "restore", "alice"], ""), "user alice restored with their mail\n");
    let mut imap = Session::login(&office);
    assert!(imap.ok("SELECT INBOX").contains(&"* 4 EXISTS".to_string()));
    drop(imap);
    // Deleted again and purged: nothing of theirs is left, and the name cannot be restored.
    ok(d, &["user", "del", "alice"], "");
    let refused = run(d, &["recycle", "purge"], "");
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("add --yes"));
    let purged = ok(d, &["recycle", "purge", "--yes"], "");
    assert!(purged.starts_with("purged 4 messages ("), "{purged}");
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "0");
    assert_eq!(office.sql("SELECT count(*) FROM blobs"), "0", "the purge swept the bodies");
    let gone = run(d, &["user", "restore", "alice"], "");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no deleted user called 'alice'"));
    // A user past the retention time cannot be restored, even before the sweep has purged them.
    ok(d, &["user", "add", "bob", "--password-stdin"], "bob-secret-1\n");
    ok(d, &["user", "del", "bob"], "");
    office.sql("UPDATE users SET deleted_at = deleted_at - 73 * 3600 WHERE name = 'bob'");
    let late = run(d, &["user", "restore", "bob"], "");
    assert!(!late.status.success() && String::from_utf8_lossy(&late.stderr).contains("no deleted user called 'bob'"));
}
