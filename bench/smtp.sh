#!/usr/bin/env bash
# SMTP inbound benchmark: Postroom against Postfix, driven by Postfix's smtp-source.
#
#   bench/smtp.sh                 # 3 rounds
#   ROUNDS=5 bench/smtp.sh        # more rounds
#   KEEP=1 bench/smtp.sh          # keep the temporary folder (data dirs, maillog, results.tsv)
#   FSYNC_CHECK=1 bench/smtp.sh   # then one untimed Postroom run under strace: every DATA 250 follows an
#                                 # fsync that completed after the data arrived (bench/fsync_order.py)
#
# Each run sends MESSAGES messages of SIZE bytes over SESSIONS parallel sessions, one connection per
# message (smtp-source's default), to partner@peer.test on a loopback port. Every run starts a fresh server
# with an empty mailbox: a new Postroom data folder and `postroomd serve`, or a fresh start of a private
# Postfix instance (its own config, queue and maildir; chroot off) delivering to a maildir with the virtual
# agent. Rounds interleave the two servers and alternate which goes first.
#
# Measured per run:
#   accept  - from starting smtp-source until it exits (every message has had its 250)
#   mailbox - from starting smtp-source until all messages are in the mailbox. For Postroom that is the
#             same instant (its 250 is sent after the fsynced commit); for Postfix the maildir's new/ is
#             polled until it holds MESSAGES files and the end is new/'s mtime (the last rename into it).
#   peak    - Postroom: VmHWM of the postroomd process (fresh each run). Postfix: the sum of VmHWM over
#             its master and all its children still alive after the run (overcounts shared pages).
#
# Needs root (Postfix's master runs as root), postfix (smtp-source is in that package), sqlite3 and cargo.
# Touches nothing outside a temporary folder under /tmp except target/release (cargo build --release).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MESSAGES=${MESSAGES:-2000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}   # seconds before a run counts as failed
KEEP=${KEEP:-0}
SENDER=sender@bench.test
DOMAIN=peer.test
RECIPIENT=partner@$DOMAIN
BAR_RATIO=1.5
BAR_MEMORY_MB=150

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# --- prerequisites --------------------------------------------------------------------------------------
missing=()
command -v smtp-source >/dev/null || [[ -x /usr/sbin/smtp-source ]] || missing+=(postfix)
command -v postfix >/dev/null || [[ -x /usr/sbin/postfix ]] || missing+=(postfix)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v script >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    die "missing tools; install them with: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
fi
command -v cargo >/dev/null || die "cargo is needed to build postroomd (https://rustup.rs)"
[[ $(id -u) == 0 ]] || die "run as root: Postfix's master process must start as root"
id postfix >/dev/null 2>&1 || die "no 'postfix' user; install the postfix package: apt-get install postfix"
PATH=$PATH:/usr/sbin
SMTP_SOURCE=$(command -v smtp-source)

# --- build ----------------------------------------------------------------------------------------------
log "building postroomd (release)"
cargo build --release -p postroom-engine --bin postroomd >&2
POSTROOMD=${CARGO_TARGET_DIR:-$ROOT/target}/release/postroomd
[[ -x $POSTROOMD ]] || die "no $POSTROOMD after the build"
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!bench' ':!BENCHMARKS.md' 2>/dev/null || echo '+uncommitted')"

# --- workspace ------------------------------------------------------------------------------------------
BENCH=$(mktemp -d /tmp/postroom-bench.XXXXXX)
chmod 755 "$BENCH"   # the postfix user must traverse it
PF=$BENCH/postfix
POSTROOM_PID=
POSTFIX_UP=0

