//! A test host of our own: a network namespace joined to this machine by a veth pair, with an address
//! that is not this machine's (198.18.N.2, from the range set aside for network tests, RFC 2544). Postroom
//! never delivers to loopback or its own addresses, so a peer that plays a remote MX lives here.
//! Needs root (the tests run as root); everything is removed on drop.

use std::net::Ipv4Addr;
use std::process::Command;

pub struct TestHost {
    name: String,
    link: String,
    /// The host's address (inside the namespace).
    pub address: Ipv4Addr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2) runs");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl TestHost {
    pub fn create() -> TestHost {
        let n = (std::process::id() % 250) as u8 + 1;
        let name = format!("prtest{}", std::process::id());
        let link = format!("prv{}", std::process::id() % 1_000_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &format!("{link}a")]).output();
        ip(&["netns", "add", &name]);
        ip(&["link", "add", &format!("{link}a"), "type", "veth", "peer", "name", &format!("{link}b")]);
        ip(&["link", "set", &format!("{link}b"), "netns", &name]);
        ip(&["addr", "add", &format!("198.18.{n}.1/30"), "dev", &format!("{link}a")]);
        ip(&["link", "set", &format!("{link}a"), "up"]);
        ip(&["netns", "exec", &name, "ip", "addr", "add", &format!("198.18.{n}.2/30"), "dev", &format!("{link}b")]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &format!("{link}b"), "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        TestHost { name, link, address: Ipv4Addr::new(198, 18, n, 2) }
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &format!("{}a", self.link)]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
