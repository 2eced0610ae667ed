//! NOTIFY (RFC 5465): which events the client wants to hear of without asking, in the selected mailbox
//! and in others. imap-codec does not read the command, so it is read here.
//!
//! Supported events: MessageNew (with fetch attributes for the selected mailbox), MessageExpunge,
//! FlagChange, MailboxName and SubscriptionChange. Annotation and metadata events are refused with
//! BADEVENT, as the RFC asks of a server without them.

use super::list::{tokens, Token};

/// Which mailboxes a group of events is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// INBOXES: where new mail is delivered (INBOX).
    Inboxes,
    /// PERSONAL: every mailbox of the user.
    Personal,
    Subscribed,
    /// These mailboxes and every mailbox below them.
    Subtree(Vec<String>),
    /// These mailboxes.
    Mailboxes(Vec<String>),
}

/// The events asked for one group of mailboxes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    /// MessageNew and MessageExpunge (always asked together).
    pub messages: bool,
    pub flags: bool,
    pub names: bool,
    pub subscriptions: bool,
}

/// A `NOTIFY SET`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// STATUS: tell the state of the non-selected mailboxes at once.
    pub status: bool,
    /// The events for the selected mailbox (SELECTED or SELECTED-DELAYED), and MessageNew's fetch
    /// attributes as written (`(UID FLAGS)`).
    pub selected: Option<(Events, Option<String>)>,
    pub others: Vec<(Filter, Events)>,
}

impl Spec {
    /// The events that reach this mailbox when it is not selected (the first group naming it wins).
    pub fn events_for(&self, path: &str, subscribed: bool) -> Option<Events> {
        self.others.iter().find(|(f, _)| matches(f, path, subscribed)).map(|(_, e)| *e)
    }
}

fn matches(filter: &Filter, path: &str, subscribed: bool) -> bool {
    match filter {
        Filter::Inboxes => path == "INBOX",
        Filter::Personal => true,
        Filter::Subscribed => subscribed,
        Filter::Subtree(roots) => roots.iter().any(|r| path == r || (path.starts_with(r.as_str()) && path.as_bytes().get(r.len()) == Some(&b'/'))),
        Filter::Mailboxes(names) => names.iter().any(|n| n == path),
    }
}

/// The command: stop, or these events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    None,
    Set(Spec),
}

/// Why a NOTIFY was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A tagged BAD with this text.
    Bad(String),
    /// An event this server does not send: `NO [BADEVENT (…)]`.
    BadEvent,
}

/// The events a client may ask for here (BADEVENT lists them).
pub const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

/// Groups in one NOTIFY, and mailboxes named in all of them (each change is matched against every name).
const MAX_GROUPS: usize = 50;
const MAX_NAMES: usize = 100;

/// For `tag NOTIFY …`, the tag and the command (or why it is refused); `None` for any other command.
pub fn parse(message: &[u8]) -> Option<(String, Result<Command, Refusal>)> {
    let (tag, verb, args) = super::list::command_line(message)?;
    if !verb.eq_ignore_ascii_case("NOTIFY") {
        return None;
    }
    Some((tag.to_string(), command(args)))
}

fn bad(why: &str) -> Refusal {
    Refusal::Bad(why.to_string())
}

fn command(args: &str) -> Result<Command, Refusal> {
    let toks = tokens(args).map_err(|e| Refusal::Bad(e.to_string()))?;
    let word = |i: usize| match toks.get(i) {
        Some(Token::Word(w)) => Some(w.to_ascii_uppercase()),
        _ => None,
    };
    match word(0).as_deref() {
        Some("NONE") if toks.len() == 1 => return Ok(Command::None),
        Some("SET") => {}
        _ => return Err(bad("NOTIFY takes NONE or SET")),
    }
    let mut spec = Spec::default();
    let mut named = 0;
    let mut i = 1;
    if word(i).as_deref() == Some("STATUS") {
        spec.status = true;
        i += 1;
    }
    while i < toks.len() {
        // "(" filter-mailboxes SP events ")"
        if toks[i] != Token::Open {
            return Err(bad("each event group is in parentheses"));
        }
        i += 1;
        let filter_word = word(i).ok_or_else(|| bad("an event group starts with its mailboxes"))?;
        i += 1;
        let filter = match filter_word.as_str() {
            "SELECTED" | "SELECTED-DELAYED" => None,
            "INBOXES" => Some(Filter::Inboxes),
            "PERSONAL" => Some(Filter::Personal),
            "SUBSCRIBED" => Some(Filter::Subscribed),
            "SUBTREE" | "MAILBOXES" => {
                let mut names = Vec::new();
                if toks.get(i) == Some(&Token::Open) {
                    i += 1;
                    while let Some(Token::Word(w)) = toks.get(i) {
                        names.push(w.clone());
                        i += 1;
                    }
                    if toks.get(i) != Some(&Token::Close) {
                        return Err(bad("unbalanced parentheses in the mailbox list"));
                    }
                    i += 1;
                } else if let Some(Token::Word(w)) = toks.get(i) {
                    names.push(w.clone());
                    i += 1;
                }
                if names.is_empty() {
                    return Err(bad("SUBTREE and MAILBOXES need one or more mailbox names"));
                }
                named += names.len();
                if named > MAX_NAMES {
                    return Err(bad("too many mailbox names (at most 100 in one NOTIFY)"));
                }
                Some(if filter_word == "SUBTREE" { Filter::Subtree(names) } else { Filter::Mailboxes(names) })
            }
            _ => return Err(bad("unknown mailbox filter")),
        };
        let (events, fetch) = events(&toks, &mut i, filter.is_none())?;
        if toks.get(i) != Some(&Token::Close) {
            return Err(bad("unbalanced parentheses in an event group"));
        }
        i += 1;
        match filter {
            None => spec.selected = Some((events, fetch)),
            Some(f) => spec.others.push((f, events)),
        }
        if spec.others.len() > MAX_GROUPS {
            return Err(bad("too many event groups"));
        }
    }
    Ok(Command::Set(spec))
}

