//! `postroomd`: the command line for scripts and servers. Commands that change data open the database
//! directly, so they work whether or not `serve` is running; a running server notices within a second.
//! Errors go to standard error with a non-zero exit code.

mod cleanup;
mod collector;
mod quarantine;
mod forwarding;
mod output;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::paths::{DataDir, DATA_DIR_ENV};
use crate::settings::{self, ServiceId};
use crate::store::Store;
use crate::users::{Directory, UserForm};

#[derive(Parser, Debug)]
#[command(name = "postroomd", version = crate::version_text(), about = "Postroom mail server: headless daemon and admin commands")]
pub struct Cli {
    /// Data folder (default: the platform's app-data folder)
    #[arg(long, global = true, env = DATA_DIR_ENV, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write postroomd's man pages (section 8, one per command) into DIR (used by the packages)
    #[command(hide = true)]
    ManPages { dir: PathBuf },
    /// Run the mail server until SIGINT or SIGTERM
    Serve {
        /// Listen for SERVICE on HOST:PORT instead of the stored setting (not saved), e.g. pop3=127.0.0.1:1110
        #[arg(long = "listen", value_name = "SERVICE=HOST:PORT", value_parser = parse_listen)]
        listen: Vec<(ServiceId, SocketAddr)>,
        /// Where the admin socket goes (the desktop app attaches through it): by default admin.sock in
        /// the data folder (for this user only); the system service uses /run/postroomd/admin.sock
        #[arg(long = "admin-socket", value_name = "PATH")]
        admin_socket: Option<PathBuf>,
        /// Members of GROUP may use the admin socket too (checked on each connection against the user
        /// database, so a new member needs no new login); the system service names `postroom`
        #[arg(long = "admin-group", value_name = "GROUP")]
        admin_group: Option<String>,
    },
    /// Show each service's state, port and connections, and the queue size
    Status(JsonFlag),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage local domains
    #[command(subcommand)]
    Domain(DomainCommand),
    /// The spam filter
    #[command(subcommand)]
    Spam(SpamCommand),
    /// Read and change settings (keys like services.pop3.port)
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// The outbound queue: list, retry now, delete
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Addresses and logins banned after failed logins
    #[command(subcommand)]
    Bans(BansCommand),
    /// The background log writer of the running server
    #[command(subcommand)]
    Logwriter(LogwriterCommand),
    /// Import GeoIP data: `geoimport [options] importcsv FILE COLUMNS` or `importgeolite2 BLOCKS... LOCATIONS`
    Geoimport(GeoimportArgs),
    /// Look up addresses in the GeoIP data, and show what is loaded
    #[command(subcommand)]
    Geoip(GeoipCommand),
    /// Bandwidth: pools in use and each connection's limit, and bandwidth.lua
    #[command(subcommand)]
    Bandwidth(BandwidthCommand),
    /// Prune rules: old mail that leaves by itself (global rules, and each user's)
    #[command(subcommand)]
    Prune(cleanup::PruneCommand),
    /// The Recycle Bin: every deleted message (and user) for its retention time
    #[command(subcommand)]
    Recycle(cleanup::RecycleCommand),
    /// LAN forwarding rules: mail for listed addresses goes on to another server on the office's network
    #[command(subcommand, name = "lan-forward")]
    LanForward(forwarding::LanForwardCommand),
    /// The spam filter's quarantine: list, release, delete, allow the sender
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    /// Mail Collectors: download mail from mailboxes at the ISP on a schedule
    #[command(subcommand)]
    Collector(collector::CollectorCommand),
    /// The mail server as a system service (systemd): status, and turning it on and off (as root)
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Subcommand, Debug)]
enum ServiceCommand {
    /// Whether the service can be used here, is enabled and runs
    Status(JsonFlag),
    /// Enable and start the service; with --from, move a desktop data folder's mail into it first
    Enable {
        /// The data folder whose mail moves to the service (its copy is marked as moved)
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// The computer user who may manage the service (joins the postroom group); default: who ran sudo or pkexec
        #[arg(long, value_name = "USER")]
        admin: Option<String>,
        /// Set the service's own mail aside (renamed, not deleted) when it has users or domains already
        #[arg(long)]
        replace: bool,
        /// Seconds to wait for the Postroom serving --from to let it go
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        wait: u64,
        /// Also write each step and the outcome, a line each, to PIPE (a named pipe or FIFO the caller
        /// made): how the app follows it when Windows runs it elevated, out of its sight
        #[arg(long, value_name = "PIPE", hide = true)]
        progress: Option<PathBuf>,
        /// Windows: ask Windows for administrator rights (its consent prompt) and follow the elevated
        /// run here, as the app does (on Linux, use sudo)
        #[arg(long)]
        elevate: bool,
    },
    /// Stop and disable the service; with --to, copy its mail back into a desktop data folder
    Disable {
        /// The folder the mail comes back to (usually the one it came from)
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// The computer user who owns that folder; default: who ran sudo or pkexec
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// As for enable
        #[arg(long, value_name = "PIPE", hide = true)]
        progress: Option<PathBuf>,
        /// As for enable
        #[arg(long)]
        elevate: bool,
    },
    /// Make one admin API call to the running service (or the Postroom answering on --socket), as the
    /// app does, and print the answer as JSON
    Call {
        /// The call's name, e.g. get_engine_identity, list_users
        call: String,
        /// Its arguments as a JSON object, e.g. '{"name": "alice"}'
        args: Option<String>,
        /// The admin socket (Windows: named pipe) to ask instead of the system service's
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// Serve as the Windows service (what the Service Control Manager starts)
    #[cfg(windows)]
    #[command(hide = true)]
    Run {
        /// An account or group (by SID) that may use the service's named pipe besides Administrators
        #[arg(long = "admin-sid", value_name = "SID")]
        admin_sids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum BandwidthCommand {
    /// Pools in use (connections, bytes per second), each connection's limit and where it came from,
    /// and whether bandwidth.lua is running
    Status(JsonFlag),
    /// Check bandwidth.lua (or FILE) and call GetBandwidth once with the given parameters
    Test {
        /// The script to test (default: bandwidth.lua in the data folder)
        file: Option<PathBuf>,
        #[arg(long, default_value = "203.0.113.5")]
        clientip: String,
        /// A service key: smtp, submission, smtps, pop3, pop3s, imap, imaps
        #[arg(long, default_value = "pop3")]
        service: String,
        /// As if this user had logged in
        #[arg(long, default_value = "")]
        username: String,
    },
}

#[derive(Args, Debug)]
struct GeoimportArgs {
    /// Keep the rows already there (default: replace them all, in one step a running server does not notice)
    #[arg(long, global = true)]
    append: bool,
    /// The character between columns (default ,)
    #[arg(long, global = true, value_name = "CHAR")]
    delimiter: Option<char>,
    /// The first row is a header (one whose addresses do not parse is skipped anyway)
    #[arg(long, global = true)]
    skip_header: bool,
    /// Read and check the file, report, change nothing
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print help (also -h, --help)
    #[arg(short = '?', action = clap::ArgAction::Help, global = true)]
    question: Option<bool>,
    #[command(subcommand)]
    what: GeoimportCommand,
}

#[derive(Subcommand, Debug)]
enum GeoimportCommand {
    /// A CSV file with a range start, a range end and a result in the columns named by COLUMNS: three
    /// digits, e.g. 125 for the legacy GeoIP Country CSV (start IP, end IP, -, -, country code).
    /// Addresses may be dotted/colon text or integers (IP2Location).
    Importcsv { file: PathBuf, columns: String },
    /// MaxMind GeoLite2 Country or City CSV: one or more blocks files (IPv4, IPv6), then the
    /// locations file (e.g. GeoLite2-Country-Locations-en.csv). The result is the country ISO code.
    Importgeolite2 {
        #[arg(num_args = 2.., required = true, value_name = "BLOCKS.csv... LOCATIONS.csv")]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum GeoipCommand {
    /// Every result whose range holds the address
    Lookup { address: String },
    /// Rows, the last import and its source
    Status(JsonFlag),
}

#[derive(Subcommand, Debug)]
enum LogwriterCommand {
    /// Per log file over the last 10 minutes: writes, lines, bytes and lines dropped; now: lines waiting
    /// and the oldest line's age; and the current time between bursts
    Stats(JsonFlag),
}

#[derive(Subcommand, Debug)]
enum BansCommand {
    /// Current bans
    List(JsonFlag),
    /// Lift the ban on an address or login
    #[command(alias = "unban")]
    Clear { value: String },
}

#[derive(Subcommand, Debug)]
enum QueueCommand {
    /// Recipients waiting to be sent, with attempts, next try and last error
    List(JsonFlag),
    /// Try this recipient (an ID from `queue list`) now; --all: every waiting one (a flush)
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
    /// Remove this recipient from the queue
    #[command(alias = "del")]
    Delete { id: i64 },
}

#[derive(Args, Debug)]
struct JsonFlag {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user with the default folders
    Add {
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_name = "TEXT", default_value = "")]
        real_name: String,
        /// Another name the mailbox answers to (repeatable)
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// The user's own bandwidth limit: 0 none (the service's applies), N bytes per second, -K pool K
        #[arg(long, value_name = "LIMIT", default_value_t = 0, allow_negative_numbers = true)]
        bandwidth: i64,
    },
    /// Change a user's settings (those given)
    Set {
        name: String,
        /// The user's own bandwidth limit: 0 none (the service's applies), N bytes per second, -K pool K
        #[arg(long, value_name = "LIMIT", allow_negative_numbers = true)]
        bandwidth: Option<i64>,
        /// Store and Forward: the user's address on the main server ("" switches it off)
        #[arg(long, value_name = "ADDRESS")]
        store_forward_target: Option<String>,
        /// Store and Forward: the main server, [USER:PASS@]HOST[:PORT] (port 25 unless given; "" switches it off)
        #[arg(long, value_name = "SERVER")]
        store_forward_server: Option<String>,
        /// The Routing tab's forward: SMTP:ADDRESS@[USER:PASS@]SERVER[:PORT] ("" for none)
        #[arg(long, value_name = "SMTP:ADDRESS@SERVER")]
        forward: Option<String>,
        /// With a forward, keep a copy in the mailbox too
        #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
        keep_copy: Option<bool>,
        /// The user's Spam tab: senders and domains always let through, comma-separated ("" for none)
        #[arg(long, value_name = "LIST")]
        spam_allow: Option<String>,
        /// The user's Spam tab: senders and domains always put in their Junk folder ("" for none)
        #[arg(long, value_name = "LIST")]
        spam_deny: Option<String>,
    },
    /// List users
    List(JsonFlag),
    /// Delete a user (the mailbox goes to the recycle bin)
    #[command(alias = "delete")]
    Del { name: String },
    /// Bring back a deleted user with their mail, while the Recycle Bin still holds them
    Restore { name: String },
    /// Change a user's password
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add users from a CSV file of name,password,real name
    BulkAdd { file: PathBuf },
    /// What the user types into a mail program: address, login, and the IMAP, POP3 and SMTP servers
    /// with port and security (as configured)
    MailSettings {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Write the user's Apple Mail profile (.mobileconfig) to standard output
    Profile { name: String },
}

#[derive(Subcommand, Debug)]
enum DomainCommand {
    Add { name: String },
    List,
    #[command(alias = "delete")]
    Del { name: String },
    /// The DNS records to publish for a local domain (MX, SPF, DKIM with its selectors, DMARC) and whether
    /// each is published, asked of the server's resolver (outbound.dns_server). Makes the DKIM keys if needed.
    Dns {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// New DKIM keys for a local domain (new selectors): publish their records, then keep the old ones a
    /// few days for mail still travelling
    DkimRotate { name: String },
}

#[derive(Subcommand, Debug)]
enum SpamCommand {
    /// Score a message file with the content filter's rules (sender authentication needs the connection,
    /// so SPF, DKIM and DMARC are not part of it) and print the score with the rules that fired
    /// With several files, one line each: FILE: score ...; the exit status is 1 when any is spam
    Test {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Teach the Bayesian classifier from message files, as moving them into or out of Junk does (a file
    /// counts once however often it is given; given as the other kind, it moves)
    Learn {
        /// The files are spam
        #[arg(long, conflicts_with = "ham", required_unless_present = "ham")]
        spam: bool,
        /// The files are good mail
        #[arg(long)]
        ham: bool,
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// What the Bayesian classifier has learnt from the users' Junk folders, and what the quarantine holds
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum SettingsCommand {
    /// Every setting as `key = value`
    List(JsonFlag),
    Get { key: String },
    /// Set one or more settings; several pairs are validated and saved together
    /// (e.g. `settings set tls.cert_file A.pem tls.key_file A.key`)
    Set {
        #[arg(value_name = "KEY VALUE", num_args = 2.., required = true)]
        pairs: Vec<String>,
    },
}

/// Parses `SERVICE=HOST:PORT` (used by `serve --listen` and by the desktop app).
pub fn parse_listen(text: &str) -> Result<(ServiceId, SocketAddr), ListenError> {
    let (service, addr) = text.split_once('=').ok_or(ListenError::Form)?;
    let id = ServiceId::from_key(service).ok_or_else(|| ListenError::UnknownService(service.to_string()))?;
    let addr = addr.parse().map_err(|_| ListenError::NotHostPort(addr.to_string()))?;
    Ok((id, addr))
}

/// Why a `--listen SERVICE=HOST:PORT` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("expected SERVICE=HOST:PORT")]
    Form,
    #[error("unknown service '{0}' (one of {names})", names = ServiceId::ALL.iter().map(|s| s.key()).collect::<Vec<_>>().join(", "))]
    UnknownService(String),
    #[error("'{0}' is not HOST:PORT (e.g. 127.0.0.1:2525)")]
    NotHostPort(String),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        quiet_on_closed_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postroomd: {e:#}");
            1
        }
    }
}

/// `postroomd settings list | head -1` ends quietly, as Unix tools do, instead of panicking on the closed
/// pipe: Rust ignores SIGPIPE, so a print would fail. Only for the admin commands; the server keeps
/// ignoring it (a client that hangs up must never end the process).
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action for one signal, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> Result<i32> {
    let root = DataDir::resolve(cli.data_dir.as_deref());
    match cli.command {
        Command::Serve { listen, admin_socket, admin_group } => serve(&root, listen.into_iter().collect(), admin_socket, admin_group),
        Command::ManPages { dir } => {
            for page in write_man_pages(&dir)? {
                println!("{}", page.display());
            }
            Ok(0)
        }
        Command::Service(c) => service_command(c, cli.data_dir.as_deref()),
        Command::Status(f) => output::status(&DataDir::create(&root)?, &open_store(&root)?, f.json),
        Command::User(c) => {
            let store = open_store(&root)?;
            let logging = matches!(c, UserCommand::Restore { .. });
            with_log_files(&root, &store, logging, || user(&store, c).map(|_| 0))
        }
        Command::Domain(c) => domain(&open_store(&root)?, c).map(|_| 0),
        Command::Spam(SpamCommand::Test { files }) => spam_test(&open_store(&root)?, &files),
        Command::Spam(SpamCommand::Learn { spam, files, .. }) => spam_learn(&open_store(&root)?, spam, &files).map(|_| 0),
        Command::Spam(SpamCommand::Status { json }) => spam_status(&open_store(&root)?, json).map(|_| 0),
        Command::Settings(c) => settings_command(&open_store(&root)?, c).map(|_| 0),
        Command::Queue(c) => queue_command(&open_store(&root)?, c).map(|_| 0),
        Command::Bans(c) => bans_command(&open_store(&root)?, c).map(|_| 0),
        Command::Prune(c) => {
            let store = open_store(&root)?;
            let logging = matches!(c, cleanup::PruneCommand::Run);
            with_log_files(&root, &store, logging, || cleanup::prune_command(&store, c))
        }
        Command::LanForward(c) => forwarding::lan_forward_command(&open_store(&root)?, c),
        Command::Collector(c) => {
            let store = open_store(&root)?;
            let logging = matches!(c, collector::CollectorCommand::Run { .. });
            let password_stdin = matches!(&c, collector::CollectorCommand::Add(_));
            with_log_files(&root, &store, logging, || collector::collector_command(&store, c, || read_password(password_stdin)))
        }
        Command::Quarantine(c) => {
            let store = open_store(&root)?;
            let logging = !matches!(c, quarantine::QuarantineCommand::List { .. });
            with_log_files(&root, &store, logging, || quarantine::quarantine_command(&store, c))
        }
        Command::Recycle(c) => {
            let store = open_store(&root)?;
            let logging = !matches!(c, cleanup::RecycleCommand::List { .. });
            with_log_files(&root, &store, logging, || cleanup::recycle_command(&store, c))
        }
        Command::Logwriter(LogwriterCommand::Stats(f)) => output::logwriter_stats(&DataDir::create(&root)?, f.json),
        Command::Geoimport(a) => geoimport(&root, a),
        Command::Geoip(c) => geoip_command(&open_store(&root)?, c),
        Command::Bandwidth(BandwidthCommand::Status(f)) => output::bandwidth_status(&DataDir::create(&root)?, f.json),
        Command::Bandwidth(BandwidthCommand::Test { file, clientip, service, username }) => bandwidth_test(&root, file, &clientip, &service, &username),
    }
}

/// `bandwidth test`: the script's answer for one made-up connection, as the editor's Test panel gives it.
fn bandwidth_test(root: &std::path::Path, file: Option<PathBuf>, clientip: &str, service: &str, username: &str) -> Result<i32> {
    let service = ServiceId::from_key(service).ok_or_else(|| anyhow::anyhow!("--service: '{service}' is not a service (smtp, submission, smtps, pop3, pop3s, imap, imaps)"))?;
    let path = file.unwrap_or_else(|| root.join(crate::bandwidth::control::SCRIPT_FILE));
    let source = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let settings = settings::load(&open_store(root)?)?;
    let throttle = crate::bandwidth::LimitSource::from_throttle(settings.bandwidth.get(service)).script_value();
    let params = crate::bandwidth::script::Params {
        clientip: clientip.to_string(),
        serveraddress: "127.0.0.1".into(),
        serverport: settings.services.get(service).port,
        servertype: service.protocol().name().into(),
        serverid: service.key().into(),
        serverbandwidth: throttle,
        bandwidth: throttle,
        username: username.to_string(),
        ..Default::default()
    };
    let request = crate::bandwidth::ScriptTestRequest { source, params, at: None };
    let result = crate::bandwidth::control::test_script(&request, &settings.bandwidth);
    match (result.value, result.meaning, result.error) {
        (Some(v), Some(meaning), _) => {
            println!("GetBandwidth returned {v}: {meaning} ({:.0} µs)", result.micros);
            Ok(0)
        }
        (_, _, error) => {
            eprintln!("{}: {}", path.display(), error.unwrap_or_default());
            Ok(1)
        }
    }
}

fn geoimport(root: &std::path::Path, a: GeoimportArgs) -> Result<i32> {
    use crate::geoip::import::{import, ColumnSpec, Options, Progress, Source};
    let store = open_store(root)?; // creates and migrates the database if needed
    drop(store);
    let delimiter = match a.delimiter {
        None => b',',
        Some('\\') => bail!("--delimiter: a backslash cannot separate columns"),
        Some(c) if c.is_ascii() => c as u8,
        Some(c) => bail!("--delimiter: '{c}' is not a single-byte character"),
    };
    let options = Options { append: a.append, delimiter, skip_header: a.skip_header, dry_run: a.dry_run };
    let source = match a.what {
        GeoimportCommand::Importcsv { file, columns } => Source::Columns { file, columns: ColumnSpec::parse(&columns).map_err(|e| anyhow!(e))? },
        GeoimportCommand::Importgeolite2 { mut files } => {
            let locations = files.pop().ok_or_else(|| anyhow!("give the blocks file(s) and then the locations file"))?;
            Source::GeoLite2 { blocks: files, locations }
        }
    };
    let mut last_percent = u64::MAX;
    let mut progress = |p: Progress| {
        let percent = if p.bytes_total > 0 { p.bytes_read * 100 / p.bytes_total } else { 100 };
        if percent / 5 != last_percent / 5 || last_percent == u64::MAX {
            eprintln!("{percent:>3}%  {} rows", p.rows);
            last_percent = percent;
        }
    };
    let db = DataDir::create(root)?.database();
    let report = import(&db, &source, &options, &mut progress).map_err(|e| anyhow!(e))?;
    for bad in &report.bad_rows {
        eprintln!("line {}: {} (skipped)", bad.line, bad.message);
    }
    if report.skipped > report.bad_rows.len() as u64 {
        eprintln!("… and {} more bad rows", report.skipped - report.bad_rows.len() as u64);
    }
    let verb = if report.dry_run { "would import" } else if report.replaced { "imported (replacing the old data)" } else { "appended" };
    println!(
        "{verb}: {} IPv4 and {} IPv6 ranges; {} bad rows skipped{}; {:.1} s",
        report.v4_rows,
        report.v6_rows,
        report.skipped,
        if report.header { "; a header row was skipped" } else { "" },
        report.millis as f64 / 1000.0
    );
    Ok(0)
}

fn geoip_command(store: &Store, c: GeoipCommand) -> Result<i32> {
    let geoip = crate::geoip::GeoIp::default();
    store.read(|conn| Ok(geoip.refresh(conn)?))?;
    match c {
        GeoipCommand::Lookup { address } => {
            let ip: std::net::IpAddr = address.trim().parse().map_err(|_| anyhow!("'{address}' is not an IP address"))?;
            let results = geoip.lookup(ip);
            if results.is_empty() {
                println!("{ip}: no GeoIP data for this address");
                return Ok(1);
            }
            for r in results {
                println!("{r}");
            }
            Ok(0)
        }
        GeoipCommand::Status(f) => {
            let (v4, v6, _) = geoip.index().counts();
            let state = geoip.state();
            let when = state.imported_at.map(crate::time_text::rfc3339);
            if f.json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "v4_rows": v4, "v6_rows": v6, "imported_at": when, "source": state.source }))?);
            } else {
                println!("IPv4 ranges: {v4}\nIPv6 ranges: {v6}");
                match (when, state.source) {
                    (Some(w), Some(src)) => println!("Last import: {w} from {src}"),
                    _ => println!("Last import: never"),
                }
            }
            Ok(0)
        }
    }
}

/// Runs `f`; when `logging`, its lines go to the data folder's log files (postroom.log) as the server's
/// do — for commands that change mail (a prune pass, a restore, a purge), so that the log tells the
/// whole story whoever did it.
fn with_log_files(root: &std::path::Path, store: &Store, logging: bool, f: impl FnOnce() -> Result<i32>) -> Result<i32> {
    if logging {
        crate::logging::init_server();
        crate::logging::attach(DataDir::create(root)?.logs(), &settings::load(store)?.log);
    }
    let code = f();
    if logging {
        crate::logging::shutdown(std::time::Duration::from_secs(10));
    }
    code
}

fn service_command(command: ServiceCommand, data_dir: Option<&std::path::Path>) -> Result<i32> {
    // (The folder is only the Windows service's: the Unix units name theirs themselves.)
    #[cfg(not(windows))]
    let _ = data_dir;
    use std::io::Write;
    if let ServiceCommand::Enable { elevate: true, .. } | ServiceCommand::Disable { elevate: true, .. } = &command {
        return run_elevated();
    }
    let progress = match &command {
        ServiceCommand::Enable { progress: Some(pipe), .. } | ServiceCommand::Disable { progress: Some(pipe), .. } => Some(open_progress(pipe)?),
        _ => None,
    };
    let progress = std::cell::RefCell::new(progress);
    let tell = |line: &str| {
        if let Some(pipe) = progress.borrow_mut().as_mut() {
            let _ = writeln!(pipe, "{line}");
        }
    };
    let mut say = |step: &str| {
        println!("{step}…");
        let _ = std::io::stdout().flush();
        tell(&format!("{step}…"));
    };
    let changed = match command {
        ServiceCommand::Enable { from, admin, replace, wait, .. } => {
            crate::service::enable(&crate::service::Enable { from, admin, replace, wait: std::time::Duration::from_secs(wait) }, &mut say)
        }
        ServiceCommand::Disable { to, owner, .. } => crate::service::disable(&crate::service::Disable { to, owner }, &mut say),
        ServiceCommand::Status(f) => return service_status(f.json),
        ServiceCommand::Call { call, args, socket } => return service_call(call, args, socket),
        #[cfg(windows)]
        ServiceCommand::Run { admin_sids } => {
            crate::service::run_as_service(data_dir, admin_sids)?;
            return Ok(0);
        }
    };
    match changed {
        Ok(done) => {
            println!("{done}");
            tell(&done);
            Ok(0)
        }
        Err(e) => {
            tell(&format!("postroomd: {e:#}"));
            Err(e)
        }
    }
}

/// `postroomd service enable|disable … --elevate`: the same command run elevated (Windows asks), its
/// steps printed here as it makes them; its exit code.
#[cfg(windows)]
fn run_elevated() -> Result<i32> {
    use tokio::io::AsyncBufReadExt;
    let words: Vec<String> = std::env::args_os().skip(1).map(|w| w.to_string_lossy().into_owned()).filter(|w| w != "--elevate").collect();
    let program = std::env::current_exe()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (steps, process) = crate::service::elevate::start(&program, &words).await.map_err(|e| anyhow!(e))?;
        let mut lines = tokio::io::BufReader::new(steps).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // The outcome of a failure comes as the error main would print.
            if line.starts_with("postroomd: ") {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        let code = process.exit_code().await.map_err(|e| anyhow!(e))?;
        Ok(i32::try_from(code).unwrap_or(1))
    })
}

