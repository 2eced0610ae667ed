//! The RETURN clause of SEARCH and SORT: ESEARCH (RFC 4731: MIN MAX COUNT ALL), ESORT (RFC 5267: the same
//! in sort order), CONTEXT and UPDATE (RFC 5267 §4: the result kept up to date with ADDTO and REMOVEFROM),
//! PARTIAL (RFC 9394: a window of the results) and SAVE (RFC 5182, SEARCHRES: the result kept for `$`). imap-codec does not parse the clause, so it is taken out of the command here and the
//! rest is parsed as a plain SEARCH or SORT.

/// What the client wants back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    pub min: bool,
    pub max: bool,
    pub count: bool,
    pub all: bool,
    /// Keep the result for `$`.
    pub save: bool,
    /// Only the results at these positions (from 1, or from the end when negative), as asked.
    pub partial: Option<(i64, i64)>,
    /// Keep the client told of changes to the result (CONTEXT=SEARCH/SORT).
    pub update: bool,
}

impl ReturnOptions {
    /// What IMAP4rev2 returns for a SEARCH without RETURN.
    pub fn all() -> ReturnOptions {
        ReturnOptions { all: true, ..Default::default() }
    }

    /// SAVE alone asks for no answer at all (RFC 5182 §2.1).
    pub fn silent(&self) -> bool {
        self.save && !(self.min || self.max || self.count || self.all || self.partial.is_some() || self.update)
    }
}

