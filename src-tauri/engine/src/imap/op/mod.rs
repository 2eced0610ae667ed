//! The command handlers of an IMAP session, by verb family; the loop, the states and the dispatch are
//! `imap::session`.

mod append;
mod auth;
mod copy;
mod dispatch;
mod fetch;
mod mailboxes;
mod notify;
mod search;
mod select;
mod store;
mod urls;

pub(super) use append::Appended;
pub(super) use notify::NotifyState;
pub(super) use search::LiveSearch;