#[cfg(not(windows))]
fn run_elevated() -> Result<i32> {
    bail!("--elevate is for Windows: here, run it with sudo (the app asks through pkexec)")
}

/// Opens the caller's progress pipe for writing: one that exists (nothing is created), not through a
/// link, and on Windows without letting the pipe's server act as this (elevated) process.
fn open_progress(pipe: &std::path::Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // SECURITY_IDENTIFICATION: the server may learn who writes, never impersonate it.
        options.security_qos_flags(0x0001_0000);
    }
    let file = options.open(pipe).with_context(|| format!("cannot open the progress pipe {}", pipe.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if !file.metadata()?.file_type().is_fifo() {
            bail!("{} is not a named pipe", pipe.display());
        }
    }
    Ok(file)
}

/// `postroomd service status`.
fn service_status(json: bool) -> Result<i32> {
    let state = crate::service::status();
    if json {
        println!("{}", serde_json::to_string(&state)?);
    } else {
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!("available: {}", state.why_not.as_deref().map_or("yes".to_string(), |w| format!("no: {w}")));
        println!("enabled:   {}\nrunning:   {}\ndata:      {}\nsocket:    {}", yes(state.enabled), yes(state.active), state.data_dir, state.socket);
    }
    Ok(0)
}

/// `postroomd service call`: one admin call, its answer printed as JSON.
fn service_call(call: String, args: Option<String>, socket: Option<PathBuf>) -> Result<i32> {
    let socket = socket.unwrap_or_else(|| PathBuf::from(crate::admin::server::SERVICE_SOCKET));
    let args: serde_json::Value = match args {
        Some(text) => serde_json::from_str(&text).context("the arguments are not JSON")?,
        None => serde_json::Value::Null,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer = runtime.block_on(async {
        let (client, _) = crate::admin::client::AdminClient::connect(&socket).await?;
        client.call(&call, args).await
    });
    match answer {
        Ok(value) => println!("{}", serde_json::to_string_pretty(&value)?),
        Err(e) => bail!("{}", e.message),
    }
    Ok(0)
}

fn open_store(root: &std::path::Path) -> Result<Store> {
    let dir = DataDir::create(root).with_context(|| format!("cannot create {}", root.display()))?;
    Store::open(&dir.database()).with_context(|| format!("cannot open {}", dir.database().display()))
}

fn serve(root: &std::path::Path, listen: BTreeMap<ServiceId, SocketAddr>, admin_socket: Option<PathBuf>, admin_group: Option<String>) -> Result<i32> {
    crate::logging::init_server();
    let access = match &admin_group {
        Some(name) => crate::admin::server::Access::group(name)?,
        None => crate::admin::server::Access::Owner,
    };
    crate::service::serve_until(root, listen, admin_socket, access, wait_for_signal())?;
    Ok(0)
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Ctrl+C or Ctrl+Break, the console window closed, the user logging off or Windows shutting down:
/// each ends `postroomd serve` as gracefully as a SIGTERM on Unix.
#[cfg(windows)]
async fn wait_for_signal() {
    use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_logoff, ctrl_shutdown};
    let (Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) = (ctrl_break(), ctrl_close(), ctrl_logoff(), ctrl_shutdown()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
        _ = logoff.recv() => {}
        _ = shutdown.recv() => {}
    }
}

#[cfg(not(any(unix, windows)))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        // One line, and no more than a password could be: `yes pw | …` must not fill memory.
        let mut line = String::new();
        std::io::stdin().lock().take(4096).read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        bail!("give the password on standard input with --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn user(store: &Store, command: UserCommand) -> Result<()> {
    let directory = Directory::new(store.clone());
    match command {
        UserCommand::Add { name, password_stdin, real_name, aliases, bandwidth } => {
            let password = read_password(password_stdin)?;
            directory.create(UserForm { name: name.clone(), real_name, enabled: true, aliases, password: Some(password), bandwidth })?;
            println!("user {name} created");
        }
        UserCommand::Set { name, bandwidth, store_forward_target, store_forward_server, forward, keep_copy, spam_allow, spam_deny } => {
            let detail = directory.get(&name)?;
            let user = detail.user;
            if spam_allow.is_some() || spam_deny.is_some() {
                let list = |given: Option<String>, current: Vec<String>| given.map_or(current, |l| l.split(',').map(str::to_string).collect());
                let lists = crate::users::SpamLists { allow: list(spam_allow, detail.spam.allow), deny: list(spam_deny, detail.spam.deny) };
                directory.set_spam_lists(&name, lists)?;
            }
            if bandwidth.is_some() {
                let form = UserForm {
                    name: user.name.clone(),
                    real_name: user.real_name,
                    enabled: user.enabled,
                    aliases: user.aliases,
                    password: None,
                    bandwidth: bandwidth.unwrap_or(user.bandwidth),
                };
                directory.update(&name, form)?;
            }
            let change = crate::users::ForwardingChange { store_forward_target, store_forward_server, forward, keep_copy };
            if change != crate::users::ForwardingChange::default() {
                for warning in directory.set_forwarding(&name, change)? {
                    eprintln!("warning: {warning}");
                }
            }
            println!("user {} changed", user.name);
        }
        UserCommand::List(f) => output::users(&directory.list()?, f.json)?,
        UserCommand::MailSettings { name, json } => {
            let settings = crate::settings::load(store)?;
            let m = crate::web::account::for_named_user(store, &settings, &[], &name)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
            } else {
                println!("address: {}\nlogin: {}", m.address, m.login);
                for (way, list) in [("incoming", &m.incoming), ("outgoing", &m.outgoing)] {
                    for e in list {
                        println!("{way}: {} {}:{} {}", e.protocol, e.host, e.port, e.security.label());
                    }
                }
            }
        }
        UserCommand::Profile { name } => {
            let settings = crate::settings::load(store)?;
            let m = crate::web::account::for_named_user(store, &settings, &[], &name)?;
            let profile = crate::web::documents::mobileconfig(&m, &settings.general.server_name)
                .ok_or_else(|| crate::ApiError::conflict("no encrypted IMAP, POP3 or SMTP service is on"))?;
            print!("{profile}");
        }
        UserCommand::Del { name } => {
            directory.delete(&name)?;
            println!("user {name} deleted (mailbox moved to the recycle bin)");
        }
        UserCommand::Restore { name } => {
            let left_out = directory.restore(&name)?;
            println!("user {name} restored with their mail");
            for alias in left_out {
                eprintln!("alias {alias} is someone else's now; it was not restored");
            }
        }
        UserCommand::Passwd { name, password_stdin } => {
            let password = read_password(password_stdin)?;
            directory.set_password(&name, &password)?;
            println!("password of {name} changed");
        }
        UserCommand::BulkAdd { file } => {
            let report = directory.bulk_add_file(&file)?;
            println!("{} user(s) added", report.added.len());
            for e in &report.errors {
                eprintln!("line {}: {}", e.line, e.message);
            }
            if !report.errors.is_empty() {
                bail!("{} row(s) skipped", report.errors.len());
            }
        }
    }
    Ok(())
}

