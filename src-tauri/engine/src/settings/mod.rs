//! Typed settings sections, stored in the `settings` table as dotted keys (`services.pop3.port`) with JSON
//! values. Defaults fill anything not stored, so a new setting needs no migration.
//!
//! A change — from the GUI, `postroomd settings set`, or another process — is validated as a whole
//! ([`validate`] names every bad field), committed, and then published by the engine on a `watch` channel
//! (see `engine.rs`): the running parts apply it without a restart. Stored keys that this build does not
//! know are kept but ignored.

mod access;
mod bandwidth;
mod logging;
mod mailboxes;
mod message_store;
mod relay;
mod outbound;
mod services;
mod smtp;
mod spam;
mod web;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use services::{Protocol, ServiceId, ServiceSettings, ServicesSettings, TlsMode};
pub use outbound::{OutboundSettings, OutboundTls};
pub use bandwidth::{check_limit_value, NotALimit, BandwidthPool, BandwidthSettings, Throttle, ThrottleMode, POOLS};
pub use access::{AccessAction, AccessRule, AccessSettings, Matcher, RuleError, RuleKind, ServiceAccess};
pub use logging::{KeepBy, LogLevel, LogSettings, RetentionSettings, SessionLogSetting, SessionLogs, WriterSettings};
pub use mailboxes::{ImapSettings, Pop3Settings};
pub use message_store::{MessageStoreSettings, MAX_RECYCLE_HOURS};
pub use relay::{RelayDomain, RelaySettings};
pub use smtp::SmtpSettings;
pub use web::{MtaStsMode, WebSettings};
pub use spam::{check_senders, rspamd_address, sender_listed, Blocklist, SpamAction, SpamSettings};

use crate::error::{ApiError, ApiResult, FieldError};
use crate::store::{Store, StoreResult};

/// Everything the admin can set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub general: GeneralSettings,
    pub services: ServicesSettings,
    pub smtp: SmtpSettings,
    pub outbound: OutboundSettings,
    pub pop3: Pop3Settings,
    pub imap: ImapSettings,
    pub tls: TlsSettings,
    pub log: LogSettings,
    pub access: AccessSettings,
    pub bandwidth: BandwidthSettings,
    pub store: MessageStoreSettings,
    pub relay: RelaySettings,
    pub spam: SpamSettings,
    pub web: WebSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneralSettings {
    /// The name this server gives itself in greetings and in its self-signed certificate.
    pub server_name: String,
}

impl Default for GeneralSettings {
    fn default() -> Self {
        Self { server_name: machine_name() }
    }
}

/// The certificate for every TLS service. Both empty: the self-signed certificate in `certs/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
}

/// The machine's host name, or "localhost" where it cannot be read.
pub fn machine_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Settings {
    /// Every leaf as (`dotted.key`, JSON value), in key order.
    pub fn to_keys(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        flatten("", &serde_json::to_value(self).unwrap_or(Value::Null), &mut out);
        out
    }

    /// Settings from stored keys over the defaults. A stored value of the wrong type is reported as a
    /// field error rather than silently replaced.
    pub fn from_keys(keys: &BTreeMap<String, Value>) -> ApiResult<Settings> {
        let mut tree = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
        for (key, value) in keys {
            if let Some(slot) = lookup_mut(&mut tree, key) {
                *slot = value.clone();
            }
        }
        serde_json::from_value(tree).map_err(|e| ApiError::field("settings", e.to_string()))
    }

    /// Returns a copy with `key` set from its text form (as typed on the command line).
    pub fn with_text_value(&self, key: &str, text: &str) -> ApiResult<Settings> {
        let mut keys = self.to_keys();
        let current = keys.get(key).ok_or_else(|| ApiError::field(key, "no such setting"))?;
        let value = parse_text(current, text).map_err(|m| ApiError::field(key, m))?;
        keys.insert(key.to_string(), value);
        let mut tree = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(slot) = lookup_mut(&mut tree, key) {
            *slot = keys[key].clone();
        }
        match serde_json::from_value(tree.clone()) {
            Ok(s) => Ok(s),
            // Choices such as tls_mode are lower case; accept "STARTTLS" as typed.
            Err(first) => {
                if let Some(Value::String(s)) = lookup_mut(&mut tree, key) {
                    *s = s.to_ascii_lowercase();
                }
                serde_json::from_value(tree).map_err(|_| ApiError::field(key, plain_serde_message(&first.to_string())))
            }
        }
    }
}

