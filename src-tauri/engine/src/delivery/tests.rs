use super::*;
use crate::store::sweep;
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
    store.read(move |c| route(c, "mail.office.test", &Default::default(), &address, may_relay)).unwrap()
}

#[test]
fn a_backup_mx_takes_listed_recipients_of_a_relay_domain_only_with_a_rule_to_pass_them_on() {
    use crate::settings::{RelayDomain, RelaySettings};
    let (_dir, store) = setup();
    let relay = RelaySettings { domains: vec![RelayDomain { domain: "partner.example".into(), any_recipient: false, recipients: vec!["orders".into()] }] };
    let routed = |address: &str, relay: &RelaySettings| {
        let (address, relay) = (address.to_string(), relay.clone());
        store.read(move |c| route(c, "mail.office.test", &relay, &address, false)).unwrap()
    };
    // No LAN rule yet: refused for now (the sender keeps the message), never accepted and bounced.
    assert_eq!(routed("orders@partner.example", &relay), Err(Refusal::NoRelayRoute("partner.example".into())));
    store
        .write(|c| {
            let rule = forward::LanRule { id: 0, addresses: vec!["~@partner.example".into()], target: forward::parse_server("10.0.0.9").unwrap(), rewrite: String::new() };
            forward::add(c, &rule)?.unwrap();
            Ok(())
        })
        .unwrap();
    assert!(matches!(routed("Orders@partner.example", &relay), Ok(Recipient::Forward { .. })), "a listed recipient, any case");
    assert_eq!(routed("nobody@partner.example", &relay), Err(Refusal::UnknownUser), "not listed");
    let any = RelaySettings { domains: vec![RelayDomain { domain: "partner.example".into(), any_recipient: true, recipients: vec![] }] };
    assert!(matches!(routed("nobody@partner.example", &any), Ok(Recipient::Forward { .. })));
    assert_eq!(routed("x@elsewhere.example", &any), Err(Refusal::RelayDenied), "other domains stay closed");
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
    let env = Envelope { sender: "s@far.example".into(), recipients: vec![alice.clone(), sales, remote], auth_user: None, dsn: Default::default(), spam: Default::default() };
    let r = rt.block_on(deliver(&store, env, b"Subject: hi\r\n\r\nbody\r\n".to_vec())).unwrap();
    assert_eq!((r.local, r.queued), (1, 1), "alice and her alias get one copy");
    let env = Envelope { sender: String::new(), recipients: vec![alice], auth_user: None, dsn: Default::default(), spam: Default::default() };
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

/// With the sweep (store::sweep): a delivered body is given back once its queue entry is sent.
#[tokio::test]
async fn sent_mail_gives_its_body_back_and_crash_leftovers_go() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("blobs")).unwrap();
    let store = Store::open(&dir.path().join("postroom.db")).unwrap();
    let body = vec![b'x'; 200_000];
    let envelope = Envelope { sender: "a@here.test".into(), recipients: vec![Recipient::Remote { address: "b@far.test".into() }], auth_user: None, dsn: Default::default(), spam: Default::default() };
    let receipt = deliver(&store, envelope, body).await.unwrap();
    let queue_id = receipt.queue_id.unwrap();
    let files = || std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
    assert_eq!(files(), 1);
    // Still queued: nothing is released.
    assert_eq!(sweep::sweep(&store).unwrap().blobs_deleted, 0);
    assert_eq!(files(), 1);
    store.write(move |c| Ok(c.execute("UPDATE queue_recipients SET state = 'sent' WHERE queue_id = ?1", [queue_id])?)).unwrap();
    assert!(sweep::usage(&store).unwrap().reclaimable_bytes >= 200_000);
    // Released, but kept for a minute.
    let report = sweep::sweep(&store).unwrap();
    assert_eq!((report.queue_bodies_released, report.blobs_deleted), (1, 0), "{report:?}");
    assert_eq!(files(), 1);
    store.write(|c| Ok(c.execute_batch("UPDATE blobs SET unused_since = unused_since - 61; UPDATE queue_recipients SET updated_at = updated_at - 61")?)).unwrap();
    let report = sweep::sweep(&store).unwrap();
    assert_eq!((report.blobs_deleted, report.files_deleted), (1, 1), "{report:?}");
    assert_eq!(files(), 0);
    let rows: i64 = store.read(|c| Ok(c.query_row("SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM queue_recipients) + (SELECT count(*) FROM blobs)", [], |r| r.get(0))?)).unwrap();
    assert_eq!(rows, 0);
    // A file no row names (a crash between the file and its row) goes once it is old.
    let orphan = dir.path().join("blobs").join("ab".repeat(32));
    std::fs::write(&orphan, b"left over").unwrap();
    let young = dir.path().join("blobs").join("cd".repeat(32));
    std::fs::write(&young, b"about to be committed").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - sweep::ORPHAN_AGE - std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(&orphan).unwrap().set_modified(an_hour_ago).unwrap();
    sweep::sweep(&store).unwrap();
    assert!(!orphan.exists() && young.exists());
}
