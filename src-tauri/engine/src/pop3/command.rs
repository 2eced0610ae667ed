//! POP3 command lines (RFC 1939, 2449, 2595, 5034) parsed into [`Command`]s. Knows nothing of sockets:
//! the session frames lines (with a length cap) and hands each one here.

/// One POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Apop,
    /// AUTH with an optional mechanism and initial response.
    Auth { mechanism: Option<String>, initial: Option<String> },
    Capa,
    Stls,
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Dele(u32),
    Noop,
    Rset,
    Quit,
}

/// Why a line is not a command we can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown(String),
    Syntax(&'static str),
}

/// Parses one line (with or without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let (verb, rest) = match text.split_once(' ') {
        Some((v, r)) => (v, r),
        None => (text, ""),
    };
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        // The password may contain spaces: everything after "PASS " is the password (RFC 1939 allows it).
        "PASS" if rest.is_empty() => Err(ParseError::Syntax("PASS needs a password")),
        "PASS" => Ok(Command::Pass(rest.to_string())),
        "USER" => one_word(&args, "USER needs a user name").map(|u| Command::User(u.to_string())),
        "APOP" => Ok(Command::Apop),
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth { mechanism: None, initial: None }),
            [m] => Ok(Command::Auth { mechanism: Some(m.to_ascii_uppercase()), initial: None }),
            [m, i] => Ok(Command::Auth { mechanism: Some(m.to_ascii_uppercase()), initial: Some(i.to_string()) }),
            _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
        },
        "CAPA" => none(&args, Command::Capa),
        "STLS" => none(&args, Command::Stls),
        "STAT" => none(&args, Command::Stat),
        "NOOP" => none(&args, Command::Noop),
        "RSET" => none(&args, Command::Rset),
        "QUIT" => none(&args, Command::Quit),
        "LIST" => optional_number(&args).map(Command::List),
        "UIDL" => optional_number(&args).map(Command::Uidl),
        "RETR" => number_arg(&args).map(Command::Retr),
        "DELE" => number_arg(&args).map(Command::Dele),
        "TOP" => match args.as_slice() {
            [n, lines] => Ok(Command::Top(number(n)?, lines.parse().map_err(|_| ParseError::Syntax("TOP msg lines: lines must be a number"))?)),
            _ => Err(ParseError::Syntax("TOP needs a message number and a line count")),
        },
        _ => Err(ParseError::Unknown(verb.chars().take(20).collect())),
    }
}

fn none(args: &[&str], command: Command) -> Result<Command, ParseError> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(ParseError::Syntax("this command takes no arguments"))
    }
}

fn one_word<'a>(args: &[&'a str], why: &'static str) -> Result<&'a str, ParseError> {
    match args {
        [one] => Ok(one),
        _ => Err(ParseError::Syntax(why)),
    }
}

fn number(text: &str) -> Result<u32, ParseError> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ParseError::Syntax("message numbers start at 1")),
    }
}

fn number_arg(args: &[&str]) -> Result<u32, ParseError> {
    number(one_word(args, "this command needs a message number")?)
}

fn optional_number(args: &[&str]) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => number(n).map(Some),
        _ => Err(ParseError::Syntax("at most one message number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_case_insensitively_with_their_arguments() {
        assert_eq!(parse(b"user alice\r\n"), Ok(Command::User("alice".into())));
        assert_eq!(parse(b"PASS pass word with spaces\r\n"), Ok(Command::Pass("pass word with spaces".into())));
        assert_eq!(parse(b"LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 3\r\n"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"TOP 2 10\r\n"), Ok(Command::Top(2, 10)));
        assert_eq!(parse(b"AUTH PLAIN AGFsaWNlAHB3\r\n"), Ok(Command::Auth { mechanism: Some("PLAIN".into()), initial: Some("AGFsaWNlAHB3".into()) }));
        assert_eq!(parse(b"uidl\n"), Ok(Command::Uidl(None)));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(parse(b"RETR 0\r\n"), Err(ParseError::Syntax("message numbers start at 1")));
        assert_eq!(parse(b"RETR x\r\n"), Err(ParseError::Syntax("message numbers start at 1")));
        assert_eq!(parse(b"RETR\r\n"), Err(ParseError::Syntax("this command needs a message number")));
        assert_eq!(parse(b"STAT now\r\n"), Err(ParseError::Syntax("this command takes no arguments")));
        assert_eq!(parse(b"HELO x\r\n"), Err(ParseError::Unknown("HELO".into())));
        assert_eq!(parse(b"RETR 99999999999\r\n"), Err(ParseError::Syntax("message numbers start at 1")));
        assert!(parse(b"\xff\xfe\r\n").is_err());
    }
}
