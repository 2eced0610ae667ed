//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and the SPECIAL-USE selection (RFC 6154): imap-codec
//! parses only the basic `LIST reference pattern`, so the extended forms are parsed here.

/// What a LIST asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub reference: String,
    pub patterns: Vec<String>,
    /// Selection: only subscribed folders (and, with RECURSIVEMATCH, parents of subscribed ones).
    pub subscribed: bool,
    pub recursive_match: bool,
    /// Selection: only folders with a special use.
    pub special_use: bool,
    /// Return \Subscribed on the folders that are.
    pub return_subscribed: bool,
    /// STATUS items to return after each folder.
    pub status: Vec<String>,
}

/// Why an extended LIST was refused (the text of the tagged `BAD`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("literals are not supported in an extended LIST; use quoted strings")]
    Literal,
    #[error("parentheses nested too deeply")]
    TooDeep,
    #[error("unbalanced parentheses")]
    Unbalanced,
    #[error("too many patterns (at most {MAX_PATTERNS})")]
    TooManyPatterns,
    #[error("pattern too long (at most {MAX_PATTERN_LEN} bytes)")]
    PatternTooLong,
    #[error("unknown selection option {0}")]
    UnknownSelection(String),
    #[error("RECURSIVEMATCH needs another selection option")]
    RecursiveMatchAlone,
    #[error("LIST needs a reference name")]
    NoReference,
    #[error("LIST needs a mailbox pattern")]
    NoPattern,
    #[error("STATUS needs a list of items")]
    NoStatusItems,
    #[error("unknown return option {0}")]
    UnknownReturn(String),
    #[error("unexpected words after the pattern")]
    Trailing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Open,
    Close,
    Word(String),
}

/// The tag, verb and arguments of a command's first line (an APPEND's megabytes are not looked at);
/// `None` when the line is not UTF-8 or has no verb.
pub(super) fn command_line(message: &[u8]) -> Option<(&str, &str, &str)> {
    let end = message.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(message.len());
    let line = std::str::from_utf8(&message[..end]).ok()?;
    let (tag, rest) = line.split_once(' ')?;
    let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((tag, verb, args))
}

pub(super) fn tokens(line: &str) -> Result<Vec<Token>, ListError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => word.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => word.push(c),
                        None => return Err(ListError::UnterminatedQuote),
                    }
                }
                out.push(Token::Word(word));
            }
            '{' => return Err(ListError::Literal),
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ' ' || c == '(' || c == ')' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// The deepest parenthesised list an extended LIST needs is `RETURN (STATUS (…))`: two levels.
const MAX_DEPTH: usize = 2;
/// Patterns in one LIST, and the length of each: more is refused before any folder is matched.
pub const MAX_PATTERNS: usize = 100;
pub const MAX_PATTERN_LEN: usize = 1024;

/// A parenthesised list of words starting at `tokens[*i]` (which is `Open`); nested lists are kept as
/// "(…)" words of their own. Nesting deeper than [`MAX_DEPTH`] is refused (no recursion on input).
fn list_of(tokens: &[Token], i: &mut usize) -> Result<Vec<String>, ListError> {
    list_at(tokens, i, 1)
}

fn list_at(tokens: &[Token], i: &mut usize, depth: usize) -> Result<Vec<String>, ListError> {
    if depth > MAX_DEPTH {
        return Err(ListError::TooDeep);
    }
    *i += 1;
    let mut words = Vec::new();
    while *i < tokens.len() {
        match &tokens[*i] {
            Token::Close => {
                *i += 1;
                return Ok(words);
            }
            Token::Word(w) => {
                words.push(w.clone());
                *i += 1;
            }
            Token::Open => {
                let inner = list_at(tokens, i, depth + 1)?;
                words.push(format!("({})", inner.join(" ")));
            }
        }
    }
    Err(ListError::Unbalanced)
}

