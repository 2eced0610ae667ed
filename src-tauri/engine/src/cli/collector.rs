//! `postroomd collector add | list | del | run`: the Mail Collector's downloads from the ISP's mailboxes,
//! in the forms scripts rely on.

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};

use crate::collector::{self, CollectorForm, LoginMethod, Security};
use crate::settings;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub(super) enum CollectorCommand {
    /// Add a collector (the password is read from standard input)
    Add(AddArgs),
    /// The collectors with their schedule, last result and error
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a collector (what it collected stays; so does the memory of what was collected)
    #[command(alias = "delete")]
    Del { name: String },
    /// One download now, whatever the schedule; prints "collected N messages"
    Run { name: String },
    /// Pause or resume a collector's schedule, or switch it off and on
    Set {
        name: String,
        #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
        paused: Option<bool>,
        #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
        enabled: Option<bool>,
        #[arg(long, value_name = "N")]
        leave_days: Option<u32>,
        #[arg(long, value_name = "MINUTES")]
        every: Option<u32>,
        /// Larger messages stay at the ISP (bytes; 0 for any size)
        #[arg(long, value_name = "BYTES")]
        max_size: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ProtocolArg {
    Pop3,
    Imap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SecurityArg {
    None,
    Tls,
    Starttls,
    StarttlsIfAvailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum AuthArg {
    Auto,
    User,
    Plain,
    Apop,
}

#[derive(Args, Debug)]
pub(super) struct AddArgs {
    name: String,
    #[arg(long, value_enum)]
    protocol: ProtocolArg,
    /// HOST or HOST:PORT (POP3 110, or 995 with --security tls; IMAP 143 or 993)
    #[arg(long, value_name = "HOST[:PORT]")]
    server: String,
    #[arg(long, value_name = "LOGIN")]
    user: String,
    #[arg(long, required = true)]
    password_stdin: bool,
    #[arg(long, value_enum, default_value = "starttls-if-available")]
    security: SecurityArg,
    /// How to log in: SASL PLAIN where offered else USER/PASS (auto), or one of them, or APOP
    #[arg(long, value_enum, default_value = "auto")]
    auth: AuthArg,
    /// Accept a certificate that does not check out (a self-signed one)
    #[arg(long)]
    no_verify_certificate: bool,
    /// Everything to this user or alias
    #[arg(long, value_name = "USER", conflicts_with_all = ["by_headers", "fallback"], required_unless_present = "by_headers")]
    to: Option<String>,
    /// Route by the recipient headers to the local users they name
    #[arg(long, requires = "fallback")]
    by_headers: bool,
    /// With --by-headers: who gets what names no local user
    #[arg(long, value_name = "USER")]
    fallback: Option<String>,
    /// Another header read for recipients (repeatable), e.g. X-Envelope-To
    #[arg(long = "header", value_name = "NAME")]
    headers: Vec<String>,
    /// Days a collected message stays at the ISP (0 deletes it after download)
    #[arg(long, value_name = "N", default_value_t = 0)]
    leave_days: u32,
    /// Minutes between downloads
    #[arg(long, value_name = "MINUTES", default_value_t = 15)]
    every: u32,
    /// Larger messages stay at the ISP (bytes; 0 for any size)
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    max_size: u64,
    #[arg(long, default_value_t = 10)]
    priority: i64,
    /// IMAP: the folder to collect from (INBOX unless given)
    #[arg(long, value_name = "FOLDER")]
    folder: Option<String>,
    /// IMAP: move collected messages to this folder at the ISP instead of deleting them
    #[arg(long, value_name = "FOLDER")]
    move_to: Option<String>,
    /// The bandwidth pool the downloads share (Bandwidth window); 0 for none
    #[arg(long, value_name = "POOL", default_value_t = 0)]
    bandwidth_pool: u32,
}

fn form_of(args: AddArgs, password: String) -> Result<CollectorForm> {
    let imap = args.protocol == ProtocolArg::Imap;
    let default_port = match (imap, args.security == SecurityArg::Tls) {
        (false, false) => 110,
        (false, true) => 995,
        (true, false) => 143,
        (true, true) => 993,
    };
    let (host, port) = match args.server.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h.trim_matches(['[', ']']).to_string(), p.parse().map_err(|_| anyhow::anyhow!("'{p}' is not a port"))?),
        _ => (args.server.clone(), default_port),
    };
    let protocol = if imap { collector::Protocol::Imap } else { collector::Protocol::Pop3 };
    let mut form = CollectorForm::with_protocol(&args.name, protocol, &host, port, &args.user);
    if let Some(folder) = args.folder {
        form.folder = folder;
    }
    form.move_to = args.move_to.unwrap_or_default();
    form.password = Some(password);
    form.security = match args.security {
        SecurityArg::None => Security::None,
        SecurityArg::Tls => Security::Tls,
        SecurityArg::Starttls => Security::Starttls,
        SecurityArg::StarttlsIfAvailable => Security::StarttlsIfAvailable,
    };
    form.login = match args.auth {
        AuthArg::Auto => LoginMethod::Auto,
        AuthArg::User => LoginMethod::User,
        AuthArg::Plain => LoginMethod::Plain,
        AuthArg::Apop => LoginMethod::Apop,
    };
    form.verify_certificate = !args.no_verify_certificate;
    form.deliver_to = args.to.unwrap_or_default();
    form.fallback = args.fallback.unwrap_or_default();
    form.extra_headers = args.headers;
    form.leave_days = args.leave_days;
    form.every_minutes = args.every;
    form.max_size = args.max_size;
    form.priority = args.priority;
    form.bandwidth_pool = args.bandwidth_pool;
    Ok(form)
}

fn when(t: Option<i64>) -> String {
    t.map_or("never".into(), crate::time_text::rfc3339)
}

pub(super) fn collector_command(store: &Store, command: CollectorCommand, password: impl FnOnce() -> Result<String>) -> Result<i32> {
    match command {
        CollectorCommand::Add(args) => {
            let password = password()?;
            let added = collector::add(store, form_of(args, password)?)?;
            println!("collector {} added", added.form.name);
        }
        CollectorCommand::List { json } => {
            let list = store.read(collector::list)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            println!("{:<20} {:<5} {:<32} {:<20} {:<24} {:<26} {:<26} LAST ERROR", "NAME", "PROTO", "SERVER", "USER", "DELIVERS TO", "LAST SUCCESS", "LAST RUN");
            for c in &list {
                let f = &c.form;
                let to = if f.deliver_to.is_empty() { format!("by headers, else {}", f.fallback) } else { f.deliver_to.clone() };
                let state = if !f.enabled { " (off)" } else if f.paused { " (paused)" } else if c.running { " (running)" } else { "" };
                println!(
                    "{:<20} {:<5} {:<32} {:<20} {:<24} {:<26} {:<26} {}",
                    format!("{}{state}", f.name),
                    if f.protocol == collector::Protocol::Imap { "imap" } else { "pop3" },
                    format!("{}:{}", f.host, f.port),
                    f.username,
                    to,
                    when(c.last_success_at),
                    when(c.last_run_at),
                    if c.last_error.is_empty() { "-".to_string() } else { format!("{} ({} in a row)", c.last_error, c.failures) }
                );
            }
        }
        CollectorCommand::Del { name } => {
            collector::delete(store, &name)?;
            println!("collector {name} deleted");
        }
        CollectorCommand::Set { name, paused, enabled, leave_days, every, max_size } => {
            let Some(current) = store.read({
                let name = name.clone();
                move |c| collector::get(c, &name)
            })?
            else {
                bail!("no collector called '{name}'");
            };
            let mut form = current.form;
            form.paused = paused.unwrap_or(form.paused);
            form.enabled = enabled.unwrap_or(form.enabled);
            form.leave_days = leave_days.unwrap_or(form.leave_days);
            form.every_minutes = every.unwrap_or(form.every_minutes);
            form.max_size = max_size.unwrap_or(form.max_size);
            collector::update(store, &name, form)?;
            println!("collector {name} changed");
        }
        CollectorCommand::Run { name } => {
            let settings = settings::load(store)?;
            // This process's own pools (a running server's are not shared with a command).
            let bandwidth = crate::bandwidth::Bandwidth::new(std::path::Path::new("."), &settings.bandwidth);
            let ctx = collector::Context { store: store.clone(), auth: Default::default(), settings: std::sync::Arc::new(settings), bandwidth };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(collector::run(&ctx, &name))?;
            println!("collected {} messages", report.collected);
            if report.deleted > 0 || report.too_large > 0 || report.deferred > 0 {
                eprintln!(
                    "{} listed at the server, {} deleted there, {} too large (left there), {} deferred",
                    report.listed, report.deleted, report.too_large, report.deferred
                );
            }
        }
    }
    Ok(0)
}
