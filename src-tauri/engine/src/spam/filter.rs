//! What happens to a stranger's message between its last byte and the 250: the global deny list, sender
//! authentication ([`crate::auth`]), the global allow list, the score (built-in rules, DNS lists, the
//! classifier, rspamd), and the action the score leads to — refused here (550 5.7.1, never accepted and
//! bounced: that is backscatter), or accepted with a [`SpamVerdict`] that delivery carries out per user
//! (marked, Junk folder, quarantine; each user's own lists may change it).
//!
//! Logged-in users and trusted networks never come here (the SMTP session skips them). Mail the collector
//! fetched from an ISP comes here too, marked `collected`: there is no connection to authenticate, and
//! nothing can be refused any more, so what would be refused is held in the quarantine instead.

use std::net::IpAddr;
use std::time::Duration;

use super::{bayes, rspamd, Score};
use crate::auth::{Authenticator, Decision};
use crate::delivery::{Recipient, SpamVerdict};
use crate::settings::{sender_listed, SpamAction, Settings};
use crate::store::Store;

/// Who handed us the message, and for whom.
pub struct Inbound<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// MAIL FROM; empty for the null sender.
    pub sender: &'a str,
    pub recipients: &'a [Recipient],
    /// Fetched by the mail collector: no sender authentication (no connection to check), no client
    /// address lists, and a refusal becomes the quarantine.
    pub collected: bool,
}

