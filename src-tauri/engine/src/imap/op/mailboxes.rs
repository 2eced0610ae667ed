//! Folders as a list: LIST and LSUB (basic and extended), STATUS, CREATE/DELETE/RENAME/SUBSCRIBE, QUOTA.

use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::status::StatusDataItemName;

use crate::imap::list::wildcard_match;
use crate::imap::{list, utf7};
use crate::mailbox::{self, FolderError};
use crate::store::StoreResult;

use crate::imap::session::*;

impl Session {
    pub(in crate::imap) async fn folder_change<F>(&mut self, tag: &str, verb: &str, f: F)
    where
        F: FnOnce(&rusqlite::Connection, i64) -> StoreResult<Result<(), FolderError>> + Send + 'static,
    {
        let user = self.user_id();
        match self.ctx.shared.store.write_async(move |c| f(c, user)).await {
            Ok(Ok(())) => self.tagged(tag, "OK", &format!("{verb} completed")),
            Ok(Err(FolderError::AlreadyExists)) => self.tagged(tag, "NO", "[ALREADYEXISTS] a folder with that name exists"),
            Ok(Err(FolderError::NotFound)) => self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Ok(Err(FolderError::NotAllowed(why))) => self.tagged(tag, "NO", &format!("[CANNOT] {why}")),
            Err(e) => self.store_failed(tag, e),
        }
    }

