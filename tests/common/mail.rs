//! An office for the mailbox tests (POP3, IMAP): a running server with alice@office.test, mail delivered
//! to her over SMTP, and Python scripts run against every port.

use std::path::Path;
use std::process::Command;

use super::{configure_loopback, ok, Server};

pub struct MailOffice {
    _tmp: tempfile::TempDir,
    pub server: Server,
    ports: Vec<(&'static str, u16)>,
}

impl MailOffice {
    /// The server, running, with user alice (password alice-secret) at office.test.
    pub fn start() -> MailOffice {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ports = configure_loopback(d);
        ok(d, &["settings", "set", "general.server_name", "mail.office.test"], "");
        ok(d, &["domain", "add", "office.test"], "");
        ok(d, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
        let server = Server::start(d, &[]);
        MailOffice { _tmp: tmp, server, ports }
    }

    pub fn dir(&self) -> &Path {
        &self.server.dir
    }

    pub fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|p| p.0 == service).unwrap().1
    }

    /// The muttrc lines that point mutt or neomutt at alice's mailbox over plain IMAP on loopback.
    pub fn mutt_account(&self) -> Vec<String> {
        vec![
            "set imap_user=\"alice\"".to_string(),
            "set imap_pass=\"alice-secret\"".into(),
            format!("set folder=\"imap://127.0.0.1:{}/\"", self.port("imap")),
            "set spoolfile=\"+INBOX\"".into(),
            "set ssl_starttls=no".into(),
            "set ssl_force_tls=no".into(),
        ]
    }

    /// A SQL query through the sqlite3 shell, as an admin would look.
    pub fn sql(&self, query: &str) -> String {
        let out = Command::new("sqlite3").arg(self.dir().join("postroom.db")).arg(query).output().expect("sqlite3 runs");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Sends `count` messages from bob@far.example to alice over SMTP; `message` is a Python expression
    /// for the message text (bytes or str) in which `n` is the message's number from 1.
    pub fn deliver(&self, count: usize, message: &str) {
        let script = format!(
            "import smtplib, sys\ns = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\nfor n in range(1, int(sys.argv[2]) + 1):\n    \
             s.sendmail('bob@far.example', ['alice@office.test'], {message})\ns.quit()\n"
        );
        let (sent, out) = python(&script, &[self.port("smtp").to_string(), count.to_string()]);
        assert!(sent, "{out}");
    }

    /// Runs a Python script with `imap`, `imaps`, `pop3`, `pop3s` and `smtp` set to the ports, a TLS
    /// context `ctx` that accepts the self-signed certificate, and `prelude` before `body`.
    pub fn python(&self, prelude: &str, body: &str) -> (bool, String) {
        let script = format!(
            "import imaplib, poplib, smtplib, socket, ssl, sys, time\nimap, imaps, pop3, pop3s, smtp = [int(a) for a in sys.argv[1:6]]\n\
             ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n{prelude}{body}"
        );
        let args = ["imap", "imaps", "pop3", "pop3s", "smtp"].map(|s| self.port(s).to_string());
        python(&script, &args)
    }
}

/// Runs `python3 -c script args…`; (success, stdout + stderr).
pub fn python(script: &str, args: &[String]) -> (bool, String) {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
