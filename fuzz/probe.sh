#!/usr/bin/env bash
# Runs every generated shape of the session/parser targets once at each of a few sizes (1,000, 12,288,
# 61,440, and the largest the shape allows, each capped at that largest), each run in its own process,
# and prints one line per shape and size: ok and the time, or how it crashed. 61,440 is there because
# an IMAP command line is limited to 64 KiB: the largest sizes test that limit rather than the parser.
# Needs cargo-fuzz (it builds the targets as `cargo fuzz run` would, with ASan).
#
#   fuzz/probe.sh                       # every target
#   fuzz/probe.sh imap_session          # one target
#   VARIANT=1 fuzz/probe.sh mailbox_meta  # the variant byte (default 0; see src/shapes/*.rs)
#
# The shape lists below follow the SHAPES arrays in src/shapes/*.rs (the index is the shape byte).
set -uo pipefail
cd "$(dirname "$0")"

declare -A SHAPES=(
  [imap_session]="list-parens search-parens search-not search-or fetch-items fetch-section fetch-ranges sequence-set list-wildcards append-deep many-commands"
  [mailbox_meta]="multipart-deep rfc822-deep alternating-deep siblings headers folded long-line addresses comments encoded-words params"
  [smtp_session]="received rcpt long-line bdat-huge auth-huge mime many-commands"
  [geoip_import]="huge-field rows columns quoted-lines long-number"
  [bandwidth_script]="table-loop string-rep constructors parens concat recursion index-chain pattern params"
  [web_request]="many-fields long-line pipelined body query"
  [spam_content]="multipart-deep rfc822-deep alternating-deep siblings headers folded long-line addresses comments encoded-words params"
)
# The mode byte that selects generated input (imap_session: after LOGIN and SELECT).
declare -A MODE=([imap_session]=3 [mailbox_meta]=1 [smtp_session]=1 [geoip_import]=1 [bandwidth_script]=2 [spam_content]=1 [web_request]=1)
variant=$(printf '\\x%02x' "${VARIANT:-0}")
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(imap_session mailbox_meta smtp_session geoip_import bandwidth_script spam_content web_request)
triple=$(rustc -vV | sed -n 's/^host: //p')
probes=$(mktemp -d)
trap 'rm -rf "$probes"' EXIT

for target in "${targets[@]}"; do
  RUSTC_BOOTSTRAP=1 cargo fuzz build "$target" >/dev/null 2>&1 || { echo "$target: build failed (RUSTC_BOOTSTRAP=1 cargo fuzz build $target)"; continue; }
  i=0
  for shape in ${SHAPES[$target]}; do
    mode=$(printf '\\x%02x' "${MODE[$target]}")
    index=$(printf '\\x%02x' "$i")
    case "$target/$shape" in
      imap_session/append-deep | smtp_session/mime) index="$index\\x00" ;;        # then the mime shape: multipart-deep
      bandwidth_script/params) mode='\x03'; index='' ;;                          # the examples, with a huge address or name
    esac
    for size in 'e9f4:1000' 'ed80:12288' 'efe0:61440' 'ff00:max'; do
      bytes="\\x${size:0:2}\\x${size:2:2}"
      file="$probes/$shape-${size#*:}"
      printf "$mode$index$bytes${variant}abc" >"$file"
      start=$(date +%s%N)
      out=$(timeout 300 "target/$triple/release/$target" -timeout=120 -rss_limit_mb=4096 "$file" 2>&1)
      rc=$?
      secs=$(awk "BEGIN { printf \"%.1f\", ($(date +%s%N) - $start) / 1e9 }")
      if [ $rc -eq 0 ]; then
        printf '%-18s %-18s %-6s ok (%s s)\n' "$target" "$shape" "${size#*:}" "$secs"
      else
        why=$(echo "$out" | grep -m1 -E "ERROR: AddressSanitizer|ERROR: libFuzzer|panicked at|has overflowed its stack|out-of-memory|timeout" | sed 's/^==[0-9]*==//')
        [ -n "$why" ] && why="$why $(echo "$out" | grep -m1 -A1 'panicked at' | tail -1)$(echo "$out" | grep -E '^ +#[0-9]+ ' | grep -m1 -oE ' in (postroom_engine|mail_parser|imap_codec|smtp_proto|mlua|csv)::[^ ]*')"
        printf '%-18s %-18s %-6s CRASH rc=%s (%s s): %s\n' "$target" "$shape" "${size#*:}" "$rc" "$secs" "${why:-$(echo "$out" | tail -1)}"
      fi
    done
    i=$((i + 1))
  done
done