cleanup() {
    set +e
    if [[ -n $POSTROOM_PID ]]; then kill "$POSTROOM_PID" 2>/dev/null; wait "$POSTROOM_PID" 2>/dev/null; fi
    ((POSTFIX_UP)) && postfix_stop
    if [[ $KEEP == 1 ]]; then echo "bench: kept $BENCH" >&2; else rm -rf "$BENCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_seconds() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# --- Postfix instance -----------------------------------------------------------------------------------
PF_PORT=$(free_port)
PF_UID=$(id -u postfix)
PF_GID=$(id -g postfix)
mkdir -p "$PF"/{conf,queue,data,mail}
chown postfix: "$PF"/{data,mail}
chmod 755 "$PF"
cp /etc/postfix/master.cf "$PF/conf/"
grep -q '^smtp      inet  n       -       y       -       -       smtpd' "$PF/conf/master.cf" ||
    die "/etc/postfix/master.cf has no stock 'smtp inet' line to replace"
sed -i "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$PF_PORT inet n - n - - smtpd/" "$PF/conf/master.cf"
cat >"$PF/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
myhostname = mx.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = inline:{ {$RECIPIENT=partner/} }
virtual_uid_maps = static:$PF_UID
virtual_gid_maps = static:$PF_GID
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
alias_maps =
alias_database =
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
EOF
MAILDIR=$PF/mail/partner

postfix_cmd() { script -qec "postfix -c $PF/conf $*" /dev/null; }
postfix_master_pid() { [[ -f $PF/queue/pid/master.pid ]] && tr -dc 0-9 <"$PF/queue/pid/master.pid"; }
postfix_start() {
    local out
    out=$(postfix_cmd start 2>&1) || die "postfix start failed: $out"
    POSTFIX_UP=1
    wait_for_greeting "$PF_PORT"
}
postfix_stop() {
    local pid
    pid=$(postfix_master_pid || true)
    postfix_cmd stop >/dev/null 2>&1 || true
    POSTFIX_UP=0
    if [[ -n $pid ]]; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
        echo "bench: postfix master $pid still running after stop" >&2
    fi
}
postfix_queue_files() { find "$PF/queue"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }
maildir_count() { find "$MAILDIR/new" -maxdepth 1 -type f | wc -l; }
# Sum of VmHWM over the master and every process below it (children die on their own after max_idle).
postfix_hwm_kb() {
    local master total=0 pid
    master=$(postfix_master_pid) || { echo 0; return; }
    for pid in $master $(ps -o pid= --ppid "$master"); do total=$((total + $(hwm_kb "$pid"))); done
    echo "$total"
}

# --- runs -----------------------------------------------------------------------------------------------
RESULTS=$BENCH/results.tsv
printf 'round\tserver\tposition\taccept_s\tmailbox_s\taccept_mps\tmailbox_mps\tin_mailbox\tpeak_kb\tcpu_s\n' >"$RESULTS"
FAILURES=0

record() { # round server position accept_s mailbox_s count peak_kb cpu_s
    local accept_mps mailbox_mps
    accept_mps=$(awk -v n="$MESSAGES" -v t="$4" 'BEGIN {printf "%.1f", n / t}')
    mailbox_mps=$(awk -v n="$MESSAGES" -v t="$5" 'BEGIN {printf "%.1f", n / t}')
    printf '%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
        "$accept_mps" "$mailbox_mps" "$6" "$7" "$8" >>"$RESULTS"
    log "round $1 $2: accept ${4}s (${accept_mps}/s), in mailbox ${5}s (${mailbox_mps}/s), count $6, peak $(($7 / 1024)) MB"
    if [[ $6 != "$MESSAGES" ]]; then
        echo "bench: FAIL: round $1 $2: $6 messages in the mailbox, expected $MESSAGES" >&2
        FAILURES=$((FAILURES + 1))
    fi
}

smtp_source() { # port
    timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f "$SENDER" -t "$RECIPIENT" "127.0.0.1:$1"
}

# Makes a fresh Postroom data folder $1 with only SMTP enabled, on port $2, and the user partner@peer.test.
postroom_prepare() {
    local dir=$1 port=$2 before
    mkdir -p "$dir"
    "$POSTROOMD" --data-dir "$dir" settings set \
        general.server_name "mx.$DOMAIN" \
        services.smtp.bind_address 127.0.0.1 services.smtp.port "$port" \
        services.submission.enabled false services.smtps.enabled false \
        services.pop3.enabled false services.pop3s.enabled false \
        services.imap.enabled false services.imaps.enabled false >/dev/null
    # The defaults (20 per address, 400 in all) already allow 10 parallel sessions from 127.0.0.1.
    "$POSTROOMD" --data-dir "$dir" domain add "$DOMAIN" >/dev/null
    echo "bench-password-1" | "$POSTROOMD" --data-dir "$dir" user add partner --password-stdin >/dev/null
    before=$(sqlite3 "$dir/postroom.db" 'select count(*) from messages')
    [[ $before == 0 ]] || die "fresh Postroom mailbox holds $before messages"
}

postroom_start() { # dir port
    RUST_LOG=${RUST_LOG:-info} "$POSTROOMD" --data-dir "$1" serve 2>"$1/serve.log" &
    POSTROOM_PID=$!
    wait_for_greeting "$2"
}

postroom_stop() {
    kill "$POSTROOM_PID"
    wait "$POSTROOM_PID" || true
    POSTROOM_PID=
}

run_postroom() { # round position
    local dir=$BENCH/postroom-r$1 port t0 t1 count peak cpu rc=0 dt
    port=$(free_port)
    postroom_prepare "$dir" "$port"
    postroom_start "$dir" "$port"
    t0=$(now)
    smtp_source "$port" || rc=$?
    t1=$(now)
    count=$(sqlite3 "$dir/postroom.db" 'select count(*) from messages')
    peak=$(hwm_kb "$POSTROOM_PID")
    cpu=$(cpu_seconds "$POSTROOM_PID")
    postroom_stop
    ((rc == 0)) || echo "bench: FAIL: smtp-source against Postroom exited with $rc" >&2
    ((rc == 0)) || FAILURES=$((FAILURES + 1))
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    record "$1" postroom "$2" "$dt" "$dt" "$count" "$peak" "$cpu"
    [[ $KEEP == 1 ]] || rm -rf "$dir"
}

run_postfix() { # round position
    local t0 t1 t_end count peak rc=0 deadline
    [[ $(postfix_queue_files) == 0 ]] || die "the Postfix queue is not empty before round $1"
    rm -rf "$MAILDIR"
    mkdir -p "$MAILDIR"/{new,cur,tmp}
    chown -R postfix: "$MAILDIR"
    postfix_start
    t0=$(now)
    smtp_source "$PF_PORT" || rc=$?
    t1=$(now)
    ((rc == 0)) || echo "bench: FAIL: smtp-source against Postfix exited with $rc" >&2
    ((rc == 0)) || FAILURES=$((FAILURES + 1))
    deadline=$((SECONDS + RUN_TIMEOUT))
    count=$(maildir_count)
    while ((count < MESSAGES && SECONDS < deadline)); do
        sleep 0.05
        count=$(maildir_count)
    done
    # new/ changes only when a message is renamed into it, so its mtime is when the last one arrived.
    t_end=$(stat -c %.9Y "$MAILDIR/new")
    sleep 0.5
    count=$(maildir_count)   # nothing more should arrive
    peak=$(postfix_hwm_kb)
    postfix_stop
    record "$1" postfix "$2" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$(awk -v a="$t0" -v b="$t_end" 'BEGIN {print (b > a ? b - a : 0.001)}')" \
        "$count" "$peak" "-"
}

log "Postroom $REVISION ($POSTROOMD), Postfix $(postconf -d -h mail_version 2>/dev/null), $(nproc) CPUs"
log "$ROUNDS rounds of: smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE -f $SENDER -t $RECIPIENT 127.0.0.1:PORT"
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)   # other work on the machine skews both servers
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        run_postroom "$r" 1
        run_postfix "$r" 2
    else
        run_postfix "$r" 1
        run_postroom "$r" 2
    fi
