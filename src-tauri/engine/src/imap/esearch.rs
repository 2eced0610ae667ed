//! ESEARCH (RFC 4731): `SEARCH RETURN (MIN MAX COUNT ALL) …`. imap-codec does not parse the RETURN
//! clause, so it is taken out of the command here and the rest is parsed as a plain SEARCH.

/// What the client wants back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    pub min: bool,
    pub max: bool,
    pub count: bool,
    pub all: bool,
}

impl ReturnOptions {
    /// What IMAP4rev2 returns for a SEARCH without RETURN.
    pub fn all() -> ReturnOptions {
        ReturnOptions { all: true, ..Default::default() }
    }
}

/// For `tag [UID] SEARCH RETURN (…) criteria`, the command without the RETURN clause and the options;
/// `None` for anything else. An unknown option makes it `Some(Err)`.
pub fn strip_return(message: &[u8]) -> Option<Result<(Vec<u8>, ReturnOptions), String>> {
    let line_end = message.iter().position(|&b| b == b'\n').unwrap_or(message.len());
    let line = &message[..line_end];
    let mut words = line.splitn(4, |&b| b == b' ');
    let tag = words.next()?;
    let first = words.next()?;
    // Every command passes here: leave at once unless it is a SEARCH.
    if !first.eq_ignore_ascii_case(b"SEARCH") && !first.eq_ignore_ascii_case(b"UID") {
        return None;
    }
    let mut verb = first.to_vec();
    let mut prefix = [tag, b" "].concat();
    let mut rest: &[u8] = &line[tag.len() + 1 + verb.len()..];
    if verb.eq_ignore_ascii_case(b"UID") {
        prefix.extend_from_slice(b"UID ");
        let after = rest.strip_prefix(b" ")?;
        let end = after.iter().position(|&b| b == b' ')?;
        verb = after[..end].to_vec();
        rest = &after[end..];
    }
    if !verb.eq_ignore_ascii_case(b"SEARCH") {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case(b"RETURN ") {
        return None;
    }
    let after = rest[7..].strip_prefix(b"(")?;
    let close = after.iter().position(|&b| b == b')')?;
    let mut options = ReturnOptions::default();
    for word in after[..close].split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        match word.to_ascii_uppercase().as_slice() {
            b"MIN" => options.min = true,
            b"MAX" => options.max = true,
            b"COUNT" => options.count = true,
            b"ALL" => options.all = true,
            other => return Some(Err(format!("unsupported RETURN option {}", String::from_utf8_lossy(other)))),
        }
    }
    if options == ReturnOptions::default() {
        options.all = true;
    }
    let criteria = after[close + 1..].strip_prefix(b" ")?;
    let mut command = prefix;
    command.extend_from_slice(b"SEARCH ");
    command.extend_from_slice(criteria);
    command.extend_from_slice(&message[line_end..]);
    Some(Ok((command, options)))
}

/// The ESEARCH answer for the hits (message numbers or UIDs, ascending).
pub fn answer(tag: &str, uid: bool, options: ReturnOptions, hits: &[u32]) -> String {
    let mut out = format!("ESEARCH (TAG \"{tag}\")");
    if uid {
        out.push_str(" UID");
    }
    if let (true, Some(min)) = (options.min, hits.iter().min()) {
        out.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (options.max, hits.iter().max()) {
        out.push_str(&format!(" MAX {max}"));
    }
    if options.all && !hits.is_empty() {
        out.push_str(&format!(" ALL {}", super::sequence::compact(hits)));
    }
    if options.count {
        out.push_str(&format!(" COUNT {}", hits.len()));
    }
    out
}

/// The MODSEQ of an ESEARCH answer (RFC 7162 §3.1.5): the highest mod-sequence of the messages it names —
/// all of them with ALL, the lowest and highest with MIN/MAX; none when it names none (COUNT alone).
pub fn returned_modseq(options: ReturnOptions, hits: &[(u32, u64)]) -> Option<u64> {
    if options.all {
        return hits.iter().map(|h| h.1).max();
    }
    let min = options.min.then(|| hits.iter().min_by_key(|h| h.0)).flatten();
    let max = options.max.then(|| hits.iter().max_by_key(|h| h.0)).flatten();
    min.into_iter().chain(max).map(|h| h.1).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_clause_is_taken_out_and_answered() {
        let (command, options) = strip_return(b"a1 UID SEARCH RETURN (MIN COUNT) UNSEEN SUBJECT x\r\n").unwrap().unwrap();
        assert_eq!(command, b"a1 UID SEARCH UNSEEN SUBJECT x\r\n");
        assert_eq!(options, ReturnOptions { min: true, count: true, ..Default::default() });
        assert_eq!(strip_return(b"a2 SEARCH RETURN () ALL\r\n").unwrap().unwrap().1, ReturnOptions { all: true, ..Default::default() });
        assert!(strip_return(b"a3 SEARCH ALL\r\n").is_none());
        assert!(strip_return(b"a4 SEARCH RETURN (SAVE) ALL\r\n").unwrap().is_err());
        assert_eq!(answer("a1", true, options, &[3, 4, 5, 9]), "ESEARCH (TAG \"a1\") UID MIN 3 COUNT 4");
        let all = ReturnOptions { all: true, ..Default::default() };
        assert_eq!(answer("t", false, all, &[1, 2, 3, 7]), "ESEARCH (TAG \"t\") ALL 1:3,7");
    }
}