/// Refuses more patterns, or longer ones, than a LIST may carry.
pub fn check_patterns(patterns: &[String]) -> Result<(), ListError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(ListError::TooManyPatterns);
    }
    if patterns.iter().any(|p| p.len() > MAX_PATTERN_LEN) {
        return Err(ListError::PatternTooLong);
    }
    Ok(())
}

/// For a LIST in extended form, the tag and the request; `None` for a basic LIST (or anything else).
pub fn parse(message: &[u8]) -> Option<(String, Result<ListRequest, ListError>)> {
    // Every command passes here: look at the verb before copying anything.
    let mut words = message.splitn(3, |&b| b == b' ');
    let (_, verb) = (words.next()?, words.next()?);
    if !verb.eq_ignore_ascii_case(b"LIST") {
        return None;
    }
    let line = String::from_utf8_lossy(message);
    let line = line.trim_end_matches(['\r', '\n']);
    let (tag, rest) = line.split_once(' ')?;
    let (verb, rest) = rest.split_once(' ')?;
    if !verb.eq_ignore_ascii_case("LIST") {
        return None;
    }
    let looks_extended = rest.starts_with('(') || rest.to_ascii_uppercase().contains(" RETURN (");
    let toks = match tokens(rest) {
        Ok(t) => t,
        // A basic LIST may use literals; imap-codec reads those.
        Err(_) if !looks_extended => return None,
        Err(e) => return Some((tag.to_string(), Err(e))),
    };
    let extended = looks_extended || toks.get(1) == Some(&Token::Open) || toks.len() > 2;
    if !extended {
        return None;
    }
    Some((tag.to_string(), request(&toks)))
}

fn request(toks: &[Token]) -> Result<ListRequest, ListError> {
    let mut r = ListRequest::default();
    let mut i = 0;
    if toks.first() == Some(&Token::Open) {
        for option in list_of(toks, &mut i)? {
            match option.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => r.subscribed = true,
                "RECURSIVEMATCH" => r.recursive_match = true,
                "SPECIAL-USE" => r.special_use = true,
                "REMOTE" => {}
                other => return Err(ListError::UnknownSelection(other.to_string())),
            }
        }
    }
    if r.recursive_match && !r.subscribed {
        return Err(ListError::RecursiveMatchAlone);
    }
    let r = request_rest(toks, i, r)?;
    check_patterns(&r.patterns)?;
    Ok(r)
}

fn request_rest(toks: &[Token], mut i: usize, mut r: ListRequest) -> Result<ListRequest, ListError> {
    match toks.get(i) {
        Some(Token::Word(w)) => r.reference = w.clone(),
        _ => return Err(ListError::NoReference),
    }
    i += 1;
    match toks.get(i) {
        Some(Token::Word(w)) => {
            r.patterns.push(w.clone());
            i += 1;
        }
        Some(Token::Open) => r.patterns = list_of(toks, &mut i)?,
        _ => return Err(ListError::NoPattern),
    }
    if i < toks.len() {
        match (&toks[i], toks.get(i + 1)) {
            (Token::Word(w), Some(Token::Open)) if w.eq_ignore_ascii_case("RETURN") => {
                i += 1;
                let options = list_of(toks, &mut i)?;
                let mut k = 0;
                while k < options.len() {
                    match options[k].to_ascii_uppercase().as_str() {
                        "SUBSCRIBED" => r.return_subscribed = true,
                        "CHILDREN" | "SPECIAL-USE" => {}
                        "STATUS" => {
                            let items = options.get(k + 1).filter(|s| s.starts_with('(')).ok_or(ListError::NoStatusItems)?;
                            r.status = items.trim_matches(['(', ')']).split(' ').filter(|s| !s.is_empty()).map(str::to_ascii_uppercase).collect();
                            k += 1;
                        }
                        other => return Err(ListError::UnknownReturn(other.to_string())),
                    }
                    k += 1;
                }
            }
            _ => return Err(ListError::Trailing),
        }
    }
    if i + 1 < toks.len() && r.status.is_empty() && !r.return_subscribed {
        return Err(ListError::Trailing);
    }
    Ok(r)
}

