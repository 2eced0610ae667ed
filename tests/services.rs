//! The services as a client sees them: every enabled service greets on its port, implicit-TLS ports do a
//! real TLS handshake against the self-signed certificate, STARTTLS upgrades and discards pipelined
//! bytes, a port conflict fails only that service, a settings change moves a listener, a shutdown says
//! goodbye.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;

fn greeting_prefix(service: &str) -> &'static str {
    match service {
        "smtp" | "submission" | "smtps" => "220 ",
        "pop3" | "pop3s" => "+OK ",
        _ => "* OK ",
    }
}

#[tokio::test]
async fn every_service_greets_and_implicit_tls_ports_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let server = Server::start(tmp.path(), &[]);
    let connector = tls_connector(&self_signed_cert(tmp.path()));
    for (service, port) in &ports {
        let greeting = if service.ends_with('s') && *service != "submission" {
            let tcp = tokio::net::TcpStream::connect(addr(*port)).await.unwrap();
            let tls = tls_handshake(&connector, "localhost", tcp).await;
            let (_, session) = tls.get_ref();
            assert!(session.peer_certificates().is_some_and(|c| !c.is_empty()));
            Client::new(tls).line().await
        } else {
            connect(*port).await.line().await
        };
        assert!(greeting.starts_with(greeting_prefix(service)), "{service}: {greeting:?}");
        assert!(greeting.contains("Postroom"), "{service}: {greeting:?}");
    }
    let status = server.status();
    assert_eq!(status["running"], true);
    for s in status["services"].as_array().unwrap() {
        // The web service is off until the wizard or the admin turns it on (ports 80 and 443 are often taken).
        let expected = if s["protocol"] == "HTTP" { "disabled" } else { "running" };
        assert_eq!(s["state"], expected, "{s}");
    }
}

#[tokio::test]
async fn starttls_upgrades_and_drops_commands_pipelined_before_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let _server = Server::start(tmp.path(), &[]);
    let smtp = ports.iter().find(|p| p.0 == "smtp").unwrap().1;
    let mut c = connect(smtp).await;
    assert!(c.line().await.starts_with("220 "));
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.until(|l| l.starts_with("250 ")).await;
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    // The NOOP rides in the same packet as STARTTLS: it must never be answered.
    c.send("STARTTLS\r\nNOOP\r\n").await;
    assert!(c.line().await.starts_with("220 2.0.0"));
    let connector = tls_connector(&self_signed_cert(tmp.path()));
    let tls = tls_handshake(&connector, "localhost", c.stream.into_inner()).await;
    let mut c = Client::new(tls);
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), c.stream.read(&mut buf)).await;
    assert!(early.is_err(), "the pipelined NOOP was answered: {:?}", early.map(|r| String::from_utf8_lossy(&buf[..r.unwrap_or(0)]).to_string()));
    c.send("EHLO client.test\r\n").await;
    let ehlo = c.until(|l| l.starts_with("250 ")).await;
    assert!(!ehlo.contains("STARTTLS"), "STARTTLS is not offered twice: {ehlo}");
    c.send("QUIT\r\n").await;
    assert!(c.line().await.starts_with("221 "));
}

#[tokio::test]
async fn a_port_in_use_fails_only_that_service_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    ok(tmp.path(), &["settings", "set", "services.pop3.port", &taken.to_string()], "");
    let server = Server::start(tmp.path(), &[]);
    let pop3 = server.service("pop3");
    assert_eq!(pop3["state"], "failed");
    assert!(pop3["error"].as_str().unwrap().contains("already in use"), "{pop3}");
    let imap = ports.iter().find(|p| p.0 == "imap").unwrap().1;
    assert!(connect(imap).await.line().await.starts_with("* OK"));
    let text = String::from_utf8(run(tmp.path(), &["status"], "").stdout).unwrap();
    assert!(text.contains("failed") && text.contains(&format!("port {taken} is already in use")), "{text}");
    // Once the port is free, the service recovers by itself.
    drop(squatter);
    server.wait_for(|s| s["services"].as_array().unwrap().iter().any(|x| x["id"] == "pop3" && x["state"] == "running"));
    assert!(connect(taken).await.line().await.starts_with("+OK"));
}

