//! Numbered schema migrations. `PRAGMA user_version` records how many have been applied; each runs in
//! its own transaction. Later features append migrations; released ones are never edited.

use rusqlite::Connection;

use super::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: the foundation — users, aliases, local domains, folders, messages, blobs, recycle bin, settings,
    //    outbound queue.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        real_name     TEXT NOT NULL DEFAULT '',
        enabled       INTEGER NOT NULL DEFAULT 1,
        created_at    INTEGER NOT NULL,
        deleted_at    INTEGER
    );
    -- Names are unique among live users; a deleted user's name can be reused while the old mailbox
    -- waits in the recycle bin.
    CREATE UNIQUE INDEX users_live_name ON users(name) WHERE deleted_at IS NULL;

    CREATE TABLE aliases (
        alias   TEXT PRIMARY KEY COLLATE NOCASE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE
    );
    CREATE INDEX aliases_user ON aliases(user_id);

    CREATE TABLE domains (
        name       TEXT PRIMARY KEY COLLATE NOCASE,
        created_at INTEGER NOT NULL
    );

    CREATE TABLE folders (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        parent_id     INTEGER REFERENCES folders(id) ON DELETE CASCADE,
        path          TEXT NOT NULL,
        special_use   TEXT,
        subscribed    INTEGER NOT NULL DEFAULT 1,
        uidvalidity   INTEGER NOT NULL,
        uidnext       INTEGER NOT NULL DEFAULT 1,
        highestmodseq INTEGER NOT NULL DEFAULT 1,
        UNIQUE (user_id, path)
    );

    -- Message bodies: small ones inline in `data`, large ones in blobs/<sha256> (data NULL).
    CREATE TABLE blobs (
        id       INTEGER PRIMARY KEY,
        sha256   TEXT NOT NULL UNIQUE,
        size     INTEGER NOT NULL,
        data     BLOB,
        refcount INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE messages (
        id          INTEGER PRIMARY KEY,
        folder_id   INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid         INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        seen        INTEGER NOT NULL DEFAULT 0,
        answered    INTEGER NOT NULL DEFAULT 0,
        flagged     INTEGER NOT NULL DEFAULT 0,
        deleted     INTEGER NOT NULL DEFAULT 0,
        draft       INTEGER NOT NULL DEFAULT 0,
        spam        INTEGER NOT NULL DEFAULT 0,
        modseq      INTEGER NOT NULL DEFAULT 1,
        blob_id     INTEGER NOT NULL REFERENCES blobs(id),
        UNIQUE (folder_id, uid)
    );
    CREATE INDEX messages_received ON messages(received_at);

    CREATE TABLE recycle_bin (
        id         INTEGER PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        deleted_at INTEGER NOT NULL
    );

    CREATE TABLE queue (
        id         INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        sender     TEXT NOT NULL,
        auth_user  TEXT,
        blob_id    INTEGER NOT NULL REFERENCES blobs(id),
        size       INTEGER NOT NULL
    );
    CREATE TABLE queue_recipients (
        id              INTEGER PRIMARY KEY,
        queue_id        INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
        recipient       TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt_at);
    "#,
    // 2: failed-login bans shared by every service.
    r#"
    CREATE TABLE bans (
        kind      TEXT NOT NULL CHECK (kind IN ('address', 'login')),
        value     TEXT NOT NULL COLLATE NOCASE,
        failures  INTEGER NOT NULL,
        reason    TEXT NOT NULL,
        banned_at INTEGER NOT NULL,
        until     INTEGER NOT NULL,
        PRIMARY KEY (kind, value)
    );
    "#,
    // 3: what the sender asked for with the DSN extension (RFC 3461): RET and ENVID per message,
    // NOTIFY (smtp-proto's flag bits; 0 = not given) and ORCPT per recipient.
    r#"
    ALTER TABLE queue ADD COLUMN dsn_ret_full INTEGER;
    ALTER TABLE queue ADD COLUMN dsn_envid TEXT;
    ALTER TABLE queue_recipients ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE queue_recipients ADD COLUMN orcpt TEXT;
    "#,
    // 4: IMAP. ENVELOPE, BODYSTRUCTURE and BODY as FETCH sends them, computed once per body (NULL until a
    // body is first delivered to a mailbox); keywords (space-separated) on each message; subscriptions
    // may name folders that do not exist (RFC 3501 6.3.6).
    r#"
    ALTER TABLE blobs ADD COLUMN envelope BLOB;
    ALTER TABLE blobs ADD COLUMN bodystructure BLOB;
    ALTER TABLE blobs ADD COLUMN body BLOB;
    ALTER TABLE messages ADD COLUMN keywords TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_folder_modseq ON messages(folder_id, modseq);
    "#,
    // 5: GeoIP ranges (the seed's columns: id, addrfrom, addrto, result). IPv4 ends are integers, IPv6
    // ends 16-byte big-endian blobs: both sort as addresses. Triggers count inserts and other changes so
    // that the server reloads only when the data changed, and only the new rows after inserts.
    r#"
    CREATE TABLE geoipv4 (id INTEGER PRIMARY KEY, addrfrom INTEGER NOT NULL, addrto INTEGER NOT NULL, result TEXT NOT NULL);
    CREATE INDEX geoipv4_range_a ON geoipv4(addrfrom, addrto);
    CREATE TABLE geoipv6 (id INTEGER PRIMARY KEY, addrfrom BLOB NOT NULL, addrto BLOB NOT NULL, result TEXT NOT NULL);
    CREATE INDEX geoipv6_range_a ON geoipv6(addrfrom, addrto);
    CREATE TABLE geoip_state (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        generation  INTEGER NOT NULL DEFAULT 0,
        inserts     INTEGER NOT NULL DEFAULT 0,
        changes     INTEGER NOT NULL DEFAULT 0,
        imported_at INTEGER,
        source      TEXT
    );
    INSERT INTO geoip_state(id) VALUES (1);
    CREATE TRIGGER geoipv4_insert AFTER INSERT ON geoipv4 BEGIN UPDATE geoip_state SET inserts = inserts + 1; END;
    CREATE TRIGGER geoipv4_update AFTER UPDATE ON geoipv4 BEGIN UPDATE geoip_state SET changes = changes + 1; END;
    CREATE TRIGGER geoipv4_delete AFTER DELETE ON geoipv4 BEGIN UPDATE geoip_state SET changes = changes + 1; END;
    CREATE TRIGGER geoipv6_insert AFTER INSERT ON geoipv6 BEGIN UPDATE geoip_state SET inserts = inserts + 1; END;
    CREATE TRIGGER geoipv6_update AFTER UPDATE ON geoipv6 BEGIN UPDATE geoip_state SET changes = changes + 1; END;
    CREATE TRIGGER geoipv6_delete AFTER DELETE ON geoipv6 BEGIN UPDATE geoip_state SET changes = changes + 1; END;
    "#,
    // 6: a user's own bandwidth limit, in bandwidth.lua's terms (0 none of their own, bytes per second,
    // or −K for pool K); given to the script as `userbandwidth`, and applied at login without one.
    r#"
    ALTER TABLE users ADD COLUMN bandwidth INTEGER NOT NULL DEFAULT 0;
    "#,
    // 7: a queued message whose recipients are all done (sent, or failed and reported) gives its body
    // back (see store::sweep); its rows may stay a while for the admin to see.
    // A body's count reaching zero is timed, so the sweep keeps it a while (reports quoting it, a look by
    // the admin).
    r#"
    ALTER TABLE queue ADD COLUMN body_released INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE blobs ADD COLUMN unused_since INTEGER;
    CREATE TRIGGER blobs_unused AFTER UPDATE OF refcount ON blobs WHEN new.refcount <= 0 AND old.refcount > 0
    BEGIN UPDATE blobs SET unused_since = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = new.id; END;
    "#,
    // 8: IMAP's \Recent (RFC 3501 §2.3.2): the highest UID some session has already been shown as recent.
    // Messages above it are recent to the next session that selects the folder, and to that one only.
    // What was there before this migration is old.
    r#"
    ALTER TABLE folders ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
    UPDATE folders SET recent_uid = uidnext - 1;
    "#,
    // 9: the last UIDVALIDITY given to a folder of the user, so that a folder deleted and created again
    // (even within one second) gets a new one (RFC 3501 §2.3.1.1).
    r#"
    ALTER TABLE users ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0;
    UPDATE users SET last_uidvalidity = (SELECT coalesce(max(uidvalidity), 0) FROM folders WHERE user_id = users.id);
    "#,
    // 10: subscriptions are names, not folders (RFC 3501 §6.3.6): deleting a folder keeps its name
    // subscribed, and a subscribed name may have no folder (LIST shows it \NonExistent). The column
    // folders.subscribed is no longer read.
    r#"
    CREATE TABLE subscriptions (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        path    TEXT NOT NULL,
        PRIMARY KEY (user_id, path)
    );
    INSERT INTO subscriptions(user_id, path) SELECT user_id, path FROM folders WHERE subscribed = 1;
    "#,
    // 11: the expunge history QRESYNC reads (RFC 7162 §3.2.5.1: VANISHED (EARLIER)): each expunged UID with
    // the mod-sequence of its expunge, at most `mailbox::history::KEPT` per folder kept. Whatever was
    // expunged at or below `vanished_floor` is no longer listed (and nothing from before this migration):
    // a client resynchronising from there is told every UID it may know that is gone.
    r#"
    CREATE TABLE expunged (
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid       INTEGER NOT NULL,
        modseq    INTEGER NOT NULL,
        PRIMARY KEY (folder_id, uid)
    ) WITHOUT ROWID;
    CREATE INDEX expunged_by_modseq ON expunged(folder_id, modseq);
    ALTER TABLE folders ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE folders ADD COLUMN expunged_kept INTEGER NOT NULL DEFAULT 0;
    UPDATE folders SET vanished_floor = highestmodseq;
    "#,
    // 12: URLAUTH (RFC 4467): one random key per mailbox, made on first use; RESETKEY deletes it.
    r#"
    CREATE TABLE urlauth_keys (
        folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
        key       BLOB NOT NULL
    );
    "#,
    // 13: prune rules (the seed's "Pruning old messages automatically"): global ones (user_id NULL) and
    // each user's, and when Postroom first saw each message (arrived_at: kept across COPY and MOVE, never
    // an APPEND's client-given date nor the Date: header), which their Age column counts from.
    r#"
    CREATE TABLE prune_rules (
        id       INTEGER PRIMARY KEY,
        user_id  INTEGER REFERENCES users(id) ON DELETE CASCADE,
        folder   TEXT NOT NULL,
        age_days INTEGER NOT NULL,
        min_size INTEGER,
        seen     INTEGER,
        flagged  INTEGER,
        deleted  INTEGER NOT NULL DEFAULT 0,
        spam     INTEGER NOT NULL DEFAULT 0
    );
    ALTER TABLE messages ADD COLUMN arrived_at INTEGER;
    UPDATE messages SET arrived_at = received_at;
    "#,
    // 14: the message Recycle Bin: everything deleted (an expunge, POP3's DELE, a prune rule, the admin, a
    // deleted folder) waits here with its body still referenced, until restored or expired. A deleted
    // user's aliases are kept with the user's bin row, to come back with them. Bytes and messages pruned
    // per day, for the Message Store page's growth line; a count of rule changes, which start a pass.
    r#"
    CREATE TABLE recycled (
        id          INTEGER PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        folder      TEXT NOT NULL,
        uid         INTEGER NOT NULL,
        blob_id     INTEGER NOT NULL REFERENCES blobs(id),
        size        INTEGER NOT NULL,
        flags       INTEGER NOT NULL,
        keywords    TEXT NOT NULL,
        spam        INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        arrived_at  INTEGER,
        deleted_at  INTEGER NOT NULL,
        reason      TEXT NOT NULL
    );
    CREATE INDEX recycled_by_time ON recycled(deleted_at);
    CREATE INDEX recycled_by_user ON recycled(user_id, deleted_at);
    -- The sweep looks for bodies nothing uses; after an expiry there may be half a million of them among
    -- millions of live ones, so they get an index of their own.
    CREATE INDEX blobs_unused ON blobs(unused_since) WHERE refcount <= 0;
    CREATE INDEX prune_rules_by_user ON prune_rules(user_id);
    -- Users deleted before the bin had a retention time were kept for ever: their time starts now. A user
    -- whose purge has begun can no longer be restored.
    UPDATE users SET deleted_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE deleted_at IS NOT NULL;
    UPDATE recycle_bin SET deleted_at = CAST(strftime('%s', 'now') AS INTEGER);
    ALTER TABLE users ADD COLUMN purging INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE recycle_bin ADD COLUMN aliases TEXT NOT NULL DEFAULT '';
    CREATE TABLE prune_state (generation INTEGER NOT NULL);
    INSERT INTO prune_state VALUES (0);
    CREATE TRIGGER prune_rules_added AFTER INSERT ON prune_rules BEGIN UPDATE prune_state SET generation = generation + 1; END;
    CREATE TRIGGER prune_rules_changed AFTER UPDATE ON prune_rules BEGIN UPDATE prune_state SET generation = generation + 1; END;
    CREATE TRIGGER prune_rules_deleted AFTER DELETE ON prune_rules BEGIN UPDATE prune_state SET generation = generation + 1; END;
    CREATE TABLE pruned_daily (
        day      INTEGER PRIMARY KEY,
        messages INTEGER NOT NULL,
        bytes    INTEGER NOT NULL
    );
    "#,
    // 15: forwarding (the seed's "Store and Forward" and the LAN forwarding it builds on). LAN rules in
    // order; each user's Routing forward and Store-and-Forward target; a queue recipient's kind ('internet':
    // MX or smart host; 'lan': a LAN rule or a user's forward; 'store_forward') and, for the last two, the
    // server it goes to (JSON: host, port, login); a stored message's Store-and-Forward queue recipient.
    r#"
    CREATE TABLE lan_forward_rules (
        id         INTEGER PRIMARY KEY,
        position   INTEGER NOT NULL,
        addresses  TEXT NOT NULL,
        host       TEXT NOT NULL,
        port       INTEGER NOT NULL DEFAULT 25,
        username   TEXT NOT NULL DEFAULT '',
        password   TEXT NOT NULL DEFAULT '',
        plain_auth INTEGER NOT NULL DEFAULT 0,
        rewrite    TEXT NOT NULL DEFAULT ''
    );
    ALTER TABLE users ADD COLUMN forward_to TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN forward_keep INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN sf_target TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN sf_server TEXT NOT NULL DEFAULT '';
    ALTER TABLE queue_recipients ADD COLUMN kind TEXT NOT NULL DEFAULT 'internet';
    ALTER TABLE queue_recipients ADD COLUMN route TEXT;
    ALTER TABLE messages ADD COLUMN forward_id INTEGER;
    CREATE INDEX messages_forward ON messages(forward_id) WHERE forward_id IS NOT NULL;
    "#,
    // 16: a message's recipients found by the message. Recording each outcome asked whether any recipient of
    // that message still waits, which scanned every waiting recipient: quadratic in a long queue (10,000
    // held messages took minutes to record). Deleting a queue row (ON DELETE CASCADE) needs it too.
    r#"
    CREATE INDEX queue_recipients_message ON queue_recipients(queue_id, state);
    "#,
    // 17: DKIM keys of the local domains (auth::dkim): the current one per domain and algorithm, and the
    // retired ones (their records may still be published while signed mail travels).
    r#"
    CREATE TABLE dkim_keys (
        id          INTEGER PRIMARY KEY,
        domain      TEXT NOT NULL,
        selector    TEXT NOT NULL,
        algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
        public_key  TEXT NOT NULL,
        private_key BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        retired_at  INTEGER
    );
    CREATE UNIQUE INDEX dkim_keys_selector ON dkim_keys(domain, selector);
    CREATE UNIQUE INDEX dkim_keys_current ON dkim_keys(domain, algorithm) WHERE retired_at IS NULL;
    "#,
    // 18: what the spam filter keeps. The quarantine (messages held for the admin: the body, one blob
    // reference, and the users they were for); each user's allow and deny lists of senders (one per line);
    // the Bayesian classifier's token counts (a token is a 64-bit hash) and message totals, which bodies it
    // has learnt as what (so a message is never counted twice, and a change of mind moves it), and its queue
    // of lessons from users' Junk moves and keywords; greylisting's triplets and the client networks that
    // passed.
    r#"
    CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        blob_id     INTEGER NOT NULL REFERENCES blobs(id),
        size        INTEGER NOT NULL,
        sender      TEXT NOT NULL,
        from_header TEXT NOT NULL,
        subject     TEXT NOT NULL,
        peer        TEXT NOT NULL,
        score       INTEGER NOT NULL,
        reasons     TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX quarantine_by_time ON quarantine(received_at);
    CREATE TABLE quarantine_recipients (
        quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
        user_id       INTEGER NOT NULL,
        address       TEXT NOT NULL
    );
    CREATE INDEX quarantine_recipients_of ON quarantine_recipients(quarantine_id);
    ALTER TABLE users ADD COLUMN spam_allow TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN spam_deny TEXT NOT NULL DEFAULT '';
    CREATE TABLE bayes_tokens (
        hash INTEGER PRIMARY KEY,
        spam INTEGER NOT NULL DEFAULT 0,
        ham  INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE bayes_totals (spam INTEGER NOT NULL, ham INTEGER NOT NULL);
    INSERT INTO bayes_totals VALUES (0, 0);
    CREATE TABLE bayes_learnt (
        blob_id   INTEGER PRIMARY KEY,
        spam      INTEGER NOT NULL,
        learnt_at INTEGER NOT NULL
    );
    CREATE TABLE bayes_lessons (
        id      INTEGER PRIMARY KEY,
        blob_id INTEGER NOT NULL,
        spam    INTEGER NOT NULL
    );
    CREATE TABLE greylist (
        triplet  TEXT PRIMARY KEY,
        first_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE greylist_passed (
        network TEXT PRIMARY KEY,
        until   INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 19: the mail collector — collectors with their schedule and last result, and the unique ids of
    //     each remote mailbox's messages (keyed by protocol, server, port and login), written in the
    //     commit that delivers the message.
    r#"
    CREATE TABLE collectors (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE COLLATE NOCASE,
        enabled            INTEGER NOT NULL,
        priority           INTEGER NOT NULL,
        protocol           TEXT NOT NULL,
        host               TEXT NOT NULL,
        port               INTEGER NOT NULL,
        username           TEXT NOT NULL,
        password           TEXT NOT NULL,
        security           TEXT NOT NULL,
        login              TEXT NOT NULL,
        verify_certificate INTEGER NOT NULL,
        max_size           INTEGER NOT NULL,
        leave_days         INTEGER NOT NULL,
        deliver_to         TEXT NOT NULL,
        fallback           TEXT NOT NULL,
        extra_headers      TEXT NOT NULL,
        every_minutes      INTEGER NOT NULL,
        from_time          TEXT NOT NULL,
        until_time         TEXT NOT NULL,
        days               INTEGER NOT NULL,
        paused             INTEGER NOT NULL,
        forget_days        INTEGER NOT NULL,
        last_run_at        INTEGER,
        last_success_at    INTEGER,
        last_error         TEXT NOT NULL DEFAULT '',
        failures           INTEGER NOT NULL DEFAULT 0,
        last_collected     INTEGER NOT NULL DEFAULT 0,
        running_until      INTEGER NOT NULL DEFAULT 0,
        running_pid        INTEGER NOT NULL DEFAULT 0,
        folder             TEXT NOT NULL DEFAULT 'INBOX',
        move_to            TEXT NOT NULL DEFAULT '',
        bandwidth_pool     INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE collector_uidls (
        mailbox     TEXT NOT NULL,
        uidl        TEXT NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_listed INTEGER NOT NULL,
        collected   INTEGER NOT NULL,
        PRIMARY KEY (mailbox, uidl)
    ) WITHOUT ROWID;
    "#,
];

/// Applies every migration the database has not seen yet.
pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let applied: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if applied > known {
        return Err(StoreError::TooNew { found: applied, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_harmless_and_a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::TooNew { found: 999, .. })));
    }
}
