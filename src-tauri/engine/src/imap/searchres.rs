//! `$`, the last saved search result (RFC 5182, SEARCHRES), written in place of a message set before the
//! command is parsed: as the arguments of FETCH, STORE, COPY, MOVE and UID EXPUNGE, and as a search key
//! (or the set of the UID key) in SEARCH, SORT and THREAD. A `$` anywhere else — a quoted subject, the
//! value of a header key — is text and stays. An empty result is written as a set no message has.

/// What an empty saved result becomes: a number no message and no UID reaches.
pub const NOTHING: &str = "4294967295";

/// `$` in one command.
pub const MAX_DOLLARS: usize = 16;

/// Keys of SEARCH followed by this many arguments (MODSEQ by one or three, see below).
fn arguments(key: &[u8]) -> usize {
    match key.to_ascii_uppercase().as_slice() {
        b"SUBJECT" | b"FROM" | b"TO" | b"CC" | b"BCC" | b"BODY" | b"TEXT" | b"KEYWORD" | b"UNKEYWORD" | b"BEFORE" | b"ON" | b"SINCE" | b"SENTBEFORE"
        | b"SENTON" | b"SENTSINCE" | b"LARGER" | b"SMALLER" | b"OLDER" | b"YOUNGER" | b"CHARSET" => 1,
        b"HEADER" => 2,
        _ => 0,
    }
}

/// The command with every `$` that stands for a message set replaced by `set(true)` (the saved UIDs)
/// or `set(false)` (their message numbers): UIDs in UID FETCH/STORE/COPY/MOVE/EXPUNGE and after the
/// UID search key, numbers elsewhere; `None` when it has none.
pub fn substitute(message: &[u8], set: impl Fn(bool) -> String) -> Option<Result<Vec<u8>, String>> {
    let line_end = message.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(message.len());
    let line = &message[..line_end];
    if !line.contains(&b'$') {
        return None;
    }
    let tokens = tokens(line);
    let word = |i: usize| tokens.get(i).map(|&(a, b)| &line[a..b]);
    let mut verb_at = 1;
    let uid_form = word(1).is_some_and(|w| w.eq_ignore_ascii_case(b"UID"));
    if uid_form {
        verb_at = 2;
    }
    let verb = word(verb_at)?.to_ascii_uppercase();
    // (token index, UIDs?) of each `$` to replace.
    let mut found: Vec<(usize, bool)> = Vec::new();
    match verb.as_slice() {
        b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"EXPUNGE" => {
            if word(verb_at + 1) == Some(b"$") {
                found.push((verb_at + 1, uid_form));
            }
        }
        b"SEARCH" | b"SORT" | b"THREAD" => {
            let mut i = verb_at + 1;
            if verb.as_slice() == b"SORT" {
                // The sort criteria in parentheses, then the charset.
                if word(i) == Some(b"(") {
                    while word(i).is_some_and(|w| w != b")") {
                        i += 1;
                    }
                }
                i += 2;
            } else if verb.as_slice() == b"THREAD" {
                i += 2;
            }
            while let Some(w) = word(i) {
                // A set as a search key is message numbers, in UID SEARCH too; after the UID key, UIDs.
                if w == b"$" {
                    found.push((i, false));
                } else if w.eq_ignore_ascii_case(b"UID") {
                    if word(i + 1) == Some(b"$") {
                        found.push((i + 1, true));
                    }
                    i += 1;
                } else if w.eq_ignore_ascii_case(b"MODSEQ") {
                    // MODSEQ [entry-name entry-type] number: the long form starts with a quoted name.
                    i += if word(i + 1).is_some_and(|n| n.starts_with(b"\"")) { 3 } else { 1 };
                } else {
                    i += arguments(w);
                }
                i += 1;
            }
        }
        _ => {}
    }
    if found.is_empty() {
        return None;
    }
    // Each `$` is written out in full: a line of thousands of them over a long saved set would be gigabytes.
    if found.len() > MAX_DOLLARS {
        return Some(Err(format!("[LIMIT] at most {MAX_DOLLARS} $ in one command")));
    }
    let mut forms: [Option<String>; 2] = [None, None];
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut copied = 0;
    for (index, uids) in found {
        let (start, end) = tokens[index];
        out.extend_from_slice(&line[copied..start]);
        let text = forms[usize::from(uids)].get_or_insert_with(|| set(uids));
        out.extend_from_slice(if text.is_empty() { NOTHING.as_bytes() } else { text.as_bytes() });
        copied = end;
    }
    out.extend_from_slice(&message[copied..]);
    Some(Ok(out))
}

