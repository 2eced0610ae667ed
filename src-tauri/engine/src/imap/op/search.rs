//! SEARCH, SORT and their ESEARCH forms (the matching itself is `imap::search`).

use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::search::SearchKey;

use crate::imap::esearch;
use crate::imap::search;
use crate::imap::thread;
use crate::store::blobs;

use crate::imap::session::*;

/// Searches kept up to date per selected mailbox; more are answered once, with NOUPDATE.
const MAX_CONTEXTS: usize = 8;

/// A search whose client is kept told of changes to its result (RETURN (UPDATE)).
pub(in crate::imap) struct LiveSearch {
    pub(in crate::imap) tag: String,
    key: SearchKey<'static>,
    sort: Option<Vec<SortCriterion>>,
    options: esearch::ReturnOptions,
    /// The result as last told, UIDs in result order.
    result: Vec<u32>,
    /// The folder's mod-sequence it was worked out at.
    modseq: i64,
}

impl Session {
    pub(in crate::imap) async fn search(&mut self, tag: &str, key: &SearchKey<'static>, uid: bool) {
        self.search_or_sort(tag, key, None, uid, None).await;
    }

    pub(in crate::imap) async fn sort(&mut self, tag: &str, criteria: Vec<SortCriterion>, key: &SearchKey<'static>, uid: bool) {
        self.search_or_sort(tag, key, Some(criteria), uid, None).await;
    }

    /// SEARCH, or SORT when `sort` is given; answers with message numbers, or UIDs for the UID forms.
    pub(in crate::imap) async fn search_or_sort(&mut self, tag: &str, key: &SearchKey<'static>, sort: Option<Vec<SortCriterion>>, uid: bool, esearch: Option<esearch::ReturnOptions>) {
        let verb = if sort.is_some() { "SORT" } else { "SEARCH" };
        // RFC 7162 §3.1.5: a search by MODSEQ is answered with the highest mod-sequence of what it returns.
        let by_modseq = search::uses_modseq(key);
        let sorted = sort.is_some();
        let found = match (self.hits(key, sort.clone()).await, &self.selected) {
            (Ok(Ok(hits)), Some(sel)) => {
                let rows = &sel.messages;
                Ok(Ok(hits.into_iter().map(|i| (if uid { rows[i].uid } else { i as u32 + 1 }, rows[i].uid, rows[i].modseq as u64)).collect::<Vec<(u32, u32, u64)>>()))
            }
            (Ok(Err(slow)), _) => Ok(Err(slow)),
            (Err(e), _) => Err(e),
            (Ok(Ok(_)), None) => return,
        };
        let save = esearch.is_some_and(|o| o.save);
        match found {
            Ok(Ok(found)) => {
                let hits: Vec<u32> = found.iter().map(|h| h.0).collect();
                let esearch = esearch.or((self.rev2 && verb == "SEARCH").then(esearch::ReturnOptions::all));
                match esearch {
                    Some(options) => {
                        if options.save {
                            let uids: Vec<u32> = found.iter().map(|h| h.1).collect();
                            let mut kept = esearch::saved(options, &uids, sorted);
                            kept.sort_unstable();
                            if let Some(sel) = self.selected.as_mut() {
                                sel.saved = kept;
                            }
                        }
                        if !options.silent() {
                            let mut answer = esearch::answer(tag, uid, options, &hits, sorted);
                            let numbered: Vec<(u32, u64)> = found.iter().map(|h| (h.0, h.2)).collect();
                            if let Some(highest) = by_modseq.then(|| esearch::returned_modseq(options, &numbered)).flatten() {
                                answer.push_str(&format!(" MODSEQ {highest}"));
                            }
                            self.untagged(&answer);
                        }
                        if options.update {
                            self.keep_updated(tag, key, sort, options, uid, found.iter().map(|h| h.1).collect());
                        }
                    }
                    None => {
                        let list: Vec<String> = hits.iter().map(|n| n.to_string()).collect();
                        let highest = found.iter().map(|h| h.2).max().filter(|_| by_modseq).map(|m| format!(" (MODSEQ {m})")).unwrap_or_default();
                        self.untagged(&format!("{verb}{}{}{highest}", if list.is_empty() { "" } else { " " }, list.join(" ")));
                    }
                }
                self.refresh(false).await;
                self.tagged(tag, "OK", &format!("{verb} completed"));
            }
            failed => {
                // A SAVE that failed leaves `$` empty (RFC 5182 §2.1).
                if let (true, Some(sel)) = (save, self.selected.as_mut()) {
                    sel.saved.clear();
                }
                match failed {
                    Ok(Err(search::TooSlow)) => self.tagged(tag, "NO", "[LIMIT] the search took too long; narrow it down"),
                    Err(e) => self.store_failed(tag, e),
                    Ok(Ok(_)) => {}
                }
            }
        }
    }

