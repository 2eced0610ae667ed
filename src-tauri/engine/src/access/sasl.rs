//! SASL PLAIN (RFC 4616) and LOGIN for every service: one exchange ([`exchange`]) and one outcome, over
//! whatever a protocol uses to send a challenge and read the answer ([`Challenge`]): SMTP's `334`, POP3's
//! `+`. IMAP's AUTHENTICATE is driven by its command framer and uses the decoders directly. Checking the
//! password is [`super::login`]'s job.

use std::future::Future;

use base64::Engine as _;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `authzid \0 authcid \0 password`, base64-encoded. Returns (user, password).
pub fn decode_plain(response: &str) -> Option<(String, String)> {
    split_plain(&B64.decode(response.trim()).ok()?)
}

/// `authzid \0 authcid \0 password`, already decoded. Returns (user, password).
pub fn split_plain(bytes: &[u8]) -> Option<(String, String)> {
    let mut parts = bytes.split(|&b| b == 0);
    let authzid = parts.next()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = String::from_utf8(parts.next()?.to_vec()).ok()?;
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    // Acting as somebody else (a different authzid) is not allowed.
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return None;
    }
    Some((user, password))
}

/// One base64 line of the LOGIN exchange.
pub fn decode_line(response: &str) -> Option<String> {
    String::from_utf8(B64.decode(response.trim()).ok()?).ok()
}

pub fn encode(text: &str) -> String {
    B64.encode(text)
}

/// The mechanisms Postroom offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Credentials { user: String, password: String },
    /// The client answered "*", or left.
    Cancelled,
    /// What the client sent was not valid base64 or not a valid response.
    Malformed,
}

/// A protocol's way of sending a challenge (already base64) and reading the answer line.
pub trait Challenge {
    /// The client's answer, or `None` when it cancelled with "*" or left.
    fn challenge(&mut self, prompt: &str) -> impl Future<Output = std::io::Result<Option<String>>> + Send;
}

/// Runs PLAIN or LOGIN to the end; `initial` is the initial response sent with the command, if any.
pub async fn exchange<C: Challenge>(channel: &mut C, mechanism: Mechanism, initial: Option<String>) -> std::io::Result<Outcome> {
    let answer = |a: Option<String>| a.filter(|s| s != "=");
    Ok(match mechanism {
        Mechanism::Plain => {
            let response = match answer(initial) {
                Some(r) => Some(r),
                None => channel.challenge("").await?,
            };
            match response {
                None => Outcome::Cancelled,
                Some(r) => decode_plain(&r).map_or(Outcome::Malformed, |(user, password)| Outcome::Credentials { user, password }),
            }
        }
        Mechanism::Login => {
            let user = match answer(initial) {
                Some(u) => Some(u),
                None => channel.challenge(&encode("Username:")).await?,
            };
            let Some(user) = user else { return Ok(Outcome::Cancelled) };
            let Some(user) = decode_line(&user).filter(|u| !u.is_empty()) else { return Ok(Outcome::Malformed) };
            match channel.challenge(&encode("Password:")).await? {
                None => Outcome::Cancelled,
                Some(p) => decode_line(&p).map_or(Outcome::Malformed, |password| Outcome::Credentials { user, password }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_needs_three_parts_and_no_foreign_authzid() {
        assert_eq!(decode_plain(&encode("\0alice\0pw")), Some(("alice".into(), "pw".into())));
        assert_eq!(decode_plain(&encode("alice\0alice\0pw")), Some(("alice".into(), "pw".into())));
        assert_eq!(decode_plain(&encode("bob\0alice\0pw")), None);
        assert_eq!(decode_plain(&encode("alice\0pw")), None);
        assert_eq!(decode_plain("not base64!"), None);
    }

    /// A client that answers from a script.
    struct Scripted(Vec<Option<&'static str>>, Vec<String>);

    impl Challenge for Scripted {
        async fn challenge(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
            self.1.push(prompt.to_string());
            Ok(self.0.remove(0).map(str::to_string))
        }
    }

    #[tokio::test]
    async fn one_exchange_for_plain_and_login_with_one_outcome() {
        let creds = |u: &str, p: &str| Outcome::Credentials { user: u.into(), password: p.into() };
        let mut c = Scripted(vec![], vec![]);
        assert_eq!(exchange(&mut c, Mechanism::Plain, Some(encode("\0alice\0pw"))).await.unwrap(), creds("alice", "pw"));
        let mut c = Scripted(vec![Some("AGFsaWNlAHB3")], vec![]);
        assert_eq!(exchange(&mut c, Mechanism::Plain, Some("=".into())).await.unwrap(), creds("alice", "pw"), "'=' is an empty initial response");
        let mut c = Scripted(vec![Some("YWxpY2U="), Some("cHc=")], vec![]);
        assert_eq!(exchange(&mut c, Mechanism::Login, None).await.unwrap(), creds("alice", "pw"));
        assert_eq!(c.1, [encode("Username:"), encode("Password:")]);
        let mut c = Scripted(vec![None], vec![]);
        assert_eq!(exchange(&mut c, Mechanism::Login, None).await.unwrap(), Outcome::Cancelled);
        let mut c = Scripted(vec![Some("not base64!")], vec![]);
        assert_eq!(exchange(&mut c, Mechanism::Plain, None).await.unwrap(), Outcome::Malformed);
        assert_eq!(Mechanism::from_name("login"), Some(Mechanism::Login));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
    }
}
