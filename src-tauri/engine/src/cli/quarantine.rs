//! `postroomd quarantine list [--json] | release ID | delete ID | allow ID`: the messages the spam filter
//! holds, in the forms scripts rely on.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::delivery::quarantine;
use crate::settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub(super) enum QuarantineCommand {
    /// The held messages, newest first: id, time, score, sender, recipients, subject, reasons
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delivers a held message to its recipients (once); prints "released N: delivered to M mailboxes"
    Release { id: i64 },
    /// Deletes a held message
    #[command(alias = "del")]
    Delete { id: i64 },
    /// Puts the message's sender on the global allow list and releases it
    Allow { id: i64 },
}

pub(super) fn quarantine_command(store: &Store, command: QuarantineCommand) -> Result<i32> {
    match command {
        QuarantineCommand::List { json } => {
            let held = store.read(quarantine::list)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
                return Ok(0);
            }
            println!("the quarantine holds {} messages", store.read(quarantine::count)?);
            if !held.is_empty() {
                println!("{:<6} {:<20} {:>6}  {:<28} {:<28} {:<30} REASONS", "ID", "RECEIVED", "SCORE", "FROM", "TO", "SUBJECT");
                for m in &held {
                    let from = if m.from.is_empty() { &m.sender } else { &m.from };
                    println!(
                        "{:<6} {:<20} {:>6}  {:<28} {:<28} {:<30} {}",
                        m.id,
                        crate::time_text::rfc3339(m.received_at),
                        m.score,
                        cut(from, 28),
                        cut(&m.recipients.join(","), 28),
                        cut(&m.subject, 30),
                        m.reasons
                    );
                }
            }
        }
        QuarantineCommand::Release { id } => release(store, id)?,
        QuarantineCommand::Delete { id } => {
            if !store.write(move |c| quarantine::delete(c, id))? {
                bail!("no message {id} in the quarantine (released or deleted already)");
            }
            tracing::info!(target: "mail", id, "deleted from the quarantine");
            println!("deleted {id}");
        }
        QuarantineCommand::Allow { id } => {
            let Some(address) = store.read(move |c| quarantine::sender_to_allow(c, id))? else {
                bail!("no message {id} in the quarantine (released or deleted already)");
            };
            if address.is_empty() {
                bail!("message {id} has no sender address to allow");
            }
            let added = address.clone();
            settings::update(store, move |s| {
                s.spam.allow(&added);
                Ok(())
            })?;
            println!("{address} added to the allow list");
            release(store, id)?;
        }
    }
    Ok(0)
}

fn release(store: &Store, id: i64) -> Result<()> {
    let Some(receipt) = store.write(move |c| quarantine::release(c, id))? else {
        bail!("no message {id} in the quarantine (released or deleted already)");
    };
    tracing::info!(target: "mail", id, local = receipt.local, queued = receipt.queued, "released from the quarantine");
    println!("released {id}: delivered to {} mailboxes{}", receipt.local, if receipt.queued > 0 { format!(", {} forwarded", receipt.queued) } else { String::new() });
    Ok(())
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    }
}
