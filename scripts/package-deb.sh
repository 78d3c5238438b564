#!/usr/bin/env bash
# Builds the Debian/Ubuntu package of the Invigil client with dpkg-deb:
#   /usr/bin/invigil, the desktop entry (invigil:// links), hicolor icons,
#   /etc/invigil/ (empty: the machine configuration is the admin's, see
#   docs/deploy.md), a man page, copyright, changelog and an example config.
#   scripts/package-deb.sh [-v VERSION] [-r REVISION] [-b BINARY] [-o OUTDIR]
#     -v  upstream version (default: exam.Version from client/exam/join.go)
#     -r  Debian revision (default 1): the package is VERSION-REVISION
#     -b  a built client (default: build one: PIE, stripped, full RELRO)
#     -o  where the .deb goes (default: dist/)
# Prints the .deb's path as the last line. Needs dpkg-dev (dpkg-shlibdeps
# computes Depends from the binary's libraries) and imagemagick (icons).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version="" revision=1 bin="" outdir=$root/dist
while [ $# -gt 0 ]; do
  case $1 in
    -v) version=$2; shift 2 ;;
    -r) revision=$2; shift 2 ;;
    -b) bin=$2; shift 2 ;;
    -o) outdir=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps convert gzip; do
  command -v $tool >/dev/null || { echo "package-deb: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done
cd "$root"
if [ -z "$version" ]; then
  version=$(sed -n 's/^var Version = "\([0-9][0-9.]*\)"$/\1/p' client/exam/join.go)
  [ -n "$version" ] || { echo "package-deb: no Version in client/exam/join.go" >&2; exit 1; }
fi
case $version in
  [0-9]*) ;;
  *) echo "package-deb: version $version must start with a digit (Debian policy 5.6.12)" >&2; exit 2 ;;
esac
[[ $revision =~ ^[0-9]+$ ]] || { echo "package-deb: revision $revision must be a number" >&2; exit 2; }
debversion=$version-$revision
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$bin" ]; then
  bin=$work/invigil
  # A position-independent executable (ASLR), stripped, with full RELRO
  # (-z now: the dynamic symbols are bound at start, the table read-only).
  CGO_ENABLED=1 go build -buildmode=pie -trimpath -ldflags "-s -w -extldflags=-Wl,-z,relro,-z,now $(scripts/build-stamp.sh)" -o "$bin" ./cmd/invigil
fi
[ -x "$bin" ] || { echo "package-deb: $bin is not an executable" >&2; exit 1; }

# Everything in the package is root:root (dpkg-deb --root-owner-group),
# directories 0755, files 0644, the binary 0755, whatever the umask.
umask 022
pkg=$work/pkg
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/applications" \
  "$pkg/usr/share/doc/invigil/examples" "$pkg/usr/share/man/man1" "$pkg/etc/invigil"
install -m 0755 "$bin" "$pkg/usr/bin/invigil"
install -m 0644 packaging/linux/org.invigil.client.desktop "$pkg/usr/share/applications/"
for size in 16 22 24 32 48 64 128 256 512; do
  d=$pkg/usr/share/icons/hicolor/${size}x${size}/apps
  install -d "$d"
  # From the 512 px PNG (this ImageMagick has no SVG renderer); -strip: no
  # timestamps in the PNG, so the same input makes the same file.
  convert assets/icon.png -resize ${size}x${size} -strip "$d/org.invigil.client.png"
done
install -d "$pkg/usr/share/icons/hicolor/scalable/apps"
install -m 0644 assets/icon.svg "$pkg/usr/share/icons/hicolor/scalable/apps/org.invigil.client.svg"
install -m 0644 packaging/config.example.json "$pkg/usr/share/doc/invigil/examples/config.json"
# copyright: Invigil's notice, then the licence of every Go module linked
# into the binary, as the module ships it.
{
  cat packaging/linux/copyright
  modcache=$(go env GOMODCACHE)
  go version -m "$bin" | awk '$1 == "dep" || $1 == "=>" { print $2, $3 }' | while read -r mod ver; do
    # The module cache spells capital letters as !lower.
    dir=$modcache/$(printf '%s' "$mod" | sed 's/[A-Z]/!\L&/g')@$ver
    lic=$(ls "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* 2>/dev/null | head -n 1 || true)
    [ -n "$lic" ] || { echo "package-deb: no licence file for $mod $ver in $dir" >&2; exit 1; }
    printf '\n-------------------------------------------------------------------------\n%s %s\n\n' "$mod" "$ver"
    if grep -q 'Apache License' "$lic" && grep -q 'Version 2.0, January 2004' "$lic"; then
      # Debian policy 12.5: refer to the common licence, do not copy it
      # (what precedes the licence text, such as copyright lines, stays).
      sed '/Apache License/,$d' "$lic"
      echo "License: Apache-2.0"
      echo "On Debian systems the full text of the Apache License 2.0 is in"
      echo "/usr/share/common-licenses/Apache-2.0."
    else
      cat "$lic"
    fi
  done
} >"$pkg/usr/share/doc/invigil/copyright"
chmod 0644 "$pkg/usr/share/doc/invigil/copyright"
sed "s/@VERSION@/$debversion/g" packaging/linux/changelog.Debian | gzip -9n >"$pkg/usr/share/doc/invigil/changelog.Debian.gz"
sed "s/@VERSION@/$version/g" packaging/linux/invigil.1 | gzip -9n >"$pkg/usr/share/man/man1/invigil.1.gz"
install -m 0755 packaging/linux/postinst packaging/linux/postrm "$pkg/DEBIAN/"
chmod 0644 "$pkg"/usr/share/doc/invigil/*.gz "$pkg"/usr/share/man/man1/*.gz

# Depends: the shared libraries the binary links (libGL, the X11 libraries
# of GLFW and XShm screen capture, libc), from the shlibs files of the
# packages that installed them on this machine.
mkdir -p "$work/src/debian"
printf 'Source: invigil\n\nPackage: invigil\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/invigil" 2>"$work/shlibdeps.err" |
  sed -n 's/^shlibs:Depends=//p') || { cat "$work/shlibdeps.err" >&2; exit 1; }
[ -n "$depends" ] || { echo "package-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# GLFW (Fyne's window system) loads these X11 libraries at run time with
# dlopen, so dpkg-shlibdeps cannot see them; without them no window opens.
# xdg-utils: xdg-open hands invigil:// links from browsers to the desktop entry.
depends="$depends, libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1, libxrender1, xdg-utils"
size=$(du -k -s --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: invigil
Version: $debversion
Architecture: $arch
Maintainer: The Invigil authors <invigil@invigil.org>
Installed-Size: $size
Depends: $depends
Recommends: libgl1-mesa-dri
Section: education
Priority: optional
Homepage: https://github.com/invigil/invigil
Description: lockdown client for proctored online exams
 Invigil is the student's side of an open, self-hostable online proctoring
 system: it checks and locks down the computer for the time of an exam,
 records the webcam and the screen after the student consents, and uploads
 them to the school's Invigil backend.
 .
 Exam links (invigil://join?...) from a learning platform open it. Lab
 machines take a managed configuration in /etc/invigil/config.json.
EOF
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"
mkdir -p "$outdir"
deb=$outdir/invigil_${debversion}_${arch}.deb
# xz: dpkg's default; -Zxz spelled out so every dpkg version makes the same.
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