/// Checks every field; TLS files are loaded to prove they are a usable certificate and key.
pub fn validate(settings: &Settings) -> ApiResult<()> {
    validate_change(settings, None)
}

/// Something that acts on the settings. The engine lists every consumer once (`Engine::publish`) and
/// hands each published change to all of them in order ([`Consumer::apply`]), synchronously: when a save
/// returns, its effect is in place (the certificate window reads back the new certificate, a log file
/// switched on records the next connection). Consumers that follow changes in their own time (the
/// listeners, the outbound queue) take them from a `watch` channel, which is itself one consumer.
pub trait Consumer: Send + Sync {
    /// The settings changed from `old` to `new`; the consumer picks what concerns it.
    fn apply(&self, old: &Settings, new: &Settings);
}

impl Consumer for tokio::sync::watch::Sender<std::sync::Arc<Settings>> {
    fn apply(&self, _old: &Settings, new: &Settings) {
        self.send_replace(std::sync::Arc::new(new.clone()));
    }
}

/// As [`validate`], but the certificate files are only re-checked when the TLS settings change, so a
/// certificate that went missing does not block an unrelated change (the engine reports it instead).
pub fn validate_change(settings: &Settings, previous: Option<&Settings>) -> ApiResult<()> {
    let mut errors = Vec::new();
    if let Err(m) = crate::names::validate_domain(&settings.general.server_name).map(|_| ()) {
        errors.push(FieldError::new("general.server_name", format!("{m} (use the host name in ASCII, e.g. mail.example.com)")));
    }
    settings.services.validate(&mut errors);
    settings.smtp.validate(&mut errors);
    settings.outbound.validate(&mut errors);
    settings.pop3.validate(&mut errors);
    settings.imap.validate(&mut errors);
    settings.log.validate(&mut errors);
    settings.access.validate(&mut errors);
    settings.bandwidth.validate(&mut errors);
    settings.store.validate(&mut errors);
    settings.relay.validate(&mut errors);
    settings.spam.validate(&mut errors);
    settings.web.validate(&mut errors);
    let tls = &settings.tls;
    match (tls.cert_file.is_empty(), tls.key_file.is_empty()) {
        (true, true) => {}
        (false, true) => errors.push(FieldError::new("tls.key_file", "choose the private key for this certificate")),
        (true, false) => errors.push(FieldError::new("tls.cert_file", "choose the certificate for this key")),
        (false, false) if previous.is_some_and(|p| p.tls == *tls) => {}
        (false, false) => {
            if let Err(e) = crate::certs::load_pair(Path::new(&tls.cert_file), Path::new(&tls.key_file)) {
                errors.push(e.into());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Reads the settings as stored now.
pub fn load(store: &Store) -> ApiResult<Settings> {
    let keys = store.read(read_keys)?;
    Settings::from_keys(&keys)
}

fn read_keys(conn: &rusqlite::Connection) -> StoreResult<BTreeMap<String, Value>> {
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut keys = BTreeMap::new();
    for row in rows {
        let (key, text) = row?;
        if let Ok(value) = serde_json::from_str(&text) {
            keys.insert(key, value);
        }
    }
    Ok(keys)
}

/// Changes the stored settings in one write transaction: read, change, validate, store. Two admins (or
/// the GUI and a script) changing settings at once cannot lose each other's change, and nothing is
/// written if any field is bad. Returns the settings as stored.
pub fn update<F>(store: &Store, change: F) -> ApiResult<Settings>
where
    F: FnOnce(&mut Settings) -> ApiResult<()> + Send + 'static,
{
    store.write(move |conn| update_in(conn, change))?
}

/// [`update`] inside a write the caller is making (the set-up wizard's Finish writes settings, domains
/// and users as one); a refused change writes nothing.
pub fn update_in<F>(conn: &rusqlite::Connection, change: F) -> StoreResult<ApiResult<Settings>>
where
    F: FnOnce(&mut Settings) -> ApiResult<()>,
{
    let old = match Settings::from_keys(&read_keys(conn)?) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let mut new = old.clone();
    if let Err(e) = change(&mut new).and_then(|_| validate_change(&new, Some(&old))) {
        return Ok(Err(e));
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO settings(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE value <> excluded.value",
    )?;
    for (key, value) in new.to_keys() {
        stmt.execute((key, value.to_string()))?;
    }
    Ok(Ok(new))
}

/// Changes keys from their text forms (as typed on the command line), all in one update.
pub fn set_text(store: &Store, pairs: &[(&str, &str)]) -> ApiResult<Settings> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    update(store, move |s| {
        for (key, text) in &pairs {
            *s = s.with_text_value(key, text)?;
        }
        Ok(())
    })
}

/// The text form of a value for `settings list` / `settings get`.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

fn lookup_mut<'a>(tree: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.').try_fold(tree, |node, part| node.get_mut(part))
}

/// Why a value given as text (`postroomd settings set KEY VALUE`) does not fit the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("'{0}' is not true or false")]
    NotABool(String),
    #[error("'{0}' is not a number")]
    NotANumber(String),
    #[error("'{0}' is not a JSON list, e.g. [{{\"action\":\"deny\",\"kind\":\"geoip\",\"value\":\"CN\"}}]")]
    NotAList(String),
}

fn parse_text(current: &Value, text: &str) -> Result<Value, ValueError> {
    let t = text.trim();
    match current {
        Value::Bool(_) => match t.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "off" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(ValueError::NotABool(text.to_string())),
        },
        Value::Number(_) => t
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| t.parse::<f64>().map_err(|_| ()).and_then(|f| serde_json::Number::from_f64(f).ok_or(())).map(Value::Number))
            .map_err(|_| ValueError::NotANumber(text.to_string())),
        // Lists (access rules) are given as JSON.
        Value::Array(_) => serde_json::from_str::<Value>(t)
            .ok()
            .filter(Value::is_array)
            .ok_or_else(|| ValueError::NotAList(text.to_string())),
        _ => Ok(Value::String(text.to_string())),
    }
}