/// `NONE` or `(event [fetch-attributes] …)`, checked as RFC 5465 §5 asks: MessageNew and MessageExpunge
/// together, FlagChange only with them, fetch attributes only for the selected mailbox.
fn events(toks: &[Token], i: &mut usize, selected: bool) -> Result<(Events, Option<String>), Refusal> {
    let mut e = Events::default();
    let mut fetch = None;
    if let Some(Token::Word(w)) = toks.get(*i) {
        if w.eq_ignore_ascii_case("NONE") {
            *i += 1;
            return Ok((e, None));
        }
    }
    if toks.get(*i) != Some(&Token::Open) {
        return Err(bad("events are a parenthesised list, or NONE"));
    }
    *i += 1;
    let (mut new, mut expunge) = (false, false);
    while let Some(Token::Word(w)) = toks.get(*i) {
        *i += 1;
        match w.to_ascii_uppercase().as_str() {
            "MESSAGENEW" => {
                new = true;
                if toks.get(*i) == Some(&Token::Open) {
                    if !selected {
                        return Err(bad("fetch attributes go only with the selected mailbox"));
                    }
                    *i += 1;
                    let mut items = Vec::new();
                    while let Some(Token::Word(item)) = toks.get(*i) {
                        items.push(item.clone());
                        *i += 1;
                    }
                    if toks.get(*i) != Some(&Token::Close) {
                        return Err(bad("MessageNew's fetch attributes are a flat list (UID FLAGS ENVELOPE …)"));
                    }
                    *i += 1;
                    fetch = Some(format!("({})", items.join(" ")));
                }
            }
            "MESSAGEEXPUNGE" => expunge = true,
            "FLAGCHANGE" => e.flags = true,
            "MAILBOXNAME" => e.names = true,
            "SUBSCRIPTIONCHANGE" => e.subscriptions = true,
            _ => return Err(Refusal::BadEvent),
        }
    }
    if toks.get(*i) != Some(&Token::Close) {
        return Err(bad("unbalanced parentheses in the event list"));
    }
    *i += 1;
    if new != expunge {
        return Err(bad("MessageNew and MessageExpunge go together"));
    }
    if e.flags && !new {
        return Err(bad("FlagChange needs MessageNew and MessageExpunge"));
    }
    e.messages = new;
    Ok((e, fetch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(args: &str) -> Result<Command, Refusal> {
        parse(format!("t NOTIFY {args}\r\n").as_bytes()).unwrap().1
    }

    #[test]
    fn notify_set_is_read_group_by_group() {
        let Ok(Command::Set(spec)) = set("SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (SUBTREE (Work \"Old mail\") (MessageNew MessageExpunge MailboxName)) (PERSONAL NONE)") else { panic!() };
        assert!(spec.status);
        let every = Events { messages: true, flags: true, ..Default::default() };
        assert_eq!(spec.selected, Some((every, Some("(UID FLAGS)".into()))));
        assert_eq!(spec.others[0].0, Filter::Subtree(vec!["Work".into(), "Old mail".into()]));
        assert_eq!(spec.events_for("Work/2026", false), Some(Events { messages: true, names: true, ..Default::default() }));
        assert_eq!(spec.events_for("Sent", false), Some(Events::default()));
        assert_eq!(set("NONE"), Ok(Command::None));
        assert_eq!(parse(b"t NOOP\r\n"), None);
    }

    #[test]
    fn events_are_checked_as_the_rfc_asks() {
        assert_eq!(set("SET (SELECTED (MessageNew))"), Err(bad("MessageNew and MessageExpunge go together")));
        assert_eq!(set("SET (INBOXES (FlagChange))"), Err(bad("FlagChange needs MessageNew and MessageExpunge")));
        assert_eq!(set("SET (PERSONAL (AnnotationChange))"), Err(Refusal::BadEvent));
        assert!(matches!(set("SET (INBOXES (MessageNew (UID) MessageExpunge))"), Err(Refusal::Bad(_))));
        assert!(matches!(set("SET (SELECTED (MessageNew MessageExpunge)"), Err(Refusal::Bad(_))));
        assert!(matches!(set("SET (NOWHERE (MessageNew MessageExpunge))"), Err(Refusal::Bad(_))));
    }
}
