#!/usr/bin/env bash
# Builds every release artefact that can be built on Linux into dist/:
#   invigil_VERSION-1_ARCH.deb         Debian/Ubuntu package (scripts/package-deb.sh)
#   invigil-VERSION-windows-amd64.exe the Windows client, Authenticode-signed
#   invigil-VERSION-x64.msi           the Windows installer, signed (scripts/package-msi.sh)
#   SHA256SUMS                        sha256sum of the above
# (The macOS .pkg is built on a Mac: packaging/macos/build-macos.sh.)
#   scripts/release.sh VERSION
# VERSION must be exam.Version in client/exam/join.go (what the client reports
# when it joins): bump that first. Signing: the INVIGIL_SIGN_* variables of
# scripts/package-msi.sh; a release refuses to build without them unless
# INVIGIL_UNSIGNED=1 (a test build). docs/deploy.md describes the result.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
version=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[[ $version =~ ^[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,5})?$ ]] ||
  { echo "release: VERSION $version: want major.minor[.patch], numbers only" >&2; exit 2; }
have=$(sed -n 's/^var Version = "\([0-9][0-9.]*\)"$/\1/p' client/exam/join.go)
[ "$version" = "$have" ] || { echo "release: client/exam/join.go says Version = \"$have\"; set it to \"$version\" first" >&2; exit 2; }
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  echo "release: WARNING: the working tree has uncommitted changes" >&2
fi
if [ "${INVIGIL_UNSIGNED:-}" = 1 ]; then
  echo "release: INVIGIL_UNSIGNED=1: the Windows artefacts are NOT signed (test build)" >&2
  export INVIGIL_REQUIRE_SIGNING=0
else
  export INVIGIL_REQUIRE_SIGNING=1
  # Refuse before building, not after.
  [ -n "${INVIGIL_SIGN_PKCS12:-}" ] || { [ -n "${INVIGIL_SIGN_CERT:-}" ] && [ -n "${INVIGIL_SIGN_KEY:-}" ]; } ||
    { echo "release: no signing certificate: set INVIGIL_SIGN_PKCS12 (or INVIGIL_SIGN_CERT and INVIGIL_SIGN_KEY), or INVIGIL_UNSIGNED=1 for a test build" >&2; exit 2; }
fi

dist=$root/dist
mkdir -p "$dist"
arch=$(dpkg --print-architecture)
rm -f "$dist/invigil_${version}-1_$arch.deb" "$dist/invigil-$version-windows-amd64.exe" "$dist/invigil-$version-x64.msi" "$dist/SHA256SUMS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== release $version: Linux client and .deb"
deb=$(scripts/package-deb.sh -v "$version" -o "$dist" | tail -n 1)

echo "== release $version: Windows client and MSI"
msi=$(scripts/package-msi.sh -v "$version" -o "$dist" -x "$dist/invigil-$version-windows-amd64.exe" | tail -n 1)

(cd "$dist" && sha256sum "$(basename "$deb")" "invigil-$version-windows-amd64.exe" "$(basename "$msi")" >SHA256SUMS)
echo "== release $version: dist/"
(cd "$dist" && ls -l "$(basename "$deb")" "invigil-$version-windows-amd64.exe" "$(basename "$msi")" SHA256SUMS && cat SHA256SUMS)
