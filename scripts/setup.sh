#!/usr/bin/env bash
# Installs the Debian packages that building and testing Invigil need, when
# they are missing. Safe to run again: it does nothing when all are present.
#   cgo for Fyne and openh264: gcc g++ pkg-config libgl1-mesa-dev xorg-dev
#   screen capture (mediadevices X11/XShm): libx11-dev libxext-dev
#   headless display + screenshots: xvfb imagemagick xdotool x11-utils
#   the desktop app under Xvfb (software OpenGL): libgl1-mesa-dri
#   recording checks: ffmpeg (ffprobe, ffplay for moving screen content)
#   browser playback tests (MSE, dashboard): chromium
#   the Windows build (scripts/build-windows.sh, cgo with mingw-w64, and
#   objdump for its import table): gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64
#   binutils-mingw-w64-x86-64
#   the Windows stage of the tests (scripts/test-windows.sh): wine wine64
#   packaging checks (MSI, .deb, .desktop, Authenticode signing): msitools
#   wixl lintian desktop-file-utils osslsigncode; the .deb's Depends and
#   its install test (scripts/test-packaging.sh): dpkg-dev xdg-utils xdg-user-dirs openssl
#   python3 (plistlib for the macOS plists) binutils procps
set -euo pipefail

pkgs=(gcc g++ make pkg-config libgl1-mesa-dev xorg-dev libx11-dev libxext-dev
      xvfb x11-utils xauth imagemagick xdotool libgl1-mesa-dri ffmpeg chromium ca-certificates git
      gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine wine64
      msitools wixl lintian desktop-file-utils osslsigncode
      dpkg-dev xdg-utils xdg-user-dirs openssl python3 binutils procps)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
