//! Sender authentication at SMTP time, against a loopback DNS server that publishes SPF, DKIM keys and
//! DMARC policies: SPF pass / fail / softfail, DMARC p=reject refused with 550 before the 250, p=quarantine
//! marked as spam, a forged `Authentication-Results:` in our name removed; DKIM signatures made by dkimpy
//! (a real-world signer) verify, and one altered in transit fails. Loopback is made a stranger here (no
//! trusted networks), as the Internet is. The office's own mail leaves signed with an RSA and an Ed25519
//! key, which dkimpy verifies against the records `postroomd domain dns` says to publish.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::RData;

fn sql(dir: &Path, query: &str) -> String {
    let out = Command::new("sqlite3").arg(dir.join("postroom.db")).arg(query).output().expect("sqlite3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn txt(text: &str) -> RData {
    // A TXT string holds at most 255 bytes; longer records (DKIM keys) are split, as publishers do.
    let chunks: Vec<String> = text.as_bytes().chunks(255).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    RData::TXT(TXT::new(chunks))
}

/// The loopback DNS server with `records`, and a name for 127.0.0.1 that points back to it (the clients
/// here are all 127.0.0.1: without it, each message would also score IPREV_FAIL).
fn dns(mut records: Vec<(&'static str, RData)>) -> std::net::SocketAddr {
    use hickory_proto::rr::rdata::{A, PTR};
    records.push(("1.0.0.127.in-addr.arpa.", RData::PTR(PTR(hickory_proto::rr::Name::from_ascii("client.pass.example.").unwrap()))));
    records.push(("client.pass.example.", RData::A(A::new(127, 0, 0, 1))));
    common::dns::serve(records)
}

struct Office {
    dir: PathBuf,
    smtp: u16,
    submission: u16,
    imap: u16,
    _server: Server,
    _tmp: tempfile::TempDir,
}

/// mail.office.test with alice, its DNS queries going to `dns`, and no trusted networks.
fn office(dns: std::net::SocketAddr) -> Office {
    office_with(dns, &[])
}

/// The same with more settings (`KEY VALUE` pairs) in place before the server starts.
fn office_with(dns: std::net::SocketAddr, settings: &[&str]) -> Office {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let ports = configure_loopback(&dir);
    ok(&dir, &["settings", "set", "general.server_name", "mail.office.test", "smtp.trusted_networks", "", "outbound.dns_server", &dns.to_string()], "");
    ok(&dir, &["domain", "add", "office.test"], "");
    ok(&dir, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    if !settings.is_empty() {
        ok(&dir, &[&["settings", "set"][..], settings].concat(), "");
    }
    let server = Server::start(&dir, &[]);
    let port = |name: &str| ports.iter().find(|p| p.0 == name).unwrap().1;
    Office { dir, smtp: port("smtp"), submission: port("submission"), imap: port("imap"), _server: server, _tmp: tmp }
}

impl Office {
    /// Sends `message` from `sender` with HELO `helo`; the server's reply to the message ("250 ..." or the
    /// refusal's code and text).
    fn send(&self, helo: &str, sender: &str, message: &str) -> String {
        self.send_from("127.0.0.1", helo, sender, message)
    }

    /// As [`Office::send`], from another loopback address.
    fn send_from(&self, source: &str, helo: &str, sender: &str, message: &str) -> String {
        self.send_to(source, helo, sender, &["alice@office.test"], message)
    }

    /// As [`Office::send`] to these recipients; a refused recipient's reply when every one was refused.
    fn send_to(&self, source: &str, helo: &str, sender: &str, recipients: &[&str], message: &str) -> String {
        let script = "import smtplib, sys\n\
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), source_address=(sys.argv[4], 0)); s.ehlo(sys.argv[2])\n\
            try:\n    s.sendmail(sys.argv[3], sys.argv[5].split(','), sys.stdin.read().encode()); print('250')\n\
            except smtplib.SMTPDataError as e:\n    print(e.smtp_code, e.smtp_error.decode())\n\
            except smtplib.SMTPRecipientsRefused as e:\n    code, text = list(e.recipients.values())[0]; print(code, text.decode())\n\
            s.quit()\n";
        let mut child = Command::new("python3")
            .args(["-c", script, &self.smtp.to_string(), helo, sender, source, &recipients.join(",")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The header of alice's newest message.
    fn newest_header(&self) -> String {
        // Bodies over 64 KiB are files named by their SHA-256 in blobs/.
        let row = sql(&self.dir, "SELECT coalesce(hex(b.data), ''), b.sha256 FROM messages m JOIN blobs b ON b.id = m.blob_id ORDER BY m.id DESC LIMIT 1");
        let (hex, sha) = row.split_once('|').unwrap();
        let bytes: Vec<u8> = if hex.is_empty() {
            std::fs::read(self.dir.join("blobs").join(sha)).unwrap()
        } else {
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        };
        let text = String::from_utf8(bytes).unwrap();
        text.split("\r\n\r\n").next().unwrap().to_string()
    }
}

/// The Authentication-Results field of a header, unfolded.
fn results(header: &str) -> String {
    let start = header.find("Authentication-Results: mail.office.test").expect("our results are there");
    let rest = &header[start..];
    let end = rest.find("\r\n").map(|first| {
        let mut end = first;
        while rest[end + 2..].starts_with(['\t', ' ']) {
            end += 2 + rest[end + 2..].find("\r\n").unwrap();
        }
        end
    }).unwrap();
    rest[..end].replace("\r\n\t", " ")
}

fn message(from: &str, subject: &str) -> String {
    format!("From: {from}\r\nTo: alice@office.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nHello.\r\n")
}

#[test]
fn spf_and_dmarc_pass_fail_and_softfail_decide_at_smtp_time() {
    let dns = dns(vec![
        ("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("_dmarc.pass.example.", txt("v=DMARC1; p=reject")),
        ("client.pass.example.", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("fail.example.", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("_dmarc.fail.example.", txt("v=DMARC1; p=reject")),
        ("soft.example.", txt("v=spf1 ~all")),
        ("_dmarc.soft.example.", txt("v=DMARC1; p=quarantine")),
        ("sampled.example.", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("_dmarc.sampled.example.", txt("v=DMARC1; p=reject; pct=0")),
    ]);
    let office = office(dns);

    // Pass, with a forged Authentication-Results in our name that must not survive.
    let forged = format!("Authentication-Results: mail.office.test; dkim=pass header.d=bank.example\r\n{}", message("bob@pass.example", "pass"));
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &forged), "250");
    let header = office.newest_header();
    let ours = results(&header);
    assert!(ours.contains("spf=pass") && ours.contains("smtp.mailfrom=bob@pass.example") && ours.contains("dmarc=pass header.from=pass.example"), "{ours}");
    assert!(ours.contains("iprev=pass policy.iprev=127.0.0.1"), "{ours}");
    assert_eq!(header.matches("Authentication-Results:").count(), 1, "the forged field is gone:\n{header}");
    // The content filter's verdict: the only rule that fired is the missing Date.
    assert!(header.contains("X-Spam-Score: 1\r\nX-Spam-Status: No, score=1 required=5 tests=MISSING_DATE(1)\r\n"), "{header}");
    assert!(!header.contains("bank.example"), "{header}");

    // SPF fail and DMARC p=reject: refused before the 250, nothing stored.
    let before = sql(&office.dir, "SELECT count(*) FROM messages");
    let reply = office.send("client.fail.example", "bob@fail.example", &message("bob@fail.example", "fail"));
    assert!(reply.starts_with("550 5.7.1 ") && reply.contains("fail.example") && reply.contains("DMARC"), "{reply}");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM messages"), before, "a refused message is not kept");

    // Softfail and p=quarantine: delivered, marked as spam.
    assert_eq!(office.send("client.soft.example", "bob@soft.example", &message("bob@soft.example", "soft")), "250");
    let ours = results(&office.newest_header());
    assert!(ours.contains("spf=softfail") && ours.contains("dmarc=fail") && ours.contains("policy.dmarc=quarantine"), "{ours}");
    assert_eq!(sql(&office.dir, "SELECT spam FROM messages ORDER BY id DESC LIMIT 1"), "1");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM messages WHERE spam = 1"), "1", "only the quarantined one is spam");
    assert!(office.newest_header().contains("X-Spam-Status: Yes, score=5 required=5 tests=SPF_SOFTFAIL(1),DMARC_FAIL(3),MISSING_DATE(1)\r\nX-Spam-Flag: YES\r\n"), "{}", office.newest_header());

    // p=reject with pct=0 (RFC 7489 6.6.4): no failing message is in the sample, so each gets the next
    // weaker policy, quarantine.
    assert_eq!(office.send("client.sampled.example", "bob@sampled.example", &message("bob@sampled.example", "sampled")), "250");
    assert_eq!(sql(&office.dir, "SELECT spam FROM messages ORDER BY id DESC LIMIT 1"), "1");

    // The results and the refusal are in the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(office.dir.join("logs/postroom.log")).unwrap_or_default();
        if log.contains("refused: the domain of the From: address (fail.example)") && log.contains("marked as spam: DMARC quarantine of soft.example") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the decisions are in the log:\n{log}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn dkim_signatures_made_by_dkimpy_verify_and_an_altered_message_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("dkim.pem");
    let made = Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048").output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let public = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl rsa -in {} -pubout -outform DER 2>/dev/null | base64 -w0", key.display()))
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap();
    assert!(public.len() > 300, "public key: {public}");
    let dns = dns(vec![
        ("sel._domainkey.signed.example.", txt(&format!("v=DKIM1; k=rsa; p={public}"))),
        ("_dmarc.signed.example.", txt("v=DMARC1; p=none")),
    ]);
    let office = office(dns);
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    // dkimpy signs; the second message is changed after signing, as a careless relay might.
    let sign = |subject: &str, alter: bool| {
        let script = "import dkim, sys\n\
            msg = sys.stdin.buffer.read()\n\
            sig = dkim.sign(msg, b'sel', b'signed.example', open(sys.argv[1], 'rb').read(), include_headers=[b'from', b'to', b'subject', b'message-id'])\n\
            out = sig + msg\n\
            if sys.argv[2] == '1': out = out.replace(b'Hello.', b'Hello, changed.')\n\
            sys.stdout.buffer.write(out)\n";
        let mut child = Command::new(&python)
            .args(["-c", script, key.to_str().unwrap(), if alter { "1" } else { "0" }])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the test environment's Python (scripts/setup.sh --test) with dkimpy");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(message("news@signed.example", subject).as_bytes()).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let signed = sign("signed", false);
    assert!(signed.starts_with("DKIM-Signature: "), "{signed}");
    assert_eq!(office.send("relay.elsewhere.example", "bounces@elsewhere.example", &signed), "250");
    let ours = results(&office.newest_header());
    assert!(ours.contains("dkim=pass header.i=@signed.example header.s=sel"), "{ours}");
    assert!(ours.contains("dmarc=pass"), "DKIM aligns with From: signed.example: {ours}");

    assert_eq!(office.send("relay.elsewhere.example", "bounces@elsewhere.example", &sign("altered", true)), "250");
    let ours = results(&office.newest_header());
    // As Gmail words it: the signature's body hash no longer matches, so it counts for nothing (RFC 6376 6.1.3).
    assert!(ours.contains("dkim=neutral (body hash did not verify) header.i=@signed.example") && ours.contains("dmarc=fail"), "{ours}");
}

#[test]
fn the_offices_own_mail_is_signed_with_both_keys_and_dkimpy_and_opendkim_verify_each() {
    use hickory_proto::rr::rdata::MX;
    use hickory_proto::rr::Name;
    // DNS knows the MX and an SPF record other than ours; the DKIM keys are not published yet.
    let dns = dns(vec![
        ("office.test.", RData::MX(MX::new(10, Name::from_ascii("mail.office.test.").unwrap()))),
        ("office.test.", txt("v=spf1 -all")),
    ]);
    let office = office(dns);
    let records: serde_json::Value = serde_json::from_str(&ok(&office.dir, &["domain", "dns", "office.test", "--json"], "")).unwrap();
    let records = records.as_array().unwrap();
    let status = |kind: &str| records.iter().filter(|r| r["kind"] == kind).map(|r| r["status"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(status("mx"), ["published"], "{records:?}");
    assert_eq!(status("spf"), ["different"], "{records:?}");
    assert_eq!(status("dkim"), ["missing", "missing"], "an RSA and an Ed25519 key: {records:?}");
    assert_eq!(status("dmarc"), ["missing"], "{records:?}");
    let spf = records.iter().find(|r| r["kind"] == "spf").unwrap();
    assert_eq!(spf["found"][0], "v=spf1 -all");
    let text = ok(&office.dir, &["domain", "dns", "office.test"], "");
    assert!(text.contains("MX") && text.contains("10 mail.office.test.") && text.contains("_dmarc.office.test.") && text.contains("missing"), "{text}");

    // alice sends through the submission service to someone outside: the queued copy carries two signatures.
    let script = "import smtplib, sys\n\
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1])); s.starttls(); s.login('alice', 'alice-secret')\n\
        s.sendmail('alice@office.test', ['bob@far.example'], 'From: Alice <alice@office.test>\\r\\nTo: bob@far.example\\r\\nSubject: minutes\\r\\nDate: Fri, 4 Dec 2026 10:00:00 +0000\\r\\nMessage-ID: <m1@office.test>\\r\\n\\r\\nThe minutes.\\r\\n')\n\
        s.quit()\n";
    let out = Command::new("python3").args(["-c", script, &office.submission.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hex = sql(&office.dir, "SELECT hex(b.data) FROM queue q JOIN blobs b ON b.id = q.blob_id ORDER BY q.id DESC LIMIT 1");
    let queued: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let queued_text = String::from_utf8_lossy(&queued).to_string();
    assert_eq!(queued_text.matches("DKIM-Signature: ").count(), 2, "{queued_text}");
    assert!(queued_text.contains("a=rsa-sha256") && queued_text.contains("a=ed25519-sha256") && queued_text.contains("d=office.test"), "{queued_text}");
    assert!(!queued_text.contains("Authentication-Results"), "our own users' mail is not checked: {queued_text}");

    // dkimpy checks each signature against the records `domain dns` says to publish.
    let records: serde_json::Value = serde_json::from_str(&ok(&office.dir, &["domain", "dns", "office.test", "--json"], "")).unwrap();
    let keys: Vec<(String, String)> = records.as_array().unwrap().iter().filter(|r| r["kind"] == "dkim")
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["value"].as_str().unwrap().to_string())).collect();
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = "import dkim, json, sys\n\
        keys = json.loads(sys.argv[1])\n\
        msg = sys.stdin.buffer.read()\n\
        def dns(name, timeout=5):\n    return keys.get(name.decode().rstrip('.') + '.', '').encode()\n\
        d = dkim.DKIM(msg)\n\
        print([d.verify(idx=i, dnsfunc=dns) for i in range(2)])\n";
    let keys_json = serde_json::to_string(&keys.iter().cloned().collect::<std::collections::HashMap<_, _>>()).unwrap();
    let mut child = Command::new(&python).args(["-c", script, &keys_json]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&queued).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[True, True]", "{}", String::from_utf8_lossy(&out.stderr));

    // OpenDKIM's opendkim-testmsg too, one algorithm at a time (it passes a message when any signature
    // verifies), and an altered copy fails. It asks the DNS servers of /etc/resolv.conf on port 53 only, so
    // it runs in a private mount namespace whose resolv.conf names a test DNS server on 127.0.0.153.
    let published: Vec<(&str, RData)> = keys.iter().map(|(name, value)| (name.as_str(), txt(value))).collect();
    common::dns::serve_on("127.0.0.153:53", published).expect("127.0.0.153:53 is free for the test DNS server");
    let resolv = office.dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.153\noptions attempts:1 timeout:1\n").unwrap();
    let opendkim = |message: &[u8]| {
        let mut child = Command::new("unshare")
            .args(["-m", "sh", "-c", r#"mount --bind "$1" /etc/resolv.conf && exec opendkim-testmsg"#, "sh"])
            .arg(&resolv)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("unshare and opendkim-testmsg (scripts/setup.sh --test) as root");
        child.stdin.take().unwrap().write_all(message).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    for algorithm in ["rsa-sha256", "ed25519-sha256"] {
        let alone = only_signature(&queued_text, algorithm);
        assert_eq!(alone.matches("DKIM-Signature: ").count(), 1);
        assert_eq!(opendkim(alone.as_bytes()), (Some(0), String::new()), "{algorithm} verifies with OpenDKIM");
        let altered = alone.replace("The minutes.", "The minutes, changed.");
        assert_eq!(opendkim(altered.as_bytes()), (Some(70), "opendkim-testmsg: dkim_eom(): Bad signature".to_string()), "{algorithm}");
    }

    // Rotating makes new selectors; the next message is signed with the new keys.
    let before: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
    ok(&office.dir, &["domain", "dkim-rotate", "office.test"], "");
    let after: serde_json::Value = serde_json::from_str(&ok(&office.dir, &["domain", "dns", "office.test", "--json"], "")).unwrap();
    let names: Vec<String> = after.as_array().unwrap().iter().filter(|r| r["kind"] == "dkim").map(|r| r["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| !before.contains(n)), "{before:?} -> {names:?}");
}

/// `message` with only its DKIM signature made with `algorithm` (the other header fields stay).
fn only_signature(message: &str, algorithm: &str) -> String {
    let (head, body) = message.split_once("\r\n\r\n").unwrap();
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match fields.last_mut() {
            Some(field) if line.starts_with([' ', '\t']) => field.push_str(&format!("\r\n{line}")),
            _ => fields.push(line.to_string()),
        }
    }
    fields.retain(|f| !f.starts_with("DKIM-Signature:") || f.contains(&format!("a={algorithm};")));
    format!("{}\r\n\r\n{body}", fields.join("\r\n"))
}

#[test]
fn five_thousand_signatures_from_a_stranger_cost_ten_checks() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let office = office(dns);
    // Each signature names its own domain and body length: verifying them all would mean 5,000 DNS
    // lookups and 5,000 hashes of the body.
    let mut m = String::new();
    for i in 0..5000 {
        m.push_str(&format!("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=x{i}.example; s=s; h=from; l={i}; bh=YWJj; b=YWJj\r\n"));
    }
    m.push_str(&message("bob@pass.example", "many"));
    m.push_str(&"x".repeat(76).repeat(600).chars().collect::<Vec<_>>().chunks(76).map(|c| c.iter().collect::<String>() + "\r\n").collect::<String>());
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &m), "250");
    let ours = results(&office.newest_header());
    assert_eq!(ours.matches("dkim=").count(), 10, "{ours}");
    assert!(ours.contains("spf=pass"), "the other checks still ran: {ours}");
}


#[test]
fn gtube_is_refused_before_the_250_and_spam_test_scores_a_file() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let office = office(dns);
    let gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    let spam = format!("{}{gtube}\r\n", message("bob@pass.example", "gtube"));
    let reply = office.send("client.pass.example", "bob@pass.example", &spam);
    assert!(reply.starts_with("550 5.7.1 message refused as spam (score 1001: GTUBE(1000),MISSING_DATE(1))"), "{reply}");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM messages"), "0");

    // The same message as a file, with LF line ends as mail programs save them; exit 1 means spam.
    let file = office.dir.join("gtube.eml");
    std::fs::write(&file, spam.replace("\r\n", "\n")).unwrap();
    let out = run(&office.dir, &["spam", "test", file.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "score 1001 (refused; marked from 5, Junk from 5, quarantined from 10, refused from 15): GTUBE(1000),MISSING_DATE(1)");
    std::fs::write(&file, message("bob@pass.example", "fine").replace("Message-ID", "Date: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID")).unwrap();
    let out = run(&office.dir, &["spam", "test", file.to_str().unwrap()], "");
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_string()), (Some(0), "score 0 (not spam; marked from 5, Junk from 5, quarantined from 10, refused from 15): none".to_string()));
}

#[test]
fn a_client_address_on_a_chosen_blocklist_adds_its_points() {
    // The lists' standard test entry: 127.0.0.2 answered for the reversed 127.0.0.1 under bl.test; the other
    // zone answers 127.255.255.254, a list's "you may not ask" error, which is no listing.
    let dns = dns(vec![
        ("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("1.0.0.127.bl.test.", RData::A(hickory_proto::rr::rdata::A::new(127, 0, 0, 2))),
        ("1.0.0.127.refusing.test.", RData::A(hickory_proto::rr::rdata::A::new(127, 255, 255, 254))),
    ]);
    let lists = r#"[{"zone": "bl.test", "points": 6}, {"zone": "refusing.test", "points": 6}, {"zone": "clean.test", "points": 6}]"#;
    let office = office_with(dns, &["spam.blocklists", lists]);
    let m = message("bob@pass.example", "listed").replace("Message-ID", "Date: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID");
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &m), "250");
    let header = office.newest_header();
    assert!(header.contains("X-Spam-Status: Yes, score=6 required=5 tests=DNSBL_BL_TEST(6)\r\n"), "{header}");
    assert_eq!(sql(&office.dir, "SELECT spam FROM messages ORDER BY id DESC LIMIT 1"), "1");
    // A bad zone is refused with the reason.
    let out = run(&office.dir, &["settings", "set", "spam.blocklists", r#"[{"zone": "not a zone", "points": 5}]"#], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("a zone name and its points"), "{}", String::from_utf8_lossy(&out.stderr));
}


#[test]
fn a_client_without_a_name_pointing_back_and_a_bare_helo_score_a_point_each() {
    // No name points back to 127.0.0.7 here.
    let server = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.0/8 -all"))]);
    let office = office(server);
    let m = message("bob@pass.example", "bare").replace("Message-ID", "Date: Fri, 4 Dec 2026 10:00:00 +0000\r\nMessage-ID");
    assert_eq!(office.send_from("127.0.0.7", "localpc", "bob@pass.example", &m), "250");
    let header = office.newest_header();
    assert!(results(&header).contains("iprev=fail"), "{header}");
    assert!(header.contains("X-Spam-Status: No, score=2 required=5 tests=IPREV_FAIL(1),HELO_NO_DOT(1)\r\n"), "{header}");
}

/// Alice's messages by folder, as `FOLDER:spam-mark` lines in delivery order.
fn placed(dir: &Path, user: &str) -> Vec<String> {
    let rows = sql(dir, &format!("SELECT f.path || ':' || m.spam FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = '{user}' ORDER BY m.id"));
    rows.lines().map(String::from).collect()
}

const DATE: &str = "Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n";

#[test]
fn scores_lead_to_the_mark_the_junk_folder_the_quarantine_and_release_delivers_once() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let office = office_with(dns, &["spam.mark_score", "1", "spam.junk_score", "2", "spam.quarantine_score", "3", "spam.refuse_score", "50"]);
    ok(&office.dir, &["user", "add", "bob", "--password-stdin"], "bob-secret\n");
    let both = ["alice@office.test", "bob@office.test"];
    // One point (no Date), two (no Message-ID either), three (and a shouting subject).
    assert_eq!(office.send("client.pass.example", "x@pass.example", &message("x@pass.example", "one")), "250");
    let two = message("x@pass.example", "two").replace("Message-ID: <two@test>\r\n", "");
    assert_eq!(office.send("client.pass.example", "x@pass.example", &two), "250");
    assert_eq!(placed(&office.dir, "alice"), ["INBOX:1", "Junk:1"]);
    assert!(office.newest_header().contains("X-Spam-Status: Yes, score=2 required=1 tests=MISSING_DATE(1),MISSING_MESSAGE_ID(1)\r\nX-Spam-Flag: YES\r\n"));
    let three = |subject: &str| message("x@pass.example", subject).replace(&format!("Message-ID: <{subject}@test>\r\n"), "");
    assert_eq!(office.send_to("127.0.0.1", "client.pass.example", "x@pass.example", &both, &three("CHEAP WATCHES TODAY")), "250");
    assert_eq!(placed(&office.dir, "alice").len(), 2, "held, not delivered");
    assert!(placed(&office.dir, "bob").is_empty());

    let list: serde_json::Value = serde_json::from_str(&ok(&office.dir, &["quarantine", "list", "--json"], "")).unwrap();
    let held = &list.as_array().unwrap()[0];
    assert_eq!((held["score"].as_i64(), held["sender"].as_str(), held["subject"].as_str()), (Some(3), Some("x@pass.example"), Some("CHEAP WATCHES TODAY")));
    assert_eq!(held["reasons"], "MISSING_DATE(1),MISSING_MESSAGE_ID(1),SUBJECT_ALL_CAPS(1)");
    assert_eq!(held["recipients"], serde_json::json!(both));
    let id = held["id"].as_i64().unwrap().to_string();
    let text = ok(&office.dir, &["quarantine", "list"], "");
    assert!(text.starts_with("the quarantine holds 1 messages\n") && text.contains("CHEAP WATCHES TODAY"), "{text}");

    assert_eq!(ok(&office.dir, &["quarantine", "release", &id], "").trim(), format!("released {id}: delivered to 2 mailboxes"));
    assert_eq!(placed(&office.dir, "alice"), ["INBOX:1", "Junk:1", "INBOX:0"]);
    assert_eq!(placed(&office.dir, "bob"), ["INBOX:0"]);
    let again = run(&office.dir, &["quarantine", "release", &id], "");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains(&format!("no message {id} in the quarantine")));
    assert_eq!(placed(&office.dir, "bob"), ["INBOX:0"], "released exactly once");

    // Deleted: the body goes with it.
    assert_eq!(office.send("client.pass.example", "x@pass.example", &three("ANOTHER OFFER FOR YOU")), "250");
    let id = ok(&office.dir, &["quarantine", "list", "--json"], "");
    let id = serde_json::from_str::<serde_json::Value>(&id).unwrap()[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(ok(&office.dir, &["quarantine", "delete", &id], "").trim(), format!("deleted {id}"));
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM quarantine"), "0");
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM blobs WHERE refcount > 0"), "3", "the three delivered bodies only");
    assert_eq!(ok(&office.dir, &["spam", "status"], "").lines().nth(1), Some("quarantine: 0 messages"));
}

#[test]
fn allow_and_deny_lists_global_and_per_user_override_the_score() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all")), ("forged.example.", txt("v=spf1 ip4:192.0.2.1 -all"))]);
    let office = office_with(dns, &["spam.mark_score", "1", "spam.junk_score", "2", "spam.quarantine_score", "3", "spam.refuse_score", "4", "spam.deny_senders", r#"["spammer.example"]"#]);
    ok(&office.dir, &["user", "add", "bob", "--password-stdin"], "bob-secret\n");
    let both = ["alice@office.test", "bob@office.test"];
    // Refused outright: the global deny list.
    let reply = office.send("client.pass.example", "x@spammer.example", &message("x@spammer.example", "hi"));
    assert_eq!(reply, "550 5.7.1 mail from this sender is refused by this server's policy");

    // Alice allows friend.example, bob denies pest.example.
    ok(&office.dir, &["user", "set", "alice", "--spam-allow", "friend.example"], "");
    ok(&office.dir, &["user", "set", "bob", "--spam-deny", "Boss@pest.example"], "");
    assert_eq!(sql(&office.dir, "SELECT name || ':' || spam_allow || ':' || spam_deny FROM users ORDER BY name"), "alice:friend.example:\nbob::boss@pest.example");
    let bad = run(&office.dir, &["user", "set", "bob", "--spam-allow", "good.example,not a domain"], "");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("'not a domain'"), "{}", String::from_utf8_lossy(&bad.stderr));
    // Four points would be refused; alice wants this sender, so it reaches her unmarked and is held for bob.
    // No From:, Date or Message-ID, and a shouting subject: 6 points.
    let four = "To: alice@office.test\r\nSubject: BUY OUR NEW THING\r\n\r\nHello.\r\n".to_string();
    assert_eq!(office.send_to("127.0.0.1", "client.pass.example", "carol@friend.example", &both, &four), "250");
    assert_eq!(placed(&office.dir, "alice"), ["INBOX:0"]);
    assert!(placed(&office.dir, "bob").is_empty());
    assert_eq!(sql(&office.dir, "SELECT count(*) FROM quarantine_recipients r JOIN users u ON u.id = r.user_id WHERE u.name = 'bob'"), "1");
    // Nobody allows it: refused.
    let reply = office.send_to("127.0.0.1", "client.pass.example", "dave@elsewhere.example", &["bob@office.test"], &four.replace("carol@friend.example", "dave@elsewhere.example"));
    assert!(reply.starts_with("550 5.7.1 message refused as spam (score 6"), "{reply}");
    // A clean message from bob's denied sender goes to his Junk; alice gets it in her INBOX.
    let clean = message("boss@pest.example", "Lunch").replace("Message-ID", &format!("{DATE}Message-ID"));
    assert_eq!(office.send_to("127.0.0.1", "client.pass.example", "boss@pest.example", &both, &clean), "250");
    assert_eq!(placed(&office.dir, "bob"), ["Junk:1"]);
    assert_eq!(placed(&office.dir, "alice"), ["INBOX:0", "INBOX:0"]);
    // An allowed domain whose SPF fails is not allowed: forged.
    ok(&office.dir, &["user", "set", "alice", "--spam-allow", "forged.example"], "");
    let forged = clean.replace("boss@pest.example", "ceo@forged.example").replace("Subject: Lunch", "Subject: URGENT WIRE TRANSFER");
    let reply = office.send("client.pass.example", "ceo@forged.example", &forged);
    assert!(reply.starts_with("550 5.7.1 message refused as spam") && reply.contains("SPF_FAIL(3)"), "{reply}");
}

#[test]
fn greylisting_defers_a_first_attempt_and_passes_the_retry_and_then_the_network() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let office = office_with(dns, &["spam.greylist", "true", "spam.greylist_delay", "2"]);
    let m = message("x@pass.example", "hello").replace("Message-ID", &format!("{DATE}Message-ID"));
    let first = office.send("client.pass.example", "x@pass.example", &m);
    assert_eq!(first, "451 4.7.1 <alice@office.test>: greylisted, please try again in 2 seconds");
    let early = office.send("client.pass.example", "x@pass.example", &m);
    assert!(early.starts_with("451 4.7.1 <alice@office.test>: greylisted"), "{early}");
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert_eq!(office.send("client.pass.example", "x@pass.example", &m), "250");
    // The network passed: another sender from it is not held up.
    assert_eq!(office.send("client.pass.example", "y@pass.example", &m.replace("x@", "y@")), "250");
    assert_eq!(placed(&office.dir, "alice"), ["INBOX:0", "INBOX:0"]);
}

#[test]
fn a_program_inside_a_zip_link_domains_on_a_list_and_an_allowlisted_client_are_scored() {
    use hickory_proto::rr::rdata::A;
    let dns = dns(vec![
        ("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("evil.example.dbl.test.", RData::A(A::new(127, 0, 1, 2))),
        ("1.0.0.127.wl.test.", RData::A(A::new(127, 0, 10, 0))),
    ]);
    let office = office_with(dns, &["spam.domain_blocklists", r#"[{"zone": "dbl.test", "points": 4}]"#, "spam.allowlists", r#"[{"zone": "wl.test", "points": 2}]"#]);
    // A real archive: Python's zipfile.
    let out = Command::new("python3")
        .args(["-c", "import zipfile, io, base64\nb = io.BytesIO()\nwith zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('readme.txt', 'see the invoice')\n    z.writestr('invoice.pdf.exe', 'MZ' + 'x' * 4000)\nprint(base64.encodebytes(b.getvalue()).decode().replace('\\n', '\\r\\n'))"])
        .output()
        .unwrap();
    let zip = String::from_utf8(out.stdout).unwrap();
    let m = format!(
        "From: x@pass.example\r\nTo: alice@office.test\r\nSubject: your invoice\r\nMessage-ID: <zip@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Pay at <a href=\"https://www.evil.example/pay\">our page</a> or http://fine.example/</p>\r\n--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"invoice.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{zip}\r\n--b--\r\n"
    );
    assert_eq!(office.send("client.pass.example", "x@pass.example", &m), "250");
    let header = office.newest_header();
    assert!(header.contains("X-Spam-Status: Yes, score=8 required=5 tests=URIBL_DBL_TEST(4),DNSWL_WL_TEST(-2),MISSING_DATE(1),EXECUTABLE_IN_ARCHIVE(5)\r\n"), "{header}");
    assert_eq!(placed(&office.dir, "alice"), ["Junk:1"]);
}

/// Sends `count` messages with these words to alice.
fn deliver_words(office: &Office, count: usize, words: &str, tag: &str) {
    for i in 0..count {
        let m = format!("From: {tag}{i}@pass.example\r\nTo: alice@office.test\r\nSubject: {tag} {i}\r\n{DATE}Message-ID: <{tag}{i}@test>\r\n\r\n{words} {tag}{i}\r\n");
        assert_eq!(office.send("client.pass.example", &format!("{tag}{i}@pass.example"), &m), "250");
    }
}

fn spam_status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &["spam", "status", "--json"], "")).unwrap()
}

#[test]
fn moving_mail_to_junk_over_imap_trains_the_classifier_and_similar_mail_then_scores_higher() {
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let office = office(dns);
    let spammy = "Cheap replica watches casino bonus winner claim your prize now unsubscribe";
    let hammy = "Agenda for the quarterly project meeting and the lunch order for Thursday";
    deliver_words(&office, 12, spammy, "offer");
    deliver_words(&office, 12, hammy, "team");
    let file = office.dir.join("new.eml");
    std::fs::write(&file, format!("From: z@pass.example\r\nSubject: claim your prize\r\n{DATE}Message-ID: <z@test>\r\n\r\nCasino bonus winner: cheap replica watches\r\n")).unwrap();
    let before = String::from_utf8(run(&office.dir, &["spam", "test", file.to_str().unwrap()], "").stdout).unwrap();
    assert!(before.starts_with("score 0 (not spam"), "{before}");
    assert_eq!(spam_status(&office.dir)["bayes"]["tokens"], 0);

    // As a mail program does it: the offers moved into Junk (COPY, then expunged from the INBOX), the team
    // mail marked $NotJunk.
    let imap = office.imap;
    let script = "import imaplib, sys\n\
        m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1])); m.login('alice', 'alice-secret'); m.select('INBOX')\n\
        _, spam = m.uid('SEARCH', None, 'SUBJECT', 'offer'); spam = spam[0].decode().replace(' ', ',')\n\
        _, ham = m.uid('SEARCH', None, 'SUBJECT', 'team'); ham = ham[0].decode().replace(' ', ',')\n\
        print(m.uid('COPY', spam, 'Junk')[0], m.uid('STORE', spam, '+FLAGS', '(\\\\Deleted)')[0], m.expunge()[0])\n\
        print(m.uid('STORE', ham, '+FLAGS', '($NotJunk)')[0])\n\
        m.logout()\n";
    let out = Command::new("python3").args(["-c", script, &imap.to_string()]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK OK OK\nOK\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(placed(&office.dir, "alice").iter().filter(|p| p.starts_with("Junk")).count(), 12);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        let s = spam_status(&office.dir);
        if s["bayes"]["active"] == true && s["bayes"]["waiting"] == 0 {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "not learnt: {s}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!((status["bayes"]["spam_learnt"].as_i64(), status["bayes"]["ham_learnt"].as_i64()), (Some(12), Some(12)));
    assert!(status["bayes"]["tokens"].as_i64().unwrap() > 20, "{status}");
    let after = String::from_utf8(run(&office.dir, &["spam", "test", file.to_str().unwrap()], "").stdout).unwrap();
    assert!(after.contains("BAYES_99(5)"), "{after}");
    let ham = office.dir.join("ham.eml");
    std::fs::write(&ham, format!("From: z@pass.example\r\nSubject: project meeting\r\n{DATE}Message-ID: <h@test>\r\n\r\nThe agenda for Thursday's lunch meeting\r\n")).unwrap();
    let ham_score = String::from_utf8(run(&office.dir, &["spam", "test", ham.to_str().unwrap()], "").stdout).unwrap();
    assert!(ham_score.contains("BAYES_00(-2)"), "{ham_score}");

    // Moving a message out of Junk (a change of mind) moves its counts: one spam fewer, one ham more.
    let script = "import imaplib, sys\n\
        m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1])); m.login('alice', 'alice-secret'); m.select('Junk')\n\
        print(m.copy('1', 'INBOX')[0]); m.logout()\n";
    let out = Command::new("python3").args(["-c", script, &imap.to_string()]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while spam_status(&office.dir)["bayes"]["ham_learnt"] != 13 {
        assert!(std::time::Instant::now() < deadline, "{}", spam_status(&office.dir));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(spam_status(&office.dir)["bayes"]["spam_learnt"], 11);
}

/// The log file `name`, once it holds a line containing `needle` (the log writer is a background task).
fn log_with(dir: &Path, name: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(dir.join("logs").join(name)).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(std::time::Instant::now() < deadline, "{name} never said {needle:?}:\n{log}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn debians_rspamd_as_the_only_scanner_decides_and_its_absence_follows_the_fail_open_setting() {
    let mut rspamd = common::rspamd::Rspamd::start();
    let dns = dns(vec![("pass.example.", txt("v=spf1 ip4:127.0.0.1 -all"))]);
    let url = format!("http://127.0.0.1:{}", rspamd.port);
    let office = office_with(dns, &["spam.rspamd_url", &url, "spam.rspamd_only", "true"]);
    let dated = |subject: &str, body: &str| {
        let now = Command::new("date").args(["-R"]).output().unwrap();
        format!(
            "From: Bob <bob@pass.example>\r\nTo: Alice <alice@office.test>\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}@pass.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            String::from_utf8_lossy(&now.stdout).trim(),
            subject.replace(' ', "."),
        )
    };

    // GTUBE: rspamd answers "reject", which is a refusal here although the built-in content rules are off;
    // security.log says why.
    let gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    let reply = office.send("client.pass.example", "bob@pass.example", &dated("test one", gtube));
    assert_eq!(reply, "550 5.7.1 message refused as spam (score 15: RSPAMD(15))");
    let security = log_with(&office.dir, "security.log", "action=reject");
    assert!(security.contains("rspamd=15 action=reject symbols= rspamd_message='Gtube pattern' score=15 tests=RSPAMD(15)"), "{security}");

    // rspamd's "add header" test pattern scores 6: marked and put in the Junk folder (both from 5 here).
    let yjs = gtube.replacen('X', "Y", 1);
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &dated("test two", &yjs)), "250");
    assert_eq!(placed(&office.dir, "alice"), ["Junk:1"]);
    assert!(office.newest_header().contains("X-Spam-Status: Yes, score=6 required=5 tests=RSPAMD(6)\r\n"), "{}", office.newest_header());

    // Ordinary mail without a Message-ID: rspamd's own rule for that scores it (2.5, rounded to 2); the
    // built-in rules (which would say MISSING_MESSAGE_ID) are not asked.
    let ham = dated("Lunch tomorrow", "Hi Alice,\r\n\r\nAre we still on for lunch tomorrow at noon?\r\n\r\nBob").replace("Message-ID: <Lunch.tomorrow@pass.example>\r\n", "");
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &ham), "250");
    assert_eq!(placed(&office.dir, "alice"), ["Junk:1", "INBOX:0"]);
    assert!(office.newest_header().contains("X-Spam-Status: No, score=2 required=5 tests=RSPAMD(2)\r\n"), "{}", office.newest_header());
    let mail = log_with(&office.dir, "mail.log", "action=no_action");
    assert!(mail.contains("symbols=MISSING_MID(2.5)") && mail.contains("action=deliver"), "{mail}");

    // rspamd stops: fail-open (the default) accepts without its opinion; fail-closed defers with 451.
    rspamd.stop();
    assert_eq!(office.send("client.pass.example", "bob@pass.example", &dated("while it is down", "Hello.")), "250");
    assert!(office.newest_header().contains("tests=RSPAMD_UNAVAILABLE(0)"), "{}", office.newest_header());
    ok(&office.dir, &["settings", "set", "spam.rspamd_fail_open", "false"], "");
    // The running server reads changed settings within half a second (its watch interval).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let reply = office.send("client.pass.example", "bob@pass.example", &dated("still down", "Hello."));
    assert_eq!(reply, "451 4.7.0 the spam scanner is not answering; try again later");
    assert_eq!(placed(&office.dir, "alice").len(), 3, "nothing more was delivered");
}

#[test]
fn spam_learn_teaches_the_classifier_from_files_once_each_and_spam_test_scores_many_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let write = |name: &str, words: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, format!("From: x@{name}.example\nSubject: {words}\n{DATE}Message-ID: <{name}@test>\n\n{words} {name}\n")).unwrap();
        path.to_str().unwrap().to_string()
    };
    let spam: Vec<String> = (0..11).map(|i| write(&format!("offer{i}"), "Cheap replica watches casino bonus winner claim your prize now")).collect();
    let ham: Vec<String> = (0..10).map(|i| write(&format!("team{i}"), "Agenda for the quarterly project meeting and the lunch order")).collect();
    let learn = |kind: &str, files: &[String]| ok(&dir, &[&["spam", "learn", kind][..], &files.iter().map(String::as_str).collect::<Vec<_>>()].concat(), "").trim().to_string();
    assert_eq!(learn("--spam", &spam), "learnt 11 of 11 as spam (now 11 spam and 0 good messages)");
    assert_eq!(learn("--ham", &ham), "learnt 10 of 10 as good mail (now 11 spam and 10 good messages)");
    assert_eq!(learn("--spam", &spam), "learnt 0 of 11 as spam (now 11 spam and 10 good messages)", "a file counts once");
    assert_eq!(learn("--ham", &spam[..1]), "learnt 1 of 1 as good mail (now 10 spam and 11 good messages)", "a change of mind moves it");
    let none = run(&dir, &["spam", "learn", spam[0].as_str()], "");
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("--spam"), "spam or ham must be said");

    // Several files: one line each, named; exit status 1 as one of them is spam.
    let new_spam = write("new", "CHEAP REPLICA WATCHES CASINO BONUS WINNER CLAIM YOUR PRIZE NOW");
    let new_ham = write("minutes", "Minutes of the quarterly project meeting; the lunch order is attached");
    let out = run(&dir, &["spam", "test", &new_spam, &new_ham], "");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(out.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{new_spam}: score 6 (to the Junk folder;")) && lines[0].ends_with("SUBJECT_ALL_CAPS(1),BAYES_99(5)"), "{lines:?}");
    assert!(lines[1].starts_with(&format!("{new_ham}: score -2 (not spam;")) && lines[1].ends_with("BAYES_00(-2)"), "{lines:?}");
}