done

# Optional, untimed: one more Postroom run under strace, checking that every DATA 250 follows an fsync.
FSYNC_RESULT=
if [[ ${FSYNC_CHECK:-0} == 1 ]]; then
    command -v strace >/dev/null || die "FSYNC_CHECK=1 needs strace: apt-get install strace"
    command -v python3 >/dev/null || die "FSYNC_CHECK=1 needs python3"
    dir=$BENCH/postroom-fsync
    port=$(free_port)
    postroom_prepare "$dir" "$port"
    postroom_start "$dir" "$port"
    strace -f -tt -s 40 -xx -e trace=fsync,fdatasync,sendto,recvfrom -o "$dir/strace.txt" -p "$POSTROOM_PID" 2>/dev/null &
    STRACE_PID=$!
    sleep 1   # strace attaches to every thread
    log "fsync check: $MESSAGES messages to Postroom under strace (not timed)"
    smtp_source "$port" || FAILURES=$((FAILURES + 1))
    sleep 0.5
    kill -INT "$STRACE_PID"
    wait "$STRACE_PID" || true
    postroom_stop
    FSYNC_RESULT=$(python3 "$ROOT/bench/fsync_order.py" "$dir/strace.txt") || FAILURES=$((FAILURES + 1))
fi

# --- report ---------------------------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
column_of() { awk -F'\t' -v s="$1" -v c="$2" 'NR > 1 && $2 == s {print $c}' "$RESULTS"; }

