#!/usr/bin/env bash
# Installs what Postroom needs to build on Debian/Ubuntu (system libraries for the webview, Node packages
# for the UI) and builds the UI. Safe to run again: it only installs what is missing.
# Usage: scripts/setup.sh [--test]   (--test adds what the test suite needs: Xvfb, WebKitWebDriver, Postfix,
#                                      tauri-driver, D-Bus, Python's pytest and selenium, and the mail
#                                      programs the IMAP tests drive: mutt, neomutt, mbsync, OfflineIMAP, tmux;
#                                      rspamd and OpenDKIM's tools as spam-filter and DKIM peers, Dovecot
#                                      as the ISP the mail collector fetches from; MinGW-w64, Rust's
#                                      x86_64-pc-windows-gnu target and Wine for the Windows service,
#                                      NSIS for the installer's hooks)
set -euo pipefail
cd "$(dirname "$0")/.."

lean=()
packages=(build-essential pkg-config curl file libssl-dev libwebkit2gtk-4.1-dev libxdo-dev
          libayatana-appindicator3-dev librsvg2-dev dbus dbus-x11 nodejs npm patchelf squashfs-tools)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(xvfb xauth webkit2gtk-driver at-spi2-core xdotool python3 python3-venv sqlite3 imagemagick
            swaks libio-socket-ssl-perl libnet-ssleay-perl curl postfix ssl-cert fetchmail mutt neomutt iproute2
            isync offlineimap3 tmux openssl systemd libcap2-bin procps adduser debootstrap systemd-container
            gcc-mingw-w64-x86-64 wine wine64 nsis)
  # Peers installed without their recommendations (rspamd would bring a Redis server the tests do not use);
  # Dovecot plays the ISP for the mail collector's tests; rpm installs the .rpm in tests/package.
  lean=(rspamd opendkim-tools dovecot-pop3d dovecot-imapd rpm)
fi

sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from elsewhere (nvm, NodeSource); only ask apt for it if there is none.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  # Postfix is a test peer run from its own folders, never the machine's mail system.
  echo "postfix postfix/main_mailer_type select No configuration" | sudo_if_needed debconf-set-selections
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
lean_missing=()
for p in "${lean[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || lean_missing+=("$p")
done
if (( ${#lean_missing[@]} )); then
  echo "setup: installing ${lean_missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean_missing[@]}" >/dev/null
  # The tests start their own rspamd and Dovecot on loopback ports; the packages' system services are not
  # wanted (Dovecot's would hold ports 110 and 143).
  if command -v systemctl >/dev/null; then
    for service in rspamd dovecot; do
      if [[ " ${lean_missing[*]} " == *" $service"* ]]; then
        sudo_if_needed systemctl disable --now "$service" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "setup: Rust is missing — install it from rustup.rs, then run this again" >&2
  exit 1
fi

if [[ "${1:-}" == "--test" ]]; then
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
  # postroomd.exe, cross-built for the Windows service's tests under Wine.
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu
  fi
  if [[ ! -x .venv/bin/pytest ]]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
  fi
  # Every time: a requirement added since the folder was made (dkimpy for the DKIM tests) is installed too.
  .venv/bin/pip install -q -r tests/gui/requirements.txt
fi

if [[ ! -d ui/node_modules ]] || [[ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  npm --prefix ui ci --no-audit --no-fund
fi
npm --prefix ui run build --silent
