# Helpers shared by the benchmark scripts (source it; the script defines die() first).

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback port in 20000-31999.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        port_is_free "$p" && { echo "$p"; return; }
    done
    die "no free port found"
}

# Waits until PORT greets with a line starting with WANT (default 220, SMTP; "* OK" for IMAP, "+OK" for POP3).
wait_for_greeting() {
    local port=$1 want=${2:-220} deadline=$((SECONDS + 60)) line
    while ((SECONDS < deadline)); do
        line=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; IFS= read -r l <&3; echo \"\$l\"" 2>/dev/null || true)
        [[ $line == "$want"* ]] && return 0
        sleep 0.1
    done
    die "no greeting '$want' on 127.0.0.1:$port"
}

now() { date +%s.%N; }
