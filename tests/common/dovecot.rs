//! Debian's Dovecot, started by a test as the ISP whose mailboxes the collector empties: its own config
//! folder, loopback ports for POP3, POP3S, IMAP and IMAPS, users with plain-text passwords in a
//! passwd-file (so APOP works), Maildir mailboxes owned by the `mail` user, a self-signed certificate.
//! Messages are put in a mailbox as Maildir files, as a delivery agent would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dovecot {
    pub pop3: u16,
    pub pop3s: u16,
    pub imap: u16,
    pub imaps: u16,
    dir: PathBuf,
    child: Child,
    _tmp: tempfile::TempDir,
}

fn open_up(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn mail_user() -> (u32, u32) {
    let out = Command::new("id").args(["-u", "mail"]).output().unwrap();
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let out = Command::new("id").args(["-g", "mail"]).output().unwrap();
    (uid, String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

impl Dovecot {
    /// Starts Dovecot with these users (name, password).
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        open_up(&dir);
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            open_up(&dir.join(sub));
        }
        let (uid, gid) = mail_user();
        std::os::unix::fs::chown(dir.join("mail"), Some(uid), Some(gid)).unwrap();
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pop.isp.test", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "openssl makes the ISP's certificate");
        let passwd: String = users.iter().map(|(u, p)| format!("{u}:{{PLAIN}}{p}\n")).collect();
        std::fs::write(dir.join("users"), passwd).unwrap();
        let [pop3, pop3s, imap, imaps] = [0; 4].map(|_| super::free_port());
        let d = dir.display();
        let dh = if Path::new("/usr/share/dovecot/dh.pem").exists() { "ssl_dh = </usr/share/dovecot/dh.pem\n" } else { "" };
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\ninfo_log_path = {d}/dovecot.log\n\
             protocols = pop3 imap\nlisten = 127.0.0.1\nssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem\n{dh}\
             disable_plaintext_auth = no\nauth_mechanisms = plain login apop\nmail_location = maildir:{d}/mail/%u\n\
             first_valid_uid = {uid}\nfirst_valid_gid = {gid}\npop3_uidl_format = %08Xu%08Xv\nimap_capability = +MOVE\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/mail/%u\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n"
        );
        std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Dovecot is installed (scripts/setup.sh --test)");
        let dovecot = Dovecot { pop3, pop3s, imap, imaps, dir, child, _tmp: tmp };
        let deadline = Instant::now() + Duration::from_secs(30);
        while [pop3, pop3s, imap, imaps].iter().any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err()) {
            assert!(Instant::now() < deadline, "Dovecot did not listen within 30 s: {}", dovecot.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// The ISP's certificate, for a client that checks it.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        let base = self.dir.join("mail").join(user);
        if folder == "INBOX" { base } else { base.join(format!(".{folder}")) }
    }

    /// Puts `message` into `user`'s `folder` (INBOX or another) as a new Maildir file.
    pub fn put(&self, user: &str, folder: &str, name: &str, message: &[u8]) {
        self.make_folder(user, folder);
        let file = self.maildir(user, folder).join("new").join(format!("{name}.test"));
        std::fs::write(&file, message).unwrap();
        let (uid, gid) = mail_user();
        std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();
    }

    /// Makes `user`'s `folder` (empty) if it is not there.
    pub fn make_folder(&self, user: &str, folder: &str) {
        let (uid, gid) = mail_user();
        let maildir = self.maildir(user, folder);
        let mut path = self.dir.join("mail");
        for part in maildir.strip_prefix(&path).unwrap().components() {
            path = path.join(part);
            if !path.exists() {
                std::fs::create_dir(&path).unwrap();
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            }
        }
        for sub in ["new", "cur", "tmp"] {
            let p = maildir.join(sub);
            if !p.exists() {
                std::fs::create_dir(&p).unwrap();
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
            }
        }
    }

    /// Messages in `user`'s `folder` now.
    pub fn count(&self, user: &str, folder: &str) -> usize {
        let maildir = self.maildir(user, folder);
        ["new", "cur"].iter().map(|s| std::fs::read_dir(maildir.join(s)).map(|d| d.count()).unwrap_or(0)).sum()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