fn domain(store: &Store, command: DomainCommand) -> Result<()> {
    let directory = Directory::new(store.clone());
    match command {
        DomainCommand::Add { name } => println!("local domain {} added", directory.add_domain(&name)?),
        DomainCommand::List => directory.domains()?.iter().for_each(|d| println!("{d}")),
        DomainCommand::Del { name } => {
            directory.delete_domain(&name)?;
            println!("local domain {name} removed");
        }
        DomainCommand::Dns { name, json } => {
            let settings = settings::load(store)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let authenticator = crate::auth::Authenticator::default();
            let records = runtime.block_on(crate::auth::records::check(store, &settings, &authenticator, &name))?;
            output::dns_records(&records, json)?;
        }
        DomainCommand::DkimRotate { name } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let keys = runtime.block_on(async {
                let domain = crate::auth::dkim::local_domain(store, &name).await?;
                crate::auth::dkim::rotate(store, &domain).await.map_err(crate::ApiError::from)
            })?;
            for key in keys {
                println!("new key {} ({}): publish {} TXT \"{}\"", key.selector, key.algorithm_name(), key.record_name(), key.record());
            }
        }
    }
    Ok(())
}

/// `spam test FILE`: "score 1003 (refused; marked from 5, Junk from 5, quarantined from 10, refused from 15):
/// GTUBE(1000),MISSING_DATE(1)" — the built-in rules and the classifier as trained so far; exit 1 when the
/// message would be treated as spam, as `spamassassin -e` does for scripts.
/// A message file as the filter sees it: at most 100 MB, with CRLF line ends (files saved by mail programs
/// often end lines with LF alone).
fn read_message_file(file: &std::path::Path) -> Result<Vec<u8>> {
    const LIMIT: u64 = 100 * 1024 * 1024;
    let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if size > LIMIT {
        bail!("{} is larger than 100 MB", file.display());
    }
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(if raw.windows(2).any(|w| w == b"\r\n") { raw } else { raw.split(|&b| b == b'\n').collect::<Vec<_>>().join(&b"\r\n"[..]) })
}

