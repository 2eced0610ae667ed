#!/usr/bin/env bash
# Mail Collector benchmark (issue 19): collecting a mailbox from Dovecot over POP3 on loopback, Postroom's
# collector against fetchmail delivering the same mailbox into Postroom over SMTP (fetchmail's usual setup).
#
#   bench/collector/run.sh                          # 3 rounds of 5,000 x 20 KiB
#   ROUNDS=1 MESSAGES=500 bench/collector/run.sh    # a quick check
#   KEEP=1 bench/collector/run.sh                   # keep the temporary folder
#
# Dovecot (Debian's, its own config in a temporary folder, loopback POP3 port, a passwd-file user) plays
# the ISP. Before every run its mailbox is filled afresh with MESSAGES Maildir files of SIZE bytes (each a
# different message), so both collectors start from the same mailbox, and every run uses a fresh Postroom
# data folder with the user partner. Rounds alternate which goes first.
#   postroom - `postroomd collector run isp` (POP3, USER/PASS, delete after download), timed from start to
#              exit; peak RSS of that process (/usr/bin/time).
#   fetchmail - `fetchmail -f RC` (poll 127.0.0.1 with proto pop3, no keep, smtphost 127.0.0.1/PORT of a
#              running `postroomd serve`, one message per SMTP transaction as fetchmail does), timed from start
#              to exit; peak RSS of fetchmail, and of the postroomd server that took the mail.
# Both runs must leave Dovecot's mailbox empty and put every message in partner's mailbox.
# Then a bandwidth-pool check: POOL_BYTES per second in pool 1, POOL_MESSAGES collected through it; the
# achieved rate next to the pool's.
#
# Needs root, dovecot-pop3d, fetchmail, sqlite3, a built release postroomd (cargo build --release).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-5000}
SIZE=${SIZE:-20480}
KEEP=${KEEP:-0}
POOL_BYTES=${POOL_BYTES:-2000000}
POOL_MESSAGES=${POOL_MESSAGES:-1000}

cd "$(dirname "$0")/../.."
ROOT=$PWD
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "== $(date +%T) $*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
for tool in dovecot fetchmail sqlite3 openssl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[[ $(id -u) == 0 ]] || die "run as root (Dovecot)"
log "building postroomd (release)"
cargo build --release -p postroom-engine --bin postroomd >&2
POSTROOMD=${CARGO_TARGET_DIR:-$ROOT/target}/release/postroomd
REVISION="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' ':!BENCHMARKS.md' || echo '+uncommitted')"

BENCH=$(mktemp -d /tmp/postroom-collector-bench.XXXXXX)
chmod 755 "$BENCH"
DOVECOT_PID= SERVER_PID=
cleanup() {
    set +e
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ -n $DOVECOT_PID ]] && kill "$DOVECOT_PID" 2>/dev/null && wait "$DOVECOT_PID" 2>/dev/null
    if [[ $KEEP == 1 ]]; then echo "bench: kept $BENCH" >&2; else rm -rf "$BENCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Dovecot ----------------------------------------------------------------------------------------------
D=$BENCH/dovecot
mkdir -p "$D"/{run,state,mail}
chmod 755 "$D" "$D"/{run,state,mail}
chown mail:mail "$D/mail"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pop.isp.test -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
echo 'office:{PLAIN}isp-secret' >"$D/users"
POP3_PORT=$(free_port)
cat >"$D/dovecot.conf" <<CONF
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:$D/mail/%u
first_valid_uid = $(id -u mail)
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/users
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$D/mail/%u
}
service pop3-login {
  inet_listener pop3 {
    port = $POP3_PORT
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CONF
dovecot -F -c "$D/dovecot.conf" &
DOVECOT_PID=$!
wait_for_greeting "$POP3_PORT" "+OK"

# Fills the ISP's mailbox with $1 different messages of SIZE bytes.
fill() {
    rm -rf "$D/mail/office"
    python3 - "$D/mail/office" "$1" "$SIZE" <<'PY'
import os, sys
base, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for sub in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(base, sub), exist_ok=True)
line = ("The quick brown fox jumps over the lazy dog. " * 2)[:76] + "\r\n"
for i in range(count):
    head = f"From: shop{i}@far.example\r\nTo: partner@peer.test\r\nSubject: order {i}\r\nMessage-ID: <o{i}@far.example>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\r\n"
    body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 2)] + "\r\n"
    with open(os.path.join(base, "new", f"{i}.bench"), "w", newline="") as f:
        f.write(head + body)
PY
    chown -R mail:mail "$D/mail/office"
}
isp_count() { find "$D/mail/office/new" "$D/mail/office/cur" -type f 2>/dev/null | wc -l; }

postroom_dir() { # dir smtp-port
    mkdir -p "$1"
    "$POSTROOMD" --data-dir "$1" settings set general.server_name mx.peer.test services.smtp.bind_address 127.0.0.1 services.smtp.port "$2" \
        services.submission.enabled false services.smtps.enabled false services.pop3.enabled false services.pop3s.enabled false \
        services.imap.enabled false services.imaps.enabled false >/dev/null
    "$POSTROOMD" --data-dir "$1" domain add peer.test >/dev/null
    echo "bench-password-1" | "$POSTROOMD" --data-dir "$1" user add partner --password-stdin >/dev/null
}
delivered() { sqlite3 "$1/postroom.db" 'select count(*) from messages'; }

