#!/usr/bin/env bash
# Forwarding benchmark (issue 16): Postroom forwarding to Postfix over loopback, side by side with Postfix
# relaying the same load to the same target.
#
#   bench/forward/run.sh                                  # 3 rounds of 2,000 x 4 KiB, then 10,000 held
#   ROUNDS=1 MESSAGES=200 HELD=500 bench/forward/run.sh   # a quick check
#   POSTROOMD=target/debug/postroomd bench/forward/run.sh # which binary (default: see below)
#   KEEP=1 bench/forward/run.sh                           # keep the temporary folder (data dirs, maillogs)
#   PARALLEL=10 bench/forward/run.sh                      # outbound.max_parallel (default: left at its default)
#
# Three servers on loopback ports, all in a temporary folder under /tmp:
#   TARGET   - a private Postfix instance (own config, queue and maildir; chroot off) that takes mail for
#              partner@peer.test into a maildir with the virtual agent: the destination of both.
#   RELAY    - a second private Postfix instance with relay_domains = peer.test and a transport map sending
#              peer.test to smtp:[127.0.0.1]:TARGET_PORT: the peer Postroom is compared with.
#   Postroom - a fresh data folder with only SMTP enabled and a LAN forwarding rule *@peer.test ->
#              127.0.0.1:TARGET_PORT; `postroomd serve`. outbound.max_parallel is left at its default.
#
# Measured:
#   1. throughput - smtp-source -s SESSIONS -m MESSAGES -l SIZE to Postroom's port, and to RELAY's port;
#      the time from starting smtp-source until TARGET's maildir new/ holds MESSAGES more files (the end is
#      new/'s mtime, the last rename into it). messages/s each and the ratio Postroom/Postfix, median over
#      ROUNDS rounds; rounds alternate which goes first.
#   2. held queue - TARGET stopped; HELD messages sent to Postroom (and, separately, to RELAY); wait until
#      every one is queued and has been tried at least once (Postroom; Postfix: until its queue holds them all
#      in deferred/ or a few seconds passed); TARGET started; the queue flushed (`postroomd queue retry --all`,
#      `postqueue -f`); the time from the flush until TARGET's maildir holds HELD more and the queue is empty.
#
# Needs root (Postfix's master runs as root), postfix (smtp-source is in that package), sqlite3 and a built
# postroomd. Builds nothing. Touches nothing outside its temporary folder.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-2000}
HELD=${HELD:-10000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}   # seconds before a wait counts as failed
KEEP=${KEEP:-0}
SENDER=sender@bench.test
DOMAIN=peer.test
RECIPIENT=partner@$DOMAIN

cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "== $(date +%T) $*" >&2; }

# --- prerequisites --------------------------------------------------------------------------------------
PATH=$PATH:/usr/sbin
for tool in smtp-source postfix postqueue sqlite3 script; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install postfix sqlite3 util-linux)"
done
[[ $(id -u) == 0 ]] || die "run as root: Postfix's master process must start as root"
id postfix >/dev/null 2>&1 || die "no 'postfix' user; install the postfix package"
SMTP_SOURCE=$(command -v smtp-source)

# The binary: $POSTROOMD, else the newer of target/release and target/debug.
if [[ -z ${POSTROOMD:-} ]]; then
    POSTROOMD=$ROOT/target/release/postroomd
    if [[ -x $ROOT/target/debug/postroomd && ( ! -x $POSTROOMD || $ROOT/target/debug/postroomd -nt $POSTROOMD ) ]]; then
        POSTROOMD=$ROOT/target/debug/postroomd
    fi
fi
[[ -x $POSTROOMD ]] || die "no postroomd at $POSTROOMD (build it, or set POSTROOMD)"
"$POSTROOMD" queue retry --help 2>&1 | grep -q -- --all || die "$POSTROOMD has no 'queue retry --all'; rebuild it"

# --- workspace ------------------------------------------------------------------------------------------
BENCH=$(mktemp -d /tmp/forward-bench.XXXX)
chmod 755 "$BENCH"   # the postfix user must traverse it
TARGET=$BENCH/target
RELAY=$BENCH/relay
PR=$BENCH/postroom
POSTROOM_PID=
UP_TARGET=0
UP_RELAY=0

