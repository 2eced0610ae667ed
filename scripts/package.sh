#!/usr/bin/env bash
# Builds Postroom's Linux packages: .deb and .rpm with the Tauri bundler, then the AppImage from the
# .deb's files (scripts/appimage.sh: the bundler's AppImage needs linuxdeploy from GitHub). The .deb and
# .rpm carry `postroom` (the desktop app), `postroomd`, the web process extension, the icon, the desktop
# entry, postroomd's man pages and the systemd unit, and add the `postroom` system user,
# /var/lib/postroom (0700) and cap_net_bind_service for postroomd; the AppImage carries the programs
# and the libraries they need.
# The version is Cargo.toml's; the commit is built in (postroom --version, the main window's footer).
# Output: target/release/bundle/{deb,rpm,appimage}/ — the paths are printed at the end.
#
#   scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh


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
ui/node_modules/.bin/tauri build --bundles deb,rpm -- --locked
scripts/appimage.sh >/dev/null
find target/release/bundle \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' \) -newer target/release/postroomd -print
