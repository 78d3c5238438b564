#!/usr/bin/env bash
# The demo: a local backend (invigild, demo exam with join code DEMO) and a
# client that joins it. With a display the desktop app opens; without one
# (a server, CI) the client runs headless for DEMO_DURATION and prints its
# receipt. Installs the Debian packages it needs first (scripts/setup.sh).
#   DEMO_DURATION=20s   how long the headless exam runs
#   DEMO_ADDR=127.0.0.1:0   where the backend listens (port 0: a free one)
set -euo pipefail
cd "$(dirname "$0")/.."
export LANG=C.UTF-8 LC_ALL=C.UTF-8
./scripts/setup.sh

echo "== building bin/invigil and bin/invigild"
mkdir -p bin
go build -o bin/ ./cmd/invigil ./cmd/invigild

demo=.demo
mkdir -p "$demo"
rm -rf "$demo/spool"
log="$demo/invigild.log"
./bin/invigild serve --addr "${DEMO_ADDR:-127.0.0.1:0}" --data "$demo/data" --demo >"$demo/invigild.out" 2>"$log" &
backend=$!
trap 'kill $backend 2>/dev/null; wait $backend 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$demo/invigild.out")
  [ -n "$url" ] && break
  kill -0 $backend 2>/dev/null || { cat "$log"; echo "invigild did not start"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "invigild did not start in 10 s"; exit 1; }
key=$(./bin/invigild key --data "$demo/data")
echo "== backend on $url (data in $demo/data, log in $log)"
echo "   policy key: $key"

common=(--server-key "$key" --spool "$demo/spool")
# A machine without a camera records the synthetic one (DEMO_CAMERA picks
# another: a device such as video0, test, scene or none).
cam=()
if [ -n "${DEMO_CAMERA:-}" ]; then
  cam=(--camera "$DEMO_CAMERA")
elif [ "$(uname)" = Linux ] && ! ls /dev/video* >/dev/null 2>&1; then
  echo "== no camera found: the client uses a synthetic camera (set DEMO_CAMERA to choose)"
  cam=(--camera scene)
fi
export LANGUAGE=en # Fyne logs a locale error under LANG=C.UTF-8 otherwise
if ./bin/invigil ui-available >/dev/null 2>&1; then
  # The desktop app, launched the way an LMS launches it: with a join link.
  echo "== opening the Invigil app against the demo backend (join code DEMO); close it to see what the backend stored"
  ./bin/invigil run "${common[@]}" "${cam[@]}" "invigil://join?server=$url&code=DEMO" || true
else
  echo "== no display (neither DISPLAY nor WAYLAND_DISPLAY is set): the desktop app cannot open here,"
  echo "   so this falls back to a HEADLESS run of the client for ${DEMO_DURATION:-20s} (screen: synthetic)"
  ./bin/invigil run --headless --accept-consent --duration "${DEMO_DURATION:-20s}" --json \
    --server "$url" --code DEMO "${common[@]}" "${cam[@]}" --screen test
fi
echo "== what the backend stored"
./bin/invigild sessions --data "$demo/data"