/// The words of a command line as (start, end): atoms, quoted strings whole, and each parenthesis alone;
/// a literal ends the scan (what follows it is data).
fn tokens(line: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' => i += 1,
            b'(' | b')' => {
                out.push((i, i + 1));
                i += 1;
            }
            b'{' => break,
            b'"' => {
                let start = i;
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    i += if line[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(line.len());
                out.push((start, i));
            }
            _ => {
                let start = i;
                while i < line.len() && !matches!(line[i], b' ' | b'(' | b')') {
                    i += 1;
                }
                out.push((start, i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(command: &str) -> String {
        let set = |uids: bool| if uids { "10:12".to_string() } else { "2:4".to_string() };
        substitute(command.as_bytes(), set).map(|c| String::from_utf8(c.unwrap()).unwrap()).unwrap_or_else(|| "unchanged".into())
    }

    #[test]
    fn a_dollar_standing_for_a_set_is_replaced_and_text_is_not() {
        assert_eq!(sub("a FETCH $ (FLAGS)\r\n"), "a FETCH 2:4 (FLAGS)\r\n");
        assert_eq!(sub("a UID STORE $ +FLAGS (\\Seen)\r\n"), "a UID STORE 10:12 +FLAGS (\\Seen)\r\n");
        assert_eq!(sub("a UID EXPUNGE $\r\n"), "a UID EXPUNGE 10:12\r\n");
        assert_eq!(sub("a SEARCH $ SMALLER 400\r\n"), "a SEARCH 2:4 SMALLER 400\r\n");
        assert_eq!(sub("a SEARCH NOT (UID $ SUBJECT $)\r\n"), "a SEARCH NOT (UID 10:12 SUBJECT $)\r\n");
        assert_eq!(sub("a UID SORT (DATE) UTF-8 OR $ FROM \"$\"\r\n"), "a UID SORT (DATE) UTF-8 OR 2:4 FROM \"$\"\r\n");
        assert_eq!(sub("a SEARCH HEADER X-Price $ $\r\n"), "a SEARCH HEADER X-Price $ 2:4\r\n");
        assert_eq!(sub("a SEARCH SUBJECT \"a \\\" $\"\r\n"), "unchanged");
        assert_eq!(sub("a COPY $ Saved$\r\n"), "a COPY 2:4 Saved$\r\n");
        assert_eq!(sub("a LIST \"\" $\r\n"), "unchanged");
        assert_eq!(sub("a SEARCH SUBJECT {1}\r\n$"), "unchanged");
        let empty = substitute(b"a FETCH $ FLAGS\r\n", |_| String::new()).unwrap().unwrap();
        assert_eq!(empty, b"a FETCH 4294967295 FLAGS\r\n");
        let many = format!("a SEARCH {}\r\n", vec!["$"; MAX_DOLLARS + 1].join(" "));
        assert!(substitute(many.as_bytes(), |_| "1:5".into()).unwrap().is_err());
        let calls = std::cell::Cell::new(0);
        substitute(b"a SEARCH $ $ $ UID $\r\n", |_| {
            calls.set(calls.get() + 1);
            "1".into()
        });
        assert_eq!(calls.get(), 2, "each form is worked out once");
    }
}
