// Package backend is Invigil's reference backend (invigild): exams and their
// signed policies, the join API, websocket ingest that stores every message
// exactly once before acknowledging it, recordings on the local disk and the
// session/event store in SQLite.
//
// Ingest treats what a client sends as untrusted (docs/protocol.md §2.2):
// capture times outside a window around the join and the backend's clock,
// media beyond recording.CheckAccessUnit's bounds and stills that are not
// JPEGs within bounds are refused: acked, kept verbatim in the session's
// refused.ivr, reported as an ingest.refused event, never parsed further
// (refuse.go). Each session has a processing-time budget that slows it
// down when spent (budget.go); its memory is bounded by transport's batch
// and the writers' chunks. Files under sessions/ are 0600, directories
// 0700. What surprised us: the session digest copied every frame to hash
// it (append(digest[:], frame...)); and a 1 GiB address-space limit
// (ulimit -v) kills a healthy backend, which reserves about 1.7 GiB of
// address space at 85 MiB of RSS (Go heap arenas, glibc's 8 MiB thread
// stacks): the hostile-input test limits data (RLIMIT_DATA) instead.
//
// The live relay (live.go, live_api.go; docs/dashboard.md "Live") hands
// each stored camera and screen access unit to the dashboard's viewers
// after the batch is durable, never waiting for a viewer, and keeps each
// track's last GOP so a late viewer starts at once. Surprises: Chromium's
// WebCodecs decodes openh264's Annex-B as it is when configured without a
// description; typing into a field key by key with chromedp takes
// seconds on a loaded machine under the race detector (the tests set the
// value); and drawing fifteen tiles' frames on the page's own thread
// dropped it to 9 animation frames a second on the loaded 2-core VM,
// which is why the page decodes and draws in workers.
package backend
