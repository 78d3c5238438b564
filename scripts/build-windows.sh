#!/usr/bin/env bash
# Builds the Windows client, invigil.exe, the way it ships: cross-compiled
# with mingw-w64 (cgo for Fyne and openh264), the C and C++ runtimes linked
# statically (Windows has no libgcc_s_seh-1.dll or libstdc++-6.dll), a
# GUI-subsystem binary (no console window; check, run --headless, reset and
# version attach to the console they were started from), with the icon,
# a manifest and a version resource (go-winres, pinned in go.mod), and
# stripped. The Windows stage of CI (scripts/test-windows.sh) builds with
# it; a Windows installer recipe should package its output.
#   scripts/build-windows.sh [-o OUT.exe]     default: bin/invigil.exe
# INVIGIL_BUILD_TAGS adds build tags: the Wine tests build with
# invigil_uitest (the desktop app's test driver), which never ships.
# Needs gcc-mingw-w64-x86-64 and g++-mingw-w64-x86-64 (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bin/invigil.exe
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-windows: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $out in /*) ;; *) out=$PWD/$out ;; esac
for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-g++; do
  command -v $tool >/dev/null || { echo "build-windows: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done
cd "$root"

# One version for the join's client info, the exe's resource and packages.
version=$(sed -n 's/^var Version = "\([0-9][0-9.]*\)"$/\1/p' client/exam/join.go)
[ -n "$version" ] || { echo "build-windows: no Version in client/exam/join.go" >&2; exit 1; }
build=$(git rev-list --count HEAD 2>/dev/null || echo 0)

# The resource object (.syso) is linked into the package it sits in; it is
# generated for this build only and removed afterwards.
syso=cmd/invigil/rsrc_windows_amd64.syso
trap 'rm -f "$root/$syso"' EXIT
go tool go-winres simply --arch amd64 --out cmd/invigil/rsrc \
  --icon assets/icon.png --manifest gui \
  --product-name Invigil --file-description "Invigil exam client" \
  --product-version "$version" --file-version "$version.$build" \
  --original-filename invigil.exe --copyright "The Invigil authors"

mkdir -p "$(dirname "$out")"
CGO_ENABLED=1 GOOS=windows GOARCH=amd64 \
  CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ \
  go build -tags "${INVIGIL_BUILD_TAGS:-}" -ldflags "-s -w -H windowsgui -extldflags=-static $(scripts/build-stamp.sh)" -o "$out" ./cmd/invigil
echo "build-windows: $out (invigil $version, build $build)"
