#!/usr/bin/env bash
# Builds Postroom's AppImage from the .deb's files (run by `scripts/package.sh --appimage`, after the
# bundler): an AppDir with postroom, postroomd, the web process extension, WebKit's helper processes and
# every library they need but those every desktop Linux has (the list below), packed as SquashFS (zstd)
# behind Postroom's own AppImage runtime (src-tauri/appimage).
#
# Why not the Tauri bundler's AppImage: it downloads linuxdeploy and the AppImage runtime from GitHub.
# This script does what linuxdeploy and its GTK plugin do for Postroom, with Debian's patchelf and
# squashfs-tools. Output: target/release/bundle/appimage/Postroom_<version>_amd64.AppImage
#
#   scripts/appimage.sh        (needs target/release/bundle/deb/*/data from the .deb build)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
debdata=$(ls -d target/release/bundle/deb/*_amd64/data | head -1)
[[ -x "$debdata/usr/bin/postroom" ]] || { echo "appimage.sh: build the .deb first (scripts/package.sh)" >&2; exit 1; }
for tool in patchelf mksquashfs glib-compile-schemas; do
    command -v "$tool" >/dev/null || { echo "appimage.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
cargo build --release --locked -p postroom-appimage --bin appimage-runtime

multiarch=/usr/lib/x86_64-linux-gnu
work=target/appimage
appdir="$work/Postroom.AppDir"
rm -rf "$work"
mkdir -p "$appdir/usr/lib"
cp -a "$debdata/usr/." "$appdir/usr/"
rm -rf "$appdir/usr/share/man"  # the man pages are for the packages' postroomd on the PATH

# The libraries the computer must have (the AppImage's host contract, as AppImage's own exclude list):
# the C library and its loader, the C++ runtime, the graphics drivers' stack (GL, EGL, DRM, GBM, Vulkan),
# the X client libraries, sound, and the font configuration (so the host's fonts are found its way).
host='^(ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|libanl\.so\.1|libnsl\.so\.1|libmvec\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libGL\.so\.1|libEGL\.so\.1|libGLESv2\.so\.2|libGLX\.so\.0|libGLdispatch\.so\.0|libOpenGL\.so\.0|libgbm\.so\.1|libdrm\.so\.2|libglapi\.so\.0|libvulkan\.so\.1|libX11\.so\.6|libX11-xcb\.so\.1|libxcb\.so\.1|libXau\.so\.6|libXdmcp\.so\.6|libasound\.so\.2|libfontconfig\.so\.1|libfreetype\.so\.6|libharfbuzz\.so\.0|libexpat\.so\.1|libz\.so\.1|libuuid\.so\.1|libcom_err\.so\.2|libgpg-error\.so\.0|libICE\.so\.6|libSM\.so\.6|libusb-1\.0\.so\.0|libp11-kit\.so\.0)$'

# WebKit's helper processes and its injected bundle, where libwebkit2gtk looks for them (see the patch below).
webkit="$appdir/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1"
mkdir -p "$webkit/injected-bundle"
cp "$multiarch/webkit2gtk-4.1/WebKitWebProcess" "$multiarch/webkit2gtk-4.1/WebKitNetworkProcess" "$webkit/"
cp "$multiarch/webkit2gtk-4.1/injected-bundle/libwebkit2gtkinjectedbundle.so" "$webkit/injected-bundle/"
# Loaded with dlopen, so ldd does not see them: the tray icon's library, GdkPixbuf's image loaders.
cp -L "$multiarch/libayatana-appindicator3.so.1" "$appdir/usr/lib/"
loaders="$appdir/usr/lib/gdk-pixbuf-2.0/2.10.0/loaders"
mkdir -p "$loaders"
# (PNG and JPEG are built into Debian's GdkPixbuf; SVG is what icon themes are mostly made of.)
for l in svg gif bmp ico; do
    cp "$multiarch/gdk-pixbuf-2.0/2.10.0/loaders/libpixbufloader-$l.so" "$loaders/"
done

# GSettings' dconf backend, so the desktop's settings (text scaling, cursor, icon theme) reach GTK.
giomodules="$appdir/usr/lib/gio/modules"
mkdir -p "$giomodules"
cp "$multiarch/gio/modules/libdconfsettings.so" "$giomodules/"

# Every library those programs need, but the host's, into usr/lib; each ELF finds them by its RUNPATH.
elves=("$appdir/usr/bin/postroom" "$appdir/usr/bin/postroomd" "$appdir/usr/lib/postroom/webkit/libpostroom_webext.so"
       "$webkit/WebKitWebProcess" "$webkit/WebKitNetworkProcess" "$webkit/injected-bundle/libwebkit2gtkinjectedbundle.so"
       "$appdir/usr/lib/libayatana-appindicator3.so.1" "$loaders"/*.so "$giomodules"/*.so)
for elf in "${elves[@]}"; do
    ldd "$elf" | awk '/=> \// {print $1, $3}' | while read -r name path; do
        [[ "$name" =~ $host ]] && continue
        [[ -e "$appdir/usr/lib/$name" ]] || cp -L "$path" "$appdir/usr/lib/$name"
    done
    if ldd "$elf" | grep -q "not found"; then
        echo "appimage.sh: $elf needs a library this machine lacks:" >&2; ldd "$elf" | grep "not found" >&2; exit 1
    fi
done
for lib in "$appdir"/usr/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$lib"; done
patchelf --set-rpath '$ORIGIN/../lib' "$appdir/usr/bin/postroom" "$appdir/usr/bin/postroomd"
patchelf --set-rpath '$ORIGIN/../..' "$appdir/usr/lib/postroom/webkit/libpostroom_webext.so" \
    "$webkit/WebKitWebProcess" "$webkit/WebKitNetworkProcess"
patchelf --set-rpath '$ORIGIN/../../..' "$webkit/injected-bundle/libwebkit2gtkinjectedbundle.so"
for l in "$loaders"/*.so; do patchelf --set-rpath '$ORIGIN/../../..' "$l"; done
patchelf --set-rpath '$ORIGIN/../..' "$giomodules"/*.so
# Checked after patching: every library an ELF names itself that the AppImage carries resolves to its
# copy (the host's libraries find their own dependencies the host's way).
for elf in "${elves[@]}" "$appdir"/usr/lib/*.so*; do
    resolved=$(ldd "$elf")
    for name in $(patchelf --print-needed "$elf"); do
        [[ -e "$appdir/usr/lib/$name" ]] || continue
        path=$(awk -v n="$name" '$1 == n && $2 == "=>" {print $3}' <<< "$resolved")
        if [[ "$(realpath "$path")" != "$(realpath "$appdir/usr/lib/$name")" ]]; then
            echo "appimage.sh: $elf finds $name at $path, not in the AppImage (RUNPATH)" >&2; exit 1
        fi
    done
done

# libwebkit2gtk starts its helper processes from a path built in at compile time. The copy here looks in
# "././/lib/x86_64-linux-gnu/webkit2gtk-4.1" instead (same length), relative to the working folder,
# which AppRun sets to the AppDir's usr/ (as the Tauri bundler's AppImage does).
python3 - "$appdir/usr/lib/libwebkit2gtk-4.1.so.0" <<'EOF'
import sys
path = sys.argv[1]
data = open(path, "rb").read()
old, new = b"/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1", b"././/lib/x86_64-linux-gnu/webkit2gtk-4.1"
assert len(old) == len(new) and data.count(old) >= 2, "libwebkit2gtk does not hold the helper path twice"
open(path, "wb").write(data.replace(old, new))
EOF

# GdkPixbuf's loader list with paths relative to usr/ (the working folder), and the GSettings schemas
# GTK's dialogs need (the file chooser aborts without its schema).
cache="$appdir/usr/lib/gdk-pixbuf-2.0/2.10.0/loaders.cache"
GDK_PIXBUF_MODULEDIR="$loaders" "$multiarch/gdk-pixbuf-2.0/gdk-pixbuf-query-loaders" "$(realpath "$loaders")"/*.so \
    | sed "s|\"$(realpath "$appdir/usr")/|\"|" > "$cache"
if grep -q "\"/" "$cache"; then echo "appimage.sh: an absolute path is left in $cache" >&2; exit 1; fi
grep -q '"lib/gdk-pixbuf-2.0/2.10.0/loaders/libpixbufloader-svg.so"' "$cache"
mkdir -p "$appdir/usr/share/glib-2.0/schemas"
cp /usr/share/glib-2.0/schemas/org.gtk.Settings.*.gschema.xml "$appdir/usr/share/glib-2.0/schemas/"
glib-compile-schemas "$appdir/usr/share/glib-2.0/schemas"

cat > "$appdir/AppRun" <<'EOF'
#!/bin/sh
# Postroom's AppImage entry point: `AppRun [ARGS]` starts the desktop app, `AppRun postroomd ARGS` the
# headless server. Set up by scripts/appimage.sh.
HERE="$(dirname "$(readlink -f "$0")")"
export APPDIR="${APPDIR:-$HERE}"
export OWD="${OWD:-$PWD}"
if [ "$1" = "postroomd" ]; then
    shift
    exec "$HERE/usr/bin/postroomd" "$@"
fi
export GDK_PIXBUF_MODULE_FILE="$HERE/usr/lib/gdk-pixbuf-2.0/2.10.0/loaders.cache"
export GSETTINGS_SCHEMA_DIR="$HERE/usr/share/glib-2.0/schemas"
export GIO_MODULE_DIR="$HERE/usr/lib/gio/modules"
export XDG_DATA_DIRS="$HERE/usr/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
# The host's GTK modules (sound themes, accessibility bridges) are left out; its input methods (IBus,
# Fcitx) are used: they load against this GTK 3, whose interface for them has not changed in its series.
unset GTK_MODULES GTK3_MODULES
# WebKit finds its helper processes relative to here (see scripts/appimage.sh); relative paths given to
# Postroom are taken from OWD, where it was started.
cd "$HERE/usr" || exit 1
exec "$HERE/usr/bin/postroom" "$@"
EOF
chmod 755 "$appdir/AppRun"
cp "$appdir/usr/share/applications/Postroom.desktop" "$appdir/postroom.desktop"
cp "$appdir/usr/share/icons/hicolor/128x128/apps/postroom.png" "$appdir/postroom.png"
ln -s postroom.png "$appdir/.DirIcon"

mksquashfs "$appdir" "$work/image.sqfs" -comp zstd -all-root -no-xattrs -noappend -quiet >/dev/null
out=target/release/bundle/appimage
mkdir -p "$out"
image="$out/Postroom_${version}_amd64.AppImage"
cp target/release/appimage-runtime "$image.partial"
printf 'AI\002' | dd of="$image.partial" bs=1 seek=8 conv=notrunc status=none  # the AppImage type 2 magic
cat "$work/image.sqfs" >> "$image.partial"
chmod 755 "$image.partial"
mv "$image.partial" "$image"
echo "$image"
