//! The URLAUTH commands (RFC 4467), which imap-codec does not read: `GENURLAUTH url mechanism …`,
//! `RESETKEY [mailbox [mechanism …]]` and `URLFETCH url …`. Arguments are atoms or quoted strings.

/// One URLAUTH command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlCommand {
    /// (URL, mechanism) pairs.
    Generate(Vec<(String, String)>),
    /// One mailbox, or all of the user's.
    ResetKey(Option<String>),
    Fetch(Vec<String>),
}

use super::list::{command_line, tokens, ListError, Token};

/// URLs in one GENURLAUTH or URLFETCH.
pub const MAX_URLS: usize = 100;

/// For a URLAUTH command, its tag and the command (or why it cannot be read); `None` for any other.
pub fn parse(message: &[u8]) -> Option<(String, Result<UrlCommand, String>)> {
    let (tag, verb, args) = command_line(message)?;
    let verb = verb.to_ascii_uppercase();
    if !matches!(verb.as_str(), "GENURLAUTH" | "RESETKEY" | "URLFETCH") {
        return None;
    }
    let words = match words(args) {
        Ok(w) => w,
        Err(e) => return Some((tag.to_string(), Err(e))),
    };
    let most = if verb == "GENURLAUTH" { 2 * MAX_URLS } else { MAX_URLS };
    if words.len() > most {
        return Some((tag.to_string(), Err(format!("[LIMIT] at most {MAX_URLS} URLs in one command"))));
    }
    let command = match verb.as_str() {
        "GENURLAUTH" if !words.is_empty() && words.len() % 2 == 0 => Ok(UrlCommand::Generate(words.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())),
        "GENURLAUTH" => Err("GENURLAUTH takes pairs of a URL and a mechanism".into()),
        "RESETKEY" => Ok(UrlCommand::ResetKey(words.into_iter().next())),
        _ if !words.is_empty() => Ok(UrlCommand::Fetch(words)),
        _ => Err("URLFETCH takes one or more URLs".into()),
    };
    Some((tag.to_string(), command))
}

/// Atoms and quoted strings (unquoted), read by LIST's tokenizer; no lists, no literals.
fn words(text: &str) -> Result<Vec<String>, String> {
    let literal = "write URLs as quoted strings here, not literals";
    let tokens = tokens(text).map_err(|e| if e == ListError::Literal { literal.to_string() } else { e.to_string() })?;
    tokens
        .into_iter()
        .map(|t| match t {
            Token::Word(w) => Ok(w),
            Token::Open | Token::Close => Err("write a URL with parentheses as a quoted string".to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_commands_are_read() {
        assert_eq!(
            parse(b"a GENURLAUTH \"imap://a@h/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL\r\n"),
            Some(("a".into(), Ok(UrlCommand::Generate(vec![("imap://a@h/INBOX/;UID=1;URLAUTH=authuser".into(), "INTERNAL".into())]))))
        );
        assert_eq!(parse(b"b RESETKEY\r\n"), Some(("b".into(), Ok(UrlCommand::ResetKey(None)))));
        assert_eq!(parse(b"b resetkey Drafts INTERNAL\r\n"), Some(("b".into(), Ok(UrlCommand::ResetKey(Some("Drafts".into()))))));
        assert_eq!(parse(b"c URLFETCH \"x\" y\r\n"), Some(("c".into(), Ok(UrlCommand::Fetch(vec!["x".into(), "y".into()])))));
        assert!(parse(b"c URLFETCH\r\n").unwrap().1.is_err());
        assert!(parse(b"d GENURLAUTH \"x\"\r\n").unwrap().1.is_err());
        assert!(parse(b"d URLFETCH {3}\r\nabc\r\n").unwrap().1.is_err());
        assert!(parse(b"e NOOP\r\n").is_none());
    }
}
