#!/usr/bin/env bash
# Builds, signs and notarises Invigil for macOS. Runs ON A MAC (Xcode
# command-line tools, Go, a Developer ID); it is not run by the tests here,
# which check its plists (scripts/test-packaging.sh).
#   packaging/macos/build-macos.sh VERSION
# Makes dist/Invigil.app (universal: arm64 + x86_64) and
# dist/invigil-VERSION-macos.pkg, which installs it in /Applications.
# Signing and notarisation come from the environment; without them the app
# and package are unsigned (for a try-out on your own Mac only):
#   INVIGIL_MACOS_APP_IDENTITY        "Developer ID Application: NAME (TEAMID)"
#   INVIGIL_MACOS_INSTALLER_IDENTITY  "Developer ID Installer: NAME (TEAMID)"
#   INVIGIL_NOTARY_PROFILE            a keychain profile made once with
#       xcrun notarytool store-credentials PROFILE --apple-id ... --team-id ...
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 VERSION" >&2; exit 2; }
version=$1
[ "$(uname)" = Darwin ] || { echo "build-macos: runs on macOS only" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=$(git rev-list --count HEAD 2>/dev/null || echo 1)
dist=$root/dist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The binary, for both architectures (cgo: Fyne, openh264, screenshot).
for arch in arm64 amd64; do
  CGO_ENABLED=1 GOOS=darwin GOARCH=$arch MACOSX_DEPLOYMENT_TARGET=11.0 \
    go build -trimpath -ldflags "-s -w" -o "$work/invigil-$arch" ./cmd/invigil
done

# 2. The bundle: Info.plist with the version, the icon as .icns.
app=$dist/Invigil.app
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
lipo -create -output "$app/Contents/MacOS/invigil" "$work/invigil-arm64" "$work/invigil-amd64"
sed -e "s/@VERSION@/$version/" -e "s/@BUILD@/$build/" packaging/macos/Info.plist >"$app/Contents/Info.plist"
plutil -lint "$app/Contents/Info.plist"
iconset=$work/Invigil.iconset
mkdir -p "$iconset"
for s in 16 32 128 256 512; do
  sips -z $s $s assets/icon.png --out "$iconset/icon_${s}x${s}.png" >/dev/null
  d=$((s * 2))
  sips -z $d $d assets/icon.png --out "$iconset/icon_${s}x${s}@2x.png" >/dev/null
done
iconutil -c icns -o "$app/Contents/Resources/Invigil.icns" "$iconset"

# 3. Sign the app with the hardened runtime (notarisation requires it) and
#    the camera entitlement, with a secure timestamp.
if [ -n "${INVIGIL_MACOS_APP_IDENTITY:-}" ]; then
  codesign --force --timestamp --options runtime \
    --entitlements packaging/macos/entitlements.plist \
    --sign "$INVIGIL_MACOS_APP_IDENTITY" "$app"
  codesign --verify --strict --verbose=2 "$app"
else
  echo "build-macos: WARNING: INVIGIL_MACOS_APP_IDENTITY unset: the app is NOT signed" >&2
fi

# 4. The installer package: a component package of the app, wrapped in a
#    product archive (what MDMs deploy), signed with the Installer identity.
pkg=$dist/invigil-$version-macos.pkg
pkgbuild --component "$app" --install-location /Applications \
  --identifier org.invigil.client.pkg --version "$version" "$work/component.pkg"
sign=()
[ -z "${INVIGIL_MACOS_INSTALLER_IDENTITY:-}" ] || sign=(--sign "$INVIGIL_MACOS_INSTALLER_IDENTITY")
productbuild --package "$work/component.pkg" --identifier org.invigil.client \
  --version "$version" "${sign[@]}" "$pkg"
[ ${#sign[@]} -gt 0 ] || echo "build-macos: WARNING: INVIGIL_MACOS_INSTALLER_IDENTITY unset: the .pkg is NOT signed" >&2

# 5. Notarise and staple, so Gatekeeper accepts it offline.
if [ -n "${INVIGIL_NOTARY_PROFILE:-}" ] && [ ${#sign[@]} -gt 0 ]; then
  xcrun notarytool submit "$pkg" --keychain-profile "$INVIGIL_NOTARY_PROFILE" --wait
  xcrun stapler staple "$pkg"
  xcrun stapler validate "$pkg"
  spctl --assess --type install --verbose "$pkg"
else
  echo "build-macos: WARNING: not notarised (needs INVIGIL_NOTARY_PROFILE and a signed .pkg)" >&2
fi
(cd "$dist" && shasum -a 256 "$(basename "$pkg")" >"$(basename "$pkg").sha256")
echo "$pkg"
