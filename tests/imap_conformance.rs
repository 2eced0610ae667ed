//! IMAP answers as the RFCs write them, byte for byte, where mail programs are forgiving and a wrong answer
//! is a lost flag or a message shown twice. Every test talks over a raw socket and compares the server's
//! exact lines; where state is shared (\Recent, keywords) two or three sessions look at one mailbox.

mod common;

use std::io::{BufRead, Write};
use std::time::Duration;

use common::imap::Session;
use common::mail::MailOffice;

/// alice with `count` plain messages.
fn office(count: usize) -> MailOffice {
    let office = MailOffice::start();
    deliver(&office, count);
    office
}

fn deliver(office: &MailOffice, count: usize) {
    office.deliver(count, r#""From: bob@far.example\r\nTo: alice@office.test\r\nSubject: note %d\r\n\r\nhello\r\n" % n"#);
}

fn position(lines: &[String], start: &str) -> usize {
    lines.iter().position(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line starting {start:?} in {lines:?}"))
}

#[test]
fn recent_goes_to_exactly_one_session_and_copies_arrive_recent() {
    let office = office(2);
    // EXAMINE shows what no session has taken yet, and takes nothing (RFC 3501 §6.3.2).
    let mut watcher = Session::login(&office);
    let examined = watcher.ok("EXAMINE INBOX");
    assert!(examined.contains(&"* 2 RECENT".to_string()), "{examined:?}");
    // The first SELECT takes both; a second session sees none.
    let mut first = Session::login(&office);
    let selected = first.ok("SELECT INBOX");
    assert!(selected.contains(&"* 2 RECENT".to_string()), "{selected:?}");
    assert_eq!(first.ok("FETCH 1:2 FLAGS"), ["* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))"]);
    let mut second = Session::login(&office);
    let selected = second.ok("SELECT INBOX");
    assert!(selected.contains(&"* 0 RECENT".to_string()), "{selected:?}");
    assert_eq!(second.ok("FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS ())"]);
    assert_eq!(second.ok("SEARCH RECENT"), ["* SEARCH"]);
    assert_eq!(second.ok("SEARCH OLD"), ["* SEARCH 1 2"]);
    // A message arriving while both have the mailbox open is recent in the one that hears of it first.
    deliver(&office, 1);
    assert_eq!(first.ok("NOOP"), ["* 3 EXISTS", "* 3 RECENT"]);
    assert_eq!(second.ok("NOOP"), ["* 3 EXISTS", "* 0 RECENT"]);
    assert_eq!(first.ok("SEARCH NEW"), ["* SEARCH 1 2 3"]);
    first.ok("STORE 1 +FLAGS.SILENT (\\Seen)");
    assert_eq!(first.ok("SEARCH NEW"), ["* SEARCH 2 3"]);
    assert_eq!(first.ok("SEARCH RECENT"), ["* SEARCH 1 2 3"]);
    // A copy is a new arrival in its folder: recent to the next session there, counted by STATUS.
    first.ok("CREATE Archive");
    first.ok("COPY 1 Archive");
    assert_eq!(second.ok("STATUS Archive (MESSAGES RECENT)"), ["* STATUS \"Archive\" (MESSAGES 1 RECENT 1)"]);
    let archive = second.ok("SELECT Archive");
    assert!(archive.contains(&"* 1 RECENT".to_string()), "{archive:?}");
    assert_eq!(second.ok("FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS (\\Seen \\Recent))"]);
    // IMAP4rev2 has no \Recent (RFC 9051): no RECENT line, no flag.
    let mut modern = Session::login(&office);
    modern.ok("ENABLE IMAP4rev2");
    let selected = modern.ok("SELECT INBOX");
    assert!(!selected.iter().any(|l| l.ends_with("RECENT")), "{selected:?}");
}

#[test]
fn a_new_keyword_is_announced_to_every_session_before_a_fetch_shows_it() {
    let office = office(2);
    let mut a = Session::login(&office);
    let mut b = Session::login(&office);
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let selected = a.ok("SELECT INBOX");
    assert_eq!(&selected[..2], [format!("* FLAGS ({system})"), format!("* OK [PERMANENTFLAGS ({system} \\*)] flags permitted")]);
    b.ok("SELECT INBOX");
    let stored = a.ok("STORE 1 +FLAGS ($Label1)");
    assert_eq!(
        stored,
        [
            format!("* FLAGS ({system} $Label1)"),
            format!("* OK [PERMANENTFLAGS ({system} $Label1 \\*)] flags permitted"),
            "* 1 FETCH (FLAGS (\\Recent $Label1))".to_string(),
        ]
    );
    // The other session learns of the keyword first, then sees it on the message.
    let heard = b.ok("NOOP");
    let flags = position(&heard, "* FLAGS (");
    assert_eq!(heard[flags], format!("* FLAGS ({system} $Label1)"));
    assert!(flags < position(&heard, "* 1 FETCH"), "{heard:?}");
    assert_eq!(heard[position(&heard, "* 1 FETCH")], "* 1 FETCH (UID 1 FLAGS ($Label1))");
    // A keyword already announced is not announced again; STORE.SILENT still announces a new one.
    assert_eq!(a.ok("STORE 2 +FLAGS ($Label1)"), ["* 2 FETCH (FLAGS (\\Recent $Label1))"]);
    assert_eq!(a.ok("STORE 2 +FLAGS.SILENT ($hello)")[0], format!("* FLAGS ({system} $Label1 $hello)"));
    // A session selecting afterwards is told of both at once.
    let mut c = Session::login(&office);
    assert_eq!(c.ok("EXAMINE INBOX")[0], format!("* FLAGS ({system} $Label1 $hello)"));
}

#[test]
fn store_flags_replaces_system_flags_and_keywords_and_copy_carries_them() {
    let office = office(1);
    let mut s = Session::login(&office);
    s.ok("SELECT INBOX");
    s.ok("STORE 1 +FLAGS (\\Seen)");
    s.ok("STORE 1 +FLAGS ($Label1 \\Flagged)");
    assert_eq!(s.ok("STORE 1 FLAGS (\\Answered)"), ["* 1 FETCH (FLAGS (\\Answered \\Recent))"]);
    assert_eq!(s.ok("FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS (\\Answered \\Recent))"]);
    s.ok("STORE 1 +FLAGS ($Work \\Flagged)");
    s.ok("CREATE Kept");
    s.ok("COPY 1 Kept");
    let mut other = Session::login(&office);
    other.ok("EXAMINE Kept");
    assert_eq!(other.ok("FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS (\\Answered \\Flagged \\Recent $Work))"]);
}

#[test]
fn a_folder_deleted_and_created_again_gets_a_new_uidvalidity() {
    let office = office(0);
    let mut s = Session::login(&office);
    let uidvalidity = |s: &mut Session| {
        let lines = s.ok("STATUS Projects (UIDVALIDITY)");
        lines[0].rsplit(' ').next().unwrap().trim_end_matches(')').parse::<u64>().unwrap()
    };
    s.ok("CREATE Projects");
    let first = uidvalidity(&mut s);
    // Within the same second, as a mail program cleaning up does.
    s.ok("DELETE Projects");
    s.ok("CREATE Projects");
    let second = uidvalidity(&mut s);
    s.ok("DELETE Projects");
    s.ok("CREATE Projects");
    let third = uidvalidity(&mut s);
    assert!(first < second && second < third, "UIDVALIDITY {first}, then {second}, then {third}");
}

#[test]
fn envelope_keeps_group_syntax_for_every_group_form() {
    let office = MailOffice::start();
    let forms = [
        ("undisclosed-recipients:;", r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))"#),
        ("Friends: alice@a.example, Bob <bob@b.example>;", r#"((NIL NIL "Friends" NIL)(NIL NIL "alice" "a.example")("Bob" NIL "bob" "b.example")(NIL NIL NIL NIL))"#),
        // A member that is only a display name must not read as the end of the group.
        (r#"group: "foo";"#, r#"((NIL NIL "group" NIL)("foo" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL NIL NIL NIL))"#),
        (
            "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Mary Smith <mary@x.test>",
            r#"((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL)("Mary Smith" NIL "mary" "x.test"))"#,
        ),
        // A bare word (mail-parser reads it as a name) must not read as the start of a group.
        ("joe", r#"(("joe" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))"#),
        ("joe@", r#"((NIL NIL "joe" "MISSING_DOMAIN"))"#),
    ];
    let script = format!(
        "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\nfor to in {:?}:\n    s.sendmail('bob@far.example', ['alice@office.test'], 'From: bob@far.example\\r\\nTo: %s\\r\\nSubject: g\\r\\n\\r\\nhi\\r\\n' % to)\ns.quit()\n",
        forms.iter().map(|f| f.0).collect::<Vec<_>>()
    );
    let (sent, out) = common::mail::python(&script, &[office.port("smtp").to_string()]);
    assert!(sent, "{out}");
    let mut s = Session::login(&office);
    s.ok("EXAMINE INBOX");
    for (n, (to, expected)) in forms.iter().enumerate() {
        let envelope = s.ok(&format!("FETCH {} ENVELOPE", n + 1)).join("");
        let from = r#"((NIL NIL "bob" "far.example"))"#;
        // date, subject, from, sender, reply-to, then to.
        let after = format!(r#""g" {from} {from} {from} {expected} NIL NIL NIL"#);
        assert!(envelope.contains(&after), "To: {to}\nexpected {expected}\nin {envelope}");
    }
}

#[test]
fn sent_dates_are_the_date_header_as_written_and_plain_dates_the_internal_date() {
    let office = MailOffice::start();
    // 1: late on 1 December in California (2 December in UTC); 2: just after midnight on 2 December in
    // Tokyo (still 1 December in UTC).
    office.deliver(
        2,
        r#""From: bob@far.example\r\nSubject: d%d\r\nDate: %s\r\n\r\nhi\r\n" % (n, ["Mon, 01 Dec 2025 23:30:00 -0800", "Tue, 02 Dec 2025 00:30:00 +0900"][n - 1])"#,
    );
    let mut s = Session::login(&office);
    s.ok("EXAMINE INBOX");
    assert_eq!(s.ok("SEARCH SENTON 1-Dec-2025"), ["* SEARCH 1"]);
    assert_eq!(s.ok("SEARCH SENTON 2-Dec-2025"), ["* SEARCH 2"]);
    assert_eq!(s.ok("SEARCH SENTBEFORE 2-Dec-2025"), ["* SEARCH 1"]);
    assert_eq!(s.ok("SEARCH SENTSINCE 2-Dec-2025"), ["* SEARCH 2"]);
    assert_eq!(s.ok("SEARCH SENTSINCE 1-Dec-2025 SENTBEFORE 3-Dec-2025"), ["* SEARCH 1 2"]);
    // BEFORE, ON and SINCE look at the internal date: when Postroom received them, today (UTC).
    let internal = s.ok("FETCH 1 INTERNALDATE").join("");
    let today = internal.split('"').nth(1).and_then(|d| d.split(' ').next()).unwrap().trim_start_matches('0').to_string();
    assert_eq!(s.ok(&format!("SEARCH ON {today}")), ["* SEARCH 1 2"]);
    assert_eq!(s.ok(&format!("SEARCH BEFORE {today}")), ["* SEARCH"]);
    assert_eq!(s.ok("SEARCH SINCE 2-Dec-2025 BEFORE 3-Dec-2025"), ["* SEARCH"]);
}

#[test]
fn sort_uses_the_first_mailbox_and_the_base_subject() {
    let office = MailOffice::start();
    // (From, Cc, Subject) of messages 1..4.
    office.deliver(
        4,
        r#""From: %s\r\nCc: %s\r\nTo: alice@office.test\r\nSubject: %s\r\n\r\nhi\r\n" % [
            ("Zed Example <alice@z.example>", "dora@x.example, adam@y.example", "Re: [office] Lunch"),
            ("Anna <zoe@a.example>", "Carl <carl@x.example>", "Budget\t  figures (fwd)"),
            ("mike@m.example", "bob@x.example", "[Fwd: Re: Agenda]"),
            ("\"Bea\" <BETTY@b.example>", "", "Re[2]: Re: budget figures"),
        ][n - 1]"#,
    );
    let mut s = Session::login(&office);
    s.ok("EXAMINE INBOX");
    // FROM: alice, BETTY, mike, zoe (the mailbox, not the name; case does not count).
    assert_eq!(s.ok("SORT (FROM) UTF-8 ALL"), ["* SORT 1 4 3 2"]);
    // CC: adam is second in 1's list, so 1 sorts by dora; 4 has none and comes first.
    assert_eq!(s.ok("SORT (CC) UTF-8 ALL"), ["* SORT 4 3 2 1"]);
    // SUBJECT: agenda, budget figures (2 and 4, then by sequence), lunch.
    assert_eq!(s.ok("SORT (SUBJECT) UTF-8 ALL"), ["* SORT 3 2 4 1"]);
    assert_eq!(s.ok("SORT (REVERSE SUBJECT) UTF-8 ALL"), ["* SORT 1 2 4 3"]);
}

#[test]
fn a_search_by_modseq_reports_the_highest_modseq_it_returns() {
    let office = office(3);
    let mut s = Session::login(&office);
    s.ok("SELECT INBOX (CONDSTORE)");
    let modseq = |s: &mut Session, n: u32| {
        let line = s.ok(&format!("FETCH {n} MODSEQ")).join("");
        line.split("MODSEQ (").nth(1).unwrap().split(')').next().unwrap().parse::<u64>().unwrap()
    };
    let base = modseq(&mut s, 3);
    s.ok("STORE 1 +FLAGS.SILENT (\\Flagged)");
    s.ok("STORE 2 +FLAGS.SILENT (\\Seen)");
    let (one, two) = (modseq(&mut s, 1), modseq(&mut s, 2));
    assert!(one > base && two > one, "{base} {one} {two}");
    assert_eq!(s.ok(&format!("SEARCH MODSEQ {}", base + 1)), [format!("* SEARCH 1 2 (MODSEQ {two})")]);
    assert_eq!(s.ok(&format!("UID SEARCH RETURN (ALL) MODSEQ {}", base + 1))[0], format!("* ESEARCH (TAG \"t{}\") UID ALL 1:2 MODSEQ {two}", s.next));
    assert_eq!(s.ok(&format!("SEARCH RETURN (MIN) MODSEQ {}", base + 1))[0], format!("* ESEARCH (TAG \"t{}\") MIN 1 MODSEQ {one}", s.next));
    assert_eq!(s.ok(&format!("SEARCH RETURN (COUNT) MODSEQ {}", base + 1))[0], format!("* ESEARCH (TAG \"t{}\") COUNT 2", s.next));
    // Without a MODSEQ criterion, no MODSEQ in the answer; with one that matches nothing, none either.
    assert_eq!(s.ok("SEARCH FLAGGED"), ["* SEARCH 1"]);
    assert_eq!(s.ok(&format!("SEARCH MODSEQ {}", two + 100)), ["* SEARCH"]);
}

#[test]
fn binary_appended_with_literal8_is_fetched_whole_by_binary_and_without_nul_by_body() {
    let office = MailOffice::start();
    let mut s = Session::login(&office);
    let payload: Vec<u8> = (0..=255u8).collect();
    let mut message = b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    message.extend_from_slice(&payload);
    message.extend_from_slice(b"\r\n--XX--\r\n");
    s.writer.write_all(format!("a APPEND INBOX ~{{{}+}}\r\n", message.len()).as_bytes()).unwrap();
    s.writer.write_all(&message).unwrap();
    s.writer.write_all(b"\r\n").unwrap();
    let mut line = String::new();
    s.reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("a OK [APPENDUID "), "{line}");
    s.ok("EXAMINE INBOX");
    let fetch = |s: &mut Session, item: &str| {
        s.writer.write_all(format!("f FETCH 1 ({item})\r\n").as_bytes()).unwrap();
        let mut head = Vec::new();
        s.reader.read_until(b'\n', &mut head).unwrap();
        let head = String::from_utf8(head).unwrap();
        let size: usize = head.rsplit('{').next().unwrap().trim_end_matches("}\r\n").parse().unwrap_or_else(|_| panic!("{head}"));
        let mut data = vec![0; size];
        std::io::Read::read_exact(&mut s.reader, &mut data).unwrap();
        let mut rest = String::new();
        while !rest.contains("f OK") {
            s.reader.read_line(&mut rest).unwrap();
        }
        (head, data)
    };
    // BINARY[1]: every byte as appended, in a literal8.
    let (head, data) = fetch(&mut s, "BINARY.PEEK[1]");
    assert_eq!(head, "* 1 FETCH (BINARY[1] ~{256}\r\n");
    assert_eq!(data, payload);
    // BODY[1]: a plain literal may not carry NUL, so that one byte is 0x80; the size and the rest stay.
    let (head, data) = fetch(&mut s, "BODY.PEEK[1]");
    assert_eq!(head, "* 1 FETCH (BODY[1] {256}\r\n");
    assert_eq!(data[0], 0x80);
    assert_eq!(data[1..], payload[1..]);
}

#[test]
fn subscriptions_are_names_lsub_shows_unsubscribed_parents_and_list_shows_the_nonexistent() {
    let office = office(0);
    let mut s = Session::login(&office);
    s.ok("CREATE a/b");
    s.ok("UNSUBSCRIBE a");
    // LSUB "%" reaches "a" but not the subscribed "a/b": "a" is listed \Noselect (RFC 3501 §6.3.9).
    let lsub = s.ok("LSUB \"\" %");
    assert!(lsub.contains(&"* LSUB (\\Noselect) \"/\" \"a\"".to_string()), "{lsub:?}");
    assert!(lsub.contains(&"* LSUB () \"/\" \"INBOX\"".to_string()), "{lsub:?}");
    assert!(!lsub.iter().any(|l| l.contains("Children")), "LSUB carries no LIST child attributes: {lsub:?}");
    // "*" reaches "a/b" itself, so "a" is not listed.
    let lsub = s.ok("LSUB \"\" a*");
    assert_eq!(lsub, ["* LSUB () \"/\" \"a/b\""]);
    // A deleted folder stays subscribed: LIST (SUBSCRIBED) shows it \NonExistent.
    s.ok("DELETE a/b");
    assert_eq!(s.ok("LIST (SUBSCRIBED) \"\" a*"), ["* LIST (\\NonExistent \\Subscribed) \"/\" \"a/b\""]);
    assert_eq!(s.ok("LSUB \"\" a*"), ["* LSUB (\\Noselect) \"/\" \"a/b\""]);
    // RECURSIVEMATCH: a parent the pattern reaches, with a subscribed child it does not, says so.
    assert_eq!(s.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" a"), ["* LIST (\\HasNoChildren) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]);
    s.ok("SUBSCRIBE a");
    assert_eq!(s.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" a"), ["* LIST (\\HasNoChildren \\Subscribed) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]);
    // CHILDINFO says a descendant is subscribed, whether the pattern reaches it or not (RFC 5258 §3.5).
    s.ok("CREATE a/d");
    s.ok("UNSUBSCRIBE a");
    assert_eq!(
        s.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" a*"),
        [
            "* LIST (\\HasChildren) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\NonExistent \\Subscribed) \"/\" \"a/b\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"a/d\"",
        ]
    );
    s.ok("DELETE a/d");
    s.ok("UNSUBSCRIBE a/d");
    s.ok("SUBSCRIBE a");
    // The name can be unsubscribed although it has no folder; then it is gone from both lists.
    s.ok("UNSUBSCRIBE a/b");
    assert_eq!(s.ok("LIST (SUBSCRIBED) \"\" a*"), ["* LIST (\\HasNoChildren \\Subscribed) \"/\" \"a\""]);
    // A renamed folder keeps its subscription under the new name.
    s.ok("RENAME a c");
    assert_eq!(s.ok("LSUB \"\" %").iter().filter(|l| l.ends_with("\"a\"") || l.ends_with("\"c\"")).collect::<Vec<_>>(), ["* LSUB () \"/\" \"c\""]);
}

/// The number in a response code such as `[HIGHESTMODSEQ 42]` among `lines`.
fn code_value(lines: &[String], code: &str) -> u64 {
    let key = format!("[{code} ");
    let line = &lines[position_containing(lines, &key)];
    line.split(&key).nth(1).unwrap().split(']').next().unwrap().parse().unwrap()
}

fn position_containing(lines: &[String], text: &str) -> usize {
    lines.iter().position(|l| l.contains(text)).unwrap_or_else(|| panic!("no line containing {text:?} in {lines:?}"))
}

/// The lines of a SELECT answer after the ones every SELECT sends (FLAGS, EXISTS, RECENT and the OK codes).
fn after_select(lines: &[String]) -> Vec<String> {
    let last = lines.iter().rposition(|l| l.starts_with("* OK [") || l.ends_with(" EXISTS") || l.ends_with(" RECENT") || l.starts_with("* FLAGS")).unwrap();
    lines[last + 1..].to_vec()
}

#[test]
fn qresync_after_a_restart_sends_only_what_went_and_what_changed() {
    let mut office = office(150);
    let mut client = Session::login(&office);
    assert_eq!(client.ok("ENABLE QRESYNC"), ["* ENABLED QRESYNC"]);
    let first = client.ok("SELECT INBOX");
    let (validity, modseq) = (code_value(&first, "UIDVALIDITY"), code_value(&first, "HIGHESTMODSEQ"));
    client.ok("LOGOUT");
    // Meanwhile another session expunges 100 messages and flags one; a new message arrives.
    let mut other = Session::login(&office);
    other.ok("SELECT INBOX");
    other.ok("UID STORE 11:110 +FLAGS.SILENT (\\Deleted)");
    other.ok("UID STORE 120 +FLAGS.SILENT (\\Flagged $Work)");
    assert_eq!(other.ok("EXPUNGE").len(), 100);
    other.ok("LOGOUT");
    deliver(&office, 1);
    // The history is in the database: it survives a restart.
    office.server.terminate();
    office.server = common::Server::start(office.dir(), &[]);

    let mut client = Session::login(&office);
    client.ok("ENABLE QRESYNC");
    let resync = client.ok(&format!("SELECT INBOX (QRESYNC ({validity} {modseq}))"));
    let now = code_value(&resync, "HIGHESTMODSEQ");
    assert!(resync.contains(&"* 51 EXISTS".to_string()), "{resync:?}");
    let extra = after_select(&resync);
    assert_eq!(extra.len(), 3, "only the vanished set and the two changed messages: {extra:?}");
    assert_eq!(extra[0], "* VANISHED (EARLIER) 11:110");
    assert!(extra[1].starts_with("* 20 FETCH (UID 120 FLAGS (\\Flagged $Work) MODSEQ ("), "{extra:?}");
    assert!(extra[2].starts_with("* 51 FETCH (UID 151 FLAGS (\\Recent) MODSEQ ("), "{extra:?}");
    // Against a full resynchronisation (every UID and its flags), the QRESYNC answer is a fraction.
    let full: usize = client.ok("UID FETCH 1:* (FLAGS)").iter().map(|l| l.len() + 2).sum();
    let quick: usize = extra.iter().map(|l| l.len() + 2).sum();
    assert!(quick * 10 < full, "QRESYNC sent {quick} bytes, a full resync {full}");

    // With the client's known UIDs, only those are reported; nothing more since `now`.
    client.ok("UNSELECT");
    let narrowed = client.ok(&format!("EXAMINE INBOX (QRESYNC ({validity} {modseq} 1:20,100:105))"));
    assert_eq!(after_select(&narrowed)[0], "* VANISHED (EARLIER) 11:20,100:105");
    let unchanged = client.ok(&format!("EXAMINE INBOX (QRESYNC ({validity} {now}))"));
    assert_eq!(unchanged[0], "* OK [CLOSED] the previous mailbox is closed");
    assert!(after_select(&unchanged).is_empty(), "{unchanged:?}");
    // Another UIDVALIDITY: the client's cache is void, and nothing is resynchronised.
    let stale = client.ok(&format!("EXAMINE INBOX (QRESYNC ({} {modseq}))", validity + 1));
    assert!(after_select(&stale).is_empty(), "{stale:?}");
}

#[test]
fn with_qresync_expunges_are_vanished_uids_and_uid_fetch_reports_them() {
    let office = office(5);
    // Without ENABLE QRESYNC, its parameter and modifier are refused.
    let mut plain = Session::login(&office);
    assert!(plain.cmd("SELECT INBOX (QRESYNC (1 1))").last().unwrap().contains(" BAD "));
    plain.ok("SELECT INBOX (CONDSTORE)");
    assert!(plain.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)").last().unwrap().contains(" BAD "));

    let mut a = Session::login(&office);
    a.ok("ENABLE QRESYNC");
    let selected = a.ok("SELECT INBOX");
    let modseq = code_value(&selected, "HIGHESTMODSEQ");
    // A FETCH modifier VANISHED only goes with UID FETCH and CHANGEDSINCE.
    assert!(a.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)").last().unwrap().contains(" BAD "));
    // Its own EXPUNGE: a VANISHED by UID, and the new HIGHESTMODSEQ on the tagged OK (RFC 7162 §3.2.7).
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    let mut expunged = a.cmd("EXPUNGE");
    let tagged = expunged.pop().unwrap();
    assert_eq!(expunged, ["* VANISHED 2"]);
    let after = tagged.split("[HIGHESTMODSEQ ").nth(1).expect(&tagged).split(']').next().unwrap().parse::<u64>().unwrap();
    assert!(after > modseq, "{tagged}");
    // Another session's expunge reaches it as VANISHED too; the plain session still gets EXPUNGE.
    let mut b = Session::login(&office);
    b.ok("SELECT INBOX");
    b.ok("UID STORE 4 +FLAGS.SILENT (\\Deleted)");
    b.ok("UID EXPUNGE 4");
    assert_eq!(a.ok("NOOP"), ["* VANISHED 4"]);
    assert_eq!(plain.ok("NOOP"), ["* 4 EXPUNGE", "* 2 EXPUNGE"], "highest number first, as numbered before either went");
    // MOVE: VANISHED instead of EXPUNGE.
    a.ok("CREATE Later");
    let moved = a.ok("UID MOVE 5 Later");
    assert_eq!(moved.last().unwrap(), "* VANISHED 5");
    // UID FETCH CHANGEDSINCE … VANISHED: what went from the set since then, then what changed.
    b.ok("UID STORE 3 +FLAGS.SILENT (\\Seen)");
    let changes = a.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"));
    assert_eq!(changes[0], "* VANISHED (EARLIER) 2,4:5");
    assert!(changes[1..].iter().any(|l| l.contains("(UID 3 FLAGS (\\Seen) MODSEQ (")), "{changes:?}");
    assert_eq!(a.ok(&format!("UID FETCH 3:4 (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"))[0], "* VANISHED (EARLIER) 4");
    // An expunge that cannot be told during a FETCH: the FETCH's MODSEQ may be above it, so the client is
    // given the mod-sequence from before it to resynchronise from (RFC 7162 errata 1810); NOOP tells it.
    b.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("UID EXPUNGE 1");
    a.ok("UID STORE 3 +FLAGS.SILENT (\\Flagged)");
    let during = a.ok("UID FETCH 3 (MODSEQ)");
    assert!(!during.iter().any(|l| l.contains("VANISHED")), "{during:?}");
    assert!(during.last().unwrap().starts_with("* OK [HIGHESTMODSEQ "), "{during:?}");
    let stored = during.iter().find(|l| l.contains("MODSEQ (")).unwrap().split("MODSEQ (").nth(1).unwrap().split(')').next().unwrap().parse::<u64>().unwrap();
    assert!(code_value(&during, "HIGHESTMODSEQ") < stored, "{during:?}");
    assert_eq!(a.ok("NOOP"), ["* VANISHED 1"]);
}

#[test]
fn thread_orders_replies_under_their_parents_by_references_and_by_subject() {
    let office = MailOffice::start();
    // (Message-ID, References/In-Reply-To header, Subject, hour of the Date header)
    let messages = r#"[
        ("1", "", "Plan", 10), ("2", "In-Reply-To: <1@x>", "Re: Plan", 12), ("3", "References: <1@x>", "Re: Plan", 11),
        ("4", "References: <1@x> <2@x>", "Re: Plan", 13), ("5", "", "Lunch", 9),
        ("6", "References: <gone@x>", "Re: Minutes", 14), ("7", "References: <gone@x>", "Re: Minutes", 15)]"#;
    office.deliver(
        7,
        &format!(
            "(lambda m: 'From: bob@far.example\\r\\nTo: alice@office.test\\r\\nMessage-ID: <%s@x>\\r\\n%sSubject: %s\\r\\nDate: Mon, 2 Mar 2026 %02d:00:00 +0000\\r\\n\\r\\nhi\\r\\n' % (m[0], m[1] + '\\r\\n' if m[1] else '', m[2], m[3]))({messages}[n - 1])"
        ),
    );
    let mut s = Session::login(&office);
    let caps = s.ok("CAPABILITY").join(" ");
    assert!(caps.contains(" THREAD=ORDEREDSUBJECT THREAD=REFERENCES "), "{caps}");
    s.ok("SELECT INBOX");
    // References: 3 and 2 answer 1 (3 was sent first), 4 answers 2; 6 and 7 answer a message not here.
    assert_eq!(s.ok("THREAD REFERENCES UTF-8 ALL"), ["* THREAD (5)(1 (3)(2 4))((6)(7))"]);
    // Ordered subject: one flat thread per base subject, under its earliest message.
    assert_eq!(s.ok("THREAD ORDEREDSUBJECT UTF-8 ALL"), ["* THREAD (5)(1 (3)(2)(4))(6 7)"]);
    // The search narrows what is threaded; UID THREAD answers with UIDs.
    s.ok("STORE 5 +FLAGS.SILENT (\\Deleted)");
    s.ok("EXPUNGE");
    assert_eq!(s.ok("THREAD REFERENCES UTF-8 SUBJECT plan"), ["* THREAD (1 (3)(2 4))"]);
    assert_eq!(s.ok("UID THREAD REFERENCES US-ASCII SUBJECT minutes"), ["* THREAD ((6)(7))"]);
    assert_eq!(s.ok("THREAD REFERENCES UTF-8 SUBJECT minutes"), ["* THREAD ((5)(6))"]);
    assert_eq!(s.ok("THREAD REFERENCES UTF-8 SUBJECT nothing"), ["* THREAD"]);
    assert!(s.cmd("THREAD SHUFFLE UTF-8 ALL").last().unwrap().contains(" BAD "));
    assert!(s.cmd("THREAD REFERENCES KOI8-R ALL").last().unwrap().contains(" NO [BADCHARSET"));
}

#[test]
fn sort_return_partial_and_saved_results_answer_as_the_rfcs_write() {
    let office = MailOffice::start();
    let senders = r#"["\"Zed Smith\" <adam@x.example>", "bob@x.example", "Anna <zoe@x.example>"]"#;
    office.deliver(3, &format!("'From: %s\\r\\nTo: alice@office.test\\r\\nSubject: sender %d\\r\\n\\r\\nhi\\r\\n' % ({senders}[n - 1], n)"));
    deliver(&office, 6);
    let mut s = Session::login(&office);
    let caps = s.ok("CAPABILITY").join(" ");
    for cap in ["SORT=DISPLAY", "ESORT", "SEARCHRES", "PARTIAL"] {
        assert!(caps.contains(&format!(" {cap} ")), "{cap} in {caps}");
    }
    s.ok("SELECT INBOX");
    // SORT=DISPLAY (RFC 5957): the display name, or the address without one; FROM sorts on the mailbox.
    assert_eq!(s.ok("SORT (DISPLAYFROM) UTF-8 SUBJECT sender"), ["* SORT 3 2 1"]);
    assert_eq!(s.ok("SORT (FROM) UTF-8 SUBJECT sender"), ["* SORT 1 2 3"]);
    // ESORT (RFC 5267): MIN and MAX are the first and last in sort order, ALL is in sort order.
    let tag = s.next + 1;
    assert_eq!(s.ok("SORT RETURN (MIN MAX COUNT ALL) (DISPLAYFROM) UTF-8 SUBJECT sender"), [format!("* ESEARCH (TAG \"t{tag}\") MIN 3 MAX 1 ALL 3,2,1 COUNT 3")]);
    let tag = s.next + 1;
    assert_eq!(s.ok("UID SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 ALL"), [format!("* ESEARCH (TAG \"t{tag}\") UID ALL 3,2,1,9,8,7,6,5,4")]);
    // PARTIAL (RFC 9394): a window of the results, from the start or from the end; NIL past the end.
    let tag = s.next + 1;
    assert_eq!(s.ok("SEARCH RETURN (PARTIAL 1:3 COUNT) SUBJECT note"), [format!("* ESEARCH (TAG \"t{tag}\") PARTIAL (1:3 4:6) COUNT 6")]);
    let tag = s.next + 1;
    assert_eq!(s.ok("UID SEARCH RETURN (PARTIAL -1:-2) ALL"), [format!("* ESEARCH (TAG \"t{tag}\") UID PARTIAL (-1:-2 8:9)")]);
    let tag = s.next + 1;
    assert_eq!(s.ok("SORT RETURN (PARTIAL 1:2) (REVERSE SUBJECT) UTF-8 ALL"), [format!("* ESEARCH (TAG \"t{tag}\") PARTIAL (1:2 3,2)")]);
    let tag = s.next + 1;
    assert_eq!(s.ok("SEARCH RETURN (PARTIAL 20:30) ALL"), [format!("* ESEARCH (TAG \"t{tag}\") PARTIAL (20:30 NIL)")]);
    assert!(s.cmd("SEARCH RETURN (ALL PARTIAL 1:2) ALL").last().unwrap().contains(" BAD "));
    // SEARCHRES (RFC 5182): SAVE alone answers nothing; `$` is the saved set in later commands.
    assert_eq!(s.ok("SEARCH RETURN (SAVE) OR SUBJECT \"note 2\" SUBJECT \"note 5\""), Vec::<String>::new());
    assert_eq!(s.ok("FETCH $ (UID)"), ["* 5 FETCH (UID 5)", "* 8 FETCH (UID 8)"]);
    s.ok("STORE $ +FLAGS.SILENT (\\Deleted)");
    s.ok("UID EXPUNGE 5");
    // The saved set follows the expunge: message 8 is number 7 now.
    assert_eq!(s.ok("SEARCH $"), ["* SEARCH 7"]);
    assert_eq!(s.ok("UID SEARCH $ SUBJECT note"), ["* SEARCH 8"]);
    // A search that finds nothing saves nothing; so does selecting again.
    s.ok("SEARCH RETURN (SAVE) SUBJECT nothing-like-this");
    assert_eq!(s.ok("FETCH $ (UID)"), Vec::<String>::new());
    s.ok("SEARCH RETURN (SAVE) ALL");
    s.ok("SELECT INBOX");
    assert_eq!(s.ok("UID FETCH $ (UID)"), Vec::<String>::new());
    // `$` inside a quoted string is text.
    assert_eq!(s.ok("SEARCH SUBJECT \"$\""), ["* SEARCH"]);
}

#[test]
fn multiappend_adds_every_message_in_one_go_or_none() {
    let office = MailOffice::start();
    let mut s = Session::login(&office);
    assert!(s.ok("CAPABILITY").join(" ").contains(" MULTIAPPEND"));
    s.ok("CREATE Saved");
    let status = s.ok("STATUS Saved (UIDVALIDITY)").join("");
    let validity = status.split("UIDVALIDITY ").nth(1).unwrap().trim_end_matches(')').to_string();
    let appended = s.cmd("APPEND Saved (\\Seen) {14+}\r\nSubject: one\r\n ($Work) \"05-Dec-2026 10:00:00 +0000\" {14+}\r\nSubject: two\r\n {16+}\r\nSubject: three\r\n");
    assert_eq!(appended.last().unwrap(), &format!("t{} OK [APPENDUID {validity} 1:3] APPEND completed", s.next));
    s.ok("EXAMINE Saved");
    assert_eq!(
        s.ok("FETCH 1:3 (FLAGS INTERNALDATE BODY[HEADER.FIELDS (SUBJECT)])").iter().filter(|l| l.starts_with('*')).cloned().collect::<Vec<_>>()[1],
        "* 2 FETCH (FLAGS (\\Recent $Work) INTERNALDATE \"05-Dec-2026 10:00:00 +0000\" BODY[HEADER.FIELDS (SUBJECT)] {16}"
    );
    // A folder that does not exist: none of them is added.
    let refused = s.cmd("APPEND Nowhere {3+}\r\nabc {3+}\r\ndef");
    assert!(refused.last().unwrap().contains(" NO [TRYCREATE]"), "{refused:?}");
    // A message that cannot be read (a bad flag list): the command is refused and nothing is added.
    let bad = s.cmd("APPEND Saved {3+}\r\nabc (\\Bogus\\) {3+}\r\ndef");
    assert!(bad.last().unwrap().contains(" BAD "), "{bad:?}");
    assert_eq!(s.ok("STATUS Saved (MESSAGES)"), ["* STATUS \"Saved\" (MESSAGES 3)"]);
}

#[test]
fn searches_kept_up_to_date_tell_what_came_and_what_left() {
    let office = office(3);
    let mut s = Session::login(&office);
    let caps = s.ok("CAPABILITY").join(" ");
    assert!(caps.contains(" CONTEXT=SEARCH CONTEXT=SORT "), "{caps}");
    s.ok("SELECT INBOX");
    let unseen = format!("t{}", s.next + 1);
    assert_eq!(s.ok("UID SEARCH RETURN (ALL UPDATE) UNSEEN"), [format!("* ESEARCH (TAG \"{unseen}\") UID ALL 1:3")]);
    let sorted = format!("t{}", s.next + 1);
    assert_eq!(s.ok("UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 ALL"), [format!("* ESEARCH (TAG \"{sorted}\") UID ALL 3,2,1")]);
    let counted = format!("t{}", s.next + 1);
    assert_eq!(s.ok("UID SEARCH RETURN (COUNT UPDATE) SUBJECT note"), [format!("* ESEARCH (TAG \"{counted}\") UID COUNT 3")]);
    // Updates are kept for UID searches only.
    let plain = format!("t{}", s.next + 1);
    let refused = s.ok("SEARCH RETURN (UPDATE) ALL");
    assert_eq!(refused.last().unwrap(), &format!("* NO [NOUPDATE \"{plain}\"] results are kept up to date for UID SEARCH and UID SORT"));

    // Another session reads message 2: it leaves the unseen result.
    let mut other = Session::login(&office);
    other.ok("SELECT INBOX");
    other.ok("UID STORE 2 +FLAGS.SILENT (\\Seen)");
    let heard = s.ok("NOOP");
    assert!(heard.contains(&format!("* ESEARCH (TAG \"{unseen}\") UID REMOVEFROM (0 2)")), "{heard:?}");
    assert!(!heard.iter().any(|l| l.contains(&sorted) || l.contains(&counted)), "{heard:?}");
    // A new message comes: in the unseen result, at its place in the sorted one, in the count.
    office.deliver(1, r#""From: bob@far.example\r\nTo: alice@office.test\r\nSubject: note 25\r\n\r\nhello\r\n""#);
    let heard = s.ok("NOOP");
    assert!(heard.contains(&format!("* ESEARCH (TAG \"{unseen}\") UID ADDTO (0 4)")), "{heard:?}");
    assert!(heard.contains(&format!("* ESEARCH (TAG \"{sorted}\") UID ADDTO (2 4)")), "{heard:?}");
    assert!(heard.contains(&format!("* ESEARCH (TAG \"{counted}\") UID COUNT 4")), "{heard:?}");
    assert!(position(&heard, "* 4 EXISTS") < position(&heard, "* ESEARCH"), "{heard:?}");
    // Its own STORE is told too; CANCELUPDATE stops the telling.
    s.ok("UID STORE 1 +FLAGS.SILENT (\\Seen)");
    let heard = s.ok("NOOP");
    assert_eq!(heard, [format!("* ESEARCH (TAG \"{unseen}\") UID REMOVEFROM (0 1)")]);
    s.ok(&format!("CANCELUPDATE \"{unseen}\" \"{counted}\""));
    other.ok("UID STORE 3 +FLAGS.SILENT (\\Seen)");
    let heard = s.ok("NOOP");
    assert!(!heard.iter().any(|l| l.contains("ESEARCH")), "{heard:?}");
}

#[test]
fn catenate_and_urlauth_build_and_share_messages_by_url() {
    let office = MailOffice::start();
    office.deliver(1, r#""From: bob@far.example\r\nTo: alice@office.test\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--B\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--B--\r\n""#);
    common::ok(office.dir(), &["user", "add", "bob", "--password-stdin"], "bob-secret\n");
    let mut alice = Session::login(&office);
    let caps = alice.ok("CAPABILITY").join(" ");
    assert!(caps.contains(" CATENATE URLAUTH"), "{caps}");
    let validity = code_value(&alice.ok("EXAMINE INBOX"), "UIDVALIDITY");
    // CATENATE: literal text, then the first part of the stored message, by URL.
    let text = "Subject: fwd\r\n\r\n";
    let made = alice.cmd(&format!("APPEND Drafts (\\Draft) CATENATE (TEXT {{{}+}}\r\n{text} URL \"/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=1\")", text.len()));
    assert!(made.last().unwrap().contains(" OK [APPENDUID "), "{made:?}");
    alice.ok("EXAMINE Drafts");
    let body = alice.ok("FETCH 1 (FLAGS BODY[])").join("\n");
    assert!(body.contains("FLAGS (\\Draft \\Recent) BODY[] {26}\nSubject: fwd\n\nfirst part)"), "{body}");
    // A URL that names nothing: BADURL, and nothing is added.
    let refused = alice.cmd("APPEND Drafts CATENATE (URL \"/INBOX/;UID=99\" TEXT {1+}\r\nx)");
    assert!(refused.last().unwrap().contains(" NO [BADURL \"/INBOX/;UID=99\"] there is no such message"), "{refused:?}");
    assert_eq!(alice.ok("STATUS Drafts (MESSAGES)"), ["* STATUS \"Drafts\" (MESSAGES 1)"]);

    // URLAUTH: alice lets bob read the second part; only bob, only with the token, only until RESETKEY.
    let rump = format!("imap://alice@mail.office.test/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2;URLAUTH=user+bob");
    let generated = alice.ok(&format!("GENURLAUTH \"{rump}\" INTERNAL"));
    let authorised = generated[0].strip_prefix("* GENURLAUTH \"").and_then(|r| r.strip_suffix('"')).expect(&generated[0]).to_string();
    let token = authorised.strip_prefix(&format!("{rump}:INTERNAL:")).expect(&authorised);
    assert_eq!(token.len(), 64, "{token}");
    let mut bob = Session::login_as(&office, "bob", "bob-secret");
    assert_eq!(bob.ok(&format!("URLFETCH \"{authorised}\"")), [format!("* URLFETCH \"{authorised}\" {{11}}"), "second part".to_string()]);
    // Not for alice herself under bob's access, not with another token, not without one.
    assert_eq!(alice.ok(&format!("URLFETCH \"{authorised}\"")), [format!("* URLFETCH \"{authorised}\" NIL")]);
    let forged = format!("{rump}:INTERNAL:{}", "0".repeat(64));
    assert_eq!(bob.ok(&format!("URLFETCH \"{forged}\"")), [format!("* URLFETCH \"{forged}\" NIL")]);
    let bare = "imap://alice@mail.office.test/INBOX/;UID=1".to_string();
    assert_eq!(bob.ok(&format!("URLFETCH \"{bare}\"")), [format!("* URLFETCH \"{bare}\" NIL")]);
    // The token signs everything before it: nothing may be added after it or given twice.
    let stretched = format!("{authorised};UID=1");
    assert_eq!(bob.ok(&format!("URLFETCH \"{stretched}\"")), [format!("* URLFETCH \"{stretched}\" NIL")]);
    // Someone else's URL fails the same way whether the user or mailbox exists or not.
    let probe = |who: &str| format!("APPEND INBOX CATENATE (URL \"imap://{who}/;UID=1;URLAUTH=anonymous:INTERNAL:{}\")", "0".repeat(64));
    let real = bob.cmd(&probe("alice@h/INBOX")).pop().unwrap();
    let made_up = bob.cmd(&probe("nobody@h/Nothing")).pop().unwrap();
    assert!(real.ends_with("] the URL is not authorised for this user") && made_up.ends_with("] the URL is not authorised for this user"), "{real} / {made_up}");
    // Her own mail she fetches by a plain URL; RESETKEY voids every token given before.
    assert_eq!(alice.ok(&format!("URLFETCH \"{bare}/;SECTION=1\"")), [format!("* URLFETCH \"{bare}/;SECTION=1\" {{10}}"), "first part".to_string()]);
    alice.ok("RESETKEY INBOX");
    assert_eq!(bob.ok(&format!("URLFETCH \"{authorised}\"")), [format!("* URLFETCH \"{authorised}\" NIL")]);
    assert!(alice.cmd(&format!("GENURLAUTH \"{rump}\" XOAUTH")).last().unwrap().contains(" NO "));
    assert!(alice.cmd("GENURLAUTH \"imap://bob@h/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL").last().unwrap().contains(" NO [BADURL "));
}

#[test]
fn burl_sends_a_stored_draft_without_uploading_it_again() {
    let office = MailOffice::start();
    common::ok(office.dir(), &["user", "add", "bob", "--password-stdin"], "bob-secret\n");
    let mut alice = Session::login(&office);
    let draft = "From: alice@office.test\r\nTo: bob@office.test\r\nSubject: the plan\r\n\r\nSee you at ten.\r\n";
    let stored = alice.cmd(&format!("APPEND Drafts (\\Draft) {{{}+}}\r\n{draft}", draft.len()));
    let validity = stored.last().unwrap().split("[APPENDUID ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let rump = format!("imap://alice@mail.office.test/Drafts;UIDVALIDITY={validity}/;UID=1;URLAUTH=submit+alice");
    let generated = alice.ok(&format!("GENURLAUTH \"{rump}\" INTERNAL"));
    let url = generated[0].strip_prefix("* GENURLAUTH \"").and_then(|r| r.strip_suffix('"')).unwrap().to_string();
    let gone = alice.ok(&format!("GENURLAUTH \"{}\" INTERNAL", rump.replace("UID=1;", "UID=7;")));
    let gone = gone[0].strip_prefix("* GENURLAUTH \"").and_then(|r| r.strip_suffix('"')).unwrap().to_string();
    // Submission: EHLO offers BURL; alice sends the draft by its URL; bob may not send alice's.
    let script = r#"
url = sys.argv[6]
s = smtplib.SMTP("127.0.0.1", int(sys.argv[7]))
s.starttls(context=ctx); s.ehlo()
print("burl offered:", s.has_extn("burl"), s.esmtp_features.get("burl"))
print("unauthenticated:", s.docmd("MAIL FROM:<alice@office.test>")[0])
s.rset()
s.login("bob", "bob-secret")
s.mail("bob@office.test"); s.rcpt("alice@office.test")
print("bob:", s.docmd("BURL", url + " LAST"))
s.quit()
s = smtplib.SMTP("127.0.0.1", int(sys.argv[7]))
s.starttls(context=ctx); s.login("alice", "alice-secret")
s.mail("alice@office.test"); s.rcpt("bob@office.test")
print("alice:", s.docmd("BURL", url + " LAST"))
s.mail("alice@office.test"); s.rcpt("bob@office.test")
print("missing:", s.docmd("BURL", sys.argv[8] + " LAST"))
s.quit()
"#;
    let args = ["imap", "imaps", "pop3", "pop3s", "smtp"].map(|p| office.port(p).to_string());
    let full = format!(
        "import smtplib, ssl, sys\nctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n{script}"
    );
    let mut argv: Vec<String> = args.to_vec();
    argv.push(url.clone());
    argv.push(office.port("submission").to_string());
    argv.push(gone);
    let (ok, out) = common::mail::python(&full, &argv);
    assert!(ok, "{out}");
    assert!(out.contains("burl offered: True imap"), "{out}");
    assert!(out.contains("unauthenticated: 530"), "{out}");
    assert!(out.contains("bob: (554, b'5.7.0 the URL is not authorised for you"), "{out}");
    assert!(out.contains("alice: (250, "), "{out}");
    assert!(out.contains("missing: (554, b'5.6.6 IMAP URL resolution failed"), "{out}");
    // Bob has the message as alice wrote it, with our Received: line on top.
    let mut bob = Session::login_as(&office, "bob", "bob-secret");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = bob.ok("STATUS INBOX (MESSAGES)").join("");
        if status.contains("MESSAGES 1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    bob.ok("EXAMINE INBOX");
    let text = bob.ok("FETCH 1 BODY[]").join("\n");
    assert!(text.contains("Received: ") && text.contains("Subject: the plan") && text.contains("See you at ten."), "{text}");
}

#[test]
fn notify_tells_of_new_mail_other_mailboxes_and_names_without_being_asked() {
    let office = office(1);
    let mut a = Session::login(&office);
    assert!(a.ok("CAPABILITY").join(" ").contains(" NOTIFY"));
    a.ok("CREATE Work");
    a.ok("SELECT INBOX");
    let refused = a.cmd("NOTIFY SET (PERSONAL (AnnotationChange))");
    assert!(refused.last().unwrap().contains(" NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]"), "{refused:?}");
    let set = a.ok("NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))");
    let validity = {
        let work = set.iter().find(|l| l.starts_with("* STATUS \"Work\"")).expect("STATUS of Work at once");
        assert!(work.starts_with("* STATUS \"Work\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "), "{work}");
        work.split("UIDVALIDITY ").nth(1).unwrap().split(' ').next().unwrap().to_string()
    };
    assert!(!set.iter().any(|l| l.contains("INBOX")), "not the selected mailbox: {set:?}");

    // New mail in the selected mailbox: EXISTS and the FETCH asked for, with no command sent.
    deliver(&office, 1);
    let heard = a.unsolicited("FETCH");
    assert_eq!(heard, ["* 2 EXISTS", "* 2 RECENT", "* 2 FETCH (UID 2 FLAGS (\\Recent))"]);
    // Another session's changes elsewhere: STATUS of the mailbox, and the names.
    let mut b = Session::login(&office);
    b.cmd("APPEND Work {10+}\r\nSubject: x");
    assert_eq!(a.unsolicited("STATUS"), [format!("* STATUS \"Work\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity} UNSEEN 1)")]);
    b.ok("CREATE Projects");
    let created = a.unsolicited("\\Subscribed");
    assert!(created.contains(&"* LIST () \"/\" \"Projects\"".to_string()), "{created:?}");
    assert!(created.contains(&"* LIST (\\Subscribed) \"/\" \"Projects\"".to_string()), "{created:?}");
    b.ok("UNSUBSCRIBE Projects");
    assert_eq!(a.unsolicited("Projects"), ["* LIST () \"/\" \"Projects\""]);
    b.ok("RENAME Projects Archive");
    assert_eq!(a.unsolicited("OLDNAME"), ["* LIST () \"/\" \"Archive\" (\"OLDNAME\" (\"Projects\"))"]);
    b.ok("DELETE Archive");
    assert_eq!(a.unsolicited("Archive"), ["* LIST (\\NonExistent) \"/\" \"Archive\""]);
    // An expunge by another session is told at once too.
    b.ok("SELECT INBOX");
    b.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let gone = a.unsolicited("EXPUNGE");
    assert_eq!(gone.last().unwrap(), "* 1 EXPUNGE");
    // NOTIFY NONE: quiet again, until the client asks.
    a.ok("NOTIFY NONE");
    b.cmd("APPEND Work {10+}\r\nSubject: y");
    // With NOTIFY on, a STATUS of Work came within milliseconds (above); NOOP never sends one itself.
    std::thread::sleep(Duration::from_millis(500));
    let noop = a.ok("NOOP");
    assert!(!noop.iter().any(|l| l.contains("STATUS")), "{noop:?}");
}

#[test]
fn enable_turns_on_only_what_the_server_announces() {
    let office = office(0);
    let mut s = Session::login(&office);
    let caps = s.ok("CAPABILITY").join(" ");
    assert!(!caps.contains("UTF8=ACCEPT"), "{caps}");
    // RFC 5161: an extension not announced is not enabled; one already on is not enabled again.
    assert_eq!(s.ok("ENABLE UTF8=ACCEPT CONDSTORE"), ["* ENABLED CONDSTORE"]);
    assert_eq!(s.ok("ENABLE QRESYNC CONDSTORE"), ["* ENABLED QRESYNC"]);
    assert_eq!(s.ok("ENABLE QRESYNC"), ["* ENABLED"]);
    // Without IMAP4rev2, names stay in modified UTF-7.
    s.ok("CREATE B&APw-cher");
    let listed = s.ok("LIST \"\" B*");
    assert_eq!(listed, ["* LIST (\\HasNoChildren) \"/\" \"B&APw-cher\""], "{listed:?}");
}