cleanup() {
    set +e
    if [[ -n $POSTROOM_PID ]]; then kill "$POSTROOM_PID" 2>/dev/null; wait "$POSTROOM_PID" 2>/dev/null; fi
    ((UP_RELAY)) && pf_stop "$RELAY"
    ((UP_TARGET)) && pf_stop "$TARGET"
    if [[ $KEEP == 1 ]]; then echo "bench: kept $BENCH" >&2; else rm -rf "$BENCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > a ? b - a : 0.001)}'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {printf "%.1f", n / t}'; }

# --- Postfix instances ----------------------------------------------------------------------------------
TARGET_PORT=$(free_port)
RELAY_PORT=$(free_port)
PR_PORT=$(free_port)
PF_UID=$(id -u postfix)
PF_GID=$(id -g postfix)

pf_setup() { # dir port hostname extra-main.cf
    local dir=$1 port=$2
    mkdir -p "$dir"/{conf,queue,data,mail}
    chown postfix: "$dir"/{data,mail}
    chmod 755 "$dir"
    # The stock master.cf with the smtpd on our port, and chroot off everywhere.
    awk -v port="$port" '
        /^smtp +inet / { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
        /^[a-z]/ && NF >= 8 { $5 = "n" }
        { print }' /etc/postfix/master.cf >"$dir/conf/master.cf"
    grep -q "^127.0.0.1:$port inet" "$dir/conf/master.cf" || die "/etc/postfix/master.cf has no 'smtp inet' line"
    cat >"$dir/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
myhostname = $3
mydomain = bench.test
myorigin = bench.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
alias_maps =
alias_database =
smtp_tls_security_level = none
smtpd_tls_security_level = none
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
$4
EOF
}

pf_setup "$TARGET" "$TARGET_PORT" "mx.$DOMAIN" "virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $TARGET/mail
virtual_mailbox_maps = inline:{ {$RECIPIENT=partner/} }
virtual_uid_maps = static:$PF_UID
virtual_gid_maps = static:$PF_GID"
MAILDIR=$TARGET/mail/partner
mkdir -p "$MAILDIR"/{new,cur,tmp}
chown -R postfix: "$MAILDIR"

pf_setup "$RELAY" "$RELAY_PORT" "relay.bench.test" "relay_domains = $DOMAIN
transport_maps = inline:{ {$DOMAIN=smtp:[127.0.0.1]:$TARGET_PORT} }"

pf_cmd() { script -qec "postfix -c $1/conf $2" /dev/null; }
pf_master_pid() { [[ -f $1/queue/pid/master.pid ]] && tr -dc 0-9 <"$1/queue/pid/master.pid"; }
pf_start() { # dir port
    local out
    out=$(pf_cmd "$1" start 2>&1) || die "postfix start ($1) failed: $out"
    [[ $1 == "$TARGET" ]] && UP_TARGET=1 || UP_RELAY=1
    wait_for_greeting "$2"
}
pf_stop() { # dir
    local pid
    pid=$(pf_master_pid "$1" || true)
    pf_cmd "$1" stop >/dev/null 2>&1 || true
    [[ $1 == "$TARGET" ]] && UP_TARGET=0 || UP_RELAY=0
    if [[ -n $pid ]]; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
        echo "bench: postfix master $pid ($1) still running after stop" >&2
    fi
}
pf_queue_files() { find "$1/queue"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }
pf_deferred_files() { find "$1/queue/deferred" -type f 2>/dev/null | wc -l; }
maildir_count() { find "$MAILDIR/new" -maxdepth 1 -type f | wc -l; }
maildir_clear() { find "$MAILDIR/new" -maxdepth 1 -type f -delete; }

# --- Postroom -------------------------------------------------------------------------------------------
mkdir -p "$PR"
"$POSTROOMD" --data-dir "$PR" settings set \
    general.server_name mail.bench.test \
    services.smtp.bind_address 127.0.0.1 services.smtp.port "$PR_PORT" \
    services.submission.enabled false services.smtps.enabled false \
    services.pop3.enabled false services.pop3s.enabled false \
    services.imap.enabled false services.imaps.enabled false >/dev/null
"$POSTROOMD" --data-dir "$PR" lan-forward add --address "*@$DOMAIN" --server "127.0.0.1:$TARGET_PORT" >/dev/null
[[ -n ${PARALLEL:-} ]] && "$POSTROOMD" --data-dir "$PR" settings set outbound.max_parallel "$PARALLEL" >/dev/null
MAX_PARALLEL=$("$POSTROOMD" --data-dir "$PR" settings list | awk -F' = ' '$1 == "outbound.max_parallel" {print $2}')
RETRY_MIN=$("$POSTROOMD" --data-dir "$PR" settings list | awk -F' = ' '$1 == "outbound.forward_retry_minutes" {print $2}')

postroom_start() {
    RUST_LOG=${RUST_LOG:-info} "$POSTROOMD" --data-dir "$PR" serve 2>>"$PR/serve.log" &
    POSTROOM_PID=$!
    wait_for_greeting "$PR_PORT"
}
# Recipients still waiting (not sent, not failed), and those tried at least once; read straight from the
# database so a poll stays cheap with 10,000 rows (`queue list --json` is checked once per run).
pr_sql() { sqlite3 -cmd '.timeout 5000' "$PR/postroom.db" "$1"; }
pr_waiting() { pr_sql "select count(*) from queue_recipients where state = 'queued'"; }
pr_tried() { pr_sql "select count(*) from queue_recipients where state = 'queued' and attempts >= 1"; }
pr_failed() { pr_sql "select count(*) from queue_recipients where state = 'failed'"; }
pr_list_count() { "$POSTROOMD" --data-dir "$PR" queue list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

smtp_source() { # port count
    timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$SESSIONS" -m "$2" -l "$SIZE" -f "$SENDER" -t "$RECIPIENT" "127.0.0.1:$1"
}

FAILURES=0
fail() { echo "bench: FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }

# Waits until the maildir holds $1 files (and, for Postroom, its queue is empty); sets T_END to the end time
# (new/'s mtime: new/ changes only when a message is renamed into it) or fails after RUN_TIMEOUT.
T_END=
wait_arrived() { # count server
    local deadline=$((SECONDS + RUN_TIMEOUT)) count
    while :; do
        count=$(maildir_count)
        if ((count >= $1)); then
            [[ $2 != postroom ]] || (($(pr_waiting) == 0)) && break
        fi
        ((SECONDS < deadline)) || { fail "$2: only $count of $1 messages arrived in ${RUN_TIMEOUT}s"; break; }
        sleep 0.05
    done
    T_END=$(stat -c %.9Y "$MAILDIR/new")
}

RESULTS=$BENCH/results.tsv
printf 'test\tround\tserver\tseconds\tmsg_per_s\tarrived\n' >"$RESULTS"

# --- 1. throughput --------------------------------------------------------------------------------------
run_throughput() { # round server
    local port t0 t_end rc=0 dt count
    [[ $2 == postroom ]] && port=$PR_PORT || port=$RELAY_PORT
    maildir_clear
    t0=$(now)
    smtp_source "$port" "$MESSAGES" || rc=$?
    ((rc == 0)) || fail "smtp-source to $2 exited with $rc"
    wait_arrived "$MESSAGES" "$2"; t_end=$T_END
    sleep 0.5
    count=$(maildir_count)
    dt=$(elapsed "$t0" "$t_end")
    printf 'throughput\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$dt" "$(rate "$MESSAGES" "$dt")" "$count" >>"$RESULTS"
    log "round $1 $2: $MESSAGES in ${dt}s ($(rate "$MESSAGES" "$dt")/s), $count arrived"
    ((count == MESSAGES)) || fail "round $1 $2: $count messages arrived, expected $MESSAGES"
}

# --- 2. held queue --------------------------------------------------------------------------------------
run_held_postroom() {
    local rc=0 deadline t0 t_end count listed
    maildir_clear
    pf_stop "$TARGET"
    log "held Postroom: TARGET down, sending $HELD"
    smtp_source "$PR_PORT" "$HELD" || rc=$?
    ((rc == 0)) || fail "smtp-source to postroom (held) exited with $rc"
    deadline=$((SECONDS + 300))
    while (($(pr_tried) < HELD)) && ((SECONDS < deadline)); do sleep 1; done
    listed=$(pr_list_count)
    log "held Postroom: queue list shows $listed, tried at least once: $(pr_tried), failed: $(pr_failed)"
    ((listed == HELD)) || fail "postroom queue holds $listed recipients, expected $HELD"
    pf_start "$TARGET" "$TARGET_PORT"
    t0=$(now)
    "$POSTROOMD" --data-dir "$PR" queue retry --all >&2
    wait_arrived "$HELD" postroom; t_end=$T_END
    count=$(maildir_count)
    record_held postroom "$(elapsed "$t0" "$t_end")" "$count"
}

run_held_postfix() {
    local rc=0 deadline t0 t_end count
    maildir_clear
    pf_stop "$TARGET"
    log "held Postfix: TARGET down, sending $HELD"
    smtp_source "$RELAY_PORT" "$HELD" || rc=$?
    ((rc == 0)) || fail "smtp-source to relay (held) exited with $rc"
    deadline=$((SECONDS + 300))
    while (($(pf_deferred_files "$RELAY") < HELD)) && ((SECONDS < deadline)); do sleep 1; done
    log "held Postfix: $(pf_queue_files "$RELAY") in the queue, $(pf_deferred_files "$RELAY") deferred"
    pf_start "$TARGET" "$TARGET_PORT"
    t0=$(now)
    postqueue -c "$RELAY/conf" -f
    wait_arrived "$HELD" postfix; t_end=$T_END
    count=$(maildir_count)
    record_held postfix "$(elapsed "$t0" "$t_end")" "$count"
}

record_held() { # server seconds count
    printf 'held\t-\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(rate "$HELD" "$2")" "$3" >>"$RESULTS"
    log "held $1: $HELD in ${2}s from the flush ($(rate "$HELD" "$2")/s), $3 arrived"
    (($3 == HELD)) || fail "held $1: $3 messages arrived, expected $HELD"
}

# --- run ------------------------------------------------------------------------------------------------
log "Postroom $POSTROOMD ($(stat -c %y "$POSTROOMD" | cut -d. -f1)), Postfix $(postconf -d -h mail_version), $(nproc) CPUs"
log "ports: TARGET $TARGET_PORT, RELAY $RELAY_PORT, Postroom $PR_PORT; outbound.max_parallel = $MAX_PARALLEL"
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
pf_start "$TARGET" "$TARGET_PORT"
pf_start "$RELAY" "$RELAY_PORT"
postroom_start

for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        run_throughput "$r" postroom
        run_throughput "$r" postfix
    else
        run_throughput "$r" postfix
        run_throughput "$r" postroom
    fi
done
run_held_postroom
run_held_postfix

# --- report ---------------------------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
column_of() { awk -F'\t' -v t="$1" -v s="$2" -v c="$3" 'NR > 1 && $1 == t && $3 == s {print $c}' "$RESULTS"; }
pr_tp=$(column_of throughput postroom 5 | median)
pf_tp=$(column_of throughput postfix 5 | median)
pr_held=$(column_of held postroom 4 | median)
pf_held=$(column_of held postfix 4 | median)
ERRORS_LOG=$PR/logs/errors.log
ERROR_LINES=$( [[ -f $ERRORS_LOG ]] && wc -l <"$ERRORS_LOG" || echo 0)
# While TARGET is down every held recipient logs one "will retry ... Connection refused": expected.
OTHER_ERRORS=$( [[ -f $ERRORS_LOG ]] && grep -cv 'will retry.*Connection refused' "$ERRORS_LOG" || true)

{
    echo
    echo "Forwarding over loopback: Postroom (LAN forward) vs Postfix (relay_domains + transport), same Postfix target"
    echo "Postroom $POSTROOMD, Postfix $(postconf -d -h mail_version), $(nproc) x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "Postroom outbound.max_parallel = $MAX_PARALLEL; Postfix default_destination_concurrency_limit = $(postconf -c "$RELAY/conf" -h default_destination_concurrency_limit)"
    echo "load average before the first run: $LOAD_BEFORE"
    echo
    awk -F'\t' 'NR == 1 {printf "%-10s %-5s %-8s %10s %10s %8s\n", "test", "round", "server", "seconds", "msg/s", "arrived"; next}
        {printf "%-10s %-5s %-8s %10.3f %10.1f %8s\n", $1, $2, $3, $4, $5, $6}' "$RESULTS"
    echo
    echo "                                               Postroom    Postfix   Postroom/Postfix"
    printf 'throughput, %5s x %s B, median msg/s     %9.1f  %9.1f   %5.2fx\n' "$MESSAGES" "$SIZE" "$pr_tp" "$pf_tp" \
        "$(awk -v a="$pr_tp" -v b="$pf_tp" 'BEGIN {print a / b}')"
    printf 'held %6s: target up -> queue empty, s      %9.1f  %9.1f   %5.2fx (time; lower is better)\n' "$HELD" "$pr_held" "$pf_held" \
        "$(awk -v a="$pr_held" -v b="$pf_held" 'BEGIN {print a / b}')"
    echo "Postroom errors.log: $ERROR_LINES lines, ${OTHER_ERRORS:-0} other than the expected 'will retry ... Connection refused'; recipients failed: $(pr_failed)"
} | tee "$BENCH/summary.txt"

if ((${OTHER_ERRORS:-0})); then
    echo "--- unexpected lines in $ERRORS_LOG (first 10):" >&2
    grep -v 'will retry.*Connection refused' "$ERRORS_LOG" | head -10 >&2
fi
if ((FAILURES)); then
    echo "FAILED: $FAILURES problem(s), see above" >&2
    exit 1
fi
