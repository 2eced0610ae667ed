//! LOGIN and AUTHENTICATE (PLAIN, LOGIN): the login tail is `SessionContext::check_login`.

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};

use crate::imap::UserSession;
use crate::access::login::LoginOutcome;
use crate::net::Next;
use crate::access::sasl as auth;

use crate::imap::session::*;

impl Session {
    /// Answers a LOGIN or AUTHENTICATE that cannot go ahead (already logged in, or no TLS); true if it did.
    pub(in crate::imap) fn refuse_login(&mut self, tag: &str) -> bool {
        if self.user.is_some() {
            self.tagged(tag, "BAD", "already logged in");
        } else if !self.plaintext_allowed() {
            self.tagged(tag, "NO", "[PRIVACYREQUIRED] logging in without encryption is not allowed here: use STARTTLS, or port 993");
        } else {
            return false;
        }
        true
    }

    pub(in crate::imap) async fn login(&mut self, tag: &str, user: &str, password: &str) -> std::io::Result<Next> {
        if self.refuse_login(tag) {
            return Ok(Next::Continue);
        }
        let shared = self.ctx.shared.clone();
        match self.ctx.check_login(&mut self.talk, "IMAP4", user, password).await {
            LoginOutcome::Accepted(verified) => {
                let Some(session) = UserSession::take(&shared, verified.id, self.ctx.settings.imap.max_connections_per_user) else {
                    self.tagged(tag, "NO", "[LIMIT] too many IMAP sessions for this user");
                    return Ok(Next::Continue);
                };
                self.ctx.admit(&mut self.talk, &verified).await;
                self.user = Some(User { id: verified.id, name: verified.name.clone(), _session: session });
                let caps = self.capabilities();
                self.tagged(tag, "OK", &format!("[CAPABILITY {caps}] logged in"));
                Ok(Next::Continue)
            }
            LoginOutcome::NowBanned => {
                self.untagged("BYE too many failed logins from your address; try later");
                self.tagged(tag, "NO", "[AUTHENTICATIONFAILED] too many failed logins");
                Ok(Next::Close)
            }
            LoginOutcome::Refused => {
                self.tagged(tag, "NO", "[AUTHENTICATIONFAILED] wrong user name or password");
                Ok(if self.talk.too_many_login_failures() { Next::Close } else { Next::Continue })
            }
        }
    }

    pub(in crate::imap) async fn authenticate(&mut self, tag: &str, mechanism: AuthMechanism<'static>, initial: Option<Vec<u8>>) -> std::io::Result<Next> {
        if self.refuse_login(tag) {
            return Ok(Next::Continue);
        }
        match (&mechanism, initial) {
            (AuthMechanism::Plain, Some(data)) => self.finish_plain(tag, &data).await,
            (AuthMechanism::Plain, None) => {
                self.talk.out.extend_from_slice(b"+ \r\n");
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: None });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, Some(user)) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Password:")).as_bytes());
                let user = String::from_utf8_lossy(&user).into_owned();
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: Some(user) });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, None) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Username:")).as_bytes());
                self.pending = Some(Pending::Authenticate { tag: tag.to_string(), mechanism, user: None });
                Ok(Next::Continue)
            }
            _ => {
                self.tagged(tag, "NO", "unsupported mechanism (use PLAIN or LOGIN)");
                Ok(Next::Continue)
            }
        }
    }

    pub(in crate::imap) async fn authenticate_step(&mut self, data: AuthenticateData<'static>) -> std::io::Result<Next> {
        let Some(Pending::Authenticate { tag, mechanism, user }) = self.pending.take() else { return Ok(Next::Continue) };
        let AuthenticateData::Continue(data) = data else {
            self.tagged(&tag, "BAD", "authentication cancelled");
            return Ok(Next::Continue);
        };
        let data = data.declassify().to_vec();
        match (mechanism, user) {
            (AuthMechanism::Plain, _) => self.finish_plain(&tag, &data).await,
            (AuthMechanism::Login, None) => {
                self.talk.out.extend_from_slice(format!("+ {}\r\n", auth::encode("Password:")).as_bytes());
                let user = String::from_utf8_lossy(&data).into_owned();
                self.pending = Some(Pending::Authenticate { tag, mechanism: AuthMechanism::Login, user: Some(user) });
                Ok(Next::Continue)
            }
            (AuthMechanism::Login, Some(user)) => {
                let password = String::from_utf8_lossy(&data).into_owned();
                self.login(&tag, &user, &password).await
            }
            _ => Ok(Next::Continue),
        }
    }

    pub(in crate::imap) async fn finish_plain(&mut self, tag: &str, data: &[u8]) -> std::io::Result<Next> {
        // imap-codec has already undone the base64.
        match auth::split_plain(data) {
            Some((user, password)) => self.login(tag, &user, &password).await,
            None => {
                self.tagged(tag, "BAD", "cannot decode the credentials");
                Ok(Next::Continue)
            }
        }
    }
}