/// The filter's answer.
#[derive(Debug)]
pub enum Outcome {
    /// Refuse before the 250 with this reply (550 5.7.1, or 451 4.7.0 when a scanner that must answer did
    /// not).
    Refuse { code: u16, status: &'static str, text: String },
    /// Accept: the message with our `Authentication-Results:` and `X-Spam-*` fields on top.
    Accept { message: Vec<u8>, verdict: SpamVerdict },
}

/// Checks a stranger's message; `summary` is what the log line says.
pub async fn check(store: &Store, auth: &Authenticator, settings: &Settings, who: &Inbound<'_>, body: Vec<u8>) -> (Outcome, String) {
    let spam = &settings.spam;
    let server_name = settings.general.server_name.as_str();
    let refuse = |text: String| Outcome::Refuse { code: 550, status: "5.7.1", text };
    let Ok((body, analysis)) = tokio::task::spawn_blocking(move || {
        let analysis = super::analyse(&body);
        (body, analysis)
    })
    .await
    else {
        return (Outcome::Refuse { code: 451, status: "4.3.0", text: "could not check the message; try again later".into() }, "analysis failed".into());
    };
    let senders = [who.sender, analysis.from.as_str()];
    let mut floor = SpamAction::Deliver;
    if sender_listed(&spam.deny_senders, &senders) {
        if !who.collected {
            return (refuse("mail from this sender is refused by this server's policy".into()), "sender on the deny list".into());
        }
        floor = SpamAction::Quarantine;
    }
    let (mut header, mut facts, mut summary) = if spam.any_authentication() && !who.collected {
        let inbound = crate::auth::Inbound { ip: who.ip, helo: who.helo, sender: who.sender };
        let checked = auth.check(settings, server_name, &inbound, &body).await;
        match &checked.decision {
            Decision::Reject(why) => return (refuse(why.clone()), checked.summary),
            Decision::Spam(why) => {
                tracing::info!(target: "mail", peer = %who.ip, from = %who.sender, results = %checked.summary, "marked as spam: {why}");
                floor = SpamAction::Mark;
            }
            Decision::Accept => {}
        }
        (checked.header, checked.facts, checked.summary)
    } else {
        (String::new(), Default::default(), String::new())
    };
    let forged = facts.dmarc_failed || facts.spf.as_deref() == Some("fail");
    let mut verdict = SpamVerdict { checked: true, from: analysis.from.clone(), subject: analysis.subject.clone(), forged, peer: if who.collected { "collected".into() } else { who.ip.to_string() }, ..Default::default() };
    let finish = |header: String, body: Vec<u8>| {
        let mut out = header.into_bytes();
        out.extend_from_slice(&crate::auth::strip_forged_results(body, server_name));
        out
    };
    if !forged && sender_listed(&spam.allow_senders, &senders) {
        header.push_str("X-Spam-Status: No, allowed sender\r\n");
        summary = format!("{summary} allowed sender").trim().to_string();
        return (Outcome::Accept { message: finish(header, body), verdict }, summary);
    }
    let mut score = Score { points: 0, hits: Vec::new() };
    if spam.content && !(spam.rspamd_only && !spam.rspamd_url.is_empty()) {
        if who.collected {
            facts.domains_listed = auth.domains_blocklisted(settings, &analysis.domains).await;
        } else {
            let (listed, allowed, domains) =
                tokio::join!(auth.blocklisted(settings, who.ip), auth.allowlisted(settings, who.ip), auth.domains_blocklisted(settings, &analysis.domains));
            (facts.listed, facts.allowed, facts.domains_listed) = (listed, allowed, domains);
        }
        for h in super::fact_hits(&facts).into_iter().chain(analysis.hits) {
            score.add(&h.rule, h.points);
        }
        if spam.bayes {
            let tokens = analysis.tokens;
            if let Ok(Some(p)) = store.read_async(move |c| bayes::classify(c, &tokens)).await {
                if let Some((rule, points)) = bayes::rule(p) {
                    score.add(rule, points);
                }
            }
        }
    }
    if let Some(address) = crate::settings::rspamd_address(&spam.rspamd_url) {
        let recipients: Vec<String> = who.recipients.iter().map(|r| recipient_address(r).to_string()).collect();
        let envelope = rspamd::Envelope { ip: who.ip, helo: who.helo, sender: who.sender, recipients: &recipients, client_name: facts.client_name.as_deref() };
        match rspamd::check(&address, Duration::from_secs(spam.rspamd_timeout.into()), &envelope, &body).await {
            Ok(answer) => {
                let mut points = answer.score.round() as i32;
                if answer.action == "reject" && spam.refuse_score > 0 {
                    // rspamd's own verdict to refuse counts as reaching ours.
                    points = points.max(spam.refuse_score as i32 - score.points);
                }
                score.add("RSPAMD", points);
                let top: Vec<String> = answer.symbols.iter().take(5).map(|(n, s)| format!("{n}({s})")).collect();
                summary = format!("{summary} rspamd={} action={} symbols={}", answer.score, answer.action.replace(' ', "_"), top.join(",")).trim().to_string();
                if !answer.message.is_empty() {
                    summary = format!("{summary} rspamd_message='{}'", answer.message.replace(['\'', '"'], ""));
                }
            }
            Err(e) if spam.rspamd_fail_open => {
                tracing::warn!(target: "mail", error = %e, "rspamd did not answer: the message is scored without it");
                score.add("RSPAMD_UNAVAILABLE", 0);
            }
            Err(e) => {
                tracing::warn!(target: "mail", error = %e, "rspamd did not answer: the message is deferred");
                return (Outcome::Refuse { code: 451, status: "4.7.0", text: "the spam scanner is not answering; try again later".into() }, e);
            }
        }
    }
    verdict.score = score.points;
    verdict.tests = score.tests();
    summary = format!("{summary} score={} tests={}", score.points, score.tests()).trim().to_string();
    let mut action = spam.action(score.points).max(floor);
    if action == SpamAction::Refuse && who.collected {
        action = SpamAction::Quarantine;
    }
    if action == SpamAction::Refuse {
        if anyone_allows(store, who.recipients, &senders, forged).await {
            // Another recipient wants this sender: held for those who do not (delivery decides per user).
            action = SpamAction::Quarantine;
        } else {
            return (refuse(format!("message refused as spam (score {}: {})", score.points, score.tests())), summary);
        }
    }
    verdict.action = action;
    header.push_str(&score.header(spam, action >= SpamAction::Mark));
    (Outcome::Accept { message: finish(header, body), verdict }, summary)
}

fn recipient_address(r: &Recipient) -> &str {
    match r {
        Recipient::Local { address, .. } | Recipient::Remote { address } | Recipient::Forward { address, .. } => address,
    }
}

/// Whether a local recipient's own allow list names the sender.
async fn anyone_allows(store: &Store, recipients: &[Recipient], senders: &[&str], forged: bool) -> bool {
    if forged {
        return false;
    }
    let users: Vec<i64> = recipients.iter().filter_map(|r| if let Recipient::Local { user_id, .. } = r { Some(*user_id) } else { None }).collect();
    let allows = store
        .read_async(move |c| users.iter().map(|u| Ok(crate::delivery::spam_lists(c, *u)?.0)).collect::<crate::store::StoreResult<Vec<Vec<String>>>>())
        .await
        .unwrap_or_default();
    allows.iter().any(|allow| sender_listed(allow, senders))
}
