"""Real peers for the GUI tests: a private Postfix on loopback as the Internet provider's smart host, with
SMTP AUTH through a private Dovecot's auth socket (Debian's packages; scripts/setup.sh --test installs
them), STARTTLS with the system's snakeoil certificate."""

import os
import pwd
import subprocess
import time
from pathlib import Path

from conftest import _listening


class SmartHost:
    """Postfix on 127.0.0.1:`port`, accepting logins from `users` ({name: password})."""

    def __init__(self, folder: Path, port: int, users: dict):
        self.dir, self.port = folder, port
        for sub in ("conf", "queue", "data", "dovecot/run", "dovecot/state"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # Postfix drops to its own user, which must be able to walk down to its folders.
        walk = folder
        while str(walk).startswith("/tmp/") and walk != Path("/tmp"):
            os.chmod(walk, 0o755)
            walk = walk.parent
        for sub in ("dovecot", "dovecot/run", "dovecot/state"):
            os.chmod(folder / sub, 0o755)
        postfix = pwd.getpwnam("postfix")
        os.chown(folder / "data", postfix.pw_uid, postfix.pw_gid)
        d = folder / "dovecot"
        (d / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        (d / "dovecot.conf").write_text(
            f"base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\nprotocols =\nssl = no\n"
            "auth_mechanisms = plain login\ndisable_plaintext_auth = no\n"
            f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n"
            "userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=/nonexistent\n}\n"
            f"service auth {{\n  unix_listener {d}/auth {{\n    mode = 0666\n  }}\n}}\n"
            "service stats {\n  unix_listener stats-reader {\n    mode = 0666\n  }\n"
            "  unix_listener stats-writer {\n    mode = 0666\n  }\n}\n")
        master = Path("/etc/postfix/master.cf").read_text().splitlines()
        master = [f"127.0.0.1:{port} inet n - n - - smtpd" if l.startswith("smtp ") and l.endswith("smtpd") else l
                  for l in master]
        (folder / "conf" / "master.cf").write_text("\n".join(master) + "\n")
        f = folder
        (folder / "conf" / "main.cf").write_text(
            f"compatibility_level = 3.6\nqueue_directory = {f}/queue\ndata_directory = {f}/data\nmail_owner = postfix\n"
            "myhostname = smtp.isp.test\ninet_interfaces = loopback-only\ninet_protocols = ipv4\nmydestination =\n"
            "mynetworks =\nsmtpd_tls_security_level = may\n"
            "smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem\n"
            "smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key\n"
            f"smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {d}/auth\n"
            "smtpd_tls_auth_only = yes\nsmtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
            f"maillog_file = {f}/maillog\nmaillog_file_prefixes = {f}\nalias_maps =\nalias_database =\n"
            "shlib_directory = /usr/lib/postfix\ndaemon_directory = /usr/lib/postfix/sbin\nmeta_directory = /etc/postfix\n")

    def __enter__(self):
        self.dovecot = subprocess.Popen(["dovecot", "-F", "-c", str(self.dir / "dovecot" / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["postfix", "-c", str(self.dir / "conf"), "start"], check=True, capture_output=True, timeout=60)
        deadline = time.time() + 30
        while not ((self.dir / "dovecot" / "auth").exists() and _listening(self.port)):
            if time.time() > deadline:
                raise AssertionError(f"the smart host did not start: {self.log()}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        subprocess.run(["postfix", "-c", str(self.dir / "conf"), "abort"], capture_output=True, timeout=60)
        self.dovecot.terminate()
        self.dovecot.wait(10)

    def log(self):
        parts = [self.dir / "maillog", self.dir / "dovecot" / "dovecot.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())
