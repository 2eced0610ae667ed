//! Real mail programs against Postroom's IMAP server, used the way their users use them, on loopback
//! (where a password may travel in the clear): mbsync and OfflineIMAP keep a local Maildir in step with
//! the server both ways (new messages, flags, keywords, deletions), and neomutt, in a terminal, shows a
//! mailbox as threads, opens a message and leaves it read on the server. Every check is on what the user
//! would see on the other side: the Maildir's files and their flag letters, the server's messages and
//! FLAGS as another IMAP client (Python's imaplib) fetches them, the text on neomutt's screen.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::mail::MailOffice;

/// alice with `count` messages "note 1".."note N" (body "text of note N") delivered over SMTP.
fn office(count: usize) -> MailOffice {
    let office = MailOffice::start();
    office.deliver(
        count,
        r#""From: Bob <bob@far.example>\r\nTo: alice@office.test\r\nSubject: note %d\r\nMessage-ID: <note%d@far.example>\r\nDate: Mon, 23 Nov 2026 10:0%d:00 +0000\r\n\r\ntext of note %d\r\n" % (n, n, n, n)"#,
    );
    office
}

/// Python helpers for the server's side: `inbox()` is an imaplib session as alice with INBOX selected;
/// `show(m)` prints every message as `msg <subject> | <flags, sorted>` (without \Recent, which is the
/// session's and not the message's), sorted by subject.
const SERVER: &str = r#"
def inbox():
    m = imaplib.IMAP4("127.0.0.1", imap)
    m.login("alice", "alice-secret")
    m.select("INBOX")
    return m
def show(m):
    if int(m.select("INBOX")[1][0]) == 0:
        return
    lines = []
    for item in m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1]:
        if isinstance(item, tuple):
            flags = sorted(f.decode() for f in imaplib.ParseFlags(item[0]) if f != b"\\Recent")
            subject = item[1].decode().strip()[len("Subject: "):]
            lines.append(subject + " | " + " ".join(flags))
    for line in sorted(lines):
        print("msg", line)
"#;

/// Runs `body` (Python, with `inbox()` and `show(m)`) against the server; it must succeed. Its output.
fn server(office: &MailOffice, body: &str) -> String {
    let (ok, out) = office.python(SERVER, body);
    assert!(ok, "{out}");
    out
}

/// INBOX on the server as `<subject> | <flags>` lines, sorted by subject.
fn server_inbox(office: &MailOffice) -> Vec<String> {
    let out = server(office, "show(inbox())\n");
    out.lines().filter_map(|l| l.strip_prefix("msg ")).map(str::to_string).collect()
}

/// A Maildir folder as `<subject> | <flag letters, sorted>` lines, sorted by subject: the messages in
/// `new` and `cur` and the flags their file names carry after `:2,`.
fn maildir(folder: &Path) -> Vec<String> {
    let mut lines: Vec<String> = maildir_files(folder)
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_else(|| panic!("{file:?} has no subject: {text}"));
            let name = file.file_name().unwrap().to_str().unwrap();
            let mut flags: Vec<char> = name.split_once(":2,").map(|(_, f)| f.chars().collect()).unwrap_or_default();
            flags.sort();
            format!("{subject} | {}", flags.into_iter().collect::<String>())
        })
        .collect();
    lines.sort();
    lines
}

fn maildir_files(folder: &Path) -> Vec<PathBuf> {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(folder.join(sub)).unwrap_or_else(|e| panic!("{folder:?}/{sub}: {e}")))
        .map(|entry| entry.unwrap().path())
        .collect()
}

/// The file of the message with `subject` in a Maildir folder.
fn maildir_file(folder: &Path, subject: &str) -> PathBuf {
    maildir_files(folder)
        .into_iter()
        .find(|f| std::fs::read_to_string(f).unwrap().lines().any(|l| l == format!("Subject: {subject}")))
        .unwrap_or_else(|| panic!("no {subject:?} in {:?}", maildir(folder)))
}

