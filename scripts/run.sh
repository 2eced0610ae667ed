#!/usr/bin/env bash
# Builds and runs Postroom: the desktop app where there is a display, the headless `postroomd serve`
# where there is none. Extra arguments go to the program (e.g. --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The About line and --version name the commit built.
POSTROOM_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
export POSTROOM_COMMIT
cargo build --release --workspace
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  # The tray and the one-instance check talk over the session bus; start one if the desktop has none.
  if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]]; then
    exec dbus-run-session -- target/release/postroom "$@"
  fi
  exec target/release/postroom "$@"
fi
echo "run: no display found; starting the headless server (postroomd serve)"
exec target/release/postroomd serve "$@"
