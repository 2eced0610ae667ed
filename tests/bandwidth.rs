//! Bandwidth throttling as a mail program feels it: Python's poplib downloading a large message from a
//! real `postroomd serve` whose POP3 service is limited to a custom rate, or shares a pool.

mod common;

use common::mail::MailOffice;
use common::*;

/// A message of about `kb` KB for alice and, with `bob`, one for bob too (a second POP3 session needs a
/// mailbox of its own: one maildrop is open to one POP3 session at a time).
fn big_messages(office: &MailOffice, kb: usize, bob: bool) {
    let to = if bob {
        ok(office.dir(), &["user", "add", "bob", "--password-stdin"], "alice-secret\n");
        "['alice@office.test', 'bob@office.test']"
    } else {
        "['alice@office.test']"
    };
    let script = format!(
        "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n\
         s.sendmail('big@far.example', {to}, 'Subject: big\\r\\n\\r\\n' + ('x' * 998 + '\\r\\n') * {kb})\ns.quit()\n"
    );
    let (sent, out) = mail::python(&script, &[office.port("smtp").to_string()]);
    assert!(sent, "{out}");
}

/// Downloads message 1 over POP3 on `clients` connections at once; prints "bytes seconds" per client.
const RETR: &str = r#"
import poplib, sys, threading, time
port, clients = int(sys.argv[1]), int(sys.argv[2])
results = [None] * clients
def fetch(i):
    p = poplib.POP3("127.0.0.1", port, timeout=60)
    p.user(["alice", "bob"][i]); p.pass_("alice-secret")
    t = time.monotonic()
    resp, lines, octets = p.retr(1)
    results[i] = (octets, time.monotonic() - t)
    p.quit()
threads = [threading.Thread(target=fetch, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
for octets, secs in results: print(octets, secs)
"#;

fn rates(office: &MailOffice, clients: usize) -> Vec<f64> {
    let (done, out) = mail::python(RETR, &[office.port("pop3").to_string(), clients.to_string()]);
    assert!(done, "{out}");
    out.lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let octets: f64 = parts.next().unwrap().parse().unwrap();
            let secs: f64 = parts.next().unwrap().parse().unwrap();
            octets / secs
        })
        .collect()
}

#[test]
fn a_custom_limit_of_100000_bytes_a_second_holds_within_5_percent_over_10_seconds() {
    let office = MailOffice::start();
    big_messages(&office, 1_100, false);
    ok(office.dir(), &["settings", "set", "bandwidth.pop3.mode", "custom", "bandwidth.pop3.bytes_per_sec", "100000"], "");
    std::thread::sleep(std::time::Duration::from_millis(1500)); // the server picks the change up
    let rate = rates(&office, 1)[0];
    println!("custom 100000 B/s: measured {rate:.0} B/s");
    assert!((95_000.0..=105_000.0).contains(&rate), "measured {rate:.0} B/s");
}

#[test]
fn two_connections_in_one_pool_share_it_fairly() {
    let office = MailOffice::start();
    big_messages(&office, 600, true);
    ok(
        office.dir(),
        &["settings", "set", "bandwidth.pools", r#"[{"id":1,"name":"POP3 downloads","allowed":100000}]"#, "bandwidth.pop3.mode", "pool", "bandwidth.pop3.pool", "1"],
        "",
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = rates(&office, 2);
    println!("pool of 100000 B/s, two connections: {r:.0?} B/s");
    for rate in &r {
        assert!((45_000.0..=55_000.0).contains(rate), "each within 10% of half the pool: {r:?}");
    }
}
