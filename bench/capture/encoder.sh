#!/usr/bin/env bash
# Encoder comparison for issue 3: the same 20 s of synthetic webcam scene
# (640x480@15, raw yuv420p from scene.sh) through Invigil's capture
# pipeline (capture.Encoder: the code every camera stream runs, with
# openh264) and through ffmpeg -threads 1 -c:v libx264 -preset ultrafast
# -tune zerolatency at the same 150 kbps. Prints CPU time (best of 3 runs,
# each encoder a child process reading the same raw file), PSNR against the
# source and achieved bitrate, then the ratios against the goals:
#   CPU ours/x264 <= 1.0x, PSNR ours >= x264 - 0.5 dB, bitrate within 10 %.
#
# Usage: bench/capture/encoder.sh [--sweep] [SECONDS]
#   --sweep  also print the openh264 parameter sweep behind capture's choice
# Needs: go (cgo, g++), ffmpeg with libx264 (Debian's has it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sweep=0
if [ "${1:-}" = "--sweep" ]; then sweep=1; shift; fi
secs=${1:-20}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/scene.sh" "$work/scene.yuv" "$secs" 640x480 15 >/dev/null
(cd "$root" && go build -o "$work/encbench" ./bench/capture/encbench)
"$work/encbench" -in "$work/scene.yuv" -size 640x480 -fps 15 -kbps 150 -work "$work"
if [ "$sweep" = 1 ]; then
  echo
  "$work/encbench" -mode sweep -in "$work/scene.yuv" -size 640x480 -fps 15 -kbps 150
fi
