use super::*;

/// A data folder as an engine leaves it: database with a user and a setting naming a file inside the
/// folder, a blob, and the running process's own files.
fn data_folder(root: &Path) {
    let dir = crate::paths::DataDir::create(root).unwrap();
    let store = crate::store::Store::open(&dir.database()).unwrap();
    let inside = serde_json::to_string(&root.join("certs").join("own.pem").display().to_string()).unwrap();
    let outside = "\"/etc/ssl/office.pem\"".to_string();
    store
        .write(move |conn| {
            conn.execute("INSERT INTO settings(key, value) VALUES ('tls.cert_file', ?1), ('tls.key_file', ?2)", [inside, outside])?;
            conn.execute("INSERT INTO domains(name, created_at) VALUES ('office.test', 0)", [])?;
            Ok(())
        })
        .unwrap();
    drop(store);
    std::fs::create_dir_all(dir.blobs().join("ab")).unwrap();
    std::fs::write(dir.blobs().join("ab").join("abcdef"), b"a large body").unwrap();
    std::fs::write(dir.lock_file(), b"").unwrap();
    std::fs::write(dir.status_file(), b"{}").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/passwd", root.join("planted-link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.blobs().join("ab").join("linked-blob")).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_copied_folder_holds_the_mail_with_its_paths_moved_and_nothing_of_the_process_that_served_it() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("desktop"), tmp.path().join("service"));
    data_folder(&src);
    let (uid, gid) = crate::system_users::effective();

    assert_eq!(copy_folder(&src, &dst, (uid, gid)).unwrap(), None, "nothing was there to set aside");
    assert!(holds_mail_setup(&dst).unwrap() && holds_mail_setup(&src).unwrap());
    let conn = rusqlite::Connection::open(dst.join("postroom.db")).unwrap();
    let value = |key: &str| conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get::<_, String>(0)).unwrap();
    assert_eq!(value("tls.cert_file"), format!("\"{}/certs/own.pem\"", dst.display()), "a path inside the folder follows it");
    assert_eq!(value("tls.key_file"), "\"/etc/ssl/office.pem\"", "a path elsewhere is left alone");
    assert_eq!(std::fs::read(dst.join("blobs/ab/abcdef")).unwrap(), b"a large body");
    for gone in ["postroom.lock", "status.json", "planted-link", "postroom.db-wal", "blobs/ab/linked-blob"] {
        assert!(std::fs::symlink_metadata(dst.join(gone)).is_err(), "{gone} was copied");
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dst), 0o700);
    assert_eq!(mode(&dst.join("blobs/ab/abcdef")), 0o600);
    assert_eq!(std::fs::metadata(dst.join("postroom.db")).unwrap().uid(), uid);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no half-made copy is left beside it: {leftovers:?}");

    // Again: the first copy is renamed aside, not overwritten.
    std::fs::write(dst.join("only-in-the-first-copy"), b"x").unwrap();
    let aside = copy_folder(&src, &dst, (uid, gid)).unwrap().expect("the old copy was set aside");
    assert!(aside.join("only-in-the-first-copy").exists() && !dst.join("only-in-the-first-copy").exists());
    assert!(aside.file_name().unwrap().to_string_lossy().starts_with("service.before-"), "{}", aside.display());
}

#[cfg(unix)]
#[test]
fn a_folder_marked_as_moved_is_never_served_again_and_says_where_its_mail_went() {
    let tmp = tempfile::tempdir().unwrap();
    data_folder(tmp.path());
    write_marker(tmp.path(), &Moved { to: PathBuf::from(SERVICE_DATA_DIR), at: 1_700_000_000, by: "service".into() }).unwrap();
    let refused = crate::Engine::open(tmp.path(), Default::default()).err().expect("a moved folder is refused");
    assert_eq!(refused.code, crate::error::ErrorCode::Conflict);
    assert!(refused.message.contains("moved to the system service (/var/lib/postroom) on 2023-11-14"), "{}", refused.message);
    assert!(refused.message.contains("service disable --to"), "{}", refused.message);
}

#[test]
fn the_lock_of_a_served_folder_is_waited_for_and_then_refused() {
    let tmp = tempfile::tempdir().unwrap();
    data_folder(tmp.path());
    let engine = crate::Engine::open(tmp.path(), Default::default()).unwrap();
    let refused = lock_folder(tmp.path(), std::time::Duration::from_millis(300)).unwrap_err();
    assert!(refused.to_string().contains("still serving"), "{refused}");
    // An engine that shut down lets go at once, though the app still holds it.
    tokio::runtime::Runtime::new().unwrap().block_on(engine.shutdown());
    lock_folder(tmp.path(), std::time::Duration::from_millis(300)).expect("a stopped engine lets go of its folder");
    drop(engine);
}

