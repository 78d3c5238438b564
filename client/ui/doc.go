// Package ui is the Fyne desktop client: one screen type per file, each
// rendering the client.State the flow (client.Flow) publishes, and calling
// the flow's actions from its buttons. App.Render and everything it
// reaches run on the Fyne UI goroutine only; App.Run is the one adapter
// goroutine that carries states and camera pictures there with fyne.Do
// (it takes the pictures on a helper goroutine, one at a time).
// The package builds without fyne.io/fyne/v2/app, so its tests run with
// fyne.io/fyne/v2/test, without cgo or a display; only cmd/invigil imports
// app.
//
// Fyne quirks met here (v2.7.4):
//   - The test driver's fyne.Do runs the function at once on the calling
//     goroutine. Tests therefore call App.Render themselves, on the test
//     goroutine, instead of running App.Run, which would race with them.
//   - widget.Label's LowImportance text uses the theme's "disabled" colour;
//     the theme makes it a readable grey for secondary text.
//   - A canvas.Rectangle does not stop taps: an overlay that must block the
//     screen under it needs a tappable widget (scrim) underneath its card.
//   - A word-wrapped Label in a container that does not give it a width
//     (Center, HBox, the sides of a Border) wraps after every word and
//     asks for a huge height; such labels are truncated instead. The GL
//     driver re-lays out a container when a child's minimum size changes
//     (Show, Hide); the test canvas does not, so tests refresh before
//     capturing.
//   - Fyne's window focus reaches the app only as the lifecycle's
//     entered/exited-foreground events, which App.New hooks for focus loss.
//   - A focused Entry takes copy/cut/paste shortcuts before the canvas's
//     own shortcuts, so the exam's entries (guardedEntry) report them
//     themselves; the canvas shortcuts cover the rest of the window.
//   - With LANG=C.UTF-8 Fyne logs "Error parsing user locale C": its lang
//     package reads the locale in an init function, before any code of
//     ours runs. Harmless; LANGUAGE=en silences it (the scripts set it).
//   - The system tray panics on Quit without a D-Bus session, and its menu
//     always gets a Quit item that would end an exam without finishing it:
//     the client has no tray.
//   - A Border layout leaves a padding-wide gap between its top object and
//     the centre; the app bar uses its own layout so that the exam's
//     overlays cover everything under the bar.
//   - The keyboard: the window's OnTypedKey gets a key only when nothing
//     has the focus (the focused widget gets it otherwise), Tab never
//     reaches either, widget.Button presses on Space but not on Enter and
//     drops the focus when pressed, and the canvas keeps the focus on a
//     widget of a screen that has gone. Button (widgets.go) presses on
//     Enter, keeps the focus and passes other keys on to OnTypedKey; App
//     drops the focus when the screen changes (keyboard.go).
//   - A window is never smaller than its content's minimum size: Fyne
//     grows it (beyond the screen, without a window manager). Screens keep
//     their minimum height small by scrolling their content; window.go
//     sizes the window to the screen at the window's scale, known only
//     once the window exists (at the first Render).
//   - The focus goes to a widget under an overlay too (the scrim stops the
//     pointer, not Tab): App moves it into the overlay on every render.
package ui