fn plain_serde_message(message: &str) -> String {
    if message.contains("invalid value") && message.contains("u16") {
        return "must be a whole number between 1 and 65535".into();
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("unknown value {}", rest.split(" at line").next().unwrap_or(rest));
    }
    message.split(" at line").next().unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_dotted_keys_with_its_defaults() {
        let keys = Settings::default().to_keys();
        assert_eq!(keys["services.pop3.port"], Value::from(110));
        assert_eq!(keys["services.smtps.tls_mode"], Value::from("implicit"));
        assert_eq!(keys["services.imap.enabled"], Value::from(true));
    }

    #[test]
    fn text_values_are_typed_and_bad_ones_name_the_key() {
        let s = Settings::default();
        assert_eq!(s.with_text_value("services.pop3.port", "1110").unwrap().services.pop3.port, 1110);
        assert!(!s.with_text_value("services.imap.enabled", "off").unwrap().services.imap.enabled);
        let e = s.with_text_value("services.pop3.port", "99999").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("services.pop3.port"));
        assert!(e.message.contains("65535"), "{}", e.message);
        assert_eq!(s.with_text_value("services.pop3.tls_mode", "STARTTLS").unwrap().services.pop3.tls_mode, TlsMode::Starttls);
        let e = s.with_text_value("services.pop3.tls_mode", "sometimes").unwrap_err();
        assert!(e.message.contains("unknown value"), "{}", e.message);
        assert_eq!(s.with_text_value("no.such.key", "1").unwrap_err().field.as_deref(), Some("no.such.key"));
    }

    #[test]
    fn validation_reports_every_bad_field_at_once() {
        let mut s = Settings::default();
        s.services.pop3.bind_address = "not-an-ip".into();
        s.services.imap.port = 995;
        s.tls.cert_file = "/nonexistent/cert.pem".into();
        s.general.server_name = "ünïcode.example".into();
        let e = validate(&s).unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"services.pop3.bind_address"), "{fields:?}");
        assert!(fields.contains(&"services.imap.port"), "{fields:?}");
        assert!(fields.contains(&"tls.key_file"), "{fields:?}");
        assert!(fields.contains(&"general.server_name"), "{fields:?}");
    }

    #[test]
    fn a_disabled_service_may_share_a_port() {
        let mut s = Settings::default();
        s.services.imap.port = 110;
        s.services.imap.enabled = false;
        assert!(validate(&s).is_ok());
    }
}
