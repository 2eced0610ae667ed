//! `postroomd lan-forward list|add|del`: the LAN forwarding rules, in the order they are tried.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::forward::{self, LanRule};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub(super) enum LanForwardCommand {
    /// The rules in the order they are tried
    List {
        #[arg(long)]
        json: bool,
    },
    /// Adds a rule at the end; prints its id
    Add {
        /// An address or pattern (* and ?; ~@domain for the rest of a domain); repeat for more
        #[arg(long = "address", required = true)]
        addresses: Vec<String>,
        /// The target: [USER:PASS@]HOST[:PORT] (port 25 unless given; 587 allowed, 465 refused)
        #[arg(long)]
        server: String,
        /// Send the login without verified TLS (a server on the office's own network only)
        #[arg(long)]
        plain_auth: bool,
        /// Rewrite the address: *@newdomain keeps the local part, or a whole address
        #[arg(long, default_value = "")]
        rewrite: String,
    },
    /// Deletes a rule
    #[command(alias = "delete")]
    Del { id: i64 },
}

pub(super) fn lan_forward_command(store: &Store, command: LanForwardCommand) -> Result<i32> {
    match command {
        LanForwardCommand::List { json } => {
            let rules = store.read(forward::list)?;
            if json {
                // The logins stay out of what a script prints.
                let shown: Vec<serde_json::Value> = rules
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id, "addresses": r.addresses, "host": r.target.host, "port": r.target.port,
                            "username": r.target.username, "plain_auth": r.target.plain_auth, "rewrite": r.rewrite,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else if rules.is_empty() {
                println!("no LAN forwarding rules");
            } else {
                println!("{:<5} {:<40} {:<28} {:<12} REWRITE", "ID", "ADDRESSES", "SERVER", "LOGIN");
                for r in rules {
                    let login = if r.target.username.is_empty() { "-".to_string() } else { r.target.username.clone() };
                    println!("{:<5} {:<40} {:<28} {:<12} {}", r.id, r.addresses.join(" "), r.target.shown(), login, if r.rewrite.is_empty() { "-" } else { &r.rewrite });
                }
            }
        }
        LanForwardCommand::Add { addresses, server, plain_auth, rewrite } => {
            let mut target = forward::parse_server(&server).map_err(|e| anyhow::anyhow!("--server: {e}"))?;
            target.plain_auth = plain_auth;
            let mut rule = LanRule { id: 0, addresses, target, rewrite };
            if let Err(errors) = forward::check(&mut rule) {
                bail!("{}", errors.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "));
            }
            let id = store.write(move |c| forward::add(c, &rule))?.map_err(|e| anyhow::anyhow!(e))?;
            println!("{id}");
        }
        LanForwardCommand::Del { id } => {
            if !store.write(move |c| forward::delete(c, id))? {
                bail!("there is no LAN forwarding rule {id}");
            }
            println!("LAN forwarding rule {id} deleted");
        }
    }
    Ok(0)
}
