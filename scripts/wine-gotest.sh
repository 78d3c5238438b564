#!/bin/sh
# Runs one package's tests as a Windows test binary under Wine (Debian wine
# 8.0 + mingw-w64), in a throw-away Wine prefix and an Xvfb display: the
# pure-Go Windows code (CGO_ENABLED=0) of lockdown (keyboard hook,
# foreground guard, hidden windows, journal) and client/credstore (DPAPI).
# Test-only: nothing here ships. Usage (from anywhere):
#   scripts/wine-gotest.sh PKG [-test.run REGEXP] [-test.v]
# Default test flags: -test.run '^TestWindows' -test.v for ./lockdown, -test.v
# for any other package.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
pkg=${1:?usage: scripts/wine-gotest.sh PKG [test flags]}
shift
# The test binary is named after the package (lockdown.test.exe): tests may
# match their own program by name (lockdown's switch_to case does).
exe="$(basename "$pkg").test.exe"
work=$(mktemp -d)
trap 'WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true; kill "${xvfb:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The ProcessPrng shim Go programs need under Wine 8 (DESIGN.md); one copy
# for every Wine test, in cmd/invigil's testdata.
shim="$root/cmd/invigil/testdata/wine"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
	"$shim/processprng.c" "$shim/processprng.def" -ladvapi32
(cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$work/$exe" "$pkg")

export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
t0=$(date +%s)
wine wineboot --init >/dev/null 2>&1
wineserver -w
echo "wineboot: $(( $(date +%s) - t0 )) s"
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

# -displayfd: Xvfb picks a free display number and writes it down.
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb=$!
i=0
while [ ! -s "$work/display" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
export DISPLAY=":$(cat "$work/display")"

if [ $# -eq 0 ]; then
  case $pkg in
  ./lockdown) set -- -test.run '^TestWindows' -test.v ;;
  *) set -- -test.v ;;
  esac
fi
set -- -test.timeout 20m "$@"
cd "$work"
rc=0
wine "./$exe" "$@" || rc=$?
if ! kill -0 "$xvfb" 2>/dev/null; then echo "Xvfb died:"; tail -20 "$work/xvfb.log"; fi
exit $rc
