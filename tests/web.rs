//! The web service that sets mail programs up: Thunderbird's autoconfig, Outlook's POX Autodiscover, the
//! Apple profile and the MTA-STS policy, fetched and parsed with Python's own HTTP, XML and plist
//! libraries as the clients do, over HTTP and HTTPS; the values follow the running services' ports.
//! Then the bounds a hostile client meets, over a raw socket.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::mail::python;
use common::{configure_loopback, free_port, ok, Server};
use serde_json::Value;

struct Office {
    _tmp: tempfile::TempDir,
    server: Server,
    ports: Vec<(&'static str, u16)>,
}

impl Office {
    fn start() -> Office {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut ports = configure_loopback(d);
        for s in ["http", "https"] {
            let port = free_port();
            ok(d, &["settings", "set", &format!("services.{s}.enabled"), "true", &format!("services.{s}.bind_address"), "127.0.0.1", &format!("services.{s}.port"), &port.to_string()], "");
            ports.push((s, port));
        }
        ok(d, &["settings", "set", "general.server_name", "mail.office.test"], "");
        ok(d, &["domain", "add", "office.test"], "");
        ok(d, &["user", "add", "alice", "--password-stdin", "--real-name", "Alice Smith", "--alias", "sales"], "alice-secret\n");
        let server = Server::start(d, &[]);
        Office { _tmp: tmp, server, ports }
    }

    fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|p| p.0 == service).unwrap().1
    }

    /// Runs a Python script with `get(scheme, path, host)` and `post(scheme, path, host, body, headers)`
    /// returning (status, headers, body bytes); the script prints one JSON value.
    fn fetch(&self, body: &str) -> Value {
        let script = format!(
            "import http.client, json, plistlib, ssl, sys\nimport xml.etree.ElementTree as ET\n\
             ports = {{'http': int(sys.argv[1]), 'https': int(sys.argv[2])}}\n\
             ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
             def request(method, scheme, path, host, body=None, headers=None):\n    \
                 c = http.client.HTTPSConnection('127.0.0.1', ports[scheme], context=ctx, timeout=10) if scheme == 'https' else http.client.HTTPConnection('127.0.0.1', ports[scheme], timeout=10)\n    \
                 h = {{'Host': host}}; h.update(headers or {{}})\n    \
                 c.request(method, path, body=body, headers=h)\n    \
                 r = c.getresponse(); data = r.read(); c.close()\n    \
                 return r.status, {{k.lower(): v for k, v in r.getheaders()}}, data\n\
             def get(scheme, path, host): return request('GET', scheme, path, host)\n\
             def post(scheme, path, host, body, headers): return request('POST', scheme, path, host, body, headers)\n{body}"
        );
        let (success, out) = python(&script, &[self.port("http").to_string(), self.port("https").to_string()]);
        assert!(success, "{out}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// Thunderbird's autoconfig, read as Thunderbird reads it: every server with its required elements.
const AUTOCONFIG: &str = "\
def autoconfig(scheme, path, host):\n    \
    status, headers, data = get(scheme, path, host)\n    \
    if status != 200: return {'status': status}\n    \
    root = ET.fromstring(data)\n    \
    assert root.tag == 'clientConfig' and root.get('version') == '1.1', root.tag\n    \
    p = root.find('emailProvider')\n    \
    servers = []\n    \
    for tag in ('incomingServer', 'outgoingServer'):\n        \
        for s in p.findall(tag):\n            \
            servers.append([tag, s.get('type')] + [s.findtext(k) for k in ('hostname', 'port', 'socketType', 'authentication', 'username')])\n    \
    return {'status': status, 'type': headers['content-type'], 'id': p.get('id'), 'domain': p.findtext('domain'), 'display': p.findtext('displayName'), 'servers': servers}\n";

#[test]
fn mail_programs_fetch_their_settings_from_the_web_service() {
    let office = Office::start();
    let port = |s: &str| office.port(s).to_string();
    let got = office.fetch(&format!(
        "{AUTOCONFIG}\
         out = {{}}\n\
         out['by_address'] = autoconfig('http', '/mail/config-v1.1.xml?emailaddress=sales%40office.test', 'autoconfig.office.test')\n\
         out['by_host'] = autoconfig('https', '/.well-known/autoconfig/mail/config-v1.1.xml', 'office.test:443')\n\
         out['other_domain'] = autoconfig('http', '/mail/config-v1.1.xml', 'autoconfig.elsewhere.example')\n\
         ask = b'<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>alice@office.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>'\n\
         outlook = {{'Content-Type': 'text/xml', 'User-Agent': 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)'}}\n\
         status, headers, data = post('https', '/Autodiscover/Autodiscover.xml', 'autodiscover.office.test', ask, outlook)\n\
         ns = {{'a': 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006', 'o': 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'}}\n\
         root = ET.fromstring(data)\n\
         account = root.find('o:Response/o:Account', ns)\n\
         out['autodiscover'] = {{'status': status, 'name': root.findtext('o:Response/o:User/o:DisplayName', namespaces=ns), 'type': account.findtext('o:AccountType', namespaces=ns), 'action': account.findtext('o:Action', namespaces=ns),\n  \
             'protocols': [[p.findtext('o:' + k, namespaces=ns) for k in ('Type', 'Server', 'Port', 'LoginName', 'SSL', 'Encryption', 'AuthRequired')] for p in account.findall('o:Protocol', ns)]}}\n\
         status, headers, data = post('https', '/autodiscover/autodiscover.xml', 'autodiscover.office.test', ask.replace(b'alice@', b'nobody@'), outlook)\n\
         out['autodiscover_nobody'] = [p.findtext('o:LoginName', namespaces=ns) for p in ET.fromstring(data).findall('o:Response/o:Account/o:Protocol', ns)]\n\
         status, headers, data = post('https', '/autodiscover/autodiscover.xml', 'autodiscover.office.test', ask.replace(b'alice@office.test', b'alice@elsewhere.example'), outlook)\n\
         out['autodiscover_other_domain'] = ET.fromstring(data).findtext('a:Response/a:Error/a:ErrorCode', namespaces=ns)\n\
         status, headers, data = post('http', '/autodiscover/autodiscover.xml', 'autodiscover.office.test', ask, outlook)\n\
         out['autodiscover_plain'] = [status, headers.get('location')]\n\
         status, headers, data = get('http', '/autodiscover/autodiscover.xml', 'autodiscover.office.test')\n\
         out['autodiscover_redirect_method'] = [status, headers.get('location')]\n\
         out['redirect_elsewhere'] = get('http', '/autodiscover/autodiscover.xml', 'autodiscover.elsewhere.example')[0]\n\
         status, headers, data = get('https', '/mail.mobileconfig?emailaddress=alice@office.test', 'office.test')\n\
         profile = plistlib.loads(data)\n\
         mail = profile['PayloadContent'][0]\n\
         out['profile'] = {{'status': status, 'type': headers['content-type'], 'disposition': headers.get('content-disposition'), 'kind': profile['PayloadType'], 'payload': mail['PayloadType'],\n  \
             'account': mail['EmailAccountType'], 'address': mail['EmailAddress'], 'name': mail.get('EmailAccountName'), 'in': [mail['IncomingMailServerHostName'], mail['IncomingMailServerPortNumber'], mail['IncomingMailServerUseSSL'], mail['IncomingMailServerUsername']],\n  \
             'out': [mail['OutgoingMailServerHostName'], mail['OutgoingMailServerPortNumber'], mail['OutgoingMailServerUseSSL'], mail['OutgoingMailServerUsername']], 'uuid': profile['PayloadUUID']}}\n\
         out['profile_again_uuid'] = plistlib.loads(get('https', '/mail.mobileconfig?emailaddress=alice@office.test', 'x')[2])['PayloadUUID']\n\
         out['profile_bob'] = plistlib.loads(get('https', '/mail.mobileconfig?emailaddress=bob@office.test', 'office.test')[2])['PayloadContent'][0]['IncomingMailServerUsername']\n\
         out['profile_other_domain'] = get('https', '/mail.mobileconfig?emailaddress=bob@elsewhere.example', 'office.test')[0]\n\
         status, headers, data = get('http', '/mail.mobileconfig?emailaddress=alice@office.test', 'office.test:80')\n\
         out['profile_plain'] = [status, headers.get('location')]\n\
         status, headers, data = get('https', '/.well-known/mta-sts.txt', 'mta-sts.office.test')\n\
         out['mta_sts'] = [status, headers['content-type'], data.decode()]\n\
         out['not_served'] = [get('http', p, 'office.test')[0] for p in ('/', '/index.html', '/.well-known/../etc/passwd', '/mail/config-v1.1.xml.bak')]\n\
         status, headers, data = get('https', '/autodiscover/autodiscover.xml', 'office.test')\n\
         out['autodiscover_get'] = [status, headers.get('allow')]\n\
         print(json.dumps(out))\n"
    ));
    let server = |tag: &str, kind: &str, p: &str, socket: &str, user: &str| {
        serde_json::json!([tag, kind, "mail.office.test", port(p), socket, "password-cleartext", user])
    };
    let expected = |user: &str| {
        serde_json::json!([
            server("incomingServer", "imap", "imaps", "SSL", user),
            server("incomingServer", "imap", "imap", "STARTTLS", user),
            server("incomingServer", "pop3", "pop3s", "SSL", user),
            server("incomingServer", "pop3", "pop3", "STARTTLS", user),
            server("outgoingServer", "smtp", "smtps", "SSL", user),
            server("outgoingServer", "smtp", "submission", "STARTTLS", user),
        ])
    };
    let a = &got["by_address"];
    assert_eq!((a["status"].as_i64(), a["id"].as_str(), a["domain"].as_str()), (Some(200), Some("office.test"), Some("office.test")), "{a}");
    assert!(a["type"].as_str().unwrap().starts_with("application/xml"), "{a}");
    assert_eq!(a["servers"], expected("%EMAILADDRESS%"), "every encrypted way in, implicit TLS first; the login is the address typed in");
    assert_eq!(got["by_host"], got["by_address"], "the same document with or without an address: it tells nobody which addresses exist");
    assert_eq!(got["other_domain"]["status"], 404, "a domain this server does not keep is not answered for");

    let d = &got["autodiscover"];
    assert_eq!((d["status"].as_i64(), d["name"].as_str(), d["type"].as_str(), d["action"].as_str()), (Some(200), None, Some("email"), Some("settings")), "{d}");
    let proto = |t: &str, p: &str, enc: &str| serde_json::json!([t, "mail.office.test", port(p), "alice@office.test", "on", enc, "on"]);
    assert_eq!(
        d["protocols"],
        serde_json::json!([proto("IMAP", "imaps", "SSL"), proto("IMAP", "imap", "TLS"), proto("POP3", "pop3s", "SSL"), proto("POP3", "pop3", "TLS"), proto("SMTP", "smtps", "SSL"), proto("SMTP", "submission", "TLS")])
    );
    assert_eq!(got["autodiscover_nobody"], serde_json::json!(vec!["nobody@office.test"; 6]), "an address nobody has gets the same answer as one somebody has");
    assert_eq!(got["autodiscover_other_domain"], "500", "a domain this server does not keep gets Autodiscover's 'cannot be found'");
    assert_eq!(got["autodiscover_plain"], serde_json::json!([308, "https://autodiscover.office.test/autodiscover/autodiscover.xml"]), "never over plain HTTP; a POST keeps its method");
    assert_eq!(got["autodiscover_redirect_method"], serde_json::json!([302, "https://autodiscover.office.test/autodiscover/autodiscover.xml"]), "Outlook's redirect method: GET over HTTP, 302");
    assert_eq!(got["redirect_elsewhere"], 404, "no redirect for a name that is not this server's");

    let p = &got["profile"];
    assert_eq!((p["status"].as_i64(), p["type"].as_str()), (Some(200), Some("application/x-apple-aspen-config")));
    assert_eq!(p["disposition"], "attachment; filename=\"alice.mobileconfig\"");
    assert_eq!((p["kind"].as_str(), p["payload"].as_str(), p["account"].as_str()), (Some("Configuration"), Some("com.apple.mail.managed"), Some("EmailTypeIMAP")));
    assert_eq!((p["address"].as_str(), p["name"].as_str()), (Some("alice@office.test"), None));
    assert_eq!(p["in"], serde_json::json!(["mail.office.test", office.port("imaps"), true, "alice@office.test"]));
    assert_eq!(p["out"], serde_json::json!(["mail.office.test", office.port("smtps"), true, "alice@office.test"]));
    assert_eq!(p["uuid"], got["profile_again_uuid"], "the same profile twice replaces, not adds, the account");
    assert_eq!(got["profile_bob"], "bob@office.test", "an address nobody has: the same kind of profile");
    assert_eq!(got["profile_other_domain"], 404);
    assert_eq!(got["profile_plain"], serde_json::json!([302, "https://office.test/mail.mobileconfig?emailaddress=alice@office.test"]), "a profile is never sent where it could be swapped");

    // The login every document gives works: the address, and an alias's address, log in as the user.
    let logins = python(
        "import imaplib, ssl, sys, json\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
         def login(user, password):\n    \
             c = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)\n    \
             try:\n        \
                 return c.login(user, password)[0]\n    \
             except imaplib.IMAP4.error:\n        \
                 return 'NO'\n    \
             finally:\n        \
                 c.shutdown()\n\
         print(json.dumps([login(u, p) for u, p in [('alice@office.test', 'alice-secret'), ('sales@office.test', 'alice-secret'), ('bob@office.test', 'alice-secret'), ('alice@office.test', 'wrong')]]))\n",
        &[office.port("imaps").to_string()],
    );
    assert!(logins.0, "{}", logins.1);
    assert_eq!(logins.1.trim(), r#"["OK", "OK", "NO", "NO"]"#);

    assert_eq!(got["mta_sts"], serde_json::json!([200, "text/plain; charset=utf-8", "version: STSv1\r\nmode: testing\r\nmx: mail.office.test\r\nmax_age: 604800\r\n"]));
    assert_eq!(got["not_served"], serde_json::json!([404, 404, 404, 404]), "nothing else is served");
    assert_eq!(got["autodiscover_get"], serde_json::json!([405, "POST"]));

    // A port changes while the server runs (another process saves it): the documents follow, and a
    // service that is turned off leaves them.
    let new_imaps = free_port();
    ok(&office.server.dir, &["settings", "set", "services.imaps.port", &new_imaps.to_string(), "services.pop3.enabled", "false", "web.mta_sts_mode", "enforce"], "");
    office.server.wait_for(|s| s["services"].as_array().unwrap().iter().any(|x| x["id"] == "imaps" && x["port"] == new_imaps && x["state"] == "running"));
    let again = office.fetch(&format!(
        "{AUTOCONFIG}print(json.dumps({{'a': autoconfig('http', '/mail/config-v1.1.xml', 'autoconfig.office.test'), 'sts': get('http', '/.well-known/mta-sts.txt', 'mta-sts.office.test')[2].decode()}}))\n"
    ));
    let incoming: Vec<(String, String)> = again["a"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == "incomingServer")
        .map(|s| (s[1].as_str().unwrap().to_string(), s[3].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        incoming,
        vec![("imap".into(), new_imaps.to_string()), ("imap".into(), port("imap")), ("pop3".into(), port("pop3s"))],
        "the new IMAPS port, and POP3 on 110 gone"
    );
    assert!(again["sts"].as_str().unwrap().contains("mode: enforce\r\n"), "{again}");
}

/// Sends `request` on a new connection and returns everything the server says until it closes.
fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // A server that answers and closes before taking everything may reset the rest: that is fine.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(reply: &str) -> &str {
    reply.lines().next().unwrap_or("")
}

#[test]
fn the_web_service_refuses_what_it_will_not_read() {
    let office = Office::start();
    let http = office.port("http");

    let huge_head = format!("GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: office.test\r\nX-Filler: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(status_line(&raw(http, huge_head.as_bytes())), "HTTP/1.1 431 Request Header Fields Too Large");

    let many_fields: String = (0..60).map(|i| format!("X-{i}: v\r\n")).collect();
    let reply = raw(http, format!("GET / HTTP/1.1\r\nHost: office.test\r\n{many_fields}\r\n").as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 431 Request Header Fields Too Large");

    let chunked = "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: office.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(status_line(&raw(http, chunked.as_bytes())), "HTTP/1.1 411 Length Required");

    let big_body = "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: office.test\r\nContent-Length: 1048576\r\n\r\n";
    let reply = raw(http, big_body.as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Content Too Large", "refused before the body is read");

    assert_eq!(status_line(&raw(http, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")), "HTTP/1.1 400 Bad Request", "TLS on the plain port");
    assert_eq!(status_line(&raw(http, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), "HTTP/1.1 505 HTTP Version Not Supported");
    let smuggle = "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: office.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!";
    assert_eq!(status_line(&raw(http, smuggle.as_bytes())), "HTTP/1.1 400 Bad Request", "two lengths: which one is the truth is not guessed");

    let plus = "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: office.test\r\nContent-Length: +5\r\n\r\nhello";
    assert_eq!(status_line(&raw(http, plus.as_bytes())), "HTTP/1.1 400 Bad Request", "a length is digits only");
    assert_eq!(status_line(&raw(http, b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n\r\n")), "HTTP/1.1 400 Bad Request", "HTTP/1.1 without a Host");
    let two_hosts = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.office.test\r\nHost: mta-sts.elsewhere.example\r\n\r\n";
    assert_eq!(status_line(&raw(http, two_hosts.as_bytes())), "HTTP/1.1 400 Bad Request", "two Hosts");

    // Line breaks before a request line are dropped, however many (and the request is still served).
    let blank_lines = format!("{}GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.office.test\r\nConnection: close\r\n\r\n", "\r\n".repeat(5000));
    assert_eq!(status_line(&raw(http, blank_lines.as_bytes())), "HTTP/1.1 200 OK");

    // Pipelined requests on one connection: answered in order, and the connection ends after 10.
    let one = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.office.test\r\n\r\n";
    let reply = raw(http, one.repeat(30).as_bytes());
    assert_eq!(reply.matches("HTTP/1.1 200 OK").count(), 10, "at most 10 requests per connection");
    assert_eq!(reply.matches("Connection: close").count(), 1, "the 10th answer says the connection ends");

    // HTTP/1.0 closes after one answer; HEAD has the head only.
    let reply = raw(http, b"HEAD /.well-known/mta-sts.txt HTTP/1.0\r\nHost: mta-sts.office.test\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.contains("Content-Length: 70\r\n") && reply.ends_with("\r\n\r\n"), "{reply}");

    // A client that sends half a head and waits is dropped with 408 once the head's time is up.
    let mut slow = TcpStream::connect(("127.0.0.1", http)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    slow.write_all(b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: off").unwrap();
    let mut reply = String::new();
    let _ = slow.read_to_string(&mut reply);
    assert_eq!(status_line(&reply), "HTTP/1.1 408 Request Timeout");
    // The server still answers.
    assert_eq!(status_line(&raw(http, b"GET /nothing HTTP/1.1\r\nHost: office.test\r\nConnection: close\r\n\r\n")), "HTTP/1.1 404 Not Found");
}
