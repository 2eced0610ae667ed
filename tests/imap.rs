//! IMAP4 as mail programs use it: Python's imaplib and curl's imap:// read, file, flag and delete mail;
//! two sessions on one mailbox see each other's changes; IDLE hears of an SMTP delivery; POP3 and IMAP
//! agree on UIDs; oversize literals and bytes pipelined after STARTTLS are refused.

mod common;

use std::path::Path;
use std::process::Command;

use common::mail::MailOffice;
use common::*;

/// alice with `count` messages ("note 1".."note N") delivered over SMTP.
fn office(count: usize) -> MailOffice {
    let office = MailOffice::start();
    deliver(&office, count, "note");
    office
}

/// `count` messages with `subject` and their number, a dated header and a UTF-8 body.
fn deliver(office: &MailOffice, count: usize, subject: &str) {
    office.deliver(
        count,
        &format!(r#"("From: Bob Example <bob@far.example>\r\nTo: alice@office.test\r\nSubject: {subject} %d\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nLine one of %d: K\u00e4se.\r\n" % (n, n)).encode()"#),
    );
}

/// Runs a Python script (ports `imap`, `imaps`, `pop3`, `pop3s`, `smtp`; `logged_in()`); it must succeed.
fn run(office: &MailOffice, body: &str) -> String {
    let (ok, out) = office.python(LOGGED_IN, body);
    assert!(ok, "{out}");
    out
}

/// A raw IMAP session as alice, for the tests that look at exact server lines: `tx(line)` sends one
/// command and returns what came back within 0.4 s (as text when `text`).
const LOGGED_IN: &str = r#"
def logged_in(text=False):
    s = socket.create_connection(("127.0.0.1", imap)); s.settimeout(5); s.recv(1000)
    def tx(line):
        s.sendall(line + b"\r\n"); time.sleep(0.4); answer = s.recv(20000)
        return answer.decode() if text else answer
    tx(b"a LOGIN alice alice-secret")
    return tx
"#;

#[test]
fn imaplib_reads_searches_flags_files_and_expunges() {
    let office = office(3);
    let out = run(&office, 
        r#"
m = imaplib.IMAP4("127.0.0.1", imap)
m.login("alice", "alice-secret")
print("select", m.select("INBOX"))
print("envelope", m.fetch("1", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)")[1])
print("peek", m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")[1])
print("unseen-before", m.search(None, "UNSEEN")[1])
print("body", m.fetch("2", "(BODY[TEXT])")[1])
print("unseen-after", m.search(None, "UNSEEN")[1])
m.literal = "K\u00c4SE".encode()
print("search-text", m.uid("SEARCH", "CHARSET", "UTF-8", "BODY")[1], m.search(None, "SUBJECT", '"note 3"')[1])
print("store", m.store("1", "+FLAGS", "(\\Deleted $Important)")[1])
print("create", m.create("Work/Projects"))
print("copy", m.uid("COPY", "2:3", "Work/Projects"))
print("move", m.uid("MOVE", "3", "Trash"))
print("expunge", m.expunge())
print("status", m.status("Work/Projects", "(MESSAGES UNSEEN UIDNEXT)")[1])
print("append", m.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(1700000000), b"Subject: draft\r\n\r\nhi\r\n"))
print("list", m.list('""', "*")[1])
print("rename", m.rename("Work", "Archive"), m.list('""', "Archive*")[1])
m.logout()
"#,
    );
    assert!(out.contains("select ('OK', [b'3'])"), "{out}");
    assert!(
        out.contains(r#"ENVELOPE ("Mon, 23 Nov 2026 10:00:00 +0000" "note 1" (("Bob Example" NIL "bob" "far.example"))"#),
        "{out}"
    );
    assert!(out.contains(r#"BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL NIL "8bit""#), "{out}");
    assert!(out.contains("b'Subject: note 2\\r\\n\\r\\n'") && out.contains("b'Line one of 2: K\\xc3\\xa4se.\\r\\n'"), "{out}");
    assert!(out.contains("unseen-before [b'1 2 3']") && out.contains("unseen-after [b'1 3']"), "BODY[] sets \\Seen, PEEK does not: {out}");
    assert!(out.contains("search-text [b'1 2 3'] [b'3']"), "decoded text is searched: {out}");
    assert!(out.contains("store [b'1 (FLAGS (\\\\Deleted \\\\Recent $Important))']"), "the first session to select the mailbox sees its messages \\Recent: {out}");
    assert!(out.contains("copy ('OK'") && out.contains("move ('OK'"), "{out}");
    assert!(out.contains("expunge ('OK', [b'3', b'1'])"), "MOVE expunged message 3, EXPUNGE message 1: {out}");
    assert!(out.contains("status [b'\"Work/Projects\" (MESSAGES 2 UNSEEN 1 UIDNEXT 3)']"), "{out}");
    assert!(out.contains("append ('OK', [b'[APPENDUID"), "{out}");
    assert!(out.contains(r#"(\\HasChildren) "/" "Work""#) && out.contains(r#"(\\HasNoChildren \\Trash) "/" "Trash""#), "{out}");
    assert!(out.contains(r#"b'(\\HasChildren) "/" "Archive"', b'(\\HasNoChildren) "/" "Archive/Projects"'"#), "{out}");
    assert_eq!(office.sql("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'INBOX'"), "1");
    assert_eq!(office.sql("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'Trash'"), "1");
    assert_eq!(
        office.sql("SELECT received_at || ' ' || draft FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'Drafts'"),
        "1700000000 1",
        "APPEND keeps the date and flags"
    );
}

#[test]
fn two_sessions_see_each_others_changes_and_idle_hears_of_delivery_at_once() {
    let office = office(2);
    let out = run(&office, 
        r#"
a = imaplib.IMAP4("127.0.0.1", imap); a.login("alice", "alice-secret"); a.select("INBOX")
b = socket.create_connection(("127.0.0.1", imap)); b.recv(1000)
b.sendall(b"b1 LOGIN alice alice-secret\r\nb2 SELECT INBOX\r\n"); time.sleep(0.5); b.recv(10000)
a.store("1", "+FLAGS", "(\\Flagged)")
b.sendall(b"b3 NOOP\r\n"); time.sleep(0.5); print("flags", b.recv(10000))
a.store("2", "+FLAGS", "(\\Deleted)"); a.expunge()
b.sendall(b"b4 NOOP\r\n"); time.sleep(0.5); print("expunge", b.recv(10000))
b.sendall(b"b5 IDLE\r\n"); time.sleep(0.3); print("idle", b.recv(100))
s = smtplib.SMTP("127.0.0.1", smtp); s.sendmail("x@far.example", ["alice@office.test"], "Subject: wake\r\n\r\nup\r\n"); s.quit()
sent = time.time(); b.settimeout(5); got = b.recv(1000)
print("woke", got, "within-1s", time.time() - sent < 1.0)
b.sendall(b"DONE\r\n"); time.sleep(0.3); print("done", b.recv(1000))
"#,
    );
    assert!(out.contains("flags b'* 1 FETCH (UID 1 FLAGS (\\\\Flagged))\\r\\nb3 OK"), "{out}");
    assert!(out.contains("expunge b'* 2 EXPUNGE\\r\\nb4 OK"), "{out}");
    assert!(out.contains("idle b'+ idling\\r\\n'"), "{out}");
    assert!(out.contains("woke b'* 2 EXISTS\\r\\n* 1 RECENT\\r\\n' within-1s True"), "the new message is recent in the session that hears of it: {out}");
    assert!(out.contains("done b'b5 OK IDLE terminated"), "{out}");
}

#[test]
fn pop3_and_imap_share_uids_and_a_pop3_lock_does_not_stop_imap() {
    let office = office(3);
    let out = run(&office, 
        r#"
p = poplib.POP3("127.0.0.1", pop3); p.user("alice"); p.pass_("alice-secret")
print("uidl-before", p.uidl()[1])
m = imaplib.IMAP4("127.0.0.1", imap); m.login("alice", "alice-secret"); m.select("INBOX")
print("imap-while-pop3", m.uid("FETCH", "1:*", "(UID)")[1])
p.quit()
m.uid("MOVE", "2", "Trash")
p = poplib.POP3("127.0.0.1", pop3); p.user("alice"); p.pass_("alice-secret")
print("uidl-after", p.uidl()[1])
p.quit()
"#,
    );
    let v = office.sql("SELECT uidvalidity FROM folders WHERE path = 'INBOX'");
    assert!(out.contains(&format!("uidl-before [b'1 {v}.1', b'2 {v}.2', b'3 {v}.3']")), "{out}");
    assert!(out.contains("imap-while-pop3 [b'1 (UID 1)', b'2 (UID 2)', b'3 (UID 3)']"), "{out}");
    assert!(out.contains(&format!("uidl-after [b'1 {v}.1', b'2 {v}.3']")), "moved mail leaves POP3, the rest keep their UIDs: {out}");
}

#[test]
fn curl_lists_folders_and_fetches_a_message_by_uid() {
    let office = office(2);
    let base = format!("imap://127.0.0.1:{}/", office.port("imap"));
    let list = Command::new("curl").args(["-s", "--user", "alice:alice-secret", &base]).output().unwrap();
    let listing = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(listing.contains("* LIST (\\HasNoChildren) \"/\" \"INBOX\"") && listing.contains("\\Sent"), "{listing}");
    let one = Command::new("curl").args(["-s", "--user", "alice:alice-secret", &format!("{base}INBOX;UID=2")]).output().unwrap();
    let stored = office.sql("SELECT hex(b.data) FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.uid = 2");
    let hex: String = one.stdout.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, stored, "curl gets the message byte for byte");
}

#[test]
fn big_literals_before_login_and_commands_pipelined_after_starttls_are_refused() {
    let office = office(0);
    let out = run(&office, 
        r#"
s = socket.create_connection(("127.0.0.1", imap)); s.recv(1000)
s.sendall(b"a LOGIN {99999}\r\n"); time.sleep(0.5); print("big", s.recv(1000))
t = socket.create_connection(("127.0.0.1", imap)); t.recv(1000)
t.sendall(b"a STARTTLS\r\nb LOGIN alice alice-secret\r\n"); time.sleep(0.5); print("plain", t.recv(1000))
u = ctx.wrap_socket(t); u.sendall(b"c SELECT INBOX\r\n"); time.sleep(0.5); print("tls", u.recv(1000))
"#,
    );
    assert!(out.contains("big b'a NO [TOOBIG] literal too big (the limit is 1024 bytes)\\r\\n* BYE too much data before login\\r\\n'"), "{out}");
    assert!(out.contains("plain b'a OK begin TLS negotiation now\\r\\n'"), "{out}");
    assert!(out.contains("tls b'c BAD log in first\\r\\n'"), "the LOGIN sent before TLS did not run: {out}");
}

#[test]
fn condstore_sort_and_esearch_answer_as_their_rfcs_say() {
    let office = office(3);
    let out = run(&office, 
        r#"
tx = logged_in()
sel = tx(b"b SELECT INBOX (CONDSTORE)")
modseq = int(sel.split(b"HIGHESTMODSEQ ")[1].split(b"]")[0])
print("store", tx(b"c STORE 2 +FLAGS (\\Flagged)"))
print("changed", tx(b"d FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseq))
print("stale", tx(b"e STORE 2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % modseq))
print("sort", tx(b"f SORT (REVERSE SUBJECT) UTF-8 ALL"))
print("uidsort", tx(b"g UID SORT (SIZE ARRIVAL) UTF-8 NOT SUBJECT \"note 2\""))
print("esearch", tx(b"h UID SEARCH RETURN (MIN MAX COUNT) ALL"), tx(b"i SEARCH RETURN () UNFLAGGED"))
"#,
    );
    assert!(out.contains("* 2 FETCH (FLAGS (\\\\Flagged \\\\Recent) MODSEQ ("), "STORE answers carry MODSEQ once CONDSTORE is on: {out}");
    let changed = out.lines().find(|l| l.starts_with("changed")).unwrap();
    assert!(changed.contains("* 2 FETCH (FLAGS (\\\\Flagged \\\\Recent) MODSEQ (") && !changed.contains("* 1 FETCH") && !changed.contains("* 3 FETCH"), "only message 2 changed: {out}");
    assert!(out.contains("e OK [MODIFIED 2]"), "a store based on an old modseq is refused for the changed message: {out}");
    assert!(out.contains("* SORT 3 2 1"), "{out}");
    assert!(out.contains("* SORT 1 3"), "{out}");
    assert!(out.contains("* ESEARCH (TAG \"h\") UID MIN 1 MAX 3 COUNT 3"), "{out}");
    assert!(out.contains("* ESEARCH (TAG \"i\") ALL 1,3"), "{out}");
}

/// Runs a terminal mail program unattended: it needs a terminal, which `script` provides.
fn in_terminal(dir: &Path, command: &str) {
    let out = Command::new("timeout")
        .args(["60", "script", "-qec", command, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .env("HOME", dir)
        .output()
        .expect("script (util-linux) runs");
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn neomutt_copies_the_inbox_to_an_mbox_and_mutt_files_it_into_a_new_folder() {
    let office = office(3);
    let dir = office.dir().to_path_buf();
    let rc = dir.join("muttrc");
    let mut settings = office.mutt_account();
    settings.extend([
        "set confirmcreate=no".into(),
        "set confirmappend=no".into(),
        "set mbox_type=mbox".into(),
        "set mail_check=0".into(),
        "set timeout=1".into(),
        "set wait_key=no".into(),
    ]);
    std::fs::write(&rc, settings.join("\n") + "\n").unwrap();
    let mbox = dir.join("copied.mbox");
    let keys = |target: &str| format!("push \"<tag-pattern>~A<enter><tag-prefix><copy-message>{target}<enter><quit>\"");
    in_terminal(
        &dir,
        &format!("neomutt -n -F {} -f imap://127.0.0.1:{}/INBOX -e '{}'", rc.display(), office.port("imap"), keys(&mbox.display().to_string())),
    );
    let copied = std::fs::read_to_string(&mbox).expect("neomutt wrote the mbox");
    assert_eq!(copied.matches("\nSubject: note ").count() + usize::from(copied.starts_with("Subject: note ")), 3, "{copied}");
    in_terminal(&dir, &format!("mutt -n -F {} -f {} -e '{}'", rc.display(), mbox.display(), keys("=Archive")));
    assert_eq!(
        office.sql("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'Archive'"),
        "3",
        "mutt created the folder and appended every message"
    );
    assert_eq!(office.sql("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'INBOX'"), "3", "copies, not moves");
}

#[tokio::test]
async fn an_async_rust_client_fetches_appends_and_is_woken_from_idle() {
    use futures::TryStreamExt;
    let office = office(2);
    let tcp = tokio::net::TcpStream::connect(addr(office.port("imap"))).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap().expect("a greeting");
    let mut session = client.login("alice", "alice-secret").await.map_err(|e| e.0).unwrap();
    let inbox = session.select("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 2);
    let fetched: Vec<_> = session.fetch("1:*", "(UID BODY.PEEK[])").await.unwrap().try_collect().await.unwrap();
    let bodies: Vec<String> = fetched.iter().map(|f| String::from_utf8_lossy(f.body().unwrap()).into_owned()).collect();
    assert!(bodies[1].contains("Subject: note 2") && bodies[1].contains("Line one of 2"), "{bodies:?}");
    assert_eq!(fetched.iter().map(|f| f.uid.unwrap()).collect::<Vec<_>>(), [1, 2]);
    session.append("Drafts", Some("(\\Draft)"), None, b"Subject: from rust\r\n\r\nhi\r\n").await.unwrap();
    assert_eq!(office.sql("SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'Drafts' AND m.draft = 1"), "1");

    let mut idle = session.idle();
    idle.init().await.unwrap();
    let (wait, _stop) = idle.wait_with_timeout(std::time::Duration::from_secs(10));
    let deliver = tokio::task::spawn_blocking(move || {
        deliver(&office, 1, "pushed");
        office
    });
    let woke = wait.await.unwrap();
    assert!(matches!(woke, async_imap::extensions::idle::IdleResponse::NewData(_)), "IDLE was woken by the delivery");
    let mut session = idle.done().await.unwrap();
    session.logout().await.unwrap();
    drop(deliver.await.unwrap());
}

#[test]
fn extended_list_selects_subscribed_and_special_use_folders_and_returns_status() {
    let office = office(2);
    let out = run(&office, 
        r#"
tx = logged_in(text=True)
tx(b"b CREATE Projects/2026")
tx(b"c UNSUBSCRIBE Projects")
print("special", tx(b"d LIST (SPECIAL-USE) \"\" \"*\""))
print("subscribed", tx(b"e LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Projects*\""))
print("status", tx(b"f LIST \"\" (\"INBOX\" \"Sent\") RETURN (STATUS (MESSAGES UNSEEN SIZE))"))
print("bad", tx(b"g LIST (WHATEVER) \"\" \"*\""))
"#,
    );
    let special = &out[out.find("special").unwrap()..out.find("subscribed").unwrap()];
    assert!(special.contains("\\Sent) \"/\" \"Sent\"") && special.contains("\\Trash) \"/\" \"Trash\"") && !special.contains("\"INBOX\""), "{out}");
    assert!(out.contains("* LIST (\\HasChildren) \"/\" \"Projects\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"), "{out}");
    assert!(out.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Projects/2026\""), "{out}");
    let size: i64 = office.sql("SELECT sum(size) FROM messages").parse().unwrap();
    assert!(out.contains(&format!("* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 2 SIZE {size})")), "{out}");
    assert!(out.contains("* STATUS \"Sent\" (MESSAGES 0 UNSEEN 0 SIZE 0)"), "{out}");
    assert!(out.contains("g BAD unknown selection option WHATEVER"), "{out}");
}

#[test]
fn imap4rev2_when_enabled_uses_utf8_names_esearch_and_binary() {
    let office = office(1);
    let out = run(&office, 
        r#"
tx = logged_in()
print("enable", tx(b"b ENABLE IMAP4rev2"))
print("create", tx("c CREATE \"Entw\u00fcrfe\"".encode()))
print("list", tx(b"d LIST \"\" \"Entw*\""))
att = b"Subject: file\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--B--\r\n"
print("append", tx(b"e APPEND INBOX {%d+}\r\n" % len(att) + att))
print("select", tx(b"f SELECT INBOX"))
print("search", tx(b"g UID SEARCH ALL"))
print("binary", tx(b"h FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1])"))
"#,
    );
    assert!(out.contains("enable b'* ENABLED IMAP4rev2\\r\\nb OK"), "{out}");
    assert!(out.contains("\"Entw\\xc3\\xbcrfe\"") || out.contains("{9}\\r\\nEntw\\xc3\\xbcrfe"), "UTF-8 names, not modified UTF-7: {out}");
    assert_eq!(office.sql("SELECT count(*) FROM folders WHERE path = 'Entwürfe'"), "1");
    let select = &out[out.find("select").unwrap()..out.find("search").unwrap()];
    assert!(select.contains("2 EXISTS") && !select.contains("RECENT"), "{out}");
    assert!(out.contains("* ESEARCH (TAG \"g\") UID ALL 1:2"), "{out}");
    assert!(out.contains("BINARY.SIZE[1] 4 BINARY[1] ~{4}\\r\\n\\x00\\x01\\x02\\xff"), "base64 undone, literal8 for the NUL: {out}");
}

#[test]
fn quota_shows_what_the_mailbox_uses_and_cannot_be_set() {
    let office = office(3);
    let out = run(&office, 
        r#"
tx = logged_in(text=True)
print("root", tx(b"b GETQUOTAROOT INBOX"))
print("set", tx(b"c SETQUOTA \"\" (STORAGE 512)"))
print("other", tx(b"d GETQUOTA \"elsewhere\""))
"#,
    );
    let bytes: u64 = office.sql("SELECT sum(size) FROM messages").parse().unwrap();
    let used = bytes.div_ceil(1024);
    assert!(out.contains("* QUOTAROOT \"INBOX\" \"\""), "{out}");
    let quota = out.lines().find(|l| l.starts_with("* QUOTA \"\"")).expect(&out);
    let figures: Vec<u64> = quota.trim_end_matches(')').rsplit('(').next().unwrap().split(' ').skip(1).map(|n| n.parse().unwrap()).collect();
    assert_eq!(figures[0], used, "{quota}");
    assert!(figures[1] > used, "the limit is what is used plus the free disk space: {quota}");
    assert!(out.contains("c NO [CANNOT] quotas are read-only here"), "{out}");
    assert!(out.contains("d NO [NONEXISTENT]"), "{out}");
}
