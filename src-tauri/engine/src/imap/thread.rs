//! THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES over the messages a search found.
//!
//! The tree is an arena of nodes (a message, or a "dummy" standing for a message referred to but not in
//! the set), and every walk over it is a loop with its own stack: a mailbox whose replies form a chain
//! 100,000 deep is threaded and printed without recursion. Each message contributes at most
//! [`MAX_REFERENCES`] of its References (the last ones: the nearest ancestors), so a stranger's header of
//! a million ids costs no more than a normal one.

use std::collections::HashMap;

use super::search::base_subject;

/// References read per message (the last ones).
pub const MAX_REFERENCES: usize = 256;

/// One message as threading sees it.
#[derive(Debug, Clone, Default)]
pub struct Msg {
    /// What the answer calls it: the sequence number or the UID.
    pub number: u32,
    pub message_id: Option<String>,
    /// References (or, without it, the first id of In-Reply-To), oldest first.
    pub references: Vec<String>,
    pub subject: String,
    /// The Date: header as UTC seconds, or the internal date when it has none (RFC 5256 §2.2).
    pub sent: i64,
}

impl Msg {
    /// Reads what threading needs from the message's header.
    pub fn of(number: u32, raw: &[u8], received_at: i64) -> Msg {
        let end = header_end(raw);
        let Some(m) = crate::mailbox::mime::parse(&raw[..end]) else { return Msg { number, sent: received_at, ..Default::default() } };
        let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
            match v {
                mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
                mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
                _ => Vec::new(),
            }
        };
        let mut references = ids(m.references());
        if references.is_empty() {
            references = ids(m.in_reply_to()).into_iter().take(1).collect();
        }
        if references.len() > MAX_REFERENCES {
            references.drain(..references.len() - MAX_REFERENCES);
        }
        Msg {
            number,
            message_id: m.message_id().map(str::to_string),
            references,
            subject: m.subject().unwrap_or("").to_string(),
            sent: m.date().map_or(received_at, |d| d.to_timestamp()),
        }
    }
}

/// Where the header ends (the blank line), or the whole message.
fn header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(raw.len()),
    }
}

struct Node {
    /// Index into the messages; `None` for a dummy.
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree<'a> {
    msgs: &'a [Msg],
    nodes: Vec<Node>,
    /// Steps left for unlinking and loop checks: a mailbox built to make them quadratic (100,000 replies
    /// that keep moving between parents) stops here instead of holding a thread for minutes.
    budget: u64,
}

/// Steps one REFERENCES threading may take.
pub const BUDGET: u64 = 200_000_000;

impl<'a> Tree<'a> {
    fn new(msgs: &'a [Msg]) -> Tree<'a> {
        Tree { msgs, nodes: Vec::with_capacity(msgs.len()), budget: BUDGET }
    }

    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node { msg, parent: None, children: Vec::new() });
        self.nodes.len() - 1
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.budget = self.budget.saturating_sub(self.nodes[p].children.len() as u64);
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Whether making `child` a child of `parent` would close a loop: `parent` is `child` or below it.
    /// Only a node with children needs the walk up (a chain of replies arriving in order never does).
    fn would_loop(&mut self, parent: usize, child: usize) -> bool {
        parent == child || (!self.nodes[child].children.is_empty() && self.descends_from(parent, child))
    }

    /// Whether `node` is `ancestor` or below it.
    fn descends_from(&mut self, mut node: usize, ancestor: usize) -> bool {
        loop {
            self.budget = self.budget.saturating_sub(1);
            if node == ancestor || self.budget == 0 {
                return true;
            }
            match self.nodes[node].parent {
                Some(p) => node = p,
                None => return false,
            }
        }
    }

    /// The date a node sorts by: its message's, or a dummy's first child's.
    fn date(&self, node: usize) -> (i64, u32) {
        let mut n = node;
        loop {
            match self.nodes[n].msg {
                Some(m) => return (self.msgs[m].sent, self.msgs[m].number),
                None => match self.nodes[n].children.first() {
                    Some(&c) => n = c,
                    None => return (i64::MAX, u32::MAX),
                },
            }
        }
    }