/// Gives the message with `subject` the flag letters `flags`, as a mail reader does: the file moves to
/// `cur` with its unique name kept and a new `:2,` part.
fn set_maildir_flags(folder: &Path, subject: &str, flags: &str) {
    let file = maildir_file(folder, subject);
    let name = file.file_name().unwrap().to_str().unwrap();
    let unique = name.split_once(":2,").map_or(name, |(u, _)| u);
    std::fs::rename(&file, folder.join("cur").join(format!("{unique}:2,{flags}"))).unwrap();
}

/// Puts a new message into a Maildir folder the Maildir way: written in `tmp`, then moved to `new`.
fn write_maildir_message(folder: &Path, unique: &str, subject: &str, body: &str) {
    let text = format!(
        "From: Alice <alice@office.test>\nTo: carol@far.example\nSubject: {subject}\nMessage-ID: <{unique}@office.test>\n\
         Date: Mon, 23 Nov 2026 11:00:00 +0000\n\n{body}\n"
    );
    std::fs::write(folder.join("tmp").join(unique), text).unwrap();
    std::fs::rename(folder.join("tmp").join(unique), folder.join("new").join(unique)).unwrap();
}

/// Runs a mail program (at most 60 s) with HOME in `home`; it must succeed. Its output.
fn run_tool(home: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/setup.sh --test installs it): {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed ({}):\n{text}", out.status);
    text
}

/// An mbsync configuration that pairs the server's INBOX with the Maildir `<home>/Mail/INBOX` (the
/// store, `<home>/Mail`, must exist; mbsync creates the folder in it), syncing
/// everything both ways (new messages, flags, deletions) and expunging on both sides.
fn mbsync_config(office: &MailOffice, home: &Path) -> PathBuf {
    let rc = home.join("mbsyncrc");
    let mail = home.join("Mail");
    std::fs::create_dir(&mail).unwrap();
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount office\nHost 127.0.0.1\nPort {port}\nUser alice\nPass alice-secret\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore server\nAccount office\n\n\
             MaildirStore laptop\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n\
             Channel inbox\nFar :server:INBOX\nNear :laptop:INBOX\nCreate Both\nExpunge Both\nSync All\nSyncState *\n",
            port = office.port("imap"),
            mail = mail.display()
        ),
    )
    .unwrap();
    rc
}

/// mbsync keeps a Maildir in step with the server both ways: delivered mail is pulled, server flags reach
/// the file names, local flags, a locally written message and a local deletion reach the server, and a
/// server expunge removes the file.
#[test]
fn mbsync_syncs_messages_flags_and_deletions_both_ways() {
    let office = office(3);
    let home = tempfile::tempdir().unwrap();
    let rc = mbsync_config(&office, home.path());
    let rc = rc.to_str().unwrap();
    let inbox = home.path().join("Mail/INBOX");
    let sync = || run_tool(home.path(), "mbsync", &["-V", "-c", rc, "inbox"]);

    // The first sync creates the Maildir and pulls every delivered message, unread.
    sync();
    assert_eq!(maildir(&inbox), ["note 1 | ", "note 2 | ", "note 3 | "]);
    let text = std::fs::read_to_string(maildir_file(&inbox, "note 2")).unwrap();
    assert!(text.contains("Message-ID: <note2@far.example>") && text.contains("\ntext of note 2"), "the whole message: {text}");

    // Flags set on the server (by another mail program) arrive as Maildir letters.
    server(&office, "m = inbox()\nm.store('1', '+FLAGS', '(\\\\Seen)')\nm.store('2', '+FLAGS', '(\\\\Seen \\\\Flagged)')\nm.store('3', '+FLAGS', '(\\\\Answered)')\n");
    sync();
    assert_eq!(maildir(&inbox), ["note 1 | S", "note 2 | FS", "note 3 | R"]);

    // Locally: note 3 read and flagged, a message written, note 1 deleted (trashed, then expunged by the sync).
    set_maildir_flags(&inbox, "note 3", "FRS");
    set_maildir_flags(&inbox, "note 1", "ST");
    write_maildir_message(&inbox, "1795000000.written.laptop", "written on the laptop", "drafted offline");
    sync();
    assert_eq!(
        server_inbox(&office),
        ["note 2 | \\Flagged \\Seen", "note 3 | \\Answered \\Flagged \\Seen", "written on the laptop | "],
        "the server has the local flags and the new message, and not note 1"
    );
    let uploaded = server(&office, "m = inbox()\nprint(m.fetch('3', '(BODY.PEEK[TEXT])')[1][0][1])\n");
    assert!(uploaded.contains("b'drafted offline\\r\\n'"), "the uploaded message is whole, in CRLF: {uploaded}");
    assert_eq!(maildir(&inbox), ["note 2 | FS", "note 3 | FRS", "written on the laptop | "], "note 1's file is gone");

    // Expunged on the server: gone from the Maildir after the next sync; nothing else changes.
    server(&office, "m = inbox()\nm.store('1', '+FLAGS', '(\\\\Deleted)')\nm.expunge()\n");
    sync();
    assert_eq!(maildir(&inbox), ["note 3 | FRS", "written on the laptop | "]);
    assert_eq!(server_inbox(&office), ["note 3 | \\Answered \\Flagged \\Seen", "written on the laptop | "]);
}

