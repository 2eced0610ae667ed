//! Debian's rspamd, started by a test as the office's external spam scanner: its stock configuration read
//! from /etc/rspamd, with a private override folder that binds the normal worker to a loopback port, turns
//! off the controller and proxy, logs to the console, and disables every module that asks DNS, Redis or
//! the Internet at scan time (so its answers are the same on every run and machine). The compiled
//! hyperscan cache is kept in /var/tmp between runs: a cold start compiles the TLD list (about 12 s on
//! 2 cores), a warm one takes under a second.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OFFLINE_MODULES: &[&str] = &[
    "rbl", "surbl", "emails", "asn", "spf", "dkim", "dmarc", "arc", "hfilter", "fuzzy_check", "mx_check", "phishing", "reputation",
    "whitelist", "dkim_signing", "neural", "ratelimit", "greylist", "replies", "url_redirector", "once_received", "history_redis",
    "metadata_exporter", "clickhouse", "elastic",
];

pub struct Rspamd {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Rspamd {
    /// Starts rspamd and waits until it answers `/ping`.
    pub fn start() -> Rspamd {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let local = dir.path().join("local");
        let cache = Path::new("/var/tmp/postroom-test-rspamd-hs");
        for sub in ["override.d", "local.d"] {
            std::fs::create_dir_all(local.join(sub)).unwrap();
        }
        std::fs::create_dir_all(cache).unwrap();
        let write = |name: &str, text: &str| std::fs::write(local.join(name), text).unwrap();
        write("override.d/worker-normal.inc", &format!("bind_socket = \"127.0.0.1:{port}\";\ncount = 1;\n"));
        write("override.d/worker-controller.inc", "enabled = false;\n");
        write("override.d/worker-proxy.inc", "enabled = false;\n");
        write("override.d/logging.inc", "type = \"console\";\nlevel = \"notice\";\n");
        write(
            "override.d/options.inc",
            &format!(
                "hs_cache_dir = \"{}/\";\nenable_test_patterns = true;\ndns {{\n  nameserver = [\"127.0.0.1:1\"];\n  timeout = 0.1s;\n  retransmits = 1;\n}}\n",
                cache.display()
            ),
        );
        for module in OFFLINE_MODULES {
            write(&format!("local.d/{module}.conf"), "enabled = false;\n");
        }
        let var = |name: &str, sub: &str| {
            let path = dir.path().join(sub);
            std::fs::create_dir_all(&path).unwrap();
            format!("--var={name}={}", path.display())
        };
        let log = std::fs::File::create(dir.path().join("rspamd.log")).unwrap();
        use std::os::unix::process::CommandExt;
        let child = Command::new("rspamd")
            .args(["-f", "-i", &format!("--var=LOCAL_CONFDIR={}", local.display()), &var("DBDIR", "db"), &var("RUNDIR", "run"), &var("LOGDIR", "log")])
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("rspamd is installed (scripts/setup.sh --test)");
        let rspamd = Rspamd { port, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !rspamd.ping() {
            assert!(Instant::now() < deadline, "rspamd did not answer /ping within 90 s: {}", rspamd.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        rspamd
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply.contains("pong")
    }

    /// What rspamd printed (its console log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("rspamd.log")).unwrap_or_default()
    }

    /// Stops rspamd and its workers (SIGTERM to its process group; a SIGKILL of the main process alone
    /// would leave the workers holding the port).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}
