#!/usr/bin/env bash
# Runs every test: the engine's unit tests, the integration tests (real postroomd processes driven over
# real sockets and TLS), a check that the UI's TypeScript types match the Rust types, and the desktop
# app end to end (the real binary under Xvfb, driven by tauri-driver + WebKitWebDriver), and the .deb
# installed, run and removed as an admin would.
# Installs what a fresh Debian/Ubuntu machine lacks first (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

mkdir -p test-output
status=0
# Each step has a time limit, so that a hang fails its step (and says so) instead of the whole run.
run_step() { local limit=$1; shift; echo "::: $*"; timeout --kill-after=30 "$limit" "$@" || { echo "::: step failed or ran over ${limit}s: $*"; status=1; }; }

# 1. Engine and integration tests, without webkit.
run_step 2700 bash -c 'cargo test --workspace --no-default-features --no-fail-fast 2>&1 | tee test-output/cargo-test.log; exit ${PIPESTATUS[0]}'

# 1b. Every fuzz target (and their shared world and generators) still compiles against the engine: on
# stable Rust, without cargo-fuzz or sanitizers. fuzz/ is its own workspace, built in fuzz/target.
run_step 900 cargo check --manifest-path fuzz/Cargo.toml --bins

# 1c. The engine's layers: no module imports one from a higher layer (the picture in ARCHITECTURE.md).
run_step 60 python3 scripts/layers.py

# 1d. Windows: postroomd.exe and the engine's unit tests cross-built with MinGW-w64, then, under Wine, the
# unit tests run and postroomd.exe installed under Program Files and turned into the system service of
# the Service Control Manager and back (tests/windows).
run_step 1200 cargo build --target x86_64-pc-windows-gnu -p postroom-engine --bin postroomd
run_step 1200 cargo test --target x86_64-pc-windows-gnu -p postroom-engine --lib --no-run
run_step 900 bash -c '.venv/bin/pytest tests/windows -v -p no:warnings --timeout=600 -o junit_family=xunit2 --junitxml=test-output/windows.xml 2>&1 \
  | tee test-output/windows-test.log; exit ${PIPESTATUS[0]}'

# 2. The GUI contract is generated from Rust (step 1 rewrote whatever differed): the TypeScript bindings of
# the engine's types (ts-rs), and the command list, typed command functions, window names and command table
# (postroom-contract, whose own test also fails on a difference). They must be committed as generated.
generated="ui/src/bindings ui/src/commands.ts src-tauri/src/commands/handlers.rs docs/gui-contract.md"
if git rev-parse --git-dir >/dev/null 2>&1 && { ! git diff --quiet -- $generated || [ -n "$(git status --porcelain -- $generated)" ]; }; then
  echo "the generated GUI contract differs from the Rust code: commit the regenerated files"; git status --short -- $generated
  status=1
fi

# 3. The desktop app, end to end. The UI was rebuilt by setup; the binary embeds it.
run_step 1200 cargo build --workspace
run_step 1800 bash -c 'xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  .venv/bin/pytest tests/gui -v -p no:warnings --timeout=300 -o junit_family=xunit2 --junitxml=test-output/gui.xml 2>&1 \
  | grep --line-buffered -v -E "dbus-daemon|xdg-desktop-portal|Gtk-WARNING|pw.conf|No skeleton|SpiRegistry|^$" \
  | tee test-output/gui-test.log; exit ${PIPESTATUS[0]}'

# 4. The Linux packages: scripts/package.sh builds the .deb and .rpm (a release build), then the .deb is
# installed with apt on this machine, checked, run as the postroom user on the standard ports, removed and
# purged; the .rpm likewise with rpm; and the .deb again in a Debian 12 booted with systemd (systemd-nspawn), where
# `postroomd service enable --from` moves a desktop folder into the real service and back (tests/package:
# needs root, the Debian mirror the first time, and ports 25, 110, 143, 465, 587, 993 and 995 free).
run_step 2400 scripts/package.sh
run_step 1500 bash -c 'xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- .venv/bin/pytest tests/package -v -p no:warnings --timeout=300 -o junit_family=xunit2 --junitxml=test-output/package.xml 2>&1 \
  | tee test-output/package-test.log; exit ${PIPESTATUS[0]}'

# One line with the totals of every runner (a missing log counts as nothing run).
set +e
passed=$(grep -hoE "test result: [a-zA-Z]+\. [0-9]+ passed" test-output/cargo-test.log 2>/dev/null | awk '{s+=$4} END {print s+0}')
failed=$(grep -hoE "; [0-9]+ failed" test-output/cargo-test.log 2>/dev/null | awk '{s+=$2} END {print s+0}')
gui_passed=$(grep -oE "[0-9]+ passed" test-output/gui-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
gui_failed=$(grep -oE "[0-9]+ failed" test-output/gui-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
windows_passed=$(grep -oE "[0-9]+ passed" test-output/windows-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
windows_failed=$(grep -oE "[0-9]+ failed" test-output/windows-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
package_passed=$(grep -oE "[0-9]+ passed" test-output/package-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
package_failed=$(grep -oE "[0-9]+ failed" test-output/package-test.log 2>/dev/null | tail -1 | awk '{print $1+0}')
echo "screenshots: test-output/screenshots/"
echo "$((passed + ${gui_passed:-0} + ${windows_passed:-0} + ${package_passed:-0})) passed, $((failed + ${gui_failed:-0} + ${windows_failed:-0} + ${package_failed:-0})) failed"
exit $status