/// LIST wildcards: "*" matches anything, "%" anything but the hierarchy delimiter "/". INBOX matches
/// in any letter case.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern = match pattern.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => format!("INBOX{}", &pattern[5..]),
        _ => pattern.to_string(),
    };
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // matched[j]: the pattern so far matches the first j characters of the name. One pass per
    // pattern character keeps it O(pattern × name) however many wildcards a client sends.
    let mut matched = vec![false; n.len() + 1];
    matched[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        match c {
            '*' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=n.len() {
                    if j > 0 && n[j - 1] == '/' {
                        any = false;
                    }
                    any |= matched[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=n.len() {
                    next[j] = matched[j - 1] && n[j - 1] == c;
                }
            }
        }
        matched = next;
    }
    matched[n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_lists_are_understood_and_basic_ones_left_to_imap_codec() {
        assert!(parse(b"a LIST \"\" \"*\"\r\n").is_none());
        let (tag, r) = parse(b"a1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\" RETURN (CHILDREN)\r\n").unwrap();
        assert_eq!(tag, "a1");
        let r = r.unwrap();
        assert!(r.subscribed && r.recursive_match && r.patterns == ["*"]);
        let r = parse(b"b LIST \"\" (\"INBOX\" \"Sent\") RETURN (SUBSCRIBED STATUS (MESSAGES UNSEEN))\r\n").unwrap().1.unwrap();
        assert_eq!(r.patterns, ["INBOX", "Sent"]);
        assert!(r.return_subscribed);
        assert_eq!(r.status, ["MESSAGES", "UNSEEN"]);
        assert!(parse(b"c LIST (SPECIAL-USE) \"\" *\r\n").unwrap().1.unwrap().special_use);
        assert!(parse(b"d LIST (BOGUS) \"\" *\r\n").unwrap().1.is_err());
        assert!(parse(b"e LIST \"\" {3}\r\nfoo\r\n").is_none(), "a basic LIST with a literal is imap-codec's");
        assert!(parse(b"f LIST (SUBSCRIBED) \"\" {1}\r\n*\r\n").unwrap().1.is_err());
    }

    #[test]
    fn deep_parentheses_and_too_many_patterns_are_refused_without_recursion() {
        let mut line = b"a LIST ".to_vec();
        line.extend(std::iter::repeat_n(b'(', 200_000));
        line.extend_from_slice(b"\r\n");
        let (tag, r) = parse(&line).unwrap();
        assert_eq!(tag, "a");
        assert_eq!(r.unwrap_err(), ListError::TooDeep);
        let many = format!("b LIST \"\" ({})\r\n", vec!["x"; 101].join(" "));
        assert_eq!(parse(many.as_bytes()).unwrap().1.unwrap_err().to_string(), "too many patterns (at most 100)");
        let long = format!("c LIST \"\" (\"{}\")\r\n", "*".repeat(1025));
        assert_eq!(parse(long.as_bytes()).unwrap().1.unwrap_err(), ListError::PatternTooLong);
        assert!(parse(b"d LIST \"\" (\"INBOX\") RETURN (STATUS (MESSAGES))\r\n").unwrap().1.is_ok());
    }

    #[test]
    fn list_wildcards_follow_rfc_3501() {
        assert!(wildcard_match("*", "Work/Projects/2026"));
        assert!(wildcard_match("%", "Sent") && !wildcard_match("%", "Work/Projects"));
        assert!(wildcard_match("Work/%", "Work/Projects") && !wildcard_match("Work/%", "Work/Projects/2026"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(!wildcard_match("Sent", "Sent Items"));
        assert!(!wildcard_match("    \u{fffd}x", "INBOX"), "a pattern with multi-byte characters near the start (found by fuzzing)");
        assert!(wildcard_match(&"*".repeat(200), ""));
        assert!(!wildcard_match(&format!("{}x", "*".repeat(200)), &"a".repeat(500)), "many wildcards stay fast");
        assert!(wildcard_match("Work/%/2026", "Work/Projects/2026") && !wildcard_match("Work/%", "Work/a/b"));
    }
}