    pub(in crate::imap) async fn list(&mut self, tag: &str, reference: &Mailbox<'_>, pattern: &ListMailbox<'_>, subscribed_only: bool) {
        let reference = match reference {
            Mailbox::Inbox => "INBOX".to_string(),
            Mailbox::Other(o) => String::from_utf8_lossy(o.inner().as_ref()).into_owned(),
        };
        let pattern = match pattern {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let request = list::ListRequest { reference, patterns: vec![pattern], subscribed: subscribed_only, ..Default::default() };
        self.list_folders(tag, if subscribed_only { "LSUB" } else { "LIST" }, request).await;
    }

    /// LIST and LSUB, basic and extended.
    pub(in crate::imap) async fn list_folders(&mut self, tag: &str, verb: &str, r: list::ListRequest) {
        if let Err(why) = list::check_patterns(&r.patterns) {
            return self.tagged(tag, "BAD", &why.to_string());
        }
        if r.patterns.len() == 1 && r.patterns[0].is_empty() {
            self.untagged(&format!("{verb} (\\Noselect) \"/\" \"\""));
            self.tagged(tag, "OK", &format!("{verb} completed"));
            return;
        }
        let utf8 = self.utf8_names();
        let patterns: Vec<String> = r
            .patterns
            .iter()
            .map(|p| {
                let full = format!("{}{p}", r.reference);
                if utf8 {
                    full
                } else {
                    utf7::decode(&full).unwrap_or_default()
                }
            })
            .collect();
        let user = self.user_id();
        let want_status = !r.status.is_empty();
        let listed = self.ctx.shared.store.read_async(move |c| {
            let folders = mailbox::folders(c, user)?;
            let subscriptions = mailbox::subscriptions(c, user)?;
            let mut statuses = Vec::new();
            if want_status {
                for f in &folders {
                    statuses.push(mailbox::status(c, f.id)?);
                }
            }
            Ok((folders, subscriptions, statuses))
        })
        .await;
        let (folders, subscriptions, statuses) = match listed {
            Ok(x) => x,
            Err(e) => return self.store_failed(tag, e),
        };
        let lsub = verb == "LSUB";
        let matches = |name: &str| patterns.iter().any(|p| wildcard_match(p, name));
        let subscribed: std::collections::HashSet<&str> = subscriptions.iter().map(String::as_str).collect();
        let by_path: std::collections::HashMap<&str, usize> = folders.iter().enumerate().map(|(k, f)| (f.path.as_str(), k)).collect();
        // Which names have child folders: one pass over every folder's parents.
        let mut children: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for f in &folders {
            let mut path = f.path.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                children.insert(parent);
                path = parent;
            }
        }
        // Names with a subscribed descendant (RECURSIVEMATCH's CHILDINFO, RFC 5258 §3.5), and those whose
        // subscribed descendant the patterns do not reach (LSUB's "%" rule, RFC 3501 §6.3.9).
        let mut subscribed_below: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut hidden_subscribed: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for name in &subscriptions {
            let reached = matches(name);
            let mut path = name.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                subscribed_below.insert(parent);
                if !reached {
                    hidden_subscribed.insert(parent);
                }
                path = parent;
            }
        }
        // The names to consider: the folders, or for LSUB and the SUBSCRIBED selection the subscribed
        // names and their parents.
        let names: std::collections::BTreeSet<&str> = if lsub || r.subscribed {
            subscriptions.iter().map(String::as_str).chain(subscribed_below.iter().copied()).collect()
        } else {
            folders.iter().map(|f| f.path.as_str()).collect()
        };
        // INBOX first, as the folder list has it.
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort_by_key(|n| (*n != "INBOX", *n));
        for name in names {
            if !matches(name) {
                continue;
            }
            let folder = by_path.get(name).map(|&k| (k, &folders[k]));
            let is_subscribed = subscribed.contains(name);
            let childinfo = subscribed_below.contains(name);
            let mut attrs: Vec<String> = Vec::new();
            if lsub {
                // LSUB: the subscribed names, and with "%" a parent of a subscribed name it does not
                // reach, as \Noselect (RFC 3501 §6.3.9); no child attributes.
                if !is_subscribed && !hidden_subscribed.contains(name) {
                    continue;
                }
                if !is_subscribed || folder.is_none() {
                    attrs.push("\\Noselect".into());
                }
            } else {
                if r.subscribed && !is_subscribed && !(r.recursive_match && childinfo) {
                    continue;
                }
                match folder {
                    None => attrs.push("\\NonExistent".into()),
                    Some(_) => attrs.push(if children.contains(name) { "\\HasChildren" } else { "\\HasNoChildren" }.into()),
                }
                if is_subscribed && (r.subscribed || r.return_subscribed) {
                    attrs.push("\\Subscribed".into());
                }
                if r.special_use && folder.is_none_or(|(_, f)| f.special_use.is_none()) {
                    continue;
                }
                if let Some(special) = folder.and_then(|(_, f)| f.special_use.as_ref()) {
                    attrs.push(special.clone());
                }
            }
            let mut line = format!("* {verb} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            line.extend_from_slice(&self.wire_name(name));
            if !lsub && r.recursive_match && childinfo {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            self.talk.out.extend_from_slice(&line);
            if let Some(st) = folder.and_then(|(k, _)| statuses.get(k).map(|st| (st, &folders[k]))) {
                let items: Vec<String> = r.status.iter().filter_map(|item| status_item(item, st.0, st.1)).collect();
                let mut line = b"* STATUS ".to_vec();
                line.extend_from_slice(&self.wire_name(name));
                line.extend_from_slice(format!(" ({})\r\n", items.join(" ")).as_bytes());
                self.talk.out.extend_from_slice(&line);
            }
        }
        self.tagged(tag, "OK", &format!("{verb} completed"));
    }

    pub(in crate::imap) async fn status(&mut self, tag: &str, mailbox: &Mailbox<'_>, items: &[StatusDataItemName]) {
        let (user, path) = (self.user_id(), self.path_of(mailbox));
        let found = with_folder(self.ctx.shared.store.clone(), user, path, |c, f| mailbox::status(c, f.id)).await;
        let (st, f) = match found {
            Ok(Some(x)) => x,
            Ok(None) => return self.tagged(tag, "NO", "[NONEXISTENT] no such folder"),
            Err(e) => return self.store_failed(tag, e),
        };
        let parts: Vec<String> = items
            .iter()
            .filter_map(|i| {
                let name = match i {
                    StatusDataItemName::Messages => "MESSAGES",
                    StatusDataItemName::Recent => "RECENT",
                    StatusDataItemName::UidNext => "UIDNEXT",
                    StatusDataItemName::UidValidity => "UIDVALIDITY",
                    StatusDataItemName::Unseen => "UNSEEN",
                    StatusDataItemName::Deleted => "DELETED",
                    StatusDataItemName::Size => "SIZE",
                    StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
                    _ => return None,
                };
                status_item(name, &st, &f)
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        line.extend_from_slice(&self.wire_name(&f.path));
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.talk.out.extend_from_slice(&line);
        self.tagged(tag, "OK", "STATUS completed");
    }

    /// The user's one quota root "": the storage the mailbox uses, against what it could use — that plus
    /// the space left on the disk of the data folder (Postroom sets no per-user limit).
    pub(in crate::imap) async fn quota(&mut self, tag: &str, verb: &str) {
        let user = self.user_id();
        let used = self.ctx.shared.store.read_async(move |c| {
            Ok(c.query_row("SELECT coalesce(sum(m.size), 0) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = ?1", [user], |r| r.get::<_, i64>(0))?)
        })
        .await;
        let used = match used {
            Ok(u) => (u as u64).div_ceil(1024),
            Err(e) => return self.store_failed(tag, e),
        };
        let folder = self.ctx.shared.store.path().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        let free = crate::paths::free_space(&folder).unwrap_or(0) / 1024;
        self.untagged(&format!("QUOTA \"\" (STORAGE {used} {})", used + free));
        self.tagged(tag, "OK", &format!("{verb} completed"));
    }
}
