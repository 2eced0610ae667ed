//! Tables and JSON for `postroomd status` and `user list`.

use anyhow::Result;
use serde_json::json;

use crate::net::{ServiceState, ServiceStatus};
use crate::paths::DataDir;
use crate::settings::{self, ServiceId};
use crate::status;
use crate::store::Store;
use crate::queue::QueueEntry;
use crate::users::UserSummary;

/// Prints the running server's state (exit code 0) or the configured services as stopped (exit code 3,
/// as LSB init scripts do for "not running").
pub fn status(dir: &DataDir, store: &Store, json_out: bool) -> Result<i32> {
    let live = status::read_live(&dir.status_file());
    let queue_size = store.read(crate::queue::waiting)?;
    let forwarding = store.read(crate::queue::forwarding_problems)?;
    let usage = crate::store::sweep::usage(store)?;
    let services: Vec<ServiceStatus> = match &live {
        Some(s) => s.services.clone(),
        None => {
            let cfg = settings::load(store)?;
            ServiceId::ALL
                .into_iter()
                .map(|id| {
                    let s = cfg.services.get(id);
                    let state = if s.enabled { ServiceState::Stopped } else { ServiceState::Disabled };
                    ServiceStatus::idle(id, state, s)
                })
                .collect()
        }
    };
    let connections: u32 = services.iter().map(|s| s.connections).sum();
    if json_out {
        let doc = json!({
            "running": live.is_some(),
            "pid": live.as_ref().map(|s| s.pid),
            "paused": live.as_ref().is_some_and(|s| s.paused),
            "data_dir": dir.root().display().to_string(),
            "services": services,
            "connections": connections,
            "queue_size": queue_size,
            "store_bytes": usage.store_bytes,
            "reclaimable_bytes": usage.reclaimable_bytes,
            "certificate_problem": live.as_ref().and_then(|s| s.certificate_problem.clone()),
            "forwarding_problems": forwarding,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        match &live {
            Some(s) => println!(
                "Postroom {} is {} (pid {}), data folder {}",
                s.version,
                if s.paused { "paused" } else { "running" },
                s.pid,
                dir.root().display()
            ),
            None => println!("Postroom is not running (data folder {})", dir.root().display()),
        }
        println!("{:<16} {:<9} {:<22} {:<13} {:>5}", "SERVICE", "STATE", "ADDRESS", "TLS", "CONN");
        for s in &services {
            let state = serde_json::to_value(s.state)?.as_str().unwrap_or_default().to_string();
            println!(
                "{:<16} {:<9} {:<22} {:<13} {:>5}{}",
                s.name,
                state,
                format!("{}:{}", s.bind_address, s.port),
                s.tls_mode.label(),
                s.connections,
                s.error.as_deref().map(|e| format!("  {e}")).unwrap_or_default()
            );
        }
        println!("connections: {connections}, queue: {queue_size} message(s) waiting");
        println!("store: {} ({} can be reclaimed)", bytes_text(usage.store_bytes), bytes_text(usage.reclaimable_bytes));
        if let Some(problem) = live.as_ref().and_then(|s| s.certificate_problem.as_deref()) {
            println!("certificate: NOT IN USE, {problem} (the previous certificate is still served)");
        }
        for problem in &forwarding {
            let since = problem.since.as_deref().map(|t| format!(" since {t}")).unwrap_or_default();
            println!("forwarding: {}{since}; last error: {}", problem.headline(), problem.last_error.as_deref().unwrap_or("none"));
        }
    }
    Ok(if live.is_some() { 0 } else { 3 })
}

pub fn users(users: &[UserSummary], json_out: bool) -> Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(users)?);
        return Ok(());
    }
    println!("{:<24} {:<24} {:<8} {:>8} {:>12}  ALIASES", "NAME", "REAL NAME", "ENABLED", "MESSAGES", "BYTES");
    for u in users {
        println!(
            "{:<24} {:<24} {:<8} {:>8} {:>12}  {}",
            u.name,
            u.real_name,
            if u.enabled { "yes" } else { "no" },
            u.message_count,
            u.mailbox_bytes,
            u.aliases.join(", ")
        );
    }
    Ok(())
}

