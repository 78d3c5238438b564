#!/usr/bin/env bash
# Runs every check CI runs: formatting, vet (also for Windows and macOS),
# the race-enabled test suite, and a short burst of every fuzz target.
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

# The pure-Go packages must build for the other desktop platforms.
pure=(./transport/... ./lockdown/... ./backend/...)
for os in windows darwin; do
  step "go vet GOOS=$os CGO_ENABLED=0 ${pure[*]}"
  GOOS=$os GOARCH=amd64 CGO_ENABLED=0 go vet "${pure[@]}"
done

step "go test -race -count=1 ./... (never a cached result)"
go test -race -count=1 -timeout 25m ./...

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
