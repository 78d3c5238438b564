// Package capture opens camera and screen sources through pion/mediadevices,
// encodes them to H.264 with openh264, takes JPEG stills and adapts bitrate to
// the upload backlog. It never imports Fyne or transport (TestDeps).
//
// # Shape
//
// OpenCamera and OpenScreen return a *Stream: one goroutine owned by the
// stream reads the source, paces it to the frame rate, converts each kept
// frame to I420 (cropping a screen to one display), encodes it and queues
// the access unit; Read pulls them, and the caller owns every Frame.Data.
// Close stops the goroutine, waits for it and releases the device. When
// the reader falls behind, raw frames are dropped before the encoder, so
// the H.264 stream stays decodable. Snapshot turns the latest raw frame
// into a JPEG. Encoder is the same per-frame pipeline (pipeline.go) without
// a source, for raw frames from elsewhere (the encoder benchmark). ABR moves
// the streams along bitrate/frame-rate ladders from a backlog function.
//
// Sources, chosen only by Config.Source: a camera device ID or node, "test"
// (mediadevices' videotest driver) and "scene" (a synthetic webcam scene in
// Go) for cameras; "all", a display index, or "test" (synthetic desktop)
// for screens. Nothing falls back to a test source.
//
// # Rate control
//
// Three layers hold the bitrate: openh264's own rate control (bitrate
// mode, frame skipping off); a corrector (ratectl.go) that measures how
// far the encoder overshoots its request over the last seconds and asks
// for correspondingly less (never more than the target); and a leaky-bucket
// frame dropper that makes the target a hard long-run ceiling, dropping raw
// frames only when the content is beyond any bitrate. openh264's bitrate
// can be changed at runtime in mediadevices v0.10.0 (SetBitRate →
// SetOption(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT)); measured by
// TestSetBitrateChangesOutput (300 → 100 kbps target: ~270 → ~98 kbps
// delivered). Its frame rate cannot be changed, so SetFrameRate rescales
// the bitrate asked of the encoder (encoder fps / stream fps).
//
// Encoder comparison (bench/capture/encoder.sh; 20 s of the synthetic
// scene, 640×480@15, 150 kbps; CPU = best of 3 child-process runs reading
// the same raw file, on this 2-core machine shared with other work):
//
//	                          CPU s   frames  kbps    PSNR avg  (Y)
//	ours (capture.Encoder)    0.27    300     150.4   31.60 dB  (31.67)
//	x264 ultrafast zerolat.   0.43    300     150.7   31.48 dB  (31.63)
//	ratio / difference        0.64×                   +0.12 dB
//
// (The CPU ratio moved between 0.46× and 0.64× over runs with other load
// on the machine; PSNR and bitrate are deterministic. With x264 given our
// 2 s keyframe spacing, -g 30, it scores 31.27 dB at 155 kbps.)
//
// The openh264 parameters (encoder_openh264.go) come from the sweep in the
// same script: one thread (automatic threading cost ~60 % more CPU for the
// same output), one slice per frame (size-limited slices cost bits and
// skips), frame skipping off (every frame encoded, same PSNR; the layers
// above hold the rate).
//
// # Surprises in pion/mediadevices v0.10.0 (and friends)
//
//   - GetUserMedia opens every registered driver to compare their modes,
//     picks the videotest driver if it is linked in and reports every
//     failure as one "not found". This package picks drivers itself from the
//     driver manager and opens them directly (source_driver.go), which also
//     lets it tell a busy camera (EBUSY, availability.ErrBusy) from a
//     missing one.
//   - On Linux camera.Initialize (the only way to rescan for hot-plugged
//     cameras) deletes every registered video driver — screens and
//     videotest included. This package keeps its own reference to the
//     videotest driver and re-registers screens at each OpenScreen. On
//     Windows and macOS Initialize registers every camera again (duplicates),
//     so cameras are enumerated once, at process start.
//   - The X11 screen driver registers at init, only if $DISPLAY is
//     reachable then; it grabs the root window of the default X screen (all
//     monitors as one image) at the FrameRate of the mode it is given, and
//     each Read blocks on that ticker, so its first frame comes a whole
//     period late (1 s at 1 fps). The driver runs at 20 fps here and
//     pacedSource reads it at the stream's rate, the first frame at once.
//     Its Close frees the XShm segment
//     even while a Read uses it, and after Close a Read waiting on the
//     (stopped) ticker never returns; videotest has the same ticker trap.
//     Streams therefore close a driver only after their goroutine has
//     stopped reading (Close waits up to one frame period, 1 s for a 1 fps
//     screen).
//   - If the X root window shrinks below the XShm image (resolution change
//     while capturing), XShmGetImage fails with BadMatch and Xlib's default
//     error handler exits the process. Not handled here (installing an X
//     error handler is process-wide and Fyne's GLFW manages its own).
//   - The Windows/macOS per-display screen driver captures on every Read
//     with no pacing; pacedSource paces it too.
//   - In this project's sandboxed CI machines the first XShm grab of a
//     1080p Xvfb screen took from 0.2 s to 7 s (the first touch of the
//     shared-memory pages, inside the driver's copyBGR24); later grabs take
//     about 0.1 s. Tests must not expect an early first screen frame.
//   - The driver wrapper keeps its open/running state in an unguarded
//     field: driversMu serialises every open and close.
//   - videotest announces 640×480@30 YUYV, delivers 4:2:2 YCbCr images at
//     30 fps whatever was asked, is one device per process (a second open
//     is ErrCameraBusy here), and its content is static colour bars plus a
//     183×120 patch of fresh binary noise each frame: ~10 kB per frame at
//     openh264's lowest quality, so at 150 kbps the dropper keeps ~2 fps of
//     it. Use Source "scene" for realistic content.
//   - openh264 clamps QP to 12–42 (camera) and 26–35 (screen content), so
//     it cannot reach low bitrates on noisy content by itself; it inserts an
//     IDR about every 17 frames on noisy webcam content (scene-change
//     detection, not configurable through mediadevices), whatever the intra
//     period; it is never given timestamps (so RC timestamp mode is
//     meaningless); it logs warnings ("[OpenH264] ... Warning: ...") to
//     stderr, which mediadevices offers no way to silence (cmd/invigil
//     filters them out of fd 2 on Linux).
//   - mediadevices' openh264 ForceKeyFrame writes an unsynchronised C
//     field, so keyframes are forced only from the stream goroutine; each
//     Read returns a fresh C.GoBytes copy (Frame.Data is not aliased).
//   - mediadevices' ToI420 and the openh264 bridge read planes from
//     &Y[0] and ignore Rect.Min, so a sub-image (a cropped display) must be
//     copied into a compact image — toI420 converts and crops in one pass.
//   - MJPEG frames decode to full-range (JFIF) YCbCr; H.264 without colour
//     description means video range, so those are rescaled.
//   - kbinani/screenshot finds displays through Xinerama: under Xvfb
//     +xinerama every head is reported at (0,0) (so display "1" of such a
//     server is the top-left 800×600 of the root); NumActiveDisplays turns
//     every error into 0 (Displays retries, then says ErrNoDisplay); its X
//     library jezek/xgb logs "Could not get authority info" to stderr when
//     there is no ~/.Xauthority and imports "testing" in non-test code.
//
// # Platforms
//
// OS code follows STYLE.md item 4: camera_{linux,windows,darwin}.go over
// the shared camera_mediadevices.go, camera_other.go; screen_linux.go
// (X11 + crop), screen_perdisplay.go (Windows, macOS), screen_other.go;
// encoder_openh264.go (cgo and a platform with bundled openh264),
// encoder_nocgo.go and encoder_unsupported.go. Without cgo (for example
// GOOS=windows go vet) the encoder and the cameras are stubs returning
// ErrUnsupported, the Windows screen driver (pure Go) is real; the cgo
// files need a cross C toolchain to be type-checked for another OS. For
// Windows that works here with Debian's gcc-mingw-w64-x86-64 and
// g++-mingw-w64-x86-64: CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc
// CXX=x86_64-w64-mingw32-g++ GOOS=windows go vet ./capture (and go build)
// pass. macOS cgo needs the macOS SDK and was not checked.
package capture