/// `spam test FILE...`: each file's score, the action it leads to and the rules that fired; exit status 1
/// when any is spam.
fn spam_test(store: &Store, files: &[PathBuf]) -> Result<i32> {
    use crate::settings::SpamAction;
    let spam = settings::load(store)?.spam;
    let never = |n: u32| if n == 0 { "never".to_string() } else { format!("from {n}") };
    let thresholds = format!("marked {}, Junk {}, quarantined {}, refused {}", never(spam.mark_score), never(spam.junk_score), never(spam.quarantine_score), never(spam.refuse_score));
    let mut any_spam = false;
    for file in files {
        let message = read_message_file(file)?;
        let analysis = crate::spam::analyse(&message);
        let mut score = crate::spam::Score { points: 0, hits: Vec::new() };
        for h in analysis.hits {
            score.add(&h.rule, h.points);
        }
        if spam.bayes {
            let tokens = analysis.tokens;
            if let Some((rule, points)) = store.read(move |c| crate::spam::bayes::classify(c, &tokens))?.and_then(crate::spam::bayes::rule) {
                score.add(rule, points);
            }
        }
        let action = spam.action(score.points);
        any_spam |= action >= SpamAction::Mark;
        let verdict = match action {
            SpamAction::Deliver => "not spam",
            SpamAction::Mark => "marked as spam",
            SpamAction::Junk => "to the Junk folder",
            SpamAction::Quarantine => "quarantined",
            SpamAction::Refuse => "refused",
        };
        let prefix = if files.len() > 1 { format!("{}: ", file.display()) } else { String::new() };
        println!("{prefix}score {} ({verdict}; {thresholds}): {}", score.points, score.tests());
    }
    Ok(if any_spam { 1 } else { 0 })
}

