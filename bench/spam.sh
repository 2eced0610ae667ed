#!/usr/bin/env bash
# Spam filter benchmark (issue 17): what the checks cost on the SMTP path, how fast the built-in filter
# classifies next to Debian's rspamd, and how often each is wrong on a labelled set.
#
#   bench/spam.sh                  # 3 rounds of the SMTP part; COUNT=300 ham + 300 spam
#   ROUNDS=5 COUNT=500 bench/spam.sh
#   KEEP=1 bench/spam.sh           # keep the temporary folder (corpus, data folders, results)
#
# 1. SMTP cost: smtp-source (MESSAGES of SIZE bytes over SESSIONS sessions) into a fresh postroomd whose
#    loopback is a stranger (no trusted networks), three ways, interleaved per round:
#      off    - every check off (spam.spf/dkim/dmarc/arc/iprev/content/bayes false)
#      on     - the defaults: SPF, DKIM, DMARC, ARC, iprev, content rules, Bayes (untrained), against a
#               DNS server on loopback (bench/spam/dns.py: an SPF record for the sender, NXDOMAIN else)
#      rspamd - on, and every message also scanned by rspamd over checkv2 (spam.rspamd_url)
# 2. Classification speed and memory, one stream each: `postroomd spam test FILE...` over the test half of
#    the corpus (one process; its peak RSS) against `rspamc -n 1 FILE...` to rspamd's one normal worker
#    (messages per second from the client's wall time; rspamd's PSS summed over its processes after).
# 3. Accuracy on the labelled set (bench/spam/corpus.py; even-numbered files train, odd-numbered test):
#    Postroom's rules alone, Postroom's rules with Bayes trained on the training half (`spam learn`), and
#    rspamd's stock rules (its Bayes needs Redis, its network modules are off: both sides offline).
#    "Spam" is Postroom's mark threshold (5) and rspamd's "add header" action or above (6).
#
# Needs root, postfix (smtp-source), rspamd (apt-get install --no-install-recommends rspamd), sqlite3,
# python3, cargo. Touches nothing outside a temporary folder except target/release and
# /var/tmp/postroom-bench-rspamd-hs (rspamd's compiled-pattern cache, so later runs start in a second).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-300}
MESSAGES=${MESSAGES:-2000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
KEEP=${KEEP:-0}
DOMAIN=peer.test
SENDER=sender@bench.test

cd "$(dirname "$0")/.."
ROOT=$PWD
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
PATH=$PATH:/usr/sbin
for tool in smtp-source rspamd rspamc sqlite3 python3; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[[ $(id -u) == 0 ]] || die "run as root"

log "building postroomd (release)"
cargo build --release -p postroom-engine --bin postroomd >&2
POSTROOMD=${CARGO_TARGET_DIR:-$ROOT/target}/release/postroomd
REVISION="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' ':!BENCHMARKS.md' || echo '+uncommitted')"

BENCH=$(mktemp -d /tmp/postroom-spam-bench.XXXXXX)
POSTROOM_PID= RSPAMD_PID= DNS_PID=
cleanup() {
    set +e
    [[ -n $POSTROOM_PID ]] && kill "$POSTROOM_PID" 2>/dev/null && wait "$POSTROOM_PID" 2>/dev/null
    [[ -n $RSPAMD_PID ]] && kill -TERM -- "-$RSPAMD_PID" 2>/dev/null && wait "$RSPAMD_PID" 2>/dev/null
    [[ -n $DNS_PID ]] && kill "$DNS_PID" 2>/dev/null
    if [[ $KEEP == 1 ]]; then echo "bench: kept $BENCH" >&2; else rm -rf "$BENCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the corpus -----------------------------------------------------------------------------------------
python3 bench/spam/corpus.py "$BENCH/corpus" "$COUNT"
for kind in ham spam; do
    mkdir -p "$BENCH/train/$kind" "$BENCH/test/$kind"
    for f in "$BENCH/corpus/$kind"/*.eml; do
        n=$(basename "$f" .eml)
        if ((10#$n % 2 == 0)); then ln -s "$f" "$BENCH/train/$kind/"; else ln -s "$f" "$BENCH/test/$kind/"; fi
    done
done
TEST_FILES=("$BENCH"/test/ham/*.eml "$BENCH"/test/spam/*.eml)
log "corpus: $COUNT ham + $COUNT spam; training ${#TEST_FILES[@]} / testing ${#TEST_FILES[@]}"

# --- rspamd, offline, on a loopback port ------------------------------------------------------------------
RSPAMD_PORT=$(free_port)
R=$BENCH/rspamd
mkdir -p "$R"/local/{override.d,local.d} "$R"/{db,run,log} /var/tmp/postroom-bench-rspamd-hs
printf 'bind_socket = "127.0.0.1:%s";\ncount = 1;\n' "$RSPAMD_PORT" >"$R/local/override.d/worker-normal.inc"
echo 'enabled = false;' >"$R/local/override.d/worker-controller.inc"
echo 'enabled = false;' >"$R/local/override.d/worker-proxy.inc"
printf 'type = "console";\nlevel = "warning";\n' >"$R/local/override.d/logging.inc"
printf 'hs_cache_dir = "/var/tmp/postroom-bench-rspamd-hs/";\ndns {\n  nameserver = ["127.0.0.1:1"];\n  timeout = 0.1s;\n  retransmits = 1;\n}\n' >"$R/local/override.d/options.inc"
for m in rbl surbl emails asn spf dkim dmarc arc hfilter fuzzy_check mx_check phishing reputation whitelist dkim_signing \
         neural ratelimit greylist replies url_redirector once_received history_redis metadata_exporter clickhouse elastic; do
    echo 'enabled = false;' >"$R/local/local.d/$m.conf"
done
log "starting rspamd $(rspamd --version 2>/dev/null | head -1 | awk '{print $NF}') on 127.0.0.1:$RSPAMD_PORT"
setsid rspamd -f -i --var=LOCAL_CONFDIR="$R/local" --var=DBDIR="$R/db" --var=RUNDIR="$R/run" --var=LOGDIR="$R/log" 2>"$R/rspamd.log" &
RSPAMD_PID=$!
deadline=$((SECONDS + 120))
until curl -s --max-time 1 "http://127.0.0.1:$RSPAMD_PORT/ping" | grep -q pong; do
    ((SECONDS < deadline)) || die "rspamd did not answer /ping: $(tail -5 "$R/rspamd.log")"
    sleep 0.1
done
rspamd_pss_kb() { local t=0 p; for p in $(pgrep -g "$RSPAMD_PID"); do t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done; echo "$t"; }

# --- the DNS server for the checks --------------------------------------------------------------------
DNS_PORT=$(free_port)
python3 bench/spam/dns.py "$DNS_PORT" "bench.test=v=spf1 ip4:127.0.0.1 -all" &
DNS_PID=$!

postroom_dir() { # dir [settings...]: a fresh data folder with partner@peer.test, SMTP only
    local dir=$1; shift
    mkdir -p "$dir"
    "$POSTROOMD" --data-dir "$dir" settings set general.server_name "mx.$DOMAIN" smtp.trusted_networks "" \
        outbound.dns_server "127.0.0.1:$DNS_PORT" services.submission.enabled false services.smtps.enabled false \
        services.pop3.enabled false services.pop3s.enabled false services.imap.enabled false services.imaps.enabled false "$@" >/dev/null
    "$POSTROOMD" --data-dir "$dir" domain add "$DOMAIN" >/dev/null
    echo "bench-password-1" | "$POSTROOMD" --data-dir "$dir" user add partner --password-stdin >/dev/null
}

# --- 1. the SMTP path ---------------------------------------------------------------------------------
SMTP_RESULTS=$BENCH/smtp.tsv
printf 'round\tmode\tseconds\tmps\tdelivered\tpeak_kb\tcpu_s\n' >"$SMTP_RESULTS"
smtp_run() { # round mode
    local dir=$BENCH/smtp-$1-$2 port t0 t1 count peak cpu extra=()
    port=$(free_port)
    case $2 in
        off) extra=(spam.spf false spam.dkim false spam.dmarc false spam.arc false spam.iprev false spam.content false spam.bayes false) ;;
        on) ;;
        rspamd) extra=(spam.rspamd_url "http://127.0.0.1:$RSPAMD_PORT") ;;
    esac
    postroom_dir "$dir" services.smtp.bind_address 127.0.0.1 services.smtp.port "$port" ${extra[@]+"${extra[@]}"}
    "$POSTROOMD" --data-dir "$dir" serve 2>"$dir/serve.log" &
    POSTROOM_PID=$!
    wait_for_greeting "$port"
    t0=$(now)
    timeout 600 smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t "partner@$DOMAIN" "127.0.0.1:$port" || die "smtp-source failed ($2)"
    t1=$(now)
    count=$(sqlite3 "$dir/postroom.db" 'select count(*) from messages')
    peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$POSTROOM_PID/status")
    cpu=$(awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$POSTROOM_PID/stat")
    kill "$POSTROOM_PID"; wait "$POSTROOM_PID" || true; POSTROOM_PID=
    local dt mps
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    mps=$(awk -v n="$MESSAGES" -v t="$dt" 'BEGIN {printf "%.1f", n / t}')
    printf '%s\t%s\t%.3f\t%s\t%s\t%s\t%s\n' "$1" "$2" "$dt" "$mps" "$count" "$peak" "$cpu" >>"$SMTP_RESULTS"
    log "round $1 $2: ${mps} msg/s, $count of $MESSAGES delivered, peak $((peak / 1024)) MB, cpu ${cpu}s"
    [[ $count == "$MESSAGES" ]] || die "round $1 $2: $count of $MESSAGES delivered"
    [[ $KEEP == 1 ]] || rm -rf "$dir"
}
log "SMTP: smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE, $ROUNDS rounds of off / on / rspamd"
for ((r = 1; r <= ROUNDS; r++)); do
    modes=(off on rspamd); ((r % 2)) || modes=(rspamd on off)
    for m in "${modes[@]}"; do smtp_run "$r" "$m"; done
done

# --- 2 and 3. classification --------------------------------------------------------------------------
CLS=$BENCH/classify
postroom_dir "$CLS/rules" spam.bayes false
postroom_dir "$CLS/bayes"
"$POSTROOMD" --data-dir "$CLS/bayes" spam learn --spam "$BENCH"/train/spam/*.eml >&2
"$POSTROOMD" --data-dir "$CLS/bayes" spam learn --ham "$BENCH"/train/ham/*.eml >&2

# postroomd spam test: "FILE: score N (VERDICT; ...)"; spam = any verdict but "not spam".
postroom_classify() { # dir out
    local t0 t1
    t0=$(now)
    /usr/bin/time -f '%M' -o "$2.rss" "$POSTROOMD" --data-dir "$1" spam test "${TEST_FILES[@]}" >"$2" || true
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >"$2.time"
    sed -E 's/^(.*): score (-?[0-9]+) \(([^;]+);.*$/\1\t\2\t\3/' "$2" | awk -F'\t' '{print $1 "\t" ($3 == "not spam" ? "ham" : "spam")}' >"$2.labels"
}
rspamd_classify() { # out
    local t0 t1
    t0=$(now)
    rspamc -h "127.0.0.1:$RSPAMD_PORT" -n 1 -i 192.0.2.10 --helo mail.example.org --hostname unknown "${TEST_FILES[@]}" >"$1"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' >"$1.time"
    awk '/^Results for file: / {f = $4} /^Action: / {sub(/^Action: /, ""); print f "\t" (($0 == "no action" || $0 == "greylist") ? "ham" : "spam")}' "$1" >"$1.labels"
}
postroom_classify "$CLS/rules" "$CLS/rules.out"
postroom_classify "$CLS/bayes" "$CLS/bayes.out"
rspamd_classify "$CLS/rspamd.out"
RSPAMD_PSS=$(rspamd_pss_kb)

rates() { # labels-file: "FP n/N (x%), FN n/N (y%)"
    awk -F'\t' '{truth = ($1 ~ /\/ham\//) ? "ham" : "spam"; n[truth]++; if (truth != $2) wrong[truth]++}
        END {printf "false positives %d/%d (%.1f%%), false negatives %d/%d (%.1f%%)", wrong["ham"], n["ham"], 100 * wrong["ham"] / n["ham"], wrong["spam"], n["spam"], 100 * wrong["spam"] / n["spam"]}' "$1"
}
classified() { awk -v n="${#TEST_FILES[@]}" -v t="$(cat "$1.time")" 'BEGIN {printf "%.0f msg/s (%.2f s)", n / t, t}'; }
for out in rules bayes rspamd; do
    lines=$(wc -l <"$CLS/$out.out.labels")
    [[ $lines == "${#TEST_FILES[@]}" ]] || die "$out classified $lines of ${#TEST_FILES[@]} files"
done

echo
echo "Postroom $REVISION, rspamd $(rspamd --version 2>/dev/null | head -1 | awk '{print $NF}'), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "SMTP path (median msg/s of $ROUNDS rounds; peak RSS of postroomd)"
for m in off on rspamd; do
    awk -F'\t' -v m="$m" '$2 == m {print $4 "\t" $6 "\t" $7}' "$SMTP_RESULTS" | sort -n | awk -v m="$m" '{r[NR] = $1; p[NR] = $2; c[NR] = $3} END {i = int((NR + 1) / 2); printf "  %-7s %8.1f msg/s  peak %.1f MB  cpu %.2f s\n", m, r[i], p[i] / 1024, c[i]}'
done
echo
echo "Classification of ${#TEST_FILES[@]} messages, one stream"
echo "  postroom rules        $(classified "$CLS/rules.out")  peak RSS $(($(tail -1 "$CLS/rules.out.rss") / 1024)) MB"
echo "  postroom rules+bayes  $(classified "$CLS/bayes.out")  peak RSS $(($(tail -1 "$CLS/bayes.out.rss") / 1024)) MB"
echo "  rspamd (rspamc)       $(classified "$CLS/rspamd.out")  PSS of its processes $((RSPAMD_PSS / 1024)) MB"
echo
echo "Accuracy on the test half"
echo "  postroom rules        $(rates "$CLS/rules.out.labels")"
echo "  postroom rules+bayes  $(rates "$CLS/bayes.out.labels")"
echo "  rspamd                $(rates "$CLS/rspamd.out.labels")"