RESULTS=$BENCH/results.tsv
printf 'round\tpeer\tseconds\tmps\tpeak_kb\tserver_peak_kb\n' >"$RESULTS"
record() { # round peer seconds peak server_peak count
    [[ $6 == "$MESSAGES" ]] || die "round $1 $2: $6 of $MESSAGES delivered"
    [[ $(isp_count) == 0 ]] || die "round $1 $2: $(isp_count) left at the ISP"
    local mps
    mps=$(awk -v n="$MESSAGES" -v t="$3" 'BEGIN {printf "%.1f", n / t}')
    printf '%s\t%s\t%.3f\t%s\t%s\t%s\n' "$1" "$2" "$3" "$mps" "$4" "$5" >>"$RESULTS"
    log "round $1 $2: ${3}s, $mps msg/s, peak $(($4 / 1024)) MB${5:+, server $(($5 / 1024)) MB}"
}

run_postroom() { # round
    local dir=$BENCH/p-$1 t0 t1
    postroom_dir "$dir" "$(free_port)"
    echo isp-secret | "$POSTROOMD" --data-dir "$dir" collector add isp --protocol pop3 --server "127.0.0.1:$POP3_PORT" --user office \
        --password-stdin --security none --auth user --to partner >/dev/null
    fill "$MESSAGES"
    t0=$(now)
    /usr/bin/time -f '%M' -o "$dir/rss" "$POSTROOMD" --data-dir "$dir" collector run isp >"$dir/out" 2>"$dir/err" || die "collector run failed: $(cat "$dir/err")"
    t1=$(now)
    record "$1" postroom "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$(tail -1 "$dir/rss")" "" "$(delivered "$dir")"
    [[ $KEEP == 1 ]] || rm -rf "$dir"
}

run_fetchmail() { # round
    local dir=$BENCH/f-$1 port t0 t1 server_peak
    port=$(free_port)
    postroom_dir "$dir" "$port"
    "$POSTROOMD" --data-dir "$dir" serve 2>"$dir/serve.log" &
    SERVER_PID=$!
    wait_for_greeting "$port"
    cat >"$dir/fetchmailrc" <<RC
set no syslog
set logfile $dir/fetchmail.log
poll 127.0.0.1 service $POP3_PORT proto pop3 auth password
  user "office" there with password "isp-secret" is "partner@peer.test" here
  nokeep fetchall sslproto '' smtphost 127.0.0.1/$port smtpaddress peer.test
RC
    chmod 600 "$dir/fetchmailrc"
    fill "$MESSAGES"
    t0=$(now)
    HOME=$dir /usr/bin/time -f '%M' -o "$dir/rss" fetchmail -f "$dir/fetchmailrc" --nodetach --idfile "$dir/fetchids" >/dev/null 2>"$dir/err" || die "fetchmail failed: $(tail -3 "$dir/err")"
    t1=$(now)
    server_peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
    kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
    record "$1" fetchmail "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$(tail -1 "$dir/rss")" "$server_peak" "$(delivered "$dir")"
    [[ $KEEP == 1 ]] || rm -rf "$dir"
}

log "Postroom $REVISION, fetchmail $(fetchmail --version 2>/dev/null | head -1 | awk '{print $5}'), Dovecot $(dovecot --version | awk '{print $1}'), $(nproc) CPUs"
log "$ROUNDS rounds of $MESSAGES x $SIZE bytes from Dovecot POP3 on 127.0.0.1:$POP3_PORT"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then run_postroom "$r"; run_fetchmail "$r"; else run_fetchmail "$r"; run_postroom "$r"; fi
done

# --- the bandwidth pool --------------------------------------------------------------------------------------
dir=$BENCH/pool
postroom_dir "$dir" "$(free_port)"
"$POSTROOMD" --data-dir "$dir" settings set bandwidth.pools "[{\"id\":1,\"name\":\"ISP line\",\"allowed\":$POOL_BYTES}]" >/dev/null
echo isp-secret | "$POSTROOMD" --data-dir "$dir" collector add pooled --protocol pop3 --server "127.0.0.1:$POP3_PORT" --user office \
    --password-stdin --security none --auth user --to partner --bandwidth-pool 1 >/dev/null
fill "$POOL_MESSAGES"
bytes=$(du -sb "$D/mail/office/new" | cut -f1)
t0=$(now)
"$POSTROOMD" --data-dir "$dir" collector run pooled >/dev/null
t1=$(now)
POOL_RATE=$(awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN {printf "%.0f", b / (c - a)}')
log "pool 1 at $POOL_BYTES B/s: $POOL_MESSAGES messages ($bytes bytes) in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s: $POOL_RATE B/s"

echo
echo "Postroom $REVISION, $(nproc) CPUs; $MESSAGES x $SIZE bytes from Dovecot POP3 over loopback (median of $ROUNDS)"
for peer in postroom fetchmail; do
    awk -F'\t' -v p="$peer" '$2 == p {print $4 "\t" $3 "\t" $5 "\t" $6}' "$RESULTS" | sort -n | awk -v p="$peer" '{m[NR] = $1; t[NR] = $2; k[NR] = $3; s[NR] = $4}
        END {i = int((NR + 1) / 2); printf "  %-10s %8.1f msg/s  %7.2f s  peak %.1f MB%s\n", p, m[i], t[i], k[i] / 1024, (s[i] != "" ? sprintf(" (+ postroomd server %.1f MB)", s[i] / 1024) : "")}'
done
echo "  rounds:"; tail -n +2 "$RESULTS" | awk -F'\t' '{printf "    %s %-10s %s msg/s\n", $1, $2, $4}'
echo "  bandwidth pool: allowed $POOL_BYTES B/s, achieved $POOL_RATE B/s"