/// `spam learn --spam|--ham FILE...`.
fn spam_learn(store: &Store, spam: bool, files: &[PathBuf]) -> Result<()> {
    let mut changed = 0;
    for file in files {
        let message = read_message_file(file)?;
        if store.write(move |c| crate::spam::bayes::learn_message(c, &message, spam))? {
            changed += 1;
        }
    }
    let status = store.read(crate::spam::bayes::status)?;
    println!(
        "learnt {changed} of {} as {} (now {} spam and {} good messages)",
        files.len(),
        if spam { "spam" } else { "good mail" },
        status.spam_learnt,
        status.ham_learnt
    );
    Ok(())
}

/// `spam status [--json]`.
fn spam_status(store: &Store, json: bool) -> Result<()> {
    let bayes = store.read(crate::spam::bayes::status)?;
    let held = store.read(crate::delivery::quarantine::count)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "bayes": bayes, "quarantined": held }))?);
        return Ok(());
    }
    let state = if bayes.active { "scoring".to_string() } else { format!("learning: it scores once it has {} of each", crate::spam::bayes::MIN_LEARNT) };
    println!("classifier: learnt {} spam and {} ham messages, {} tokens ({state}); {} lessons waiting", bayes.spam_learnt, bayes.ham_learnt, bayes.tokens, bayes.waiting);
    println!("quarantine: {held} messages");
    Ok(())
}