echo
echo "SMTP inbound: $MESSAGES messages x $SIZE bytes, $SESSIONS sessions, one connection per message; $ROUNDS rounds"
echo "Postroom $REVISION, Postfix $(postconf -d -h mail_version 2>/dev/null), $(nproc) x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "load average before the first run: $LOAD_BEFORE"
echo
awk -F'\t' '
    NR == 1 {
        printf "%-5s %-8s %-5s %9s %10s %11s %12s %10s %10s %8s\n", "round", "server", "order",
            "accept s", "mailbox s", "accept m/s", "mailbox m/s", "in mailbox", "peak MB", "cpu s"
        next
    }
    {
        printf "%-5s %-8s %-5s %9.3f %10.3f %11.1f %12.1f %10s %10.1f %8s\n", $1, $2, $3, $4, $5, $6, $7, $8,
            $9 / 1024, $10
    }' "$RESULTS"
echo "(postfix peak = sum of VmHWM over its processes; cpu s = postroomd user+system CPU seconds)"

pr_mailbox=$(column_of postroom 7 | median)
pf_mailbox=$(column_of postfix 7 | median)
pr_accept=$(column_of postroom 6 | median)
pf_accept=$(column_of postfix 6 | median)
pr_peak_mb=$(column_of postroom 9 | sort -g | tail -1 | awk '{printf "%.1f", $1 / 1024}')
ratio_mailbox=$(awk -v a="$pr_mailbox" -v b="$pf_mailbox" 'BEGIN {printf "%.2f", a / b}')
ratio_accept=$(awk -v a="$pr_accept" -v b="$pf_accept" 'BEGIN {printf "%.2f", a / b}')
verdict() { awk -v x="$1" -v y="$2" -v dir="$3" 'BEGIN {ok = (dir == "ge" ? x >= y : x < y); print (ok ? "met" : "MISSED")}'; }

echo
echo "medians (msg/s)      Postroom   Postfix   ratio"
printf 'in mailbox          %8s  %8s   %5sx  (bar %sx: %s)\n' "$pr_mailbox" "$pf_mailbox" "$ratio_mailbox" "$BAR_RATIO" \
    "$(verdict "$ratio_mailbox" "$BAR_RATIO" ge)"
printf 'accepted (250s)     %8s  %8s   %5sx  (bar %sx: %s)\n' "$pr_accept" "$pf_accept" "$ratio_accept" "$BAR_RATIO" \
    "$(verdict "$ratio_accept" "$BAR_RATIO" ge)"
printf 'Postroom peak memory, worst run: %s MB (bar < %s MB: %s)\n' "$pr_peak_mb" "$BAR_MEMORY_MB" \
    "$(verdict "$pr_peak_mb" "$BAR_MEMORY_MB" lt)"
[[ -z $FSYNC_RESULT ]] || echo "fsync check (Postroom, under strace): $FSYNC_RESULT"
if ((FAILURES)); then
    echo "FAILED: $FAILURES run(s) did not put all $MESSAGES messages in the mailbox or smtp-source failed" >&2
    exit 1
fi
echo "all runs: $MESSAGES of $MESSAGES messages in the mailbox"
