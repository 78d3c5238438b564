#!/usr/bin/env bash
# Runs every check CI runs: formatting, vet (also for Windows and macOS),
# the installers (scripts/test-packaging.sh),
# the race-enabled test suite, the Windows stage (invigil.exe under Wine,
# scripts/test-windows.sh), and a short burst of every fuzz target.
# Installs the Debian packages it needs first (scripts/setup.sh).
#   FUZZ_EXECS=20000  inputs per fuzz target (0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8
export LANGUAGE=en # Fyne logs "Error parsing user locale C" under LANG=C.UTF-8 otherwise
./scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

# Every package of the product must build for Windows, the cgo ones (Fyne,
# openh264, the client and cmd/invigil with their *_windows.go files) with
# mingw-w64. (bench/ holds Linux-only measuring tools.)
windows=(. ./assets/... ./backend/... ./capture/... ./client/... ./cmd/... ./lockdown/... ./transport/...)
step "go vet GOOS=windows CGO_ENABLED=1 (mingw-w64) ${windows[*]}"
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ go vet "${windows[@]}"
# macOS: no cross toolchain for its cgo (Fyne's app, the screen capture);
# the packages that build without cgo are vetted.
darwin=(./transport/... ./lockdown/... ./backend/... ./capture ./client ./client/exam ./client/launch ./client/internal/...)
step "go vet GOOS=darwin CGO_ENABLED=0 ${darwin[*]}"
GOOS=darwin GOARCH=amd64 CGO_ENABLED=0 go vet "${darwin[@]}"

# invigil_uitest builds the desktop app's test driver (client/ui), which
# the UI tests drive; release builds never have it.
step "go vet -tags invigil_uitest (the UI test driver)"
go vet -tags invigil_uitest ./client/ui ./cmd/invigil

step "go test -race -count=1 -tags invigil_uitest ./... (never a cached result)"
go test -race -count=1 -tags invigil_uitest -timeout 25m ./...

# The backend under a 1 GiB memory limit with hostile parameter sets: the
# race build above cannot apply the limit (its shadow memory needs
# terabytes of address space), so this one test runs again without -race.
step "hostile parameter sets under a 1 GiB limit (go test without -race)"
go test -count=1 -run '^TestSurvivesHostileParamSetsUnder1GiB$' -v ./backend

# The Windows client under Wine, against the Linux backend.
./scripts/test-windows.sh

# The installers: .deb (lintian, dpkg -i into this machine when root, an
# invigil:// link through xdg-open, dpkg -r/-P), the signed MSI under Wine.
step "packaging (scripts/test-packaging.sh)"
if [ "$(id -u)" -ne 0 ]; then export INVIGIL_SKIP_DPKG=1; fi
./scripts/test-packaging.sh

# Fuzz budgets are input counts, not durations: with -fuzztime=10s, Go 1.26's
# fuzz coordinator can fail a target with a bare "context deadline exceeded"
# when the machine is loaded (golang/go#75804, fixed in 1.27).
execs=${FUZZ_EXECS:-20000}
if [ "$execs" != "0" ]; then
  while read -r file target; do
    pkg=./$(dirname "$file")
    n=$execs
    case $target in FuzzSpoolSegment) n=$((execs / 10)) ;; esac # a spool on disk per input
    step "fuzz $pkg $target (${n} inputs)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" "$pkg"
  done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+' . |
           sed -E 's|^\./([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]+).*|\1 \2|' | sort)
fi

step "all checks passed"
