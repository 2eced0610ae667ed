//! The outbound queue against a real peer: Postfix from Debian's packages, on loopback, as the smart
//! host of the office and, on a test host of its own (a network namespace), as the MX of a domain found
//! through DNS; an MX that points back at this machine bounces once. Mail arrives
//! byte for byte, waits while Postfix is down, comes back as a DSN when refused for good, and the DSN
//! requests (NOTIFY, RET, ENVID, ORCPT) are honoured and passed on.

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

fn port_of(ports: &[(&str, u16)], service: &str) -> u16 {
    ports.iter().find(|p| p.0 == service).unwrap().1
}

fn wait(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fields drop in order: Postfix is stopped before its folder is removed.
struct Office {
    peer: Postfix,
    dir: PathBuf,
    ports: Vec<(&'static str, u16)>,
    _tmp: tempfile::TempDir,
}

/// The office (Postroom, office.test) and far.example's Postfix, which sends reports for office.test
/// back to the office's port 25. `outbound` is the office's outbound settings.
fn setup(peer_listen: SocketAddr, outbound: &[&str]) -> Office {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let ports = configure_loopback(&dir);
    let office_smtp = SocketAddr::from(([127, 0, 0, 1], port_of(&ports, "smtp")));
    let peer = Postfix::configure(
        &tmp.path().join("postfix"),
        &PostfixConfig { listen: peer_listen, domain: "far.example", users: &["partner"], return_route: Some(("office.test", office_smtp)) },
    );
    ok(&dir, &["domain", "add", "office.test"], "");
    ok(&dir, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    let mut settings = vec!["settings", "set", "general.server_name", "mail.office.test", "smtp.trusted_networks", "", "outbound.retry_minutes", "1"];
    settings.extend_from_slice(outbound);
    ok(&dir, &settings, "");
    Office { peer, dir, ports, _tmp: tmp }
}

fn through_smart_host() -> Office {
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let port = listen.port().to_string();
    let settings = ["outbound.smart_host", "127.0.0.1", "outbound.smart_host_port", &port, "outbound.tls", "required", "outbound.verify_certificate", "false"];
    setup(listen, &settings)
}

/// Sends one message as alice over implicit TLS with smtplib; `options` are (MAIL options, RCPT options).
fn send(office: &Office, to: &str, subject: &str, options: (&str, &str)) {
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
s.login("alice", "alice-secret")
s.sendmail("alice@office.test", [sys.argv[2]], "From: alice@office.test\r\nTo: %s\r\nSubject: %s\r\n\r\nLine one.\r\n.Line with a dot.\r\n" % (sys.argv[2], sys.argv[3]),
           mail_options=sys.argv[4].split(), rcpt_options=sys.argv[5].split())
s.quit()
"#;
    let port = port_of(&office.ports, "smtps").to_string();
    let out = Command::new("python3").args(["-c", script, &port, to, subject, options.0, options.1]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn queue(dir: &Path) -> Value {
    serde_json::from_str(&ok(dir, &["queue", "list", "--json"], "")).unwrap()
}

/// The messages in alice's INBOX at the office.
fn inbox(dir: &Path) -> Vec<String> {
    let rows = sql(dir, "SELECT hex(b.data) FROM messages m JOIN blobs b ON b.id = m.blob_id ORDER BY m.id");
    rows.lines().map(|h| String::from_utf8(hex(h)).unwrap()).collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Postfix stores maildir files with LF line ends and puts its own trace headers on top; below them
/// the message must be exactly what Postroom sent.
fn assert_arrived_byte_for_byte(office: &Office, postfix_copy: &[u8]) {
    let sent = hex(&sql(&office.dir, "SELECT hex(data) FROM blobs ORDER BY id LIMIT 1"));
    let sent_lf = String::from_utf8(sent).unwrap().replace("\r\n", "\n");
    let got = String::from_utf8(postfix_copy.to_vec()).unwrap();
    assert!(got.ends_with(&sent_lf), "Postfix's copy:\n{got}\nwhat we sent:\n{sent_lf}");
    assert!(got.starts_with("Return-Path: <alice@office.test>\n"), "{got}");
    assert!(got.contains("\n..Line with a dot.\n") == false && got.contains("\n.Line with a dot.\n"), "dot-stuffing undone once: {got}");
}

#[test]
fn mail_is_relayed_through_the_postfix_smart_host_byte_for_byte_over_tls() {
    let office = through_smart_host();
    office.peer.start();
    ok(&office.dir, &["settings", "set", "log.session.smtpclt.enabled", "true"], "");
    let mut server = Server::start(&office.dir, &[]);
    send(&office, "partner@far.example", "quarterly figures", ("", ""));
    wait("Postfix to deliver the message", || office.peer.mailbox("partner").len() == 1);
    assert_arrived_byte_for_byte(&office, &office.peer.mailbox("partner")[0]);
    // Postfix writes starttls=1 when the session ends: a few seconds later, as the connection is kept for the
    // next message a while.
    wait("Postfix to log the end of a TLS session", || office.peer.log().contains("starttls=1"));
    assert_eq!(sql(&office.dir, "SELECT state FROM queue_recipients"), "sent");
    assert_eq!(queue(&office.dir).as_array().unwrap().len(), 0, "sent mail leaves the queue list");
    // The conversation with Postfix, in plain text although it ran over TLS, in smtpclt.log.
    assert!(server.terminate().success());
    let transcript = std::fs::read_to_string(office.dir.join("logs/smtpclt.log")).unwrap();
    for expected in ["--- connecting to 127.0.0.1", "<<< 220 ", ">>> EHLO ", ">>> STARTTLS", "--- TLS started", ">>> MAIL FROM:<alice@office.test>", ">>> RCPT TO:<partner@far.example>", ">>> <message data: ", "<<< 250 "] {
        assert!(transcript.contains(expected), "{expected:?} missing from:\n{transcript}");
    }
    assert!(!transcript.contains("quarterly figures"), "no message content in the transcript");
    let ids: std::collections::BTreeSet<&str> = transcript.lines().filter_map(|l| l.split_once("[#")).map(|(_, r)| r.split(']').next().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one delivery, one session id: {transcript}");
    let mail = std::fs::read_to_string(office.dir.join("logs/mail.log")).unwrap();
    assert!(mail.contains("message received") && mail.contains("message sent") && mail.contains("recipient=partner@far.example"), "{mail}");
}

#[test]
fn mail_waits_while_postfix_is_stopped_and_leaves_once_it_is_back() {
    let office = through_smart_host();
    let _server = Server::start(&office.dir, &[]);
    send(&office, "partner@far.example", "patience", ("", ""));
    wait("a failed attempt", || queue(&office.dir)[0]["attempts"].as_u64() == Some(1));
    let entry = queue(&office.dir)[0].clone();
    assert_eq!(entry["state"], "queued");
    assert!(entry["last_error"].as_str().unwrap().contains("cannot connect"), "{entry}");
    assert!(office.peer.mailbox("partner").is_empty());
    office.peer.start();
    ok(&office.dir, &["queue", "retry", &entry["id"].to_string()], "");
    wait("Postfix to deliver the message", || office.peer.mailbox("partner").len() == 1);
    wait("the queue to empty", || queue(&office.dir).as_array().unwrap().is_empty());
    assert_arrived_byte_for_byte(&office, &office.peer.mailbox("partner")[0]);
}

#[test]
fn a_permanent_refusal_by_postfix_bounces_a_dsn_with_the_original_headers_and_envid() {
    let office = through_smart_host();
    office.peer.start();
    let _server = Server::start(&office.dir, &[]);
    send(&office, "nobody@far.example", "lost", ("ENVID=env-42", "ORCPT=rfc822;Nobody@Far.Example"));
    wait("the bounce", || inbox(&office.dir).len() == 1);
    assert_eq!(sql(&office.dir, "SELECT state FROM queue_recipients"), "failed");
    let dsn = &inbox(&office.dir)[0];
    assert!(dsn.contains("Subject: Undelivered Mail Returned to Sender"), "{dsn}");
    assert!(dsn.contains("Original-Envelope-Id: env-42"), "{dsn}");
    assert!(dsn.contains("Original-Recipient: rfc822; Nobody@Far.Example\r\nFinal-Recipient: rfc822; nobody@far.example\r\nAction: failed\r\nStatus: 5.1.1"), "{dsn}");
    assert!(dsn.contains("Postfix") || dsn.contains("User unknown"), "Postfix's reason is quoted: {dsn}");
    assert!(dsn.contains("Subject: lost") && !dsn.contains("Line one."), "RET not given: headers only: {dsn}");
    assert!(office.peer.mailbox("partner").is_empty());
}

#[test]
fn notify_never_suppresses_the_bounce_and_ret_full_returns_the_body() {
    let office = through_smart_host();
    office.peer.start();
    let _server = Server::start(&office.dir, &[]);
    send(&office, "nobody@far.example", "quietly", ("", "NOTIFY=NEVER"));
    send(&office, "nobody@far.example", "loudly", ("RET=FULL", "NOTIFY=FAILURE"));
    wait("both to fail", || sql(&office.dir, "SELECT count(*) FROM queue_recipients WHERE state = 'failed'") == "2");
    wait("the one bounce", || inbox(&office.dir).len() == 1);
    std::thread::sleep(Duration::from_secs(1));
    let inbox = inbox(&office.dir);
    assert_eq!(inbox.len(), 1, "NOTIFY=NEVER gets no bounce");
    assert!(inbox[0].contains("Subject: loudly") && inbox[0].contains("Content-Type: message/rfc822") && inbox[0].contains("Line one."), "{}", inbox[0]);
}

#[test]
fn notify_success_is_passed_to_postfix_which_reports_delivery_back_to_the_sender() {
    let office = through_smart_host();
    office.peer.start();
    let _server = Server::start(&office.dir, &[]);
    send(&office, "partner@far.example", "did it arrive", ("ENVID=track-7", "NOTIFY=SUCCESS,FAILURE"));
    wait("Postfix to deliver the message", || office.peer.mailbox("partner").len() == 1);
    wait("Postfix's delivery report to reach alice", || inbox(&office.dir).len() == 1);
    let report = &inbox(&office.dir)[0];
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(report.contains("Original-Envelope-Id: track-7"), "ENVID went to Postfix: {report}");
    assert!(report.contains("Final-Recipient: rfc822; partner@far.example"), "{report}");
}

#[test]
fn mail_goes_to_the_mx_of_the_recipient_domain_found_through_dns() {
    use hickory_proto::rr::rdata::{A, MX};
    use hickory_proto::rr::{Name, RData};
    // Postfix as far.example's MX on port 25 of a test host of its own (a network namespace: Postroom
    // never delivers to loopback or to this machine's addresses); the DNS server says so.
    let host = std::sync::Arc::new(common::netns::TestHost::create());
    let dns = common::dns::serve(vec![
        ("far.example.", RData::MX(MX::new(10, Name::from_ascii("mx.far.example.").unwrap()))),
        ("mx.far.example.", RData::A(A(host.address))),
    ]);
    let mut office = setup(SocketAddr::from((host.address, 25)), &["outbound.dns_server", &dns.to_string()]);
    office.peer.netns = Some(host);
    office.peer.start();
    let _server = Server::start(&office.dir, &[]);
    send(&office, "partner@far.example", "via MX", ("", ""));
    wait("the MX to deliver the message", || office.peer.mailbox("partner").len() == 1);
    assert_arrived_byte_for_byte(&office, &office.peer.mailbox("partner")[0]);
    wait("Postfix to log the end of an opportunistic TLS session", || office.peer.log().contains("starttls=1"));
}

#[test]
fn an_mx_pointing_at_this_machine_bounces_once_instead_of_looping() {
    use hickory_proto::rr::rdata::{A, MX};
    use hickory_proto::rr::{Name, RData};
    // loop.example's MX is 127.0.0.1: this very server. Delivering there would hand the message back to
    // ourselves (or to whatever else listens on loopback) over and over.
    let dns = common::dns::serve(vec![
        ("loop.example.", RData::MX(MX::new(10, Name::from_ascii("mx.loop.example.").unwrap()))),
        ("mx.loop.example.", RData::A(A(std::net::Ipv4Addr::LOCALHOST))),
    ]);
    let office = setup(SocketAddr::from(([127, 0, 0, 1], free_port())), &["outbound.dns_server", &dns.to_string()]);
    let _server = Server::start(&office.dir, &[]);
    send(&office, "someone@loop.example", "round and round", ("", ""));
    wait("the bounce", || inbox(&office.dir).len() == 1);
    assert_eq!(sql(&office.dir, "SELECT state FROM queue_recipients"), "failed", "one attempt, failed for good");
    assert_eq!(sql(&office.dir, "SELECT attempts FROM queue_recipients"), "1");
    let dsn = &inbox(&office.dir)[0];
    assert!(dsn.contains("Status: 5.4.6") && dsn.contains("this machine"), "{dsn}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(inbox(&office.dir).len(), 1, "the bounce came once");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM queue_recipients"), "1", "nothing else was queued");
}

/// Bytes under `dir`, leaving out the log folder (which keeps its own retention and disk cap).
fn size_without_logs(dir: &Path) -> u64 {
    fn walk(p: &Path, skip: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else { return 0 };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                match e.metadata() {
                    Ok(m) if m.is_dir() && path != skip => walk(&path, skip),
                    Ok(m) if m.is_file() => m.len(),
                    _ => 0,
                }
            })
            .sum()
    }
    walk(dir, &dir.join("logs"))
}

#[test]
fn a_thousand_relayed_messages_leave_the_data_folder_as_small_as_it_was() {
    let office = through_smart_host();
    office.peer.start();
    let server = Server::start(&office.dir, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let start = size_without_logs(&office.dir);
    // 1,000 messages of 100 KB (files of their own in blobs/): 100 MB through the queue.
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
s.login("alice", "alice-secret")
filler = ("%s\r\n" % ("f" * 98)) * 1000
for n in range(1000):
    s.sendmail("alice@office.test", ["partner@far.example"], "Subject: bulk %d\r\n\r\n%s" % (n, filler))
s.quit()
"#;
    let port = port_of(&office.ports, "smtps").to_string();
    let out = Command::new("python3").args(["-c", script, &port]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let peak = size_without_logs(&office.dir);
    let deadline = Instant::now() + Duration::from_secs(300);
    while office.peer.mailbox("partner").len() < 1000 {
        assert!(Instant::now() < deadline, "Postfix has {} of 1000", office.peer.mailbox("partner").len());
        std::thread::sleep(Duration::from_secs(1));
    }
    // Sent bodies are released at once, and the sweep (every 30 s) takes them a minute later.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut now = size_without_logs(&office.dir);
    while now > start + start / 10 {
        if Instant::now() >= deadline {
            // What the sweeps said (each logs what it reclaimed, or why it could not), for the next reader.
            let status = server.status();
            let sweeps: Vec<String> = server.stderr().lines().filter(|l| l.contains("store")).map(str::to_string).collect();
            let files: Vec<String> = std::fs::read_dir(&office.dir).unwrap().flatten().map(|e| format!("{:?} {}", e.file_name(), e.metadata().map(|m| m.len()).unwrap_or(0))).collect();
            panic!("the data folder is {now} bytes, it was {start} at the start (peak {peak}); status: {status}; files: {files:?}; store log: {:#?}", &sweeps[sweeps.len().saturating_sub(20)..]);
        }
        std::thread::sleep(Duration::from_secs(2));
        now = size_without_logs(&office.dir);
    }
    assert!(peak > 50_000_000, "the messages were on disk at some point ({peak} bytes)");
    let status = server.status();
    assert!(status["store_bytes"].as_u64().unwrap() <= now, "{status}");
    assert!(status["reclaimable_bytes"].as_u64().unwrap() < 1_000_000, "{status}");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM blobs"), "0");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM queue_recipients"), "0");
}

#[test]
fn the_smart_host_password_is_never_sent_over_plain_text() {
    use std::io::{BufRead, BufReader, Write};
    // A smart host that offers AUTH but no STARTTLS, and writes down what it is told.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = heard.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let _ = w.write_all(b"220 isp.example ESMTP\r\n");
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                log.lock().unwrap().push_str(&line);
                let reply: &[u8] = if line.starts_with("EHLO") { b"250-isp.example\r\n250 AUTH PLAIN LOGIN\r\n" } else if line.starts_with("AUTH") { b"235 ok\r\n" } else if line.starts_with("DATA") { b"354 go\r\n" } else if line.starts_with("QUIT") { b"221 bye\r\n" } else { b"250 ok\r\n" };
                let _ = w.write_all(reply);
                line.clear();
            }
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let ports = configure_loopback(&dir);
    ok(&dir, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    let p = port.to_string();
    let settings = ["settings", "set", "outbound.smart_host", "127.0.0.1", "outbound.smart_host_port", &p, "outbound.tls", "opportunistic", "outbound.username", "office", "outbound.password", "isp-secret"];
    ok(&dir, &settings, "");
    let _server = Server::start(&dir, &[]);
    let office = Office { peer: Postfix::configure(&tmp.path().join("unused"), &PostfixConfig { listen: SocketAddr::from(([127, 0, 0, 1], free_port())), domain: "far.example", users: &[], return_route: None }), dir: dir.clone(), ports, _tmp: tempfile::tempdir().unwrap() };
    send(&office, "partner@far.example", "secret plans", ("", ""));
    wait("a failed attempt", || queue(&dir)[0]["attempts"].as_u64() >= Some(1));
    let entry = queue(&dir)[0].clone();
    assert!(entry["last_error"].as_str().unwrap().contains("4.7.10 not sending the login for 127.0.0.1: the connection is not encrypted"), "{entry}");
    let said = heard.lock().unwrap().clone();
    assert!(said.contains("EHLO") && !said.contains("AUTH") && !said.contains("MAIL FROM"), "the smart host heard: {said}");
    // The admin's explicit choice for a server on the office's own network lets it through.
    ok(&dir, &["settings", "set", "outbound.allow_plaintext_auth", "true"], "");
    ok(&dir, &["queue", "retry", &entry["id"].to_string()], "");
    wait("the login and the message", || heard.lock().unwrap().contains("MAIL FROM:<alice@office.test>"));
    assert!(heard.lock().unwrap().contains("AUTH PLAIN"), "{}", heard.lock().unwrap());
}