fn settings_command(store: &Store, command: SettingsCommand) -> Result<()> {
    let current = settings::load(store)?;
    match command {
        SettingsCommand::List(f) => {
            // Secrets are not listed (a screen share or a pasted list must not leak them); `get` shows them.
            let mut keys = current.to_keys();
            for (key, value) in keys.iter_mut() {
                if key.ends_with("password") && value.as_str().is_some_and(|v| !v.is_empty()) {
                    *value = serde_json::Value::String("(set)".into());
                }
            }
            if f.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                keys.iter().for_each(|(k, v)| println!("{k} = {}", settings::display_value(v)));
            }
        }
        SettingsCommand::Get { key } => {
            let keys = current.to_keys();
            let value = keys.get(&key).ok_or_else(|| anyhow!("no such setting: {key}"))?;
            println!("{}", settings::display_value(value));
        }
        SettingsCommand::Set { pairs } => {
            if pairs.len() % 2 != 0 {
                bail!("give each setting as KEY VALUE (an odd number of words was given)");
            }
            let pairs: Vec<(&str, &str)> = pairs.chunks(2).map(|p| (p[0].as_str(), p[1].as_str())).collect();
            let updated = settings::set_text(store, &pairs)?;
            let keys = updated.to_keys();
            for (key, _) in pairs {
                println!("{key} = {}", settings::display_value(&keys[key]));
            }
        }
    }
    Ok(())
}

