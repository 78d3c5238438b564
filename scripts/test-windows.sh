#!/usr/bin/env bash
# The Windows stage of CI, alone: builds invigil.exe with
# scripts/build-windows.sh and runs the Windows end-to-end tests under Wine
# (a fresh Wine prefix in a temporary directory, on Xvfb) against the Linux
# backend: cmd/invigil/wine_test.go, build tag "wine". scripts/test.sh runs
# it after the Linux suite. Installs the Debian packages it needs first.
#   WINE_TESTS=REGEXP   run only these tests of cmd/invigil (default: every
#                       TestWine*, then lockdown's TestWindows* under Wine)
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8 LANGUAGE=en
./scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }
start=$(date +%s)
step "go vet -tags wine ./cmd/invigil"
go vet -tags wine ./cmd/invigil
step "Windows stage: invigil.exe under $(wine --version 2>/dev/null) (go test -tags wine)"
status=0
go test -tags wine -count=1 -timeout 15m -v -run "${WINE_TESTS:-^TestWine}" ./cmd/invigil || status=$?
if [ -z "${WINE_TESTS:-}" ]; then
  # lockdown's own Windows tests (keyboard hook, foreground guard, topmost,
  # hidden windows, journal after a crash): a Windows test binary under Wine.
  step "lockdown's Windows tests under Wine (scripts/wine-gotest.sh ./lockdown)"
  scripts/wine-gotest.sh ./lockdown || status=$?
  # The credential store's DPAPI round trip (session token at rest).
  step "client/credstore under Wine (scripts/wine-gotest.sh ./client/credstore)"
  scripts/wine-gotest.sh ./client/credstore || status=$?
  # A machine config whose access list lets Everyone write it is refused.
  step "client/launch's Windows config checks under Wine (scripts/wine-gotest.sh ./client/launch)"
  scripts/wine-gotest.sh ./client/launch -test.run '^(TestConfigFileEveryoneWritable|TestWindowsUserDirPrivate|TestWindowsUserOnlySD)$' -test.v || status=$?
fi
step "Windows stage took $(( $(date +%s) - start )) s"
exit "$status"
