//! The outbound queue against a real SMTP peer on loopback: a second Postroom server plays the smart
//! host for far.example. Mail is relayed byte for byte, waits while the peer is down, and a permanent
//! refusal comes back to the sender as a DSN.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// The office (sender side) relays through the peer (far.example's server).
/// Returns the temporary folder, the office's and the peer's data folders, and the office's ports.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<(&'static str, u16)>) {
    let tmp = tempfile::tempdir().unwrap();
    let office = tmp.path().join("office");
    let peer = tmp.path().join("peer");
    let office_ports = configure_loopback(&office);
    let peer_ports = configure_loopback(&peer);
    ok(&peer, &["settings", "set", "general.server_name", "mx.far.example", "smtp.trusted_networks", ""], "");
    ok(&peer, &["domain", "add", "far.example"], "");
    ok(&peer, &["user", "add", "partner", "--password-stdin"], "partner-pw\n");
    ok(&office, &["domain", "add", "office.test"], "");
    ok(&office, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    let smart_host_port = port_of(&peer_ports, "smtp").to_string();
    ok(
        &office,
        &[
            "settings", "set",
            "general.server_name", "mail.office.test",
            "smtp.trusted_networks", "",
            "outbound.smart_host", "127.0.0.1",
            "outbound.smart_host_port", &smart_host_port,
            "outbound.tls", "required",
            "outbound.verify_certificate", "false",
            "outbound.retry_minutes", "1",
        ],
        "",
    );
    (tmp, office, peer, office_ports)
}

fn send(port: u16, to: &str, subject: &str) {
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
s.login("alice", "alice-secret")
s.sendmail("alice@office.test", [sys.argv[2]], "From: alice@office.test\r\nTo: %s\r\nSubject: %s\r\n\r\nLine one.\r\n.Line with a dot.\r\n" % (sys.argv[2], sys.argv[3]))
s.quit()
"#;
    let out = Command::new("python3").args(["-c", script, &port.to_string(), to, subject]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn queue(dir: &Path) -> Value {
    serde_json::from_str(&ok(dir, &["queue", "list", "--json"], "")).unwrap()
}

#[test]
fn mail_is_relayed_through_the_smart_host_byte_for_byte() {
    let (_tmp, office, peer, office_ports) = setup();
    let _peer_server = Server::start(&peer, &[]);
    let _office_server = Server::start(&office, &[]);
    send(port_of(&office_ports, "smtps"), "partner@far.example", "quarterly figures");
    wait("the peer to receive the message", || sql(&peer, "SELECT count(*) FROM messages") == "1");
    let sent = sql(&office, "SELECT hex(data) FROM blobs");
    let received = sql(&peer, "SELECT hex(data) FROM blobs");
    assert!(received.ends_with(&sent), "the peer's copy is ours plus its own Received header");
    assert_eq!(sql(&office, "SELECT state FROM queue_recipients"), "sent");
    assert_eq!(queue(&office).as_array().unwrap().len(), 0, "sent mail leaves the queue list");
}

#[test]
fn mail_waits_while_the_peer_is_down_and_leaves_once_it_is_back() {
    let (_tmp, office, peer, office_ports) = setup();
    let _office_server = Server::start(&office, &[]);
    send(port_of(&office_ports, "smtps"), "partner@far.example", "patience");
    wait("a failed attempt", || queue(&office)[0]["attempts"].as_u64() == Some(1));
    let entry = queue(&office)[0].clone();
    assert_eq!(entry["state"], "queued");
    assert!(entry["last_error"].as_str().unwrap().contains("cannot connect"), "{entry}");
    let _peer_server = Server::start(&peer, &[]);
    ok(&office, &["queue", "retry", &entry["id"].to_string()], "");
    wait("the peer to receive the message", || sql(&peer, "SELECT count(*) FROM messages") == "1");
    wait("the queue to empty", || queue(&office).as_array().unwrap().is_empty());
}

#[test]
fn a_permanent_refusal_bounces_a_dsn_to_the_sender() {
    let (_tmp, office, peer, office_ports) = setup();
    let _peer_server = Server::start(&peer, &[]);
    let _office_server = Server::start(&office, &[]);
    send(port_of(&office_ports, "smtps"), "nobody@far.example", "lost");
    wait("the bounce", || sql(&office, "SELECT count(*) FROM messages") == "1");
    assert_eq!(sql(&office, "SELECT state FROM queue_recipients"), "failed");
    let dsn = sql(&office, "SELECT data FROM blobs b JOIN messages m ON m.blob_id = b.id");
    assert!(dsn.contains("Subject: Undelivered Mail Returned to Sender"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; nobody@far.example"), "{dsn}");
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(dsn.contains("Subject: lost"), "the original headers come back: {dsn}");
    assert_eq!(sql(&peer, "SELECT count(*) FROM messages"), "0");
}
