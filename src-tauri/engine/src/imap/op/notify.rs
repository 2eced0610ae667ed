//! NOTIFY (RFC 5465): the client is told of changes without asking — new and expunged messages and flag
//! changes in the selected mailbox (with the FETCH attributes it chose), STATUS of other mailboxes, and
//! mailboxes created, deleted, renamed, subscribed or unsubscribed — whenever the store changes, between
//! commands as well as during IDLE.

use std::collections::{BTreeSet, HashMap};

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::CommandCodec;

use crate::imap::fetch::{self, Item};
use crate::imap::notify::{self, Filter, Refusal, Spec};
use crate::mailbox;

use crate::imap::session::*;

/// What the client was last told of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    path: String,
    uidvalidity: i64,
    uidnext: i64,
    highestmodseq: i64,
    messages: i64,
    unseen: i64,
}

/// A NOTIFY in effect.
pub(in crate::imap) struct NotifyState {
    spec: Spec,
    /// MessageNew's fetch attributes for the selected mailbox.
    fetch: Option<Vec<Item>>,
    folders: HashMap<i64, Mark>,
    subscriptions: BTreeSet<String>,
    /// A cheap summary of the user's folders and subscriptions: when it has not moved, nothing is read.
    fingerprint: String,
}

impl NotifyState {
    /// Whether the selected mailbox's new and expunged messages are told as they happen.
    pub(in crate::imap) fn selected_events(&self) -> bool {
        self.spec.selected.as_ref().is_some_and(|(e, _)| e.messages)
    }
}

/// What changes whenever a folder of the user gains, loses or changes a message, or is created, deleted,
/// renamed, subscribed or unsubscribed.
fn fingerprint(c: &rusqlite::Connection, user: i64) -> crate::store::StoreResult<String> {
    Ok(c.query_row(
        "SELECT (SELECT count(*) || ':' || total(highestmodseq) || ':' || total(uidnext) || ':' || coalesce(group_concat(path, '/'), '')
                 FROM folders WHERE user_id = ?1)
             || '|' || (SELECT coalesce(group_concat(path, '/'), '') FROM subscriptions WHERE user_id = ?1)",
        [user],
        |r| r.get(0),
    )?)
}

/// Every folder's mark, and the subscriptions, as they are now.
fn snapshot(c: &rusqlite::Connection, user: i64) -> crate::store::StoreResult<(HashMap<i64, Mark>, BTreeSet<String>)> {
    let mut folders = HashMap::new();
    for f in mailbox::folders(c, user)? {
        let st = mailbox::status(c, f.id)?;
        folders.insert(f.id, Mark { path: f.path, uidvalidity: f.uidvalidity, uidnext: f.uidnext, highestmodseq: f.highestmodseq, messages: st.messages, unseen: st.unseen });
    }
    Ok((folders, mailbox::subscriptions(c, user)?.into_iter().collect()))
}

impl Session {
    pub(in crate::imap) async fn notify(&mut self, tag: &str, command: Result<notify::Command, Refusal>) {
        let spec = match command {
            Ok(notify::Command::None) => {
                self.notify = None;
                return self.tagged(tag, "OK", "NOTIFY completed: no more notifications");
            }
            Ok(notify::Command::Set(spec)) => spec,
            Err(Refusal::BadEvent) => return self.tagged(tag, "NO", &format!("[BADEVENT ({})] event not supported", notify::SUPPORTED)),
            Err(Refusal::Bad(why)) => return self.tagged(tag, "BAD", &why),
        };
        // Mailbox names as the client writes them (modified UTF-7 or UTF-8) become paths.
        let mut spec = spec;
        for (filter, _) in &mut spec.others {
            if let Filter::Subtree(names) | Filter::Mailboxes(names) = filter {
                for n in names.iter_mut() {
                    *n = match Mailbox::try_from(n.as_str()) {
                        Ok(m) => mailbox::canonical(&self.path_of(&m)),
                        Err(_) => return self.tagged(tag, "BAD", "not a mailbox name"),
                    };
                }
            }
        }
        let fetch = match spec.selected.as_ref().and_then(|(_, f)| f.clone()) {
            None => None,
            Some(text) => match fetch_items(&text) {
                Some(items) if !fetch::needs(&items).2 => Some(items),
                Some(_) => return self.tagged(tag, "BAD", "MessageNew may not set \\Seen: use BODY.PEEK"),
                None => return self.tagged(tag, "BAD", "MessageNew's fetch attributes are not FETCH items"),
            },
        };
        let user = self.user_id();
        let ((folders, subscriptions), fingerprint) = match self.ctx.shared.store.read_async(move |c| Ok((snapshot(c, user)?, fingerprint(c, user)?))).await {
            Ok(s) => s,
            Err(e) => return self.store_failed(tag, e),
        };
        let state = NotifyState { spec, fetch, folders, subscriptions, fingerprint };
        if state.spec.status {
            let selected = self.selected.as_ref().map(|s| s.folder.id);
            let mut marks: Vec<&Mark> = state.folders.iter().filter(|(id, _)| Some(**id) != selected).map(|(_, m)| m).collect();
            marks.sort_by(|a, b| a.path.cmp(&b.path));
            for m in marks {
                if let Some(events) = state.spec.events_for(&m.path, state.subscriptions.contains(&m.path)) {
                    if events.messages {
                        self.status_line(m, events.flags);
                    }
                }
            }
        }
        self.notify = Some(state);
        self.tagged(tag, "OK", "NOTIFY completed");
    }

