//! Sequence sets ("1:4,7,9:*") against a mailbox's message numbers or UIDs.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

fn value(v: &SeqOrUid, last: u32) -> u32 {
    match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => last,
    }
}

/// Whether `n` is in the set, with "*" standing for `last`.
pub fn contains(set: &SequenceSet, n: u32, last: u32) -> bool {
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(v) => value(v, last) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a, last), value(b, last));
            (a.min(b)..=a.max(b)).contains(&n)
        }
    })
}

/// The highest number the set names explicitly (to tell a client it asked beyond the end).
pub fn highest_named(set: &SequenceSet) -> u32 {
    set.0
        .as_ref()
        .iter()
        .flat_map(|s| match s {
            Sequence::Single(v) => vec![v],
            Sequence::Range(a, b) => vec![a, b],
        })
        .filter_map(|v| match v {
            SeqOrUid::Value(n) => Some(n.get()),
            SeqOrUid::Asterisk => None,
        })
        .max()
        .unwrap_or(0)
}

/// Writes numbers compactly: "1:3,7,9:10".
pub fn compact(numbers: &[u32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if start == sorted[i] { start.to_string() } else { format!("{start}:{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

/// Writes UIDs in the order given (COPYUID pairs must line up), each range only when consecutive.
pub fn in_order(uids: &[u32]) -> String {
    uids.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_cover_ranges_either_way_and_the_star() {
        let set = SequenceSet::try_from("1:3,7,9:*").unwrap();
        assert!(contains(&set, 2, 20) && contains(&set, 7, 20) && contains(&set, 20, 20) && !contains(&set, 8, 20));
        let backwards = SequenceSet::try_from("5:2").unwrap();
        assert!(contains(&backwards, 3, 10));
        assert_eq!(in_order(&[9, 1, 2]), "9,1,2");
        assert_eq!(highest_named(&set), 9);
    }
}