/// An OfflineIMAP configuration for the server's INBOX and the Maildir `<home>/Mail/INBOX`, with the
/// keyword `$Important` mapped to the Maildir letter `x` (OfflineIMAP's `customflag_x`).
fn offlineimap_config(office: &MailOffice, home: &Path) -> PathBuf {
    let rc = home.join("offlineimaprc");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = office\nmetadata = {home}/offlineimap-state\nui = basic\n\n\
             [Account office]\nlocalrepository = laptop\nremoterepository = server\n\n\
             [Repository laptop]\ntype = Maildir\nlocalfolders = {home}/Mail\ncustomflag_x = $Important\n\n\
             [Repository server]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\nremoteuser = alice\n\
             remotepass = alice-secret\nssl = no\nstarttls = no\nfolderfilter = lambda folder: folder == 'INBOX'\n",
            home = home.display(),
            port = office.port("imap"),
        ),
    )
    .unwrap();
    rc
}

/// OfflineIMAP keeps a Maildir in step with the server both ways: delivered mail is pulled, server flags
/// and a keyword reach the file names, local flags, a locally written message and a deleted file reach
/// the server, and a server expunge removes the file.
#[test]
fn offlineimap_syncs_messages_flags_keywords_and_expunges_both_ways() {
    let office = office(3);
    let home = tempfile::tempdir().unwrap();
    let rc = offlineimap_config(&office, home.path());
    let rc = rc.to_str().unwrap();
    let inbox = home.path().join("Mail/INBOX");
    let sync = || {
        let out = run_tool(home.path(), "offlineimap", &["-c", rc, "-o", "-u", "basic"]);
        assert!(!out.contains("ERROR"), "OfflineIMAP reported an error:\n{out}");
        out
    };

    sync();
    assert_eq!(maildir(&inbox), ["note 1 | ", "note 2 | ", "note 3 | "]);
    let text = std::fs::read_to_string(maildir_file(&inbox, "note 3")).unwrap();
    assert!(text.contains("Message-ID: <note3@far.example>") && text.contains("text of note 3"), "the whole message: {text}");

    // Flags and the mapped keyword set on the server arrive as Maildir letters ($Important is `x`).
    server(
        &office,
        "m = inbox()\nm.store('1', '+FLAGS', '(\\\\Seen)')\nm.store('2', '+FLAGS', '(\\\\Flagged $Important)')\nm.store('3', '+FLAGS', '(\\\\Answered)')\n",
    );
    let out = sync();
    assert_eq!(maildir(&inbox), ["note 1 | S", "note 2 | Fx", "note 3 | R"], "{out}");

    // Locally: note 2 and note 3 read, note 3 flagged, a message written, note 1's file deleted (what a
    // Maildir reader does on expunge). OfflineIMAP maps keywords only from the server to the Maildir: a
    // letter added locally is sent as an empty `+FLAGS ()` (offlineimap3 0.0~git20211018), so only
    // system flags are tested in this direction.
    set_maildir_flags(&inbox, "note 2", "FSx");
    set_maildir_flags(&inbox, "note 3", "FRS");
    std::fs::remove_file(maildir_file(&inbox, "note 1")).unwrap();
    write_maildir_message(&inbox, "1795000000.written.laptop", "written on the laptop", "drafted offline");
    sync();
    assert_eq!(
        server_inbox(&office),
        ["note 2 | $Important \\Flagged \\Seen", "note 3 | \\Answered \\Flagged \\Seen", "written on the laptop | "],
        "the server has the local flags (and still the keyword) and the new message, and not note 1"
    );
    let uploaded = server(&office, "m = inbox()\nprint(m.fetch('3', '(BODY.PEEK[TEXT])')[1][0][1])\n");
    assert!(uploaded.contains("b'drafted offline\\r\\n"), "the uploaded message is whole, in CRLF: {uploaded}");

    // A keyword removed on the server loses its letter; an expunge on the server removes the file.
    server(&office, "m = inbox()\nm.store('1', '-FLAGS', '($Important)')\nm.store('2', '+FLAGS', '(\\\\Deleted)')\nm.expunge()\n");
    sync();
    assert_eq!(maildir(&inbox), ["note 2 | FS", "written on the laptop | "]);
    assert_eq!(server_inbox(&office), ["note 2 | \\Flagged \\Seen", "written on the laptop | "]);
}

