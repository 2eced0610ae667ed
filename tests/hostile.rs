//! A hostile Internet against the real `postroomd serve` (issue 13): each test plays one stranger with a
//! real socket client and then checks that an ordinary client is still served. Where memory is the point,
//! the server's resident memory is read from /proc while the stranger holds on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::mail::MailOffice;
use common::*;

/// The server's resident memory in MB, from /proc.
fn rss_mb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap();
    kb / 1024
}

/// The highest resident memory seen over five seconds while a stranger holds on.
fn peak_rss_mb(server: &Server) -> u64 {
    (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(250));
            rss_mb(server)
        })
        .max()
        .unwrap_or(0)
}

/// An ordinary IMAP client still logs in and sees the INBOX.
fn imap_still_serves(office: &MailOffice) {
    let (ok, out) = office.python("", "m = imaplib.IMAP4('127.0.0.1', imap); m.login('alice', 'alice-secret'); print(m.select('INBOX')); m.logout()\n");
    assert!(ok && out.contains("'OK'"), "the server still serves IMAP: {out}");
}

fn raw(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until `done` holds for what came (or the peer closes / 20 s pass).
fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if done(&String::from_utf8_lossy(&got)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn one_imap_line_of_sixty_thousand_parentheses_gets_bad_and_the_server_lives() {
    let office = MailOffice::start();
    for login_first in [false, true] {
        let mut s = raw(office.port("imap"));
        read_until(&mut s, |t| t.contains("\r\n"));
        if login_first {
            s.write_all(b"a LOGIN alice alice-secret\r\n").unwrap();
            read_until(&mut s, |t| t.contains("a OK"));
        }
        let mut line = b"x LIST ".to_vec();
        line.extend(std::iter::repeat_n(b'(', 60_000));
        line.extend_from_slice(b"\r\n");
        s.write_all(&line).unwrap();
        let answer = read_until(&mut s, |t| t.contains("x BAD") || t.contains("BYE"));
        assert!(answer.contains("x BAD parentheses nested too deeply"), "{answer}");
        // The same stranger with SEARCH: imap-codec stops at its own depth limit.
        s.write_all(format!("y SEARCH {}ALL{}\r\n", "(".repeat(5000), ")".repeat(5000)).as_bytes()).unwrap();
        let answer = read_until(&mut s, |t| t.contains("y BAD") || t.contains("y NO") || t.contains("BYE"));
        assert!(answer.contains("y BAD"), "{answer}");
    }
    imap_still_serves(&office);
}

#[test]
fn a_message_nesting_mime_twenty_thousand_deep_is_delivered_and_described_flat() {
    let office = MailOffice::start();
    let script = r#"
m = ["From: x@far.example\r\nTo: alice@office.test\r\nSubject: deep\r\n"]
for level in range(20000):
    m.append('Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level))
m.append("\r\nbottom\r\n")
body = "".join(m)
print("size", len(body))
s = smtplib.SMTP("127.0.0.1", smtp); print(s.sendmail("x@far.example", ["alice@office.test"], body)); s.quit()
i = imaplib.IMAP4("127.0.0.1", imap); i.login("alice", "alice-secret"); i.select("INBOX")
typ, data = i.fetch("1", "(BODYSTRUCTURE)")
shape = data[0] if isinstance(data[0], bytes) else data[0][0]
print("fetch", typ, len(shape), b'"application" "octet-stream"' in shape)
print("search", i.search(None, "TEXT", "bottom"))
"#;
    let (ok, out) = office.python("", script);
    assert!(ok, "{out}");
    let size: usize = out.split("size ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(size > 1_000_000, "over a megabyte: {out}");
    assert!(out.contains("{}"), "accepted for alice: {out}");
    assert!(out.contains("fetch OK") && out.contains("True"), "BODYSTRUCTURE flat below the limit: {out}");
    assert!(out.contains("search ('OK'"), "{out}");
    imap_still_serves(&office);
}

#[test]
fn more_than_fifty_received_headers_are_refused_as_a_loop_and_postmaster_is_always_there() {
    let office = MailOffice::start();
    let script = r#"
def message(hops):
    return "".join("Received: from hop%d by hop%d; Thu, 3 Dec 2026 10:00:00 +0000\r\n" % (n, n + 1) for n in range(hops)) + "Subject: hops %d\r\n\r\nhi\r\n" % hops
s = smtplib.SMTP("127.0.0.1", smtp)
for hops in (50, 51):
    try:
        print(hops, s.sendmail("x@far.example", ["alice@office.test"], message(hops)))
    except smtplib.SMTPDataError as e:
        print(hops, e.smtp_code, e.smtp_error.decode())
s.ehlo("far.example")
print("postmaster", s.mail("x@far.example"), s.rcpt("<postmaster>"))
s.rset()
s.quit()
"#;
    let (ok, out) = office.python("", script);
    assert!(ok, "{out}");
    assert!(out.contains("50 {}"), "50 hops still pass: {out}");
    assert!(out.contains("51 554 5.4.6 routing loop detected"), "{out}");
    assert!(out.contains("(250, b'2.1.5 recipient OK')"), "RCPT TO:<postmaster> is accepted (RFC 5321 4.5.1): {out}");
    assert_eq!(office.sql("SELECT count(*) FROM messages"), "1", "only the 50-hop message was stored");
}

#[test]
fn a_stranger_guessing_alices_password_elsewhere_does_not_lock_her_out() {
    let office = MailOffice::start();
    // The stranger at 127.0.0.2 guesses (smtplib can choose its source address); alice works from 127.0.0.1.
    let script = r#"
codes = []
for attempt in range(6):
    try:
        s = smtplib.SMTP_SSL("127.0.0.1", smtps, source_address=("127.0.0.2", 0), context=ctx)
        s.ehlo("stranger"); s.user, s.password = "alice", "guess-%d" % attempt
        s.auth("PLAIN", s.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as e:
        codes.append("refused")
print("stranger", codes)
m = imaplib.IMAP4("127.0.0.1", imap); print("alice", m.login("alice", "alice-secret")[0]); m.logout()
p = poplib.POP3("127.0.0.1", pop3); p.user("x" * 300)
try:
    p.pass_("y")
except poplib.error_proto as e:
    print("long", e)
"#;
    let (ok, out) = office.python(&format!("smtps = {}\n", office.port("smtps")), script);
    assert!(ok, "{out}");
    assert!(out.contains("stranger [535, 535, 535, 535, 421, 'refused']"), "the stranger's address is banned: {out}");
    assert!(out.contains("alice OK"), "alice logs in from her own address: {out}");
    let bans = ok_list(office.dir());
    assert!(bans.contains("127.0.0.2") && bans.contains("alice from 127.0.0.2") && !bans.contains("alice from 127.0.0.1"), "{bans}");
    assert!(out.contains("long b'-ERR [AUTH]"), "{out}");
    assert!(!ok_list(office.dir()).contains("xxxxxxxx"), "an over-long name is never counted or listed");
}

#[test]
fn guessing_one_account_under_its_other_spellings_earns_no_more_tries() {
    let office = MailOffice::start();
    ok(office.dir(), &["user", "add", "mallory", "--password-stdin"], "mallory-secret\n");
    ok(office.dir(), &["user", "add", "dave", "--password-stdin", "--alias", "sales"], "dave-secret\n");
    // Mallory logs in from 127.0.0.3 (so the address as a whole is trusted and never banned), then guesses
    // dave's password under five spellings of his account, then tries the right one under a sixth.
    let script = r#"
def attempt(user, password):
    s = smtplib.SMTP_SSL("127.0.0.1", smtps, source_address=("127.0.0.3", 0), context=ctx)
    try:
        s.ehlo("mallory"); s.user, s.password = user, password
        return s.auth("PLAIN", s.auth_plain)[0]
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code
    finally:
        s.close()
print("mallory", attempt("mallory", "mallory-secret"))
print("guesses", [attempt(u, "guess") for u in ["dave", "sales", "dave@office.test", "Sales@Office.Test", "DAVE"]])
print("right password, locked", attempt("sales@office.test", "dave-secret"))
m = imaplib.IMAP4("127.0.0.1", imap); print("dave", m.login("dave@office.test", "dave-secret")[0]); m.logout()
"#;
    let (ok_run, out) = office.python(&format!("smtps = {}\n", office.port("smtps")), script);
    assert!(ok_run, "{out}");
    assert!(out.contains("mallory 235"), "{out}");
    assert!(out.contains("guesses [535, 535, 535, 535, 535]"), "{out}");
    assert!(out.contains("right password, locked 535"), "the five spellings were one account's five failures: {out}");
    assert!(out.contains("dave OK"), "dave himself, from his own address, logs in with his address: {out}");
    let bans = ok_list(office.dir());
    assert!(bans.contains("dave from 127.0.0.3") && !bans.contains("sales from"), "{bans}");
}

fn ok_list(dir: &std::path::Path) -> String {
    ok(dir, &["bans", "list"], "")
}

#[test]
fn pop3_retr_pipelined_a_thousand_times_by_a_client_that_never_reads_stays_under_100_mb() {
    let office = MailOffice::start();
    // One 24 MB message (the default limit is 25 MB).
    office.deliver(1, r#""Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 24000"#);
    let before = rss_mb(&office.server);
    let mut s = raw(office.port("pop3"));
    read_until(&mut s, |t| t.contains("\r\n"));
    s.write_all(b"USER alice\r\nPASS alice-secret\r\n").unwrap();
    read_until(&mut s, |t| t.matches("+OK").count() >= 3);
    let retrs = "RETR 1\r\n".repeat(1000);
    s.write_all(retrs.as_bytes()).unwrap();
    // The client reads nothing; the server must stop at its output bound.
    let peak = peak_rss_mb(&office.server);
    assert!(peak < 100, "RSS {peak} MB (was {before} MB before) while a client asks for 24 GB and reads nothing");
    drop(s);
    imap_still_serves(&office);
}

#[test]
fn imap_fetch_of_thousands_of_byte_ranges_is_refused_and_many_sections_unread_stay_bounded() {
    let office = MailOffice::start();
    office.deliver(1, r#""Subject: big\r\n\r\n" + ("y" * 998 + "\r\n") * 24000"#);
    let mut s = raw(office.port("imap"));
    read_until(&mut s, |t| t.contains("\r\n"));
    s.write_all(b"a LOGIN alice alice-secret\r\nb SELECT INBOX\r\n").unwrap();
    read_until(&mut s, |t| t.contains("b OK"));
    let ranges: Vec<String> = (0..2000).map(|k| format!("BODY.PEEK[]<{k}.24000000>")).collect();
    s.write_all(format!("c FETCH 1 ({})\r\n", ranges.join(" ")).as_bytes()).unwrap();
    let answer = read_until(&mut s, |t| t.contains("c BAD") || t.contains("c OK"));
    assert!(answer.contains("c BAD [LIMIT] too many FETCH items (at most 100)"), "{}", &answer[answer.len().saturating_sub(300)..]);
    // 32 whole copies of a 24 MB message (768 MB of answer) to a client that reads nothing.
    let sections: Vec<String> = (0..32).map(|k| format!("BODY.PEEK[]<{k}.24000000>")).collect();
    s.write_all(format!("d FETCH 1 ({})\r\n", sections.join(" ")).as_bytes()).unwrap();
    let peak = peak_rss_mb(&office.server);
    assert!(peak < 100, "RSS {peak} MB while a FETCH answer of 768 MB waits for a client that does not read");
    drop(s);
    imap_still_serves(&office);
}

#[test]
fn eight_clients_each_sending_fifteen_mb_of_data_hold_it_on_disk_not_in_memory() {
    let office = MailOffice::start();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut s = raw(office.port("smtp"));
        read_until(&mut s, |t| t.contains("220 "));
        s.write_all(b"EHLO far.example\r\nMAIL FROM:<x@far.example>\r\nRCPT TO:<alice@office.test>\r\nDATA\r\n").unwrap();
        read_until(&mut s, |t| t.contains("354 "));
        let chunk = format!("{}\r\n", "z".repeat(998)).repeat(1000);
        for _ in 0..15 {
            s.write_all(chunk.as_bytes()).unwrap();
        }
        clients.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = rss_mb(&office.server);
    assert!(held < 100, "RSS {held} MB while 8 unfinished messages of 15 MB each wait (120 MB in all)");
    // They finish; each is stored whole.
    for s in &mut clients {
        s.write_all(b".\r\nQUIT\r\n").unwrap();
    }
    for s in &mut clients {
        let answer = read_until(s, |t| t.contains("221 "));
        assert!(answer.contains("250 2.0.0 OK: queued as"), "{answer}");
    }
    assert_eq!(office.sql("SELECT count(*) FROM messages WHERE size > 15000000"), "8");
    assert_eq!(std::fs::read_dir(office.dir().join("blobs")).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count(), 0, "no spool file left");
}

#[test]
fn literals_before_login_are_capped_in_total() {
    let office = MailOffice::start();
    let mut s = raw(office.port("imap"));
    read_until(&mut s, |t| t.contains("\r\n"));
    // Each literal is small, but together they would be a big command before anyone logged in.
    let mut command = b"a LOGIN".to_vec();
    for _ in 0..20 {
        command.extend_from_slice(b" {1000+}\r\n");
        command.extend(std::iter::repeat_n(b'q', 1000));
    }
    command.extend_from_slice(b"\r\n");
    let _ = s.write_all(&command);
    let answer = read_until(&mut s, |t| t.contains("BYE"));
    assert!(answer.contains("* BYE too much data before login"), "{answer}");
    imap_still_serves(&office);
}

#[test]
fn a_client_trickling_bytes_cannot_stay_unauthenticated_past_a_minute() {
    let office = MailOffice::start();
    let mut s = raw(office.port("imap"));
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    read_until(&mut s, |t| t.contains("\r\n"));
    let started = Instant::now();
    let mut got = String::new();
    // One byte every two seconds: every read is far inside the idle time.
    while started.elapsed() < Duration::from_secs(90) && !got.contains("BYE") {
        if s.write_all(b"a").is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(got.contains("* BYE log in within a minute of connecting"), "after {:?}: {got}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(75), "{:?}", started.elapsed());
}

#[test]
fn append_over_64_kb_after_starttls_works_and_a_new_password_ends_open_sessions() {
    let office = MailOffice::start();
    let script = r#"
m = imaplib.IMAP4("127.0.0.1", imap)
m.starttls(ssl_context=ctx)
m.login("alice", "alice-secret")
big = b"Subject: big append\r\n\r\n" + (b"a" * 998 + b"\r\n") * 200
print("append", m.append("INBOX", None, None, big)[0])
m.select("INBOX")
print("ready", flush=True)
sys.stdin.readline()
try:
    print("after", m.noop())
except (imaplib.IMAP4.abort, OSError) as e:
    print("ended", e)
"#;
    let full = format!(
        "import imaplib, ssl, sys\nimap = int(sys.argv[1])\nctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n{script}"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &full, &office.port("imap").to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("ready") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("append OK"), "APPEND of 200 KB after STARTTLS: {seen}");
    ok(office.dir(), &["user", "passwd", "alice", "--password-stdin"], "a-new-secret\n");
    std::thread::sleep(Duration::from_secs(2));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    child.wait().unwrap();
    assert!(rest.contains("ended") && rest.contains("account was changed"), "the open session ended with the password change: {seen}{rest}");
}

#[test]
fn admin_commands_into_a_closed_pipe_end_quietly() {
    let office = MailOffice::start();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{} --data-dir {} settings list | head -c 1 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"", env!("CARGO_BIN_EXE_postroomd"), office.dir().display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status 0") || stdout.contains("status 141"), "{stdout}");
}
