use super::*;
use crate::users::{Directory, UserForm};

fn setup() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("blobs")).unwrap();
    let store = Store::open(&dir.path().join("postroom.db")).unwrap();
    let d = Directory::new(store.clone());
    let form = |name: &str, aliases: &[&str]| UserForm {
        name: name.into(),
        real_name: String::new(),
        enabled: true,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        password: Some("password".into()),
        bandwidth: 0,
    };
    d.create(form("alice", &["sales"])).unwrap();
    d.create(form("bob", &[])).unwrap();
    d.add_domain("office.test").unwrap();
    (dir, store)
}

fn route_of(store: &Store, address: &str, may_relay: bool) -> Result<Recipient, Refusal> {
    let address = address.to_string();
    store.read(move |c| route(c, "mail.office.test", &address, may_relay)).unwrap()
}

#[test]
fn local_users_aliases_and_plus_tags_route_to_the_user() {
    let (_d, store) = setup();
    for address in ["alice@office.test", "ALICE@Office.Test", "sales@office.test", "alice+news@office.test", "bob@localhost", "bob@mail.office.test"] {
        assert!(matches!(route_of(&store, address, false), Ok(Recipient::Local { .. })), "{address}");
    }
    assert_eq!(route_of(&store, "carol@office.test", true), Err(Refusal::UnknownUser));
}

#[test]
fn relay_tricks_name_nobody_or_need_relay_rights() {
    let (_d, store) = setup();
    for trick in ["alice%evil.example@office.test", "evil.example!alice@office.test", "\"alice@evil.example\"@office.test"] {
        assert_eq!(route_of(&store, trick, false), Err(Refusal::UnknownUser), "{trick}");
    }
    for remote in ["someone@evil.example", "alice@[192.0.2.1]", "alice@office.test.evil.example"] {
        assert_eq!(route_of(&store, remote, false), Err(Refusal::RelayDenied), "{remote}");
        assert!(matches!(route_of(&store, remote, true), Ok(Recipient::Remote { .. })), "{remote}");
    }
}

#[test]
fn delivery_puts_one_copy_per_user_in_inbox_with_increasing_uids_and_queues_remote() {
    let (_d, store) = setup();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let alice = route_of(&store, "alice@office.test", false).unwrap();
    let sales = route_of(&store, "sales@office.test", false).unwrap();
    let remote = Recipient::Remote { address: "x@far.example".into() };
    let env = Envelope { sender: "s@far.example".into(), recipients: vec![alice.clone(), sales, remote], auth_user: None, dsn: Default::default() };
    let r = rt.block_on(deliver(&store, env, b"Subject: hi\r\n\r\nbody\r\n".to_vec())).unwrap();
    assert_eq!((r.local, r.queued), (1, 1), "alice and her alias get one copy");
    let env = Envelope { sender: String::new(), recipients: vec![alice], auth_user: None, dsn: Default::default() };
    rt.block_on(deliver(&store, env, b"Subject: two\r\n\r\nx\r\n".to_vec())).unwrap();
    let (uids, queued): (Vec<i64>, i64) = store
        .read(|c| {
            let mut s = c.prepare("SELECT m.uid FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'INBOX' ORDER BY m.uid")?;
            let uids = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok((uids, c.query_row("SELECT count(*) FROM queue_recipients WHERE state = 'queued'", [], |r| r.get(0))?))
        })
        .unwrap();
    assert_eq!(uids, [1, 2]);
    assert_eq!(queued, 1);
}
