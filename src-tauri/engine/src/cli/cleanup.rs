//! The command line of the Message Store's clean-up: prune rules (`prune rules list|add|del`, `prune
//! preview`, `prune run`) and the Recycle Bin (`recycle list|restore|purge`), in the forms scripts rely on.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::mailbox::recycle;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub(super) enum PruneCommand {
    /// The rules: `list`, `add`, `del`
    #[command(subcommand)]
    Rules(PruneRulesCommand),
    /// What the rules would take now, per rule, with the first 50 messages; nothing is taken
    Preview {
        /// Only this user's mail (under the global rules and the user's own)
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One pass now: what the rules take goes to the Recycle Bin; prints "pruned N messages (B bytes)"
    Run,
}

#[derive(Subcommand, Debug)]
pub(super) enum PruneRulesCommand {
    /// Global rules and every user's (with --user: the global ones and that user's)
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Adds a rule (a user's with --user, else global); prints the new rule's id
    Add {
        #[arg(long)]
        user: Option<String>,
        /// One folder (INBOX in any letter case), or * for every folder
        #[arg(long)]
        folder: String,
        /// Days since Postroom first saw the message
        #[arg(long)]
        age: u32,
        /// Only messages of at least this many bytes
        #[arg(long)]
        min_size: Option<u64>,
        #[arg(long, value_enum, default_value = "either")]
        read: ReadArg,
        #[arg(long, value_enum, default_value = "either")]
        flagged: FlaggedArg,
        /// Only messages marked \Deleted
        #[arg(long)]
        deleted: bool,
        /// Only messages marked as spam
        #[arg(long)]
        spam: bool,
    },
    /// Deletes a rule
    #[command(alias = "delete")]
    Del { id: i64 },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum ReadArg {
    Read,
    Unread,
    Either,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum FlaggedArg {
    Flagged,
    Unflagged,
    Either,
}

#[derive(Subcommand, Debug)]
pub(super) enum RecycleCommand {
    /// Deleted messages, newest first: id, user, folder, subject, deleted at, reason, size; and deleted users
    List {
        #[arg(long)]
        user: Option<String>,
        /// Only entries with all these words in the user, folder, subject, sender or reason
        #[arg(long)]
        search: Option<String>,
        /// At most this many (default 1000)
        #[arg(long, default_value_t = 0)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Puts messages back in their folders: by id, or a user's deleted since a time
    Restore {
        /// Entries by id (as `recycle list` shows them)
        #[arg(required_unless_present = "user", conflicts_with_all = ["user", "since"])]
        ids: Vec<i64>,
        /// Everything of this user's deleted since --since
        #[arg(long, requires = "since")]
        user: Option<String>,
        /// A time: 2026-12-04 09:30 (local), 2026-12-04, RFC 3339, or Unix seconds
        #[arg(long, requires = "user")]
        since: Option<String>,
        /// Mark the restored messages \Flagged (rules for unflagged mail then leave them alone); their age starts again in any case
        #[arg(long)]
        mark: bool,
    },
    /// Empties the bin now, deleted users too (asks first unless --yes)
    Purge {
        #[arg(long)]
        yes: bool,
    },
}

pub(super) fn prune_command(store: &Store, command: PruneCommand) -> Result<i32> {
    use crate::mailbox::prune::{self, Either, NewRule};
    let either = |yes: bool, no: bool| if yes { Either::Yes } else if no { Either::No } else { Either::Either };
    let shown = |e: Either, yes: &'static str, no: &'static str| match e {
        Either::Yes => yes,
        Either::No => no,
        Either::Either => "either",
    };
    match command {
        PruneCommand::Rules(PruneRulesCommand::List { user, json }) => {
            let rules = store.read(|c| prune::list(c, user.as_deref()))?.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rules)?);
            } else if rules.is_empty() {
                println!("no prune rules");
            } else {
                println!("{:<5} {:<12} {:<20} {:>6} {:>12} {:<7} {:<10} {:<8} SPAM", "ID", "USER", "FOLDER", "AGE", "MIN SIZE", "READ", "FLAGGED", "DELETED");
                for r in rules {
                    let (id, user, r) = (r.id, r.user, r.columns);
                    let size = r.min_size.map_or("-".to_string(), |s| s.to_string());
                    let (deleted, spam) = (if r.deleted { "yes" } else { "-" }, if r.spam { "yes" } else { "-" });
                    let user = user.as_deref().unwrap_or("(global)");
                    println!(
                        "{:<5} {:<12} {:<20} {:>6} {:>12} {:<7} {:<10} {:<8} {spam}",
                        id,
                        user,
                        r.folder,
                        r.age_days,
                        size,
                        shown(r.read, "read", "unread"),
                        shown(r.flagged, "flagged", "unflagged"),
                        deleted
                    );
                }
            }
        }
        PruneCommand::Rules(PruneRulesCommand::Add { user, folder, age, min_size, read, flagged, deleted, spam }) => {
            let rule = NewRule {
                folder,
                age_days: age,
                min_size,
                read: either(matches!(read, ReadArg::Read), matches!(read, ReadArg::Unread)),
                flagged: either(matches!(flagged, FlaggedArg::Flagged), matches!(flagged, FlaggedArg::Unflagged)),
                deleted,
                spam,
            };
            let id = store.write(move |c| prune::add(c, user.as_deref(), &rule))?.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{id}");
        }
        PruneCommand::Rules(PruneRulesCommand::Del { id }) => {
            if !store.write(move |c| prune::delete(c, id))? {
                anyhow::bail!("there is no prune rule {id}");
            }
            println!("prune rule {id} deleted");
        }
        PruneCommand::Preview { user, json } => {
            let now = crate::store::now();
            let p = store.read(|c| prune::preview(c, user.as_deref(), now))?.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                println!("the rules would prune {} messages ({} bytes) now", p.messages, p.bytes);
                for (rule, messages, bytes) in &p.per_rule {
                    println!("  rule {rule}: {messages} messages ({bytes} bytes)");
                }
                for m in &p.first {
                    println!("  {} {} UID {} {} bytes (rule {})", m.user, m.folder, m.uid, m.size, m.rule);
                }
            }
        }
        PruneCommand::Run => {
            // The pause between batches lets a running server's writer in between this process's.
            let (messages, bytes) = prune::run(store, crate::store::now(), crate::housekeeping::PRUNE_PAUSE, &|| false)?;
            println!("pruned {messages} messages ({bytes} bytes)");
        }
    }
    Ok(0)
}