/// A terminal program running in its own detached tmux server; the server is killed when dropped.
struct Terminal {
    socket: PathBuf,
}

impl Terminal {
    /// Starts `command` in a 200×50 terminal with HOME in `home`.
    fn start(home: &Path, command: &str) -> Terminal {
        let terminal = Terminal { socket: home.join("tmux.sock") };
        let out = terminal.tmux(home).args(["new-session", "-d", "-x", "200", "-y", "50", command]).output().expect("tmux runs");
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        terminal
    }

    fn tmux(&self, home: &Path) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).env("HOME", home).env("TERM", "xterm-256color").env("LC_ALL", "C.UTF-8");
        c
    }

    /// The screen's text now (empty once the program has ended).
    fn screen(&self) -> String {
        let out = self.tmux(Path::new("/")).args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to 20 s) until the screen satisfies `check`; the screen then.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {what}; it shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `keys` (tmux key names, e.g. "Enter").
    fn keys(&self, keys: &[&str]) {
        let out = self.tmux(Path::new("/")).arg("send-keys").args(keys).output().unwrap();
        assert!(out.status.success(), "tmux send-keys: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Waits (up to 20 s) until the program has ended and its terminal closed.
    fn wait_until_closed(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.tmux(Path::new("/")).arg("has-session").output().unwrap().status.success() {
            assert!(Instant::now() < deadline, "the program never ended; the screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(Path::new("/")).arg("kill-server").output();
    }
}

/// neomutt, in a terminal, shows a mailbox delivered out of order as threads (each reply under its
/// parent, with the thread arrows, threads in date order), opens a message, and after quitting the
/// server has that one message, and no other, marked \Seen.
#[test]
fn neomutt_shows_threads_opens_a_message_and_leaves_it_seen() {
    let office = MailOffice::start();
    // Two conversations, delivered in neither date nor thread order: "Lunch plans" (Ann) with Bob's and
    // Eve's replies and Carl's reply to Bob; "Budget" (Dora) with Fred's reply.
    let (ok, out) = office.python(
        "",
        r#"
messages = [
    ("Dora", "Budget", "t4", [], "10:03", "The budget is attached."),
    ("Bob", "Re: Lunch plans", "t2", ["t1"], "10:05", "Pizza?"),
    ("Ann", "Lunch plans", "t1", [], "10:00", "Where shall we eat?"),
    ("Fred", "Re: Budget", "t6", ["t4"], "10:20", "Thanks, Dora."),
    ("Eve", "Re: Lunch plans", "t5", ["t1"], "10:07", "Sushi!"),
    ("Carl", "Re: Lunch plans", "t3", ["t1", "t2"], "10:10", "Pizza is fine with me."),
]
s = smtplib.SMTP("127.0.0.1", smtp)
for name, subject, mid, refs, hhmm, body in messages:
    text = f"From: {name} <{name.lower()}@far.example>\r\nTo: alice@office.test\r\nSubject: {subject}\r\n"
    text += f"Date: Mon, 23 Nov 2026 {hhmm}:00 +0000\r\nMessage-ID: <{mid}@far.example>\r\n"
    if refs:
        text += f"In-Reply-To: <{refs[-1]}@far.example>\r\nReferences: " + " ".join(f"<{r}@far.example>" for r in refs) + "\r\n"
    s.sendmail(f"{name.lower()}@far.example", ["alice@office.test"], text + "\r\n" + body + "\r\n")
s.quit()
"#,
    );
    assert!(ok, "{out}");

    let home = tempfile::tempdir().unwrap();
    let rc = home.path().join("muttrc");
    let mut settings = office.mutt_account();
    settings.extend([
        "set sort=threads".into(),
        "set sort_aux=date".into(),
        // ASCII thread arrows, so that the screen reads the same whatever the terminal's character set.
        "set ascii_chars=yes".into(),
        "set index_format=\"%4C %-6.6n %s\"".into(),
        "set mail_check=0".into(),
        "set timeout=1".into(),
        "set wait_key=no".into(),
        "set quit=yes".into(),
        "set pager_index_lines=0".into(),
        "set header_cache=\"\"".into(),
        "set message_cachedir=\"\"".into(),
    ]);
    std::fs::write(&rc, settings.join("\n") + "\n").unwrap();
    let terminal = Terminal::start(home.path(), &format!("neomutt -n -F {}", rc.display()));

    // The index: each thread under its first message, replies indented under their parents with the
    // arrows, siblings by date; the threads by date (Lunch plans from 10:00, Budget from 10:03).
    let screen = terminal.wait_for("the index of 6 messages", |s| s.contains("   6 Fred"));
    let index: Vec<&str> = screen.lines().map(str::trim_end).filter(|l| l.starts_with("   ")).collect();
    assert_eq!(
        index,
        [
            "   1 Ann    Lunch plans",
            "   2 Bob    |->",
            "   3 Carl   | `->",
            "   4 Eve    `->",
            "   5 Dora   Budget",
            "   6 Fred   `->",
        ],
        "{screen}"
    );

    // Jump to Carl's reply and read it.
    terminal.keys(&["3", "Enter"]);
    terminal.keys(&["Enter"]);
    let screen = terminal.wait_for("Carl's message", |s| s.contains("Pizza is fine with me."));
    assert!(screen.contains("From: Carl <carl@far.example>") && screen.contains("Subject: Re: Lunch plans"), "{screen}");
    assert!(!screen.contains("Where shall we eat?"), "only Carl's message is shown: {screen}");

    // Back to the index, then quit; neomutt writes what changed to the server as it leaves.
    terminal.keys(&["q"]);
    terminal.wait_for("the index again", |s| s.contains("   6 Fred"));
    terminal.keys(&["q"]);
    terminal.wait_until_closed();
    let seen = server(
        &office,
        r#"
m = inbox()
for item in m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])")[1]:
    if isinstance(item, tuple):
        print("from", item[1].decode().split()[1], b"\\Seen" in imaplib.ParseFlags(item[0]))
"#,
    );
    let seen: Vec<&str> = seen.lines().filter_map(|l| l.strip_prefix("from ")).collect();
    assert_eq!(seen, ["Dora False", "Bob False", "Ann False", "Fred False", "Eve False", "Carl True"], "only the message read is \\Seen");
}