fn queue_command(store: &Store, command: QueueCommand) -> Result<()> {
    match command {
        QueueCommand::List(f) => output::queue(&crate::queue::list(store)?, f.json)?,
        QueueCommand::Retry { id: Some(id), .. } => {
            crate::queue::retry(store, id)?;
            println!("recipient {id} will be tried now");
        }
        QueueCommand::Retry { id: None, .. } => {
            let n = crate::queue::flush(store)?;
            println!("{n} waiting recipients will be tried now");
        }
        QueueCommand::Delete { id } => {
            crate::queue::delete(store, id)?;
            println!("recipient {id} removed from the queue");
        }
    }
    Ok(())
}

fn bans_command(store: &Store, command: BansCommand) -> Result<()> {
    match command {
        BansCommand::List(f) => {
            let bans = crate::access::bans::list(store)?;
            if f.json {
                println!("{}", serde_json::to_string_pretty(&bans)?);
            } else if bans.is_empty() {
                println!("nobody is banned");
            } else {
                println!("{:<8} {:<40} {:<22} REASON", "KIND", "ADDRESS OR LOGIN", "UNTIL");
                for b in bans {
                    println!("{:<8} {:<40} {:<22} {}", b.kind, b.value, b.until, b.reason);
                }
            }
        }
        BansCommand::Clear { value } => {
            crate::access::bans::clear(store, &value)?;
            println!("{value} is no longer banned");
        }
    }
    Ok(())
}

/// Writes `postroomd.8` and a page per command (`postroomd-user-add.8`, …) into `dir`; returns the paths.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let mut root = Cli::command();
    root.build();
    let mut written = Vec::new();
    let mut todo = vec![root];
    while let Some(cmd) = todo.pop() {
        if cmd.is_hide_set() {
            continue;
        }
        let name = cmd.get_bin_name().unwrap_or(cmd.get_name()).replace(' ', "-");
        let path = dir.join(format!("{name}.8"));
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.clone())).section("8").manual("Postroom").render(&mut page)?;
        std::fs::write(&path, page)?;
        written.push(path);
        todo.extend(cmd.get_subcommands().filter(|s| s.get_name() != "help").cloned());
    }
    written.sort();
    Ok(written)
}