#[tokio::test]
async fn a_port_change_from_another_process_moves_the_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let server = Server::start(tmp.path(), &[]);
    let old = ports.iter().find(|p| p.0 == "imap").unwrap().1;
    let new = free_port();
    ok(tmp.path(), &["settings", "set", "services.imap.port", &new.to_string()], "");
    server.wait_for(|s| s["services"].as_array().unwrap().iter().any(|x| x["id"] == "imap" && x["port"] == new));
    assert!(connect(new).await.line().await.starts_with("* OK"));
    assert!(tokio::net::TcpStream::connect(addr(old)).await.is_err(), "the old port is closed");
    ok(tmp.path(), &["settings", "set", "services.imap.enabled", "false"], "");
    server.wait_for(|s| s["services"].as_array().unwrap().iter().any(|x| x["id"] == "imap" && x["state"] == "disabled"));
    assert!(tokio::net::TcpStream::connect(addr(new)).await.is_err(), "a disabled service does not listen");
}

#[tokio::test]
async fn listen_overrides_are_used_but_not_saved() {
    let tmp = tempfile::tempdir().unwrap();
    configure_loopback(tmp.path());
    let stored = ok(tmp.path(), &["settings", "get", "services.pop3.port"], "");
    let port = free_port();
    let server = Server::start(tmp.path(), &[format!("--listen=pop3=127.0.0.1:{port}")]);
    assert!(connect(port).await.line().await.starts_with("+OK"));
    assert_eq!(server.service("pop3")["port"], port);
    assert_eq!(ok(tmp.path(), &["settings", "get", "services.pop3.port"], ""), stored);
}

#[tokio::test]
async fn shutdown_says_goodbye_to_open_sessions_and_exits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let mut server = Server::start(tmp.path(), &[]);
    let port = |name: &str| ports.iter().find(|p| p.0 == name).unwrap().1;
    let mut imap = connect(port("imap")).await;
    let mut smtp = connect(port("smtp")).await;
    imap.line().await;
    smtp.line().await;
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(imap.line().await, "* BYE Postroom is shutting down\r\n");
    assert!(smtp.line().await.starts_with("421 4.3.2 "));
    let out = run(tmp.path(), &["status"], "");
    assert_eq!(out.status.code(), Some(3), "status reports a stopped server");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    configure_loopback(tmp.path());
    let _first = Server::start(tmp.path(), &[]);
    let out = postroomd().arg("serve").arg("--data-dir").arg(tmp.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already serving"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_custom_certificate_is_served_and_a_bad_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = configure_loopback(tmp.path());
    let server = Server::start(tmp.path(), &[]);
    let cert = rcgen::generate_simple_self_signed(vec!["mail.custom.test".into()]).unwrap();
    let cert_file = tmp.path().join("custom.pem");
    let key_file = tmp.path().join("custom.key");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let set = |pairs: &[&str]| {
        let mut args = vec!["settings", "set"];
        args.extend_from_slice(pairs);
        run(tmp.path(), &args, "")
    };
    let (cert, key) = (cert_file.to_str().unwrap(), key_file.to_str().unwrap());
    // A certificate without its key, and a key that belongs to another certificate, are refused by field.
    let out = set(&["tls.cert_file", cert]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls.key_file: choose the private key"), "{out:?}");
    let wrong_key = tmp.path().join("certs/selfsigned.key");
    let out = set(&["tls.cert_file", cert, "tls.key_file", wrong_key.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"), "{out:?}");
    assert_eq!(ok(tmp.path(), &["settings", "get", "tls.cert_file"], ""), "\n", "nothing saved");
    set(&["tls.cert_file", cert, "tls.key_file", key]);
    // The running server picks it up: a client that trusts only the new certificate gets in.
    let imaps = ports.iter().find(|p| p.0 == "imaps").unwrap().1;
    let connector = tls_connector(&cert_file);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tcp = tokio::net::TcpStream::connect(addr(imaps)).await.unwrap();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("mail.custom.test").unwrap();
        match connector.connect(name, tcp).await {
            Ok(tls) => {
                assert!(Client::new(tls).line().await.starts_with("* OK"));
                break;
            }
            Err(e) => assert!(std::time::Instant::now() < deadline, "new certificate never served: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
}