pub fn queue(entries: &[QueueEntry], json_out: bool) -> Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("the queue is empty");
        return Ok(());
    }
    println!("{:>6} {:<32} {:<24} {:<28} {:>8} {:<7} {:>3} {:<20}  LAST ERROR", "ID", "RECIPIENT", "TARGET", "SENDER", "BYTES", "STATE", "TRY", "NEXT TRY");
    for e in entries {
        let target = match (&e.target, e.kind.as_str()) {
            (Some(t), "store_forward") => format!("{t} (S&F)"),
            (Some(t), _) => t.clone(),
            (None, _) => "(Internet)".to_string(),
        };
        println!(
            "{:>6} {:<32} {:<24} {:<28} {:>8} {:<7} {:>3} {:<20}  {}",
            e.id,
            e.recipient,
            target,
            if e.sender.is_empty() { "<>" } else { &e.sender },
            e.size,
            e.state,
            e.attempts,
            e.next_attempt,
            e.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Prints the running server's log writer figures (from its `status.json`, at most a few seconds old).
/// Exit code 3 when no server runs.
pub fn logwriter_stats(dir: &DataDir, json_out: bool) -> Result<i32> {
    let live = status::read_live(&dir.status_file());
    let Some(stats) = live.as_ref().and_then(|s| s.log_writer.clone().map(|w| (s.updated_at, w))) else {
        eprintln!("Postroom is not running (data folder {}); the log writer's figures exist only while it runs", dir.root().display());
        return Ok(3);
    };
    let (updated_at, stats) = stats;
    let age = (crate::store::now() - updated_at).max(0);
    if json_out {
        let mut doc = serde_json::to_value(&stats)?;
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("graph");
            obj.insert("as_of".into(), json!(crate::time_text::rfc3339(updated_at)));
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!(
        "Log writer: logging to file {}; time between bursts {} ms; {} KB of {} KB waiting in memory (as of {age} s ago)",
        if stats.enabled { "on" } else { "OFF (lines are discarded)" },
        stats.interval_ms,
        stats.buffered_bytes.div_ceil(1024),
        stats.memory_limit_bytes / 1024
    );
    println!("Last 10 minutes:{:>33}Now:", "");
    println!("{:<14} {:>7} {:>9} {:>12} {:>8}  {:>8} {:>10}", "FILE", "WRITES", "LINES", "BYTES", "DROPPED", "WAITING", "OLDEST");
    for f in &stats.files {
        let oldest = f.oldest_line_age_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into());
        let note = match (&f.error, f.enabled) {
            (Some(e), _) => format!("  write failed: {e}"),
            (None, false) => "  (off)".into(),
            _ => String::new(),
        };
        println!("{:<14} {:>7} {:>9} {:>12} {:>8}  {:>8} {:>10}{note}", f.name, f.writes, f.lines, f.bytes, f.dropped, f.lines_waiting, oldest);
    }
    Ok(0)
}

/// `bandwidth status`: the running server's live bandwidth figures, from status.json.
pub fn bandwidth_status(dir: &DataDir, json_out: bool) -> Result<i32> {
    let live = status::read_live(&dir.status_file());
    let Some((updated_at, b)) = live.and_then(|s| s.bandwidth.map(|b| (s.updated_at, b))) else {
        eprintln!("Postroom is not running (data folder {}); live bandwidth figures exist only while it runs", dir.root().display());
        return Ok(3);
    };
    if json_out {
        let mut doc = serde_json::to_value(&b)?;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("as_of".into(), json!(crate::time_text::rfc3339(updated_at)));
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    let script = &b.script;
    let state = match (script.active, script.present, &script.compile_error) {
        (_, false, _) => "not present: each service's own setting applies".to_string(),
        (true, _, None) => "running".to_string(),
        (true, _, Some(e)) => format!("the file does not compile ({e}); the previous version keeps running"),
        (false, _, Some(e)) => format!("does not compile ({e}); each service's own setting applies"),
        (false, true, None) => "not loaded yet".to_string(),
    };
    println!("bandwidth.lua: {state}");
    if let Some(e) = &script.last_error {
        println!("  last failed call: {e} ({} failed calls)", script.failed_calls);
    }
    println!("{:<6} {:>11} {:>14} {:>14}", "POOL", "CONNECTIONS", "SENDING B/s", "RECEIVING B/s");
    for p in &b.pools {
        println!("{:<6} {:>11} {:>14} {:>14}", p.id, p.connections, p.sending, p.receiving);
    }
    println!("{:<8} {:<11} {:<40} {:<16} {:<18} SOURCE", "SESSION", "SERVICE", "CLIENT", "USER", "LIMIT");
    for c in &b.connections {
        let limit = match c.limit {
            crate::bandwidth::LimitSource::None => "no limit".to_string(),
            crate::bandwidth::LimitSource::Custom(r) => format!("{r} B/s"),
            crate::bandwidth::LimitSource::Pool(p) => format!("pool {p}"),
        };
        let origin = match c.origin {
            crate::bandwidth::LimitOrigin::Service => "service setting",
            crate::bandwidth::LimitOrigin::User => "user setting",
            crate::bandwidth::LimitOrigin::Script => "bandwidth.lua",
        };
        println!("{:<8} {:<11} {:<40} {:<16} {:<18} {origin}", format!("#{}", c.session), c.service.key(), c.client, c.user, limit);
    }
    Ok(0)
}

/// "12.3 MB", "850 KB", "12 bytes".
fn bytes_text(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} bytes"),
        1024..=1_048_575 => format!("{:.0} KB", n as f64 / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MB", n as f64 / 1_048_576.0),
        _ => format!("{:.2} GB", n as f64 / 1_073_741_824.0),
    }
}

/// `domain dns`: one line per record, what to publish and whether it is.
pub fn dns_records(records: &[crate::auth::records::DnsRecord], json_out: bool) -> Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(records)?);
        return Ok(());
    }
    println!("{:<5} {:<44} {:<10} VALUE", "TYPE", "NAME", "STATUS");
    for r in records {
        let value = if r.record_type == "TXT" { format!("\"{}\"", r.value) } else { r.value.clone() };
        println!("{:<5} {:<44} {:<10} {value}", r.record_type, r.name, r.status);
        for found in &r.found {
            println!("{:<5} {:<44} {:<10} now: {found}", "", "", "");
        }
    }
    Ok(())
}
