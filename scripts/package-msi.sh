#!/usr/bin/env bash
# Builds the Windows installer, invigil-VERSION-x64.msi, with wixl (msitools)
# from packaging/windows/invigil.wxs, and Authenticode-signs the exe inside
# it and the MSI itself with osslsigncode.
#   scripts/package-msi.sh [-v VERSION] [-e INVIGIL.EXE] [-o OUTDIR] [-x SIGNED.EXE]
#     -v  version (default: exam.Version from client/exam/join.go)
#     -e  the Windows client (default: scripts/build-windows.sh builds it, or
#         without that script the cross-compile of issue 8)
#     -o  where the .msi goes (default: dist/)
#     -x  also write the signed invigil.exe there (releases ship it alone too)
# Signing (docs/deploy.md): a certificate and key from the environment:
#   INVIGIL_SIGN_PKCS12=FILE.pfx [INVIGIL_SIGN_PASSWORD=...]   or
#   INVIGIL_SIGN_CERT=CHAIN.pem INVIGIL_SIGN_KEY=KEY.pem [INVIGIL_SIGN_PASSWORD=...]
#   INVIGIL_SIGN_TIMESTAMP=URL  an RFC 3161 time-stamp server (optional)
# Without them the MSI is unsigned and this says so; INVIGIL_REQUIRE_SIGNING=1
# (scripts/release.sh) makes that an error. Prints the .msi's path last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version="" exe="" outdir=$root/dist signedexe=""
while [ $# -gt 0 ]; do
  case $1 in
    -v) version=$2; shift 2 ;;
    -e) exe=$2; shift 2 ;;
    -o) outdir=$2; shift 2 ;;
    -x) signedexe=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-msi: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in wixl convert osslsigncode; do
  command -v $tool >/dev/null || { echo "package-msi: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done
cd "$root"
if [ -z "$version" ]; then
  version=$(sed -n 's/^var Version = "\([0-9][0-9.]*\)"$/\1/p' client/exam/join.go)
  [ -n "$version" ] || { echo "package-msi: no Version in client/exam/join.go" >&2; exit 1; }
fi
# An MSI ProductVersion is major.minor.build, each a number (build < 65536).
[[ $version =~ ^[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,5})?$ ]] ||
  { echo "package-msi: version $version is not an MSI version (major.minor[.build])" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$exe" ]; then
  exe=$work/built.exe
  if [ -x scripts/build-windows.sh ]; then
    scripts/build-windows.sh -o "$exe" >&2
  else
    CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ \
      go build -trimpath -ldflags "-s -w -H windowsgui -extldflags=-static $("$root"/scripts/build-stamp.sh)" -o "$exe" ./cmd/invigil
  fi
fi
[ -f "$exe" ] || { echo "package-msi: $exe: no such file" >&2; exit 1; }

# sign IN OUT: Authenticode (SHA-256) with the certificate from the
# environment; a plain copy when there is none.
signed=no
sign() {
  local args=()
  if [ -n "${INVIGIL_SIGN_PKCS12:-}" ]; then
    args=(-pkcs12 "$INVIGIL_SIGN_PKCS12")
  elif [ -n "${INVIGIL_SIGN_CERT:-}" ] && [ -n "${INVIGIL_SIGN_KEY:-}" ]; then
    args=(-certs "$INVIGIL_SIGN_CERT" -key "$INVIGIL_SIGN_KEY")
  else
    cp "$1" "$2"
    return
  fi
  [ -z "${INVIGIL_SIGN_PASSWORD:-}" ] || args+=(-pass "$INVIGIL_SIGN_PASSWORD")
  [ -z "${INVIGIL_SIGN_TIMESTAMP:-}" ] || args+=(-ts "$INVIGIL_SIGN_TIMESTAMP")
  osslsigncode sign "${args[@]}" -h sha256 -n "Invigil" -i https://github.com/invigil/invigil \
    -in "$1" -out "$2" >"$work/sign.log" 2>&1 || { cat "$work/sign.log" >&2; exit 1; }
  signed=yes
}

# wixl resolves sources relative to the working directory only.
sign "$exe" "$work/invigil.exe"
convert assets/icon.png -define icon:auto-resize=256,64,48,32,16 "$work/invigil.ico"
cp packaging/windows/invigil.wxs "$work/"
(cd "$work" && wixl -a x64 -D Version="$version" -D Exe=invigil.exe -D Icon=invigil.ico \
  -o unsigned.msi invigil.wxs) 2>"$work/wixl.log" || { cat "$work/wixl.log" >&2; exit 1; }
mkdir -p "$outdir"
msi=$outdir/invigil-$version-x64.msi
rm -f "$msi"
sign "$work/unsigned.msi" "$msi"
if [ $signed = no ]; then
  [ "${INVIGIL_REQUIRE_SIGNING:-}" != 1 ] ||
    { rm -f "$msi"; echo "package-msi: no signing certificate (INVIGIL_SIGN_PKCS12 or INVIGIL_SIGN_CERT + INVIGIL_SIGN_KEY)" >&2; exit 1; }
  echo "package-msi: WARNING: $msi and its invigil.exe are NOT signed (no INVIGIL_SIGN_* certificate)" >&2
fi
[ -z "$signedexe" ] || cp "$work/invigil.exe" "$signedexe"
echo "$msi"
