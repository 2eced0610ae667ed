//! `postroomd` admin commands as a script uses them, with and without a running server.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn users_are_added_listed_renamed_by_password_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert!(ok(d, &["user", "add", "alice", "--password-stdin", "--real-name", "Alice Smith"], "first-pass\n").contains("created"));
    ok(d, &["user", "add", "bob", "--password-stdin"], "second-pass\n");
    let users: Value = serde_json::from_str(&ok(d, &["user", "list", "--json"], "")).unwrap();
    let names: Vec<_> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users[0]["real_name"], "Alice Smith");
    let table = ok(d, &["user", "list"], "");
    assert!(table.lines().next().unwrap().starts_with("NAME") && table.contains("Alice Smith"), "{table}");

    let dup = run(d, &["user", "add", "ALICE", "--password-stdin"], "another-pass\n");
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already the name of user alice"));

    let short = run(d, &["user", "passwd", "alice", "--password-stdin"], "abc\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 6 characters"));
    ok(d, &["user", "passwd", "alice", "--password-stdin"], "changed-pass\n");

    ok(d, &["user", "del", "bob"], "");
    let missing = run(d, &["user", "del", "bob"], "");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user called 'bob'"));
    let users: Value = serde_json::from_str(&ok(d, &["user", "list", "--json"], "")).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
}

#[test]
fn a_password_is_required_without_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["user", "add", "carol"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
}

#[test]
fn bulk_add_reports_bad_rows_with_line_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("users.csv");
    std::fs::write(&csv, "name,password,real name\nann,password1,Ann\nbad name,password2,X\nben,password3\n").unwrap();
    let out = run(&tmp.path().join("data"), &["user", "bulk-add", csv.to_str().unwrap()], "");
    assert!(!out.status.success(), "skipped rows make the command fail");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 user(s) added"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: name 'bad name'"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn domains_are_added_listed_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["domain", "add", "Example.COM"], "");
    ok(d, &["domain", "add", "office.test"], "");
    assert_eq!(ok(d, &["domain", "list"], ""), "example.com\noffice.test\n");
    let bad = run(d, &["domain", "add", "not a domain"], "");
    assert!(!bad.status.success());
    ok(d, &["domain", "del", "example.com"], "");
    assert_eq!(ok(d, &["domain", "list"], ""), "office.test\n");
}

#[test]
fn settings_are_listed_as_key_equals_value_and_bad_values_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let list = ok(d, &["settings", "list"], "");
    assert!(list.lines().any(|l| l == "services.pop3.port = 110"), "{list}");
    assert!(list.lines().any(|l| l == "services.smtps.tls_mode = implicit"), "{list}");
    assert!(list.lines().all(|l| l.contains(" = ")));
    ok(d, &["settings", "set", "outbound.password", "isp-secret"], "");
    let list = ok(d, &["settings", "list"], "");
    assert!(list.lines().any(|l| l == "outbound.password = (set)") && !list.contains("isp-secret"), "{list}");
    assert_eq!(ok(d, &["settings", "get", "outbound.password"], ""), "isp-secret\n");
    assert_eq!(ok(d, &["settings", "set", "services.pop3.port", "1110"], ""), "services.pop3.port = 1110\n");
    assert_eq!(ok(d, &["settings", "get", "services.pop3.port"], ""), "1110\n");
    let bad = run(d, &["settings", "set", "services.pop3.port", "70000"], "");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("services.pop3.port") && err.contains("65535"), "{err}");
    let clash = run(d, &["settings", "set", "services.imap.port", "1110"], "");
    assert!(String::from_utf8_lossy(&clash.stderr).contains("also used by POP3"));
    assert_eq!(ok(d, &["settings", "get", "services.imap.port"], ""), "143\n", "nothing half-saved");
    assert!(!run(d, &["settings", "get", "no.such"], "").status.success());
}

#[test]
fn a_folder_with_other_files_is_not_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("thesis.docx"), "precious").unwrap();
    let out = run(tmp.path(), &["user", "list"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Postroom data folder"));
    assert!(!tmp.path().join("postroom.db").exists());
}

#[test]
fn the_data_folder_comes_from_the_environment_when_not_given() {
    let tmp = tempfile::tempdir().unwrap();
    let out = postroomd().env("POSTROOM_DATA_DIR", tmp.path()).args(["domain", "add", "env.test"]).output().unwrap();
    assert!(out.status.success());
    assert!(tmp.path().join("postroom.db").exists());
}

#[tokio::test]
async fn commands_work_while_serve_runs_and_status_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ports = configure_loopback(d);
    let server = Server::start(d, &[]);
    ok(d, &["user", "add", "dave", "--password-stdin"], "dave-pass\n");
    ok(d, &["domain", "add", "live.test"], "");
    assert!(ok(d, &["user", "list"], "").contains("dave"));
    let status = server.status();
    assert_eq!(status["running"], true);
    assert_eq!(status["queue_size"], 0);
    let imap = ports.iter().find(|p| p.0 == "imap").unwrap().1;
    let _open = connect(imap).await;
    let status = server.wait_for(|s| s["connections"] == 1);
    let imap_status = status["services"].as_array().unwrap().iter().find(|s| s["id"] == "imap").unwrap().clone();
    assert_eq!(imap_status["connections"], 1);
    let text = ok(d, &["status"], "");
    assert!(text.contains("running (pid"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{imap}")), "{text}");
}

#[test]
fn concurrent_settings_changes_from_several_processes_are_all_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_path_buf();
    ok(&d, &["settings", "list"], "");
    let services = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"];
    let handles: Vec<_> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let d = d.clone();
            let key = format!("services.{s}.port");
            std::thread::spawn(move || ok(&d, &["settings", "set", &key, &(20000 + i).to_string()], ""))
        })
        .collect();
    handles.into_iter().for_each(|h| {
        h.join().unwrap();
    });
    for (i, s) in services.iter().enumerate() {
        assert_eq!(ok(&d, &["settings", "get", &format!("services.{s}.port")], ""), format!("{}\n", 20000 + i), "{s} lost its change");
    }
}
