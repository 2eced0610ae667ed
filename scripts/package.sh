#!/usr/bin/env bash
# Builds Postroom's Linux packages with the Tauri bundler: .deb and .rpm (and the AppImage with
# `--appimage`, which needs linuxdeploy from GitHub). Each carries `postroom` (the desktop app),
# `postroomd`, the icon, the desktop entry, postroomd's man pages and the systemd unit; the .deb and .rpm
# add the `postroom` system user, /var/lib/postroom (0700) and cap_net_bind_service for postroomd.
# The version is Cargo.toml's; the commit is built in (postroom --version, the main window's footer).
# Output: target/release/bundle/{deb,rpm,appimage}/ — the paths are printed at the end.
#
#   scripts/package.sh [--appimage]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

bundles=deb,rpm
[[ "${1:-}" == "--appimage" ]] && bundles=deb,rpm,appimage

POSTROOM_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export POSTROOM_COMMIT
# postroomd first (the bundler builds only the desktop app), then its man pages from the clap definitions.
cargo build --release --locked -p postroom-engine --bin postroomd
# The WebKit web process extension (/usr/lib/postroom/webkit: each window's web process hands back the
# library pages its start-up touched; see src-tauri/webext).
cargo build --release --locked -p postroom-webext
rm -rf target/package/man
target/release/postroomd man-pages target/package/man >/dev/null
gzip -9n target/package/man/*.8
# The desktop app and the bundles (the UI was built by setup.sh; beforeBuildCommand builds it again).
ui/node_modules/.bin/tauri build --bundles "$bundles" -- --locked
find target/release/bundle \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' \) -newer target/release/postroomd -print
