#!/usr/bin/env bash
# CPU and memory of the capture side of the client: the camera (synthetic
# webcam scene by default, or "test" for mediadevices' videotest, or a real
# device) at 640x480@15/150 kbps and the screen of a 1920x1080 Xvfb (which
# streambench starts) at 1 fps/80 kbps, opened and read exactly as the
# client does (the Xvfb screen is static: the cost is in grabbing and
# converting, not encoding).
# SCREEN=test uses the synthetic desktop instead, SCREEN= none; FREEOS=1
# returns freed Go heap to the OS every second. Prints per-stream figures, CPU as a share of one core and peak RSS
# (issue 3's goal for the whole client: <= 25 % of a core, <= 150 MB).
#
# Usage: bench/capture/streams.sh [CAMERA] [SECONDS]
# Needs: go (cgo), Xvfb.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
camera=${1:-scene}
secs=${2:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/streambench" ./bench/capture/streambench)
"$work/streambench" -xvfb -camera "$camera" -screen "${SCREEN-all}" -d "${secs}s" ${FREEOS:+-freeos}