#[cfg(unix)]
#[test]
fn what_the_helper_makes_in_someone_elses_folder_is_theirs_and_an_unreadable_marker_still_counts() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    data_folder(tmp.path());
    std::fs::remove_file(tmp.path().join("postroom.lock")).unwrap();
    std::os::unix::fs::chown(tmp.path(), Some(65534), Some(65534)).unwrap();
    drop(lock_folder(tmp.path(), std::time::Duration::ZERO).unwrap());
    write_marker(tmp.path(), &Moved { to: PathBuf::from(SERVICE_DATA_DIR), at: 0, by: "service".into() }).unwrap();
    for name in ["postroom.lock", MOVED] {
        let meta = std::fs::metadata(tmp.path().join(name)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{name} belongs to the folder's owner");
    }
    std::fs::write(tmp.path().join(MOVED), b"not json").unwrap();
    let unknown = moved(tmp.path()).expect("a marker that cannot be read still marks the folder");
    assert!(moved_message(tmp.path(), &unknown).contains("cannot be read"));
}

#[cfg(unix)]
#[test]
fn links_planted_for_root_are_refused_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("desktop"), tmp.path().join("service"));
    data_folder(&src);
    // A lock file that is a link: root opens nothing through it.
    let target = tmp.path().join("not-to-be-created");
    std::fs::remove_file(src.join("postroom.lock")).unwrap();
    std::os::unix::fs::symlink(&target, src.join("postroom.lock")).unwrap();
    assert!(lock_folder(&src, std::time::Duration::ZERO).is_err());
    assert!(!target.exists(), "the link's target was created");
    // A file swapped for a link after the folder was listed is refused by the copy itself.
    let planted = tmp.path().join("planted");
    std::os::unix::fs::symlink("/etc/shadow", &planted).unwrap();
    assert!(copy::copy_file(&planted, &tmp.path().join("copied")).is_err());
    assert!(!tmp.path().join("copied").exists());
    // The database itself as a link: refused.
    std::fs::rename(src.join("postroom.db"), tmp.path().join("real.db")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("real.db"), src.join("postroom.db")).unwrap();
    let (uid, gid) = crate::system_users::effective();
    let refused = copy_folder(&src, &dst, (uid, gid)).unwrap_err();
    assert!(format!("{refused:#}").contains("not a plain file"), "{refused:#}");
    assert!(!dst.exists());
}

#[test]
fn arguments_are_quoted_as_windows_programs_split_them() {
    assert_eq!(windows_argument("enable"), "enable");
    assert_eq!(windows_argument(r"C:\Users\Ann\AppData\Roaming\postroom"), r"C:\Users\Ann\AppData\Roaming\postroom");
    assert_eq!(windows_argument(r"C:\Office mail"), r#""C:\Office mail""#);
    // A trailing backslash inside quotes is doubled, so it does not escape the closing quote.
    assert_eq!(windows_argument(r"C:\Office mail\"), r#""C:\Office mail\\""#);
    assert_eq!(windows_argument(r#"say "hi""#), r#""say \"hi\"""#);
    assert_eq!(windows_argument(r#"a\"b"#), r#""a\\\"b""#);
    assert_eq!(windows_argument(""), r#""""#);
}

#[cfg(windows)]
#[test]
fn a_copy_on_windows_moves_backslashed_paths_gets_its_access_list_and_a_held_folder_cannot_be_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("desktop"), tmp.path().join("service"));
    data_folder(&src);
    // A path to the folder as someone typed it, in capitals.
    let shouted = serde_json::to_string(&src.join("Logs").display().to_string().to_uppercase()).unwrap();
    let conn = rusqlite::Connection::open(src.join("postroom.db")).unwrap();
    conn.execute("INSERT INTO settings(key, value) VALUES ('log.folder', ?1)", [shouted]).unwrap();
    drop(conn);
    assert_eq!(copy_folder(&src, &dst, Some("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;WD)")).unwrap(), None);
    let conn = rusqlite::Connection::open(dst.join("postroom.db")).unwrap();
    let value = |key: &str| conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get::<_, String>(0)).unwrap();
    let moved: String = serde_json::from_str(&value("tls.cert_file")).expect("still JSON, its backslashes escaped");
    assert_eq!(moved, dst.join("certs").join("own.pem").display().to_string(), "a path inside the folder follows it");
    assert_eq!(value("tls.key_file"), "\"/etc/ssl/office.pem\"", "a path elsewhere is left alone");
    let moved: String = serde_json::from_str(&value("log.folder")).unwrap();
    assert_eq!(moved, dst.join("LOGS").display().to_string(), "a path typed in other letter case follows it too (Windows ignores case)");
    assert_eq!(std::fs::read(dst.join("blobs").join("ab").join("abcdef")).unwrap(), b"a large body");
    for gone in ["postroom.lock", "status.json", "postroom.db-wal"] {
        assert!(std::fs::symlink_metadata(dst.join(gone)).is_err(), "{gone} was copied");
    }
    // Held, the folder cannot be renamed away (or swapped for a link); let go, it can.
    let held = copy::pin_tree(&dst).unwrap();
    assert!(held.len() >= 4, "the folder and the ones below it: {}", held.len());
    assert!(std::fs::rename(&dst, tmp.path().join("elsewhere")).is_err(), "a held folder was renamed");
    drop(held);
    std::fs::rename(&dst, tmp.path().join("elsewhere")).expect("a folder let go of can be renamed");
    assert!(copy::pin_folder(&tmp.path().join("elsewhere").join("postroom.db")).is_err(), "a file is not a folder to hold");
}