    fn status_line(&mut self, m: &Mark, flags: bool) {
        let mut line = b"* STATUS ".to_vec();
        line.extend_from_slice(&self.wire_name(&m.path));
        line.extend_from_slice(format!(" (MESSAGES {} UIDNEXT {} UIDVALIDITY {}", m.messages, m.uidnext, m.uidvalidity).as_bytes());
        if flags {
            line.extend_from_slice(format!(" UNSEEN {}", m.unseen).as_bytes());
        }
        if self.condstore {
            line.extend_from_slice(format!(" HIGHESTMODSEQ {}", m.highestmodseq).as_bytes());
        }
        line.extend_from_slice(b")\r\n");
        self.talk.out.extend_from_slice(&line);
    }

    fn list_line(&mut self, attributes: &str, path: &str, old: Option<&str>) {
        let mut line = format!("* LIST ({attributes}) \"/\" ").into_bytes();
        line.extend_from_slice(&self.wire_name(path));
        if let Some(old) = old {
            line.extend_from_slice(b" (\"OLDNAME\" (");
            line.extend_from_slice(&self.wire_name(old));
            line.extend_from_slice(b"))");
        }
        line.extend_from_slice(b"\r\n");
        self.talk.out.extend_from_slice(&line);
    }

    /// The store changed: tells a client with NOTIFY what it asked to hear of.
    pub(in crate::imap) async fn notify_changes(&mut self) {
        let Some(state) = &self.notify else { return };
        if state.selected_events() && self.selected.is_some() {
            let before = self.selected.as_ref().map_or(0, |s| s.last_uid());
            self.refresh(true).await;
            self.fetch_new(before).await;
        }
        let user = self.user_id();
        let known = self.notify.as_ref().map(|n| n.fingerprint.clone()).unwrap_or_default();
        let read = self
            .ctx
            .shared
            .store
            .read_async(move |c| {
                let now = fingerprint(c, user)?;
                if now == known {
                    return Ok(None);
                }
                Ok(Some((snapshot(c, user)?, now)))
            })
            .await;
        let Ok(Some(((folders, subscriptions), fingerprint))) = read else { return };
        let Some(state) = self.notify.take() else { return };
        let selected = self.selected.as_ref().map(|s| s.folder.id);
        let subscribed = |p: &str| subscriptions.contains(p);
        let mut ids: Vec<&i64> = folders.keys().collect();
        ids.sort_by(|a, b| folders[a].path.cmp(&folders[b].path));
        for id in ids {
            let now = &folders[id];
            let events = state.spec.events_for(&now.path, subscribed(&now.path)).unwrap_or_default();
            match state.folders.get(id) {
                None if events.names => self.list_line("", &now.path, None),
                Some(was) if was.path != now.path && events.names => self.list_line("", &now.path, Some(&was.path)),
                Some(was) if Some(*id) != selected && events.messages => {
                    let moved = was.messages != now.messages || was.uidnext != now.uidnext || was.uidvalidity != now.uidvalidity;
                    let flagged = events.flags && (was.unseen != now.unseen || was.highestmodseq != now.highestmodseq);
                    if moved || flagged {
                        self.status_line(now, events.flags);
                    }
                }
                _ => {}
            }
        }
        for (id, was) in &state.folders {
            if !folders.contains_key(id) && state.spec.events_for(&was.path, subscribed(&was.path)).is_some_and(|e| e.names) {
                self.list_line("\\NonExistent", &was.path, None);
            }
        }
        let watching = |p: &str| state.spec.events_for(p, true).is_some_and(|e| e.subscriptions);
        for added in subscriptions.difference(&state.subscriptions).filter(|p| watching(p)) {
            self.list_line("\\Subscribed", added, None);
        }
        for removed in state.subscriptions.difference(&subscriptions).filter(|p| watching(p)) {
            self.list_line("", removed, None);
        }
        self.notify = Some(NotifyState { folders, subscriptions, fingerprint, ..state });
    }

    /// MessageNew's FETCH for the messages of the selected mailbox above UID `before`.
    async fn fetch_new(&mut self, before: u32) {
        let Some(items) = self.notify.as_ref().and_then(|n| n.fetch.clone()) else { return };
        let Some(sel) = &self.selected else { return };
        let rows: Vec<(usize, mailbox::MessageRow)> = sel.messages.iter().enumerate().filter(|(_, m)| m.uid > before).map(|(i, m)| (i, m.clone())).collect();
        let mut items = items;
        if !items.contains(&Item::Uid) {
            items.insert(0, Item::Uid);
        }
        self.write_fetch(rows, &[], &items).await;
    }
}

/// The FETCH items of `(UID FLAGS …)`, read by imap-codec as a FETCH would be.
fn fetch_items(text: &str) -> Option<Vec<Item>> {
    let command = format!("x FETCH 1 {text}\r\n");
    match CommandCodec::default().decode(command.as_bytes()) {
        Ok((_, c)) => match c.body {
            CommandBody::Fetch { macro_or_item_names, .. } => fetch::items(&macro_or_item_names, false).ok(),
            _ => None,
        },
        Err(_) => None,
    }
}