pub(super) fn recycle_command(store: &Store, command: RecycleCommand) -> Result<i32> {
    match command {
        RecycleCommand::List { user, search, limit, json } => {
            let filter = recycle::Filter { user, search: search.unwrap_or_default(), limit };
            let dir = store.blobs_dir();
            let entries = store.read(|c| recycle::list(c, &dir, &filter))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(0);
            }
            let size = store.read(recycle::size)?;
            println!("the Recycle Bin holds {} messages ({} bytes)", size.messages, size.bytes);
            if !entries.is_empty() {
                println!("{:<7} {:<12} {:<16} {:<30} {:<20} {:<14} {:>9}", "ID", "USER", "FOLDER", "SUBJECT", "DELETED AT", "REASON", "SIZE");
                for e in &entries {
                    println!(
                        "{:<7} {:<12} {:<16} {:<30} {:<20} {:<14} {:>9}",
                        e.id,
                        e.user,
                        clip(&e.folder, 16),
                        clip(&e.subject, 30),
                        e.deleted_at,
                        e.reason,
                        e.size
                    );
                }
            }
            for u in &size.users {
                println!("deleted user {} (deleted at {}): {} messages ({} bytes); `postroomd user restore {}` brings them back", u.name, u.deleted_at, u.messages, u.bytes, u.name);
            }
        }
        RecycleCommand::Restore { ids, user, since, mark } => {
            let ids = match (user, since) {
                (Some(user), Some(since)) => {
                    let Some(at) = crate::time_text::parse_when(&since) else {
                        bail!("'{since}' is not a time: give 2026-12-04 09:30 (local time), 2026-12-04, an RFC 3339 time or Unix seconds")
                    };
                    let u = user.clone();
                    match store.read(move |c| recycle::since(c, &u, at))? {
                        Some(ids) => ids,
                        None => bail!("there is no user called '{user}'"),
                    }
                }
                _ => ids,
            };
            let restored = recycle::restore_all(store, &ids, mark)?;
            for r in restored.iter().filter(|r| r.error.is_none()) {
                tracing::info!(target: "store", user = %r.user, folder = r.folder.as_deref().unwrap_or(""), uid = r.uid.unwrap_or(0), "message restored from the Recycle Bin");
            }
            let mut failed = 0;
            for r in &restored {
                match (&r.folder, r.uid, &r.error) {
                    (Some(folder), Some(uid), None) => println!("restored {} to {} {folder} UID {uid}", r.id, r.user),
                    (_, _, error) => {
                        failed += 1;
                        eprintln!("{}: {}", r.id, error.as_deref().unwrap_or("not restored"));
                    }
                }
            }
            println!("restored {} messages", restored.len() - failed);
            return Ok(if failed > 0 { 1 } else { 0 });
        }
        RecycleCommand::Purge { yes } => {
            let size = store.read(recycle::size)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!("this deletes {} messages and {} deleted users for good: add --yes", size.messages, size.users.len());
                }
                eprint!("Delete {} messages ({} bytes) and {} deleted users for good? [y/N] ", size.messages, size.bytes, size.users.len());
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("nothing purged");
                    return Ok(1);
                }
            }
            let (messages, bytes) = recycle::purge(store)?;
            tracing::info!(target: "store", messages, bytes, "Recycle Bin purged from the command line");
            println!("purged {messages} messages ({bytes} bytes)");
        }
    }
    Ok(0)
}

/// At most `n` characters, with … when cut.
fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        return text.to_string();
    }
    let mut out: String = text.chars().take(n - 1).collect();
    out.push('…');
    out
}