    /// Runs a search (or a sort) over the selected snapshot, off the async threads: the indexes of the
    /// hits, in mailbox order or sorted. Gives up after `SEARCH_LIMIT`.
    fn hits(&self, key: &SearchKey<'static>, sort: Option<Vec<SortCriterion>>) -> tokio::task::JoinHandle<Result<Vec<usize>, search::TooSlow>> {
        let (rows, recent) = match &self.selected {
            Some(sel) => (sel.messages.clone(), sel.recent.clone()),
            None => (Vec::new(), Vec::new()),
        };
        let store = self.ctx.shared.store.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            let is_recent = |uid: u32| in_ranges(&recent, uid);
            search::run(&store, &rows, &is_recent, &key, sort.as_deref(), SEARCH_LIMIT)
        })
    }

    /// Starts telling the client of changes to a search's result (RETURN (UPDATE)); UID searches only,
    /// and at most `MAX_CONTEXTS` at once: the others are answered once, with NOUPDATE (RFC 5267 §4.2).
    fn keep_updated(&mut self, tag: &str, key: &SearchKey<'static>, sort: Option<Vec<SortCriterion>>, options: esearch::ReturnOptions, uid: bool, result: Vec<u32>) {
        let Some(sel) = self.selected.as_mut() else { return };
        if !uid {
            return self.untagged(&format!("NO [NOUPDATE \"{tag}\"] results are kept up to date for UID SEARCH and UID SORT"));
        }
        if sel.contexts.len() >= MAX_CONTEXTS {
            return self.untagged(&format!("NO [NOUPDATE \"{tag}\"] at most {MAX_CONTEXTS} searches are kept up to date at once"));
        }
        sel.contexts.retain(|c| c.tag != tag);
        let modseq = sel.folder.highestmodseq;
        sel.contexts.push(LiveSearch { tag: tag.to_string(), key: key.clone(), sort, options, result, modseq });
    }

    /// Works out again every kept search whose mailbox changed since, and tells the client what changed
    /// (ADDTO, REMOVEFROM, or the new MIN, MAX, COUNT); a search that runs too long is dropped (NOUPDATE).
    pub(in crate::imap) async fn update_contexts(&mut self) {
        let Some(sel) = &self.selected else { return };
        let modseq = sel.folder.highestmodseq;
        let stale: Vec<usize> = sel.contexts.iter().enumerate().filter(|(_, c)| c.modseq != modseq).map(|(i, _)| i).collect();
        for i in stale.into_iter().rev() {
            let Some(c) = self.selected.as_ref().and_then(|s| s.contexts.get(i)) else { continue };
            let (key, sort) = (c.key.clone(), c.sort.clone());
            let hits = self.hits(&key, sort).await;
            let Some(sel) = self.selected.as_mut() else { return };
            match hits {
                Ok(Ok(hits)) => {
                    let now: Vec<u32> = hits.into_iter().map(|h| sel.messages[h].uid).collect();
                    let c = &mut sel.contexts[i];
                    let line = esearch::update(&c.tag, c.options, c.sort.is_some(), &c.result, &now);
                    c.result = now;
                    c.modseq = modseq;
                    if let Some(line) = line {
                        self.untagged(&line);
                    }
                }
                _ => {
                    let gone = sel.contexts.remove(i);
                    self.untagged(&format!("NO [NOUPDATE \"{}\"] the search took too long to keep up to date", gone.tag));
                }
            }
        }
    }

    /// THREAD (RFC 5256): the messages the search finds, as threads; numbers, or UIDs for UID THREAD.
    pub(in crate::imap) async fn thread(&mut self, tag: &str, algorithm: ThreadingAlgorithm<'static>, key: &SearchKey<'static>, uid: bool) {
        let references = match algorithm {
            ThreadingAlgorithm::References => true,
            ThreadingAlgorithm::OrderedSubject => false,
            ThreadingAlgorithm::Other(_) => return self.tagged(tag, "BAD", "the threading algorithms are ORDEREDSUBJECT and REFERENCES"),
        };
        let Some(sel) = &self.selected else { return };
        let rows = sel.messages.clone();
        let recent = sel.recent.clone();
        let store = self.ctx.shared.store.clone();
        let key = key.clone();
        let threads = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let is_recent = |uid: u32| in_ranges(&recent, uid);
            let hits = search::run(&store, &rows, &is_recent, &key, None, SEARCH_LIMIT)?;
            let dir = store.blobs_dir();
            let mut msgs = Vec::with_capacity(hits.len());
            for i in hits {
                if started.elapsed() > SEARCH_LIMIT {
                    return Err(search::TooSlow);
                }
                let row = &rows[i];
                let raw = store.read(|c| blobs::read(c, &dir, row.blob_id)).unwrap_or_default();
                msgs.push(thread::Msg::of(if uid { row.uid } else { i as u32 + 1 }, &raw, row.received_at));
            }
            if references {
                thread::references(&msgs).ok_or(search::TooSlow)
            } else {
                Ok(thread::ordered_subject(&msgs))
            }
        })
        .await;
        match threads {
            Ok(Ok(threads)) => {
                self.untagged(&format!("THREAD{}{threads}", if threads.is_empty() { "" } else { " " }));
                self.refresh(false).await;
                self.tagged(tag, "OK", "THREAD completed");
            }
            Ok(Err(search::TooSlow)) => self.tagged(tag, "NO", "[LIMIT] threading took too long; narrow the search down"),
            Err(e) => self.store_failed(tag, e),
        }
    }
}
