//! A private Postfix instance (Debian's package) for the tests that talk to a real peer: its own
//! configuration, queue and maildirs under a temporary folder, listening on one loopback address.
//! It accepts mail for one virtual domain into maildirs, and sends anything for `return_domain`
//! (reports, bounces) back to the Postroom under test.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postfix {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    pub domain: String,
    /// Runs inside this test host's network namespace (see `netns`), else on this machine.
    pub netns: Option<std::sync::Arc<super::netns::TestHost>>,
}

/// Who the Postfix instance serves.
pub struct PostfixConfig<'a> {
    pub listen: SocketAddr,
    pub domain: &'a str,
    pub users: &'a [&'a str],
    /// Mail for this domain goes to Postroom at this address.
    pub return_route: Option<(&'a str, SocketAddr)>,
}

fn id_of(flag: &str) -> String {
    let out = Command::new("id").args([flag, "postfix"]).output().expect("id runs");
    assert!(out.status.success(), "the postfix user exists (scripts/setup.sh installs Postfix)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Postfix {
    /// Writes the configuration into `dir` (which must be reachable by the postfix user).
    pub fn configure(dir: &Path, config: &PostfixConfig) -> Postfix {
        for sub in ["conf", "queue", "data", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut walk = Some(dir);
        while let Some(d) = walk {
            // Postfix drops to its own user, which must be able to walk down to its folders.
            if d.starts_with(std::env::temp_dir()) && d != std::env::temp_dir() {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            walk = d.parent();
        }
        for owned in ["data", "mail"] {
            let status = Command::new("chown").arg("postfix:postfix").arg(dir.join(owned)).status().unwrap();
            assert!(status.success());
        }
        let master = std::fs::read_to_string("/etc/postfix/master.cf").expect("Postfix is installed");
        let master: String = master
            .lines()
            .map(|l| if l.starts_with("smtp ") && l.ends_with("smtpd") { format!("{} inet n - n - - smtpd", config.listen) } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join("conf/master.cf"), master + "\n").unwrap();
        let mailboxes: Vec<String> = config.users.iter().map(|u| format!("{u}@{}={u}/", config.domain)).collect();
        let transport = config
            .return_route
            .map(|(domain, at)| format!("transport_maps = inline:{{ {{{domain}=smtp:[{}]:{}}} }}\n", at.ip(), at.port()))
            .unwrap_or_default();
        let d = dir.display();
        let main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             mail_owner = postfix\n\
             myhostname = mx.{domain}\n\
             mydomain = {domain}\n\
             myorigin = {domain}\n\
             inet_interfaces = {interfaces}\n\
             inet_protocols = ipv4\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             local_header_rewrite_clients =\n\
             virtual_mailbox_domains = {domain}\n\
             virtual_mailbox_base = {d}/mail\n\
             virtual_mailbox_maps = inline:{{ {maps} }}\n\
             virtual_uid_maps = static:{uid}\n\
             virtual_gid_maps = static:{gid}\n\
             smtpd_tls_security_level = may\n\
             smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem\n\
             smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key\n\
             {transport}\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             alias_maps =\n\
             alias_database =\n\
             shlib_directory = /usr/lib/postfix\n\
             daemon_directory = /usr/lib/postfix/sbin\n\
             meta_directory = /etc/postfix\n",
            domain = config.domain,
            interfaces = if config.listen.ip().is_loopback() { "loopback-only".to_string() } else { config.listen.ip().to_string() },
            maps = mailboxes.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>().join(" "),
            uid = id_of("-u"),
            gid = id_of("-g"),
        );
        std::fs::write(dir.join("conf/main.cf"), main).unwrap();
        Postfix { dir: dir.to_path_buf(), listen: config.listen, domain: config.domain.to_string(), netns: None }
    }

    fn control(&self, verb: &str) {
        let mut command = match &self.netns {
            Some(host) => host.command("postfix"),
            None => Command::new("postfix"),
        };
        let out = command.arg("-c").arg(self.dir.join("conf")).arg(verb).output().expect("postfix runs");
        assert!(out.status.success(), "postfix {verb} failed; its log says:\n{}", self.log());
    }

    pub fn start(&self) {
        self.control("start");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(self.listen).is_err() {
            assert!(std::time::Instant::now() < deadline, "Postfix did not listen on {}:\n{}", self.listen, self.log());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn stop(&self) {
        self.control("stop");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// The messages delivered to `user`'s maildir, oldest first.
    pub fn mailbox(&self, user: &str) -> Vec<Vec<u8>> {
        let new = self.dir.join("mail").join(user).join("new");
        let mut files: Vec<_> = std::fs::read_dir(new).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let mut command = match &self.netns {
            Some(host) => host.command("postfix"),
            None => Command::new("postfix"),
        };
        let _ = command.arg("-c").arg(self.dir.join("conf")).arg("abort").output();
    }
}
