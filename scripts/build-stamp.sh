#!/bin/sh
# Prints the -ldflags fragment that stamps the source revision into the
# client (`invigil version` prints it): -X main.commit=REVISION, with
# "-dirty" when tracked files have uncommitted changes. The Go toolchain
# stamps vcs.revision itself where it can, which `invigil version` prefers;
# it cannot with -buildvcs=false (this project's CI sets GOFLAGS so) or in
# a git worktree, hence this stamp. Outside a git checkout (a source
# tarball) it uses $INVIGIL_COMMIT, else prints nothing (the binary then
# says "commit unknown").
#   go build -ldflags "-s -w $(scripts/build-stamp.sh)" ./cmd/invigil
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${INVIGIL_COMMIT:-}
if [ -z "$rev" ] && command -v git >/dev/null 2>&1 && rev=$(git -C "$root" rev-parse HEAD 2>/dev/null); then
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    rev=$rev-dirty
  fi
fi
case $rev in
  *[!0-9a-zA-Z._-]*) echo "build-stamp: bad revision '$rev'" >&2; exit 2 ;;
esac
[ -z "$rev" ] || printf '%s\n' "-X main.commit=$rev"