    /// Sorts every node's children by date, dummies' first so they know their own date.
    fn sort_siblings(&mut self) {
        let order: Vec<usize> = (0..self.nodes.len()).filter(|&n| self.nodes[n].msg.is_none()).chain((0..self.nodes.len()).filter(|&n| self.nodes[n].msg.is_some())).collect();
        for n in order {
            let mut children = std::mem::take(&mut self.nodes[n].children);
            children.sort_by_key(|&c| self.date(c));
            self.nodes[n].children = children;
        }
    }

    /// The answer: one parenthesised thread per root (RFC 5256 §4).
    fn write(&self, roots: &[usize]) -> String {
        enum Step {
            Node(usize),
            Text(&'static str),
        }
        let mut out = String::new();
        for &root in roots {
            let mut stack = vec![Step::Text(")"), Step::Node(root), Step::Text("(")];
            while let Some(step) = stack.pop() {
                let n = match step {
                    Step::Text(t) => {
                        out.push_str(t);
                        continue;
                    }
                    Step::Node(n) => n,
                };
                let node = &self.nodes[n];
                if let Some(m) = node.msg {
                    out.push_str(&self.msgs[m].number.to_string());
                    if !node.children.is_empty() {
                        out.push(' ');
                    }
                }
                match node.children.as_slice() {
                    [] => {}
                    [only] => stack.push(Step::Node(*only)),
                    many => {
                        for &c in many.iter().rev() {
                            stack.extend([Step::Text(")"), Step::Node(c), Step::Text("(")]);
                        }
                    }
                }
            }
        }
        out
    }
}

/// ORDEREDSUBJECT (RFC 5256 §3.1): messages with the same base subject form one thread, the earliest the
/// parent of the others; threads in the order of their first message.
pub fn ordered_subject(msgs: &[Msg]) -> String {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    let subjects: Vec<String> = msgs.iter().map(|m| base_subject(&m.subject)).collect();
    order.sort_by(|&a, &b| subjects[a].cmp(&subjects[b]).then((msgs[a].sent, msgs[a].number).cmp(&(msgs[b].sent, msgs[b].number))));
    let mut tree = Tree::new(msgs);
    let mut roots = Vec::new();
    let mut current: Option<(usize, &str)> = None;
    for i in order {
        let node = tree.add(Some(i));
        match current {
            Some((root, subject)) if subject == subjects[i] => tree.link(root, node),
            _ => {
                roots.push(node);
                current = Some((node, &subjects[i]));
            }
        }
    }
    roots.sort_by_key(|&r| tree.date(r));
    tree.write(&roots)
}

/// Whether a subject carries reply or forward marks that base-subject extraction takes off.
fn is_reply(subject: &str) -> bool {
    let folded = subject.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let mut rest = folded.as_str();
    while let Some(r) = rest.strip_prefix('[').and_then(|r| r.find(']').map(|e| r[e + 1..].trim_start())) {
        if r.is_empty() {
            break;
        }
        rest = r;
    }
    let leader = ["re", "fwd", "fw"].iter().any(|k| rest.strip_prefix(k).is_some_and(|r| r.trim_start().starts_with(':') || r.starts_with('[')));
    leader || folded.ends_with("(fwd)") || folded.starts_with("[fwd:")
}

/// REFERENCES (RFC 5256 §3.2): parents from Message-ID, References and In-Reply-To, threads gathered by
/// base subject, every set of siblings in date order. `None` when it would take more than [`BUDGET`] steps.
pub fn references(msgs: &[Msg]) -> Option<String> {
    let mut tree = Tree::new(msgs);
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    // (1) Link.
    for (i, m) in msgs.iter().enumerate() {
        let own = match m.message_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => match by_id.get(id) {
                Some(&n) if tree.nodes[n].msg.is_none() => {
                    tree.nodes[n].msg = Some(i);
                    n
                }
                // A second message with the same id is threaded as if it had none.
                Some(_) => tree.add(Some(i)),
                None => {
                    let n = tree.add(Some(i));
                    by_id.insert(id, n);
                    n
                }
            },
            None => tree.add(Some(i)),
        };
        let mut previous: Option<usize> = None;
        for r in &m.references {
            let n = match by_id.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = tree.add(None);
                    by_id.insert(r, n);
                    n
                }
            };
            if let Some(p) = previous {
                // Existing links stay; no link may close a loop.
                if tree.nodes[n].parent.is_none() && !tree.would_loop(p, n) {
                    tree.link(p, n);
                }
            }
            previous = Some(n);
        }
        // The message's parent is its last reference, whatever an earlier message's References said.
        tree.unlink(own);
        if let Some(p) = previous {
            if !tree.would_loop(p, own) {
                tree.link(p, own);
            }
        }
        if tree.budget == 0 {
            return None;
        }
    }
    // (2)–(4) The root set, without dummies that stand for nothing or for one message only.
    for n in 0..tree.nodes.len() {
        if tree.nodes[n].msg.is_some() {
            continue;
        }
        if let Some(p) = tree.nodes[n].parent {
            let children = std::mem::take(&mut tree.nodes[n].children);
            for &c in &children {
                tree.nodes[c].parent = Some(p);
            }
            let at = tree.nodes[p].children.iter().position(|&c| c == n).unwrap_or(0);
            tree.nodes[p].children.splice(at..=at, children);
            tree.nodes[n].parent = None;
        }
    }
    let mut roots: Vec<usize> = Vec::new();
    for n in 0..tree.nodes.len() {
        if tree.nodes[n].parent.is_some() {
            continue;
        }
        match (tree.nodes[n].msg, tree.nodes[n].children.len()) {
            (None, 0) => {}
            (None, 1) => {
                let child = tree.nodes[n].children[0];
                tree.nodes[n].children.clear();
                tree.nodes[child].parent = None;
                roots.push(child);
            }
            _ => roots.push(n),
        }
    }
    // (5) Sort, so a dummy knows its date.
    tree.sort_siblings();
    roots.sort_by_key(|&r| tree.date(r));
    // (6) Gather threads whose roots share a base subject.
    let subject_of = |tree: &Tree, r: usize| -> Option<(String, bool)> {
        let m = tree.nodes[r].msg.or_else(|| tree.nodes[r].children.first().and_then(|&c| tree.nodes[c].msg))?;
        let base = base_subject(&tree.msgs[m].subject);
        (!base.is_empty()).then(|| (base, is_reply(&tree.msgs[m].subject)))
    };
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let Some((base, this_reply)) = subject_of(&tree, r) else { continue };
        match table.get(&base) {
            None => {
                table.insert(base, r);
            }
            Some(&held) => {
                // A dummy is preferred to a message, a subject without reply marks to one with them.
                let held_reply = subject_of(&tree, held).is_some_and(|s| s.1);
                if (tree.nodes[r].msg.is_none() && tree.nodes[held].msg.is_some()) || (held_reply && !this_reply) {
                    table.insert(base, r);
                }
            }
        }
    }
    let mut slots: Vec<Option<usize>> = roots.iter().map(|&r| Some(r)).collect();
    let mut slot_of: HashMap<usize, usize> = roots.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    for i in 0..slots.len() {
        let Some(r) = slots[i] else { continue };
        let Some((base, this_reply)) = subject_of(&tree, r) else { continue };
        let held = table[&base];
        if held == r {
            continue;
        }
        let held_slot = slot_of[&held];
        match (tree.nodes[held].msg.is_none(), tree.nodes[r].msg.is_none()) {
            (true, true) => {
                for c in std::mem::take(&mut tree.nodes[r].children) {
                    tree.link(held, c);
                }
                slots[i] = None;
            }
            (true, false) => {
                tree.link(held, r);
                slots[i] = None;
            }
            (false, true) => {
                tree.link(r, held);
                slots[held_slot] = None;
                table.insert(base, r);
            }
            (false, false) if this_reply && !subject_of(&tree, held).is_some_and(|s| s.1) => {
                tree.link(held, r);
                slots[i] = None;
            }
            (false, false) => {
                let dummy = tree.add(None);
                tree.link(dummy, held);
                tree.link(dummy, r);
                slots[held_slot] = Some(dummy);
                slot_of.insert(dummy, held_slot);
                slots[i] = None;
                table.insert(base, dummy);
            }
        }
    }
    let kept: Vec<usize> = slots.into_iter().flatten().collect();
    // (7) Siblings in date order again, now that threads were gathered.
    tree.sort_siblings();
    Some(tree.write(&kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(number: u32, id: &str, refs: &[&str], subject: &str, sent: i64) -> Msg {
        Msg {
            number,
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            subject: subject.to_string(),
            sent,
        }
    }

    #[test]
    fn ordered_subject_groups_by_base_subject_under_the_earliest() {
        let msgs = [
            msg(1, "a", &[], "Lunch", 10),
            msg(2, "b", &[], "Budget", 20),
            msg(3, "c", &[], "Re: Lunch", 30),
            msg(4, "d", &[], "Re: lunch", 40),
            msg(5, "e", &[], "Re: Budget", 25),
            msg(6, "f", &[], "Alone", 5),
        ];
        assert_eq!(ordered_subject(&msgs), "(6)(1 (3)(4))(2 5)");
    }

    #[test]
    fn references_builds_the_tree_and_sorts_siblings_by_date() {
        let msgs = [
            msg(1, "root", &[], "Plan", 10),
            msg(2, "r1", &["root"], "Re: Plan", 30),
            msg(3, "r2", &["root"], "Re: Plan", 20),
            msg(4, "r1a", &["root", "r1"], "Re: Plan", 40),
            msg(5, "other", &[], "Something else", 15),
        ];
        assert_eq!(references(&msgs).unwrap(), "(1 (3)(2 4))(5)");
    }

    #[test]
    fn missing_parents_become_dummies_or_are_promoted() {
        // 2 and 3 answer a message not in the mailbox: a dummy root holds both.
        let msgs = [msg(1, "x", &[], "Hello", 5), msg(2, "b", &["gone"], "Re: Topic", 10), msg(3, "c", &["gone"], "Re: Topic", 20)];
        assert_eq!(references(&msgs).unwrap(), "(1)((2)(3))");
        // One message answering a missing one: the message itself is the root.
        let msgs = [msg(1, "b", &["gone1", "gone2"], "Re: Old", 10)];
        assert_eq!(references(&msgs).unwrap(), "(1)");
    }

    #[test]
    fn threads_with_one_subject_are_gathered() {
        // No references at all (a mail program that sets none): the reply joins the original.
        let msgs = [msg(1, "a", &[], "Invoice 42", 10), msg(2, "b", &[], "Re: Invoice 42", 20), msg(3, "c", &[], "Invoice 42", 30)];
        assert_eq!(references(&msgs).unwrap(), "((1 2)(3))");
    }

    #[test]
    fn loops_duplicates_and_deep_chains_are_safe() {
        // a says its parent is b, b says its parent is a: no loop.
        let msgs = [msg(1, "a", &["b"], "x", 1), msg(2, "b", &["a"], "y", 2)];
        let out = references(&msgs).unwrap();
        assert!(out == "(1 2)" || out == "(2 1)", "{out}");
        // The same Message-ID twice: two messages all the same.
        let msgs = [msg(1, "same", &[], "p", 1), msg(2, "same", &[], "q", 2)];
        assert_eq!(references(&msgs).unwrap(), "(1)(2)");
        // A chain 100,000 deep prints without recursion.
        let chain: Vec<Msg> = (0..100_000u32).map(|i| msg(i + 1, &format!("m{i}"), &(if i == 0 { vec![] } else { vec![format!("m{}", i - 1)] }).iter().map(String::as_str).collect::<Vec<_>>(), "deep", i64::from(i))).collect();
        let out = references(&chain).unwrap();
        assert!(out.starts_with("(1 2 3 ") && out.ends_with(" 100000)"));
    }

    #[test]
    fn the_header_is_read_without_the_body() {
        let raw = b"Message-ID: <a@x>\r\nReferences: <r1@x> <r2@x>\r\nSubject: Re: hi\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n\r\nReferences: <not@header>\r\n";
        let m = Msg::of(7, raw, 0);
        assert_eq!(m.message_id.as_deref(), Some("a@x"));
        assert_eq!(m.references, ["r1@x", "r2@x"]);
        assert_eq!(m.sent, 1767261600);
        let reply = Msg::of(8, b"In-Reply-To: <p@x> <q@x>\r\n\r\n", 99);
        assert_eq!((reply.references.as_slice(), reply.sent), (&["p@x".to_string()][..], 99));
    }
}
