#!/usr/bin/env bash
# Writes a synthetic webcam-like scene as raw yuv420p frames: a static room, a
# moving "person" and sensor noise. Usage: scene.sh OUT.yuv [SECONDS] [WxH] [FPS]
# Needs ffmpeg. Same input for our encoder and for an ffmpeg baseline.
# Copied from the project's shared bench/scene.sh (../shared/bench/scene.sh,
# outside this repository) so CI can run bench/capture/encoder.sh.
set -eu
out=${1:?usage: scene.sh OUT.yuv [SECONDS] [WxH] [FPS]}
secs=${2:-20}; size=${3:-640x480}; fps=${4:-15}
w=${size%x*}; h=${size#*x}
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "color=c=0x6b7b8c:s=${size}:r=${fps},format=yuv420p,\
drawbox=x=0:y=$((h*5/8)):w=${w}:h=$((h*3/8)):color=0x4a3b2a:t=fill,\
drawbox=x='$((w*5/16))+$((w*3/32))*sin(t*1.3)':y='$((h/4))+$((h/24))*sin(t*2.1)':w=$((w*11/32)):h=$((h*5/8)):color=0xd9a07a:t=fill,\
drawbox=x='$((w*25/64))+$((w*3/32))*sin(t*1.3)':y='$((h*17/48))+$((h/24))*sin(t*2.1)':w=$((w*3/16)):h=$((h/12)):color=0x303030:t=fill,\
noise=alls=12:allf=t" -t "$secs" -f rawvideo "$out"
echo "$out: ${secs}s ${size}@${fps} yuv420p"