/// For `tag [UID] SEARCH|SORT RETURN (…) rest`, the command without the RETURN clause and the options;
/// `None` for anything else. An option not understood makes it `Some(Err)`.
pub fn strip_return(message: &[u8]) -> Option<Result<(Vec<u8>, ReturnOptions), String>> {
    let line_end = message.iter().position(|&b| b == b'\n').unwrap_or(message.len());
    let line = &message[..line_end];
    let mut words = line.splitn(4, |&b| b == b' ');
    let tag = words.next()?;
    let first = words.next()?;
    // Every command passes here: leave at once unless it is a SEARCH or SORT.
    if !first.eq_ignore_ascii_case(b"SEARCH") && !first.eq_ignore_ascii_case(b"SORT") && !first.eq_ignore_ascii_case(b"UID") {
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
    if !verb.eq_ignore_ascii_case(b"SEARCH") && !verb.eq_ignore_ascii_case(b"SORT") {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case(b"RETURN ") {
        return None;
    }
    let after = rest[7..].strip_prefix(b"(")?;
    let close = after.iter().position(|&b| b == b')')?;
    let options = match parse_options(&after[..close]) {
        Ok(o) => o,
        Err(e) => return Some(Err(e)),
    };
    let criteria = after[close + 1..].strip_prefix(b" ")?;
    let mut command = prefix;
    command.extend_from_slice(&verb.to_ascii_uppercase());
    command.push(b' ');
    command.extend_from_slice(criteria);
    command.extend_from_slice(&message[line_end..]);
    Some(Ok((command, options)))
}

fn parse_options(text: &[u8]) -> Result<ReturnOptions, String> {
    let mut options = ReturnOptions::default();
    let mut words = text.split(|&b| b == b' ').filter(|w| !w.is_empty());
    while let Some(word) = words.next() {
        match word.to_ascii_uppercase().as_slice() {
            b"MIN" => options.min = true,
            b"MAX" => options.max = true,
            b"COUNT" => options.count = true,
            b"ALL" => options.all = true,
            b"SAVE" => options.save = true,
            b"UPDATE" => options.update = true,
            // A hint that the client may ask for more later: nothing to do.
            b"CONTEXT" => {}
            b"PARTIAL" => {
                let range = words.next().ok_or("PARTIAL needs a range such as 1:100 or -1:-100")?;
                options.partial = Some(partial_range(range).ok_or("PARTIAL needs a range such as 1:100 or -1:-100")?);
            }
            other => return Err(format!("unsupported RETURN option {} (MIN, MAX, COUNT, ALL, SAVE, PARTIAL, CONTEXT and UPDATE are)", String::from_utf8_lossy(other))),
        }
    }
    if options.all && options.partial.is_some() {
        return Err("RETURN cannot have both ALL and PARTIAL".into());
    }
    // RETURN () is RETURN (ALL) (RFC 4731 §3.1).
    if options == ReturnOptions::default() {
        options.all = true;
    }
    Ok(options)
}

/// "1:100" or "-1:-100" (RFC 9394 §3): both ends of one sign, neither zero; written either way round.
fn partial_range(text: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(text).ok()?;
    let (a, b) = text.split_once(':')?;
    let (a, b): (i64, i64) = (a.parse().ok()?, b.parse().ok()?);
    let limit = u64::from(u32::MAX);
    if a == 0 || b == 0 || (a > 0) != (b > 0) || a.unsigned_abs() > limit || b.unsigned_abs() > limit {
        return None;
    }
    Some(if a.abs() <= b.abs() { (a, b) } else { (b, a) })
}

/// The results a PARTIAL range picks, in result order.
pub fn window(range: (i64, i64), hits: &[u32]) -> &[u32] {
    let n = hits.len() as i64;
    let (from, to) = if range.0 > 0 { (range.0 - 1, range.1) } else { (n + range.1, n + range.0 + 1) };
    let (from, to) = (from.clamp(0, n) as usize, to.clamp(0, n) as usize);
    &hits[from..to.max(from)]
}

/// MIN and MAX of a result: the lowest and highest, or for SORT the first and last in sort order (RFC 5267 §3.1).
fn ends(hits: &[u32], sorted: bool) -> (Option<&u32>, Option<&u32>) {
    if sorted {
        (hits.first(), hits.last())
    } else {
        (hits.iter().min(), hits.iter().max())
    }
}

/// Writes numbers in the order given, a run of consecutive ascending ones as a range ("3:5,1,9").
pub fn in_result_order(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        while i + 1 < numbers.len() && numbers[i].checked_add(1) == Some(numbers[i + 1]) {
            i += 1;
        }
        parts.push(if start == numbers[i] { start.to_string() } else { format!("{start}:{}", numbers[i]) });
        i += 1;
    }
    parts.join(",")
}

/// The ESEARCH answer for the hits: message numbers or UIDs, ascending for SEARCH, in sort order for SORT
/// (`sorted`).
pub fn answer(tag: &str, uid: bool, options: ReturnOptions, hits: &[u32], sorted: bool) -> String {
    let mut out = format!("ESEARCH (TAG \"{tag}\")");
    if uid {
        out.push_str(" UID");
    }
    let (min, max) = ends(hits, sorted);
    if let (true, Some(min)) = (options.min, min) {
        out.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (options.max, max) {
        out.push_str(&format!(" MAX {max}"));
    }
    if options.all && !hits.is_empty() {
        out.push_str(&format!(" ALL {}", if sorted { in_result_order(hits) } else { super::sequence::compact(hits) }));
    }
    if let Some(range) = options.partial {
        let picked = window(range, hits);
        let text = format!("{}:{}", range.0, range.1);
        let set = if picked.is_empty() { "NIL".to_string() } else { in_result_order(picked) };
        out.push_str(&format!(" PARTIAL ({text} {set})"));
    }
    if options.count {
        out.push_str(&format!(" COUNT {}", hits.len()));
    }
    out
}

/// The unsolicited ESEARCH that tells an UPDATE search's client how its result changed from `old` to `new`
/// (UIDs, in result order), or `None` when nothing it asked for changed: REMOVEFROM and ADDTO with the
/// position in the sorted result (0 for SEARCH, whose result has no order), then MIN, MAX and COUNT anew.
pub fn update(tag: &str, options: ReturnOptions, sorted: bool, old: &[u32], new: &[u32]) -> Option<String> {
    if old == new {
        return None;
    }
    let mut out = format!("ESEARCH (TAG \"{tag}\") UID");
    let before: std::collections::HashSet<u32> = old.iter().copied().collect();
    let after: std::collections::HashSet<u32> = new.iter().copied().collect();
    let removed: Vec<(usize, u32)> = old.iter().enumerate().filter(|(_, u)| !after.contains(u)).map(|(i, &u)| (i + 1, u)).collect();
    let added: Vec<(usize, u32)> = new.iter().enumerate().filter(|(_, u)| !before.contains(u)).map(|(i, &u)| (i + 1, u)).collect();
    let pairs = |list: &[(usize, u32)]| -> String {
        if sorted {
            list.iter().map(|(p, u)| format!("{p} {u}")).collect::<Vec<_>>().join(" ")
        } else {
            format!("0 {}", super::sequence::compact(&list.iter().map(|x| x.1).collect::<Vec<_>>()))
        }
    };
    // A sorted result whose members stay but move is told as each moved one leaving and coming back.
    let moved = sorted && removed.is_empty() && added.is_empty();
    let (removed, added) = if moved {
        let old_at: std::collections::HashMap<u32, usize> = old.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let new_at: std::collections::HashMap<u32, usize> = new.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let at = |list: &[u32], u: u32| if std::ptr::eq(list, old) { old_at.get(&u).copied() } else { new_at.get(&u).copied() };
        let shifted: Vec<u32> = new.iter().copied().filter(|&u| at(old, u) != at(new, u)).collect();
        let out_list: Vec<(usize, u32)> = shifted.iter().map(|&u| (at(old, u).unwrap_or(0) + 1, u)).collect();
        let in_list: Vec<(usize, u32)> = shifted.iter().map(|&u| (at(new, u).unwrap_or(0) + 1, u)).collect();
        (out_list, in_list)
    } else {
        (removed, added)
    };
    // Removals highest position first and additions lowest first: a client applying them one by one
    // finds every position true when it reaches it.
    let mut removed = removed;
    removed.sort_by(|a, b| b.0.cmp(&a.0));
    let listed = options.all || !(options.min || options.max || options.count || options.partial.is_some());
    if listed && !removed.is_empty() {
        out.push_str(&format!(" REMOVEFROM ({})", pairs(&removed)));
    }
    if listed && !added.is_empty() {
        out.push_str(&format!(" ADDTO ({})", pairs(&added)));
    }
    let (min, max) = ends(new, sorted);
    if let (true, Some(min)) = (options.min, min) {
        out.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (options.max, max) {
        out.push_str(&format!(" MAX {max}"));
    }
    if let Some(range) = options.partial {
        let picked = window(range, new);
        let set = if picked.is_empty() { "NIL".to_string() } else { in_result_order(picked) };
        out.push_str(&format!(" PARTIAL ({}:{} {set})", range.0, range.1));
    }
    if options.count {
        out.push_str(&format!(" COUNT {}", new.len()));
    }
    Some(out)
}

/// For `tag CANCELUPDATE "t1" "t2" …` (RFC 5267 §4.3), the tag and the search tags; `None` for anything else.
pub fn cancel_update(message: &[u8]) -> Option<(String, Vec<String>)> {
    let (tag, verb, args) = super::list::command_line(message)?;
    if !verb.eq_ignore_ascii_case("CANCELUPDATE") {
        return None;
    }
    let tags: Vec<String> = args.split(' ').filter(|t| !t.is_empty()).map(|t| t.trim_matches('"').to_string()).collect();
    Some((tag.to_string(), tags))
}

/// What SAVE keeps of the hits: the ones MIN and MAX name when only they are asked for, the PARTIAL window
/// when that is, else all (RFC 5182 §2.1, RFC 9394 §3.1).
pub fn saved(options: ReturnOptions, hits: &[u32], sorted: bool) -> Vec<u32> {
    if options.all || options.count || !(options.min || options.max || options.partial.is_some()) {
        return hits.to_vec();
    }
    let (min, max) = ends(hits, sorted);
    let mut kept: Vec<u32> = Vec::new();
    kept.extend(min.filter(|_| options.min));
    kept.extend(max.filter(|_| options.max));
    if let Some(range) = options.partial {
        kept.extend_from_slice(window(range, hits));
    }
    kept.sort_unstable();
    kept.dedup();
    kept
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
        assert!(strip_return(b"a4 SEARCH RETURN (FOO) ALL\r\n").unwrap().is_err());
        assert!(strip_return(b"a4 SEARCH RETURN (ALL PARTIAL 1:5) ALL\r\n").unwrap().is_err());
        assert!(strip_return(b"a4 SEARCH RETURN (PARTIAL 0:5) ALL\r\n").unwrap().is_err());
        assert!(strip_return(b"a4 SEARCH RETURN (PARTIAL -1:5) ALL\r\n").unwrap().is_err());
        assert!(strip_return(b"a4 SEARCH RETURN (PARTIAL -9223372036854775808:-1) ALL\r\n").unwrap().is_err());
        assert_eq!(answer("a1", true, options, &[3, 4, 5, 9], false), "ESEARCH (TAG \"a1\") UID MIN 3 COUNT 4");
        let all = ReturnOptions { all: true, ..Default::default() };
        assert_eq!(answer("t", false, all, &[1, 2, 3, 7], false), "ESEARCH (TAG \"t\") ALL 1:3,7");
        let (sort, options) = strip_return(b"s UID SORT RETURN (MIN MAX ALL) (SUBJECT) UTF-8 ALL\r\n").unwrap().unwrap();
        assert_eq!(sort, b"s UID SORT (SUBJECT) UTF-8 ALL\r\n");
        assert_eq!(answer("s", true, options, &[7, 3, 4, 5, 1], true), "ESEARCH (TAG \"s\") UID MIN 7 MAX 1 ALL 7,3:5,1");
    }

    #[test]
    fn partial_windows_count_from_either_end() {
        let hits = [2, 4, 6, 8, 10];
        assert_eq!(window((1, 2), &hits), [2, 4]);
        assert_eq!(window((-1, -2), &hits), [8, 10]);
        assert_eq!(window((4, 100), &hits), [8, 10]);
        assert_eq!(window((6, 9), &hits), [] as [u32; 0]);
        assert_eq!(window((-5, -9), &hits), [2]);
        let (_, options) = strip_return(b"p SEARCH RETURN (PARTIAL -1:-2 COUNT) ALL\r\n").unwrap().unwrap();
        assert_eq!(answer("p", false, options, &hits, false), "ESEARCH (TAG \"p\") PARTIAL (-1:-2 8,10) COUNT 5");
        let (_, later) = strip_return(b"p SEARCH RETURN (PARTIAL 9:10) ALL\r\n").unwrap().unwrap();
        assert_eq!(answer("p", false, later, &hits, false), "ESEARCH (TAG \"p\") PARTIAL (9:10 NIL)");
        let save_min = ReturnOptions { save: true, min: true, ..Default::default() };
        assert_eq!(saved(save_min, &hits, false), [2]);
        assert!(ReturnOptions { save: true, ..Default::default() }.silent());
    }

    #[test]
    fn updates_say_what_left_and_what_came() {
        let all = ReturnOptions { all: true, update: true, ..Default::default() };
        assert_eq!(update("a", all, false, &[1, 2, 5], &[1, 5, 7, 8]).unwrap(), "ESEARCH (TAG \"a\") UID REMOVEFROM (0 2) ADDTO (0 7:8)");
        assert_eq!(update("a", all, false, &[1], &[1]), None);
        assert_eq!(update("s", all, true, &[9, 3, 4], &[9, 7, 4]).unwrap(), "ESEARCH (TAG \"s\") UID REMOVEFROM (2 3) ADDTO (2 7)");
        assert_eq!(update("s", all, true, &[9, 3, 4, 8], &[9, 8]).unwrap(), "ESEARCH (TAG \"s\") UID REMOVEFROM (3 4 2 3)");
        let count = ReturnOptions { count: true, update: true, ..Default::default() };
        assert_eq!(update("c", count, false, &[1], &[1, 2]).unwrap(), "ESEARCH (TAG \"c\") UID COUNT 2");
        assert_eq!(cancel_update(b"x CANCELUPDATE \"a\" \"b\"\r\n"), Some(("x".into(), vec!["a".into(), "b".into()])));
        assert_eq!(cancel_update(b"x NOOP\r\n"), None);
    }
}
