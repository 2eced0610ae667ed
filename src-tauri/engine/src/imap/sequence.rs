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

/// The set as sorted, merged, inclusive intervals, with "*" standing for `last`: sets with thousands of
/// ranges are resolved in one pass over the messages (see [`select`]) instead of ranges × messages.
pub fn intervals(set: &SequenceSet, last: u32) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(x) => (value(x, last), value(x, last)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a, last), value(b, last));
                (a.min(b), a.max(b))
            }
        })
        .collect();
    v.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match merged.last_mut() {
            Some(m) if a <= m.1.saturating_add(1) => m.1 = m.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The positions of the ascending `values` that are in `set`: linear in values plus ranges.
pub fn select(set: &SequenceSet, last: u32, values: impl Iterator<Item = u32>) -> Vec<usize> {
    let ranges = intervals(set, last);
    let mut out = Vec::new();
    let mut r = 0;
    for (i, n) in values.enumerate() {
        while r < ranges.len() && ranges[r].1 < n {
            r += 1;
        }
        if r == ranges.len() {
            break;
        }
        if ranges[r].0 <= n {
            out.push(i);
        }
    }
    out
}

/// The highest number the set names explicitly (to tell a client it asked beyond the end).
pub fn highest_named(set: &SequenceSet) -> u32 {
    set.0
        .as_ref()
        .iter()
        .flat_map(|s| match s {
            Sequence::Single(v) => [Some(v), None],
            Sequence::Range(a, b) => [Some(a), Some(b)],
        })
        .flatten()
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

/// The numbers in both of two lists of ascending, merged, inclusive ranges (as [`intervals`] gives).
pub fn intersect(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Writes ascending inclusive ranges as a set: "1:3,7,9:10".
pub fn ranges_text(ranges: &[(u32, u32)]) -> String {
    let parts: Vec<String> = ranges.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}:{b}") }).collect();
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

    #[test]
    fn selection_is_one_pass_over_merged_ranges() {
        let set = SequenceSet::try_from("9:*,1:3,2,5:4,20").unwrap();
        assert_eq!(intervals(&set, 12), vec![(1, 5), (9, 12), (20, 20)]);
        let uids = [1u32, 3, 6, 9, 15, 20, 21];
        assert_eq!(select(&set, 21, uids.iter().copied()), vec![0, 1, 3, 4, 5, 6]);
        // 20,000 ranges over 100,000 messages: every odd number.
        let text: Vec<String> = (0..20_000).map(|k| (2 * k + 1).to_string()).collect();
        let big = SequenceSet::try_from(text.join(",").as_str()).unwrap();
        let picked = select(&big, 100_000, 1..=100_000u32);
        assert_eq!(picked.len(), 20_000);
        assert_eq!(picked[19_999], 39_998);
    }

    #[test]
    fn range_lists_intersect_and_print() {
        let known = intervals(&SequenceSet::try_from("1:10,20:30").unwrap(), 0);
        assert_eq!(intersect(&known, &[(5, 22), (29, 40)]), vec![(5, 10), (20, 22), (29, 30)]);
        assert_eq!(intersect(&known, &[]), vec![]);
        assert_eq!(ranges_text(&[(1, 3), (7, 7), (9, 10)]), "1:3,7,9:10");
    }
}
