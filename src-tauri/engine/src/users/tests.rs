use super::*;

fn directory() -> (tempfile::TempDir, Directory) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, Directory::new(store))
}

fn form(name: &str) -> UserForm {
    UserForm { name: name.into(), real_name: "A Person".into(), enabled: true, aliases: vec![], password: Some("secret-pw".into()), bandwidth: 0 }
}

#[test]
fn a_new_user_has_the_default_folders_and_a_working_password() {
    let (_t, d) = directory();
    d.create(form("alice")).unwrap();
    let detail = d.get("ALICE").unwrap();
    let folders: Vec<_> = detail.folders.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(folders, ["INBOX", "Drafts", "Junk", "Sent", "Trash"]);
    assert!(d.verify("alice", "secret-pw").unwrap().is_some());
    assert!(d.verify("alice", "wrong-pw").unwrap().is_none());
}

#[test]
fn every_bad_field_is_named_and_nothing_is_saved() {
    let (_t, d) = directory();
    let bad = UserForm { name: "bad name".into(), password: Some("x".into()), aliases: vec!["ok".into(), "no way".into()], ..form("") };
    let e = d.create(bad).unwrap_err();
    let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["name", "aliases", "password"]);
    assert!(d.list().unwrap().is_empty());
}

#[test]
fn names_and_aliases_are_unique_across_users() {
    let (_t, d) = directory();
    d.create(UserForm { aliases: vec!["sales".into()], ..form("alice") }).unwrap();
    let e = d.create(form("Sales")).unwrap_err();
    assert!(e.message.contains("alias of user alice"), "{}", e.message);
    let e = d.create(UserForm { aliases: vec!["ALICE".into()], ..form("bob") }).unwrap_err();
    assert!(e.message.contains("name of user alice"), "{}", e.message);
}

#[test]
fn rename_keeps_the_password_and_delete_frees_the_name_into_the_recycle_bin() {
    let (_t, d) = directory();
    d.create(form("alice")).unwrap();
    d.update("alice", UserForm { name: "alicia".into(), password: None, ..form("") }).unwrap();
    assert!(d.verify("alicia", "secret-pw").unwrap().is_some());
    d.delete("alicia").unwrap();
    assert!(d.list().unwrap().is_empty());
    assert_eq!(d.delete("alicia").unwrap_err().code, crate::error::ErrorCode::NotFound);
    d.create(form("alicia")).unwrap();
    let binned: i64 = d.store.read(|c| Ok(c.query_row("SELECT count(*) FROM recycle_bin", [], |r| r.get(0))?)).unwrap();
    assert_eq!(binned, 1);
}

#[test]
fn disabled_users_cannot_log_in() {
    let (_t, d) = directory();
    d.create(UserForm { enabled: false, ..form("carol") }).unwrap();
    assert!(d.verify("carol", "secret-pw").unwrap().is_none());
}

#[test]
fn bulk_add_reports_bad_rows_by_line_and_adds_the_good_ones() {
    let (_t, d) = directory();
    d.create(form("taken")).unwrap();
    let csv = "name,password,real name\n\
               ann,password1,Ann Smith\n\
               bad name,password2,Bad\n\
               bob,short,Bob\n\
               taken,password3,Dup\n\
               \"cat\",\"pass,word\",\"Cat, the\"\n\
               ann,password4,Again\n\
               dan\n";
    let report = d.bulk_add(csv.as_bytes()).unwrap();
    // Excel writes CRLF and often a byte-order mark: the same rows, the same line numbers.
    let (_t2, d2) = directory();
    d2.create(form("taken")).unwrap();
    let crlf = format!("\u{feff}{}", csv.replace('\n', "\r\n"));
    let report2 = d2.bulk_add(crlf.as_bytes()).unwrap();
    assert_eq!(report2.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4, 5, 7, 8], "{:?}", report2.errors);
    assert_eq!(report2.added, ["ann", "cat"]);
    assert_eq!(report.added, ["ann", "cat"]);
    let lines: Vec<_> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 7, 8], "{:?}", report.errors);
    assert!(report.errors[3].message.contains("line 2"), "{:?}", report.errors[3]);
    assert!(d.verify("cat", "pass,word").unwrap().is_some());
    assert_eq!(d.get("cat").unwrap().user.real_name, "Cat, the");
}

#[test]
fn domains_are_validated_lowercased_and_unique() {
    let (_t, d) = directory();
    assert_eq!(d.add_domain(" Example.COM. ").unwrap(), "example.com");
    assert_eq!(d.add_domain("example.com").unwrap_err().field.as_deref(), Some("name"));
    assert!(d.add_domain("-bad-.com").is_err());
    assert_eq!(d.domains().unwrap(), ["example.com"]);
    d.delete_domain("EXAMPLE.com.").unwrap();
    assert!(d.domains().unwrap().is_empty());
}

#[test]
fn a_users_own_bandwidth_limit_is_checked_and_kept() {
    let (_tmp, d) = directory();
    let e = d.create(UserForm { bandwidth: -1001, ..form("alice") }).unwrap_err();
    assert!(e.fields.iter().any(|f| f.field == "bandwidth" && f.message.contains("-1 to -1000")), "{e:?}");
    d.create(UserForm { bandwidth: -3, ..form("alice") }).unwrap();
    assert_eq!(d.get("alice").unwrap().user.bandwidth, -3);
    d.update("alice", UserForm { bandwidth: 64_000, password: None, ..form("alice") }).unwrap();
    assert_eq!(d.verify("alice", "secret-pw").unwrap().map(|u| u.bandwidth), Some(64_000));
}

#[test]
fn a_user_logs_in_by_name_alias_or_address_at_a_local_domain() {
    let (_t, d) = directory();
    d.add_domain("office.test").unwrap();
    d.create(UserForm { aliases: vec!["sales".into()], ..form("alice") }).unwrap();
    for login in ["alice", "sales", "alice@office.test", "Sales@Office.Test"] {
        let who = d.verify(login, "secret-pw").unwrap();
        assert_eq!(who.map(|u| u.name), Some("alice".to_string()), "{login}");
        assert!(d.verify(login, "wrong-pw").unwrap().is_none(), "{login}");
    }
    for login in ["alice@elsewhere.example", "@office.test", "nobody@office.test", "alice@"] {
        assert!(d.verify(login, "secret-pw").unwrap().is_none(), "{login}");
    }
    // Every spelling is one account for the failed-login count.
    for login in ["alice", "ALICE", "sales", "alice@office.test", "Sales@Office.Test"] {
        assert_eq!(d.login_identity(login), "alice", "{login}");
    }
    assert_eq!(d.login_identity("Nobody@Office.Test"), "nobody@office.test");
}
