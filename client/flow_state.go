package client

import (
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
)

// Screen names what the UI shows for a State.
type Screen string

// The screens, in the order a student meets them.
const (
	ScreenJoin      Screen = "join"      // type a code (and the server, when none is configured)
	ScreenBusy      Screen = "busy"      // connecting, starting the recording: a spinner and a line
	ScreenCheck     Screen = "check"     // the system check
	ScreenConsent   Screen = "consent"   // the privacy notice
	ScreenIDPhoto   Screen = "id_photo"  // take, retake and upload the ID photo
	ScreenRoomScan  Screen = "room_scan" // show the room to the camera
	ScreenExam      Screen = "exam"      // the exam itself, full screen
	ScreenFinishing Screen = "finishing" // uploading what is left
	ScreenReceipt   Screen = "receipt"   // what was uploaded, and the digest
	ScreenError     Screen = "error"     // something the student can act on
)

// State is one snapshot of the flow for the UI to render. The flow
// publishes a new State on every change; a State is never modified after it
// is published (slices in it are fresh copies), so the UI may keep it.
type State struct {
	Screen Screen
	// Version counts published states.
	Version uint64
	// Now is when the state was published; the flow republishes every
	// second on screens that show a clock (exam, countdowns).
	Now time.Time

	// ExamName and Server, once known.
	ExamName string
	Server   string
	// Recording is true while camera or screen capture runs: the UI shows
	// the recording indicator whenever it is set.
	Recording bool

	Join      *JoinState
	Busy      *BusyState
	Check     *CheckState
	Consent   *ConsentState
	Photo     *PhotoState
	RoomScan  *RoomScanState
	Exam      *ExamState
	Finishing *FinishingState
	Receipt   *ReceiptState
	Error     *ErrorState
}

// JoinState is the join screen.
type JoinState struct {
	Server         string // prefilled
	ServerEditable bool   // false when the managed configuration fixes it
	Code           string // prefilled (after an unknown code)
	// Problem says what was wrong with the last attempt, in plain words.
	Problem string
}

// BusyState is a short wait: a title and one line of detail.
type BusyState struct {
	Title  string
	Detail string
}

// CheckItem is one row of the check screen.
type CheckItem struct {
	ID      string
	Title   string
	Status  lockdown.Status
	Summary string
	// Fixes are what the student can do, in plain words.
	Fixes []string
	// Running: the check has not finished yet.
	Running bool
}

// Check item IDs the flow adds to lockdown's.
const (
	CheckItemCamera  = "camera.preview"
	CheckItemNetwork = "network"
)

// CheckState is the system check screen.
type CheckState struct {
	Running bool // lockdown's check is running (first run or "Check again")
	Items   []CheckItem
	// Closable names the programs "Close these apps" closes; empty hides
	// the button.
	Closable []string
	Closing  bool
	// Camera is the live preview of the camera (nil: the policy records
	// no camera, or it is not open yet). It is only shown: nothing is
	// recorded before consent.
	Camera exam.Camera
	// Unpinned: the policy was checked against the key the backend sent,
	// not one the configuration pins.
	Unpinned bool
	// Resumed: an earlier run's session is resumed.
	Resumed bool
	// CanContinue: every check finished and none failed.
	CanContinue bool
	// Blocking says why Continue is off, in plain words.
	Blocking string
}

// ConsentState is the privacy notice.
type ConsentState struct {
	Notice string
}

// PhotoStep is where the ID photo is.
type PhotoStep string

// The ID photo's steps.
const (
	PhotoLive      PhotoStep = "live"      // preview; "Take photo"
	PhotoTaken     PhotoStep = "taken"     // frozen; "Retake" or "Use this photo"
	PhotoUploading PhotoStep = "uploading" // progress until the backend has it
)

// PhotoState is the ID photo screen.
type PhotoState struct {
	Step     PhotoStep
	Camera   exam.Camera
	Photo    []byte  // the JPEG taken (PhotoTaken, PhotoUploading)
	Progress float64 // 0..1 while uploading
	Problem  string
}

// RoomScanStep is where the room scan is.
type RoomScanStep string

// The room scan's steps.
const (
	RoomScanIntro     RoomScanStep = "intro"
	RoomScanScanning  RoomScanStep = "scanning"
	RoomScanUploading RoomScanStep = "uploading"
)

// RoomScanState is the room scan screen.
type RoomScanState struct {
	Step     RoomScanStep
	Camera   exam.Camera
	Shots    int // stills taken so far
	Progress float64
	Ends     time.Time     // end of the scanning step
	Length   time.Duration // how long the scanning step lasts
	Problem  string
}

// MessageKind says what a line of the exam's message list is.
type MessageKind string

// The kinds of messages; "" is a chat message.
const (
	MessageChat    MessageKind = ""
	MessageWarning MessageKind = "warning" // a proctor's warning (also after it was acknowledged)
	MessagePaused  MessageKind = "paused"  // the proctor paused the exam (Text: the reason)
	MessageResumed MessageKind = "resumed" // the proctor resumed it
)

// ChatMessage is one line of the proctor conversation: chat both ways,
// and the proctor's warnings, pauses and resumes, so that none is gone
// once its overlay closes.
type ChatMessage struct {
	FromProctor bool
	Kind        MessageKind
	Text        string
	At          time.Time
	// Pending: the student's reply is not stored by the server yet (it
	// waits on this computer while offline and is sent on reconnect).
	Pending bool
	// upTo: the reply is stored once the server has acknowledged this
	// sequence number.
	upTo uint64
}

// Warning is a proctor's warning the student must acknowledge.
type Warning struct {
	ID   string
	Text string
	At   time.Time
}

// ExamState is the exam screen.
type ExamState struct {
	Started time.Time
	// Connected is the link to the backend; while it is down the
	// recording goes on into the spool.
	Connected bool
	// Backlog is what waits to be uploaded.
	BacklogBytes    int64
	BacklogMessages int
	Reconnects      int
	// Messages is the chat with the proctor, oldest first.
	Messages []ChatMessage
	// Warning, when set, covers the screen until acknowledged.
	Warning *Warning
	// Paused by the proctor (PauseReason says why). The elapsed time
	// stands still during a pause: PausedAt is when the current pause
	// began, PausedFor the length of the earlier ones (Elapsed).
	Paused      bool
	PauseReason string
	PausedAt    time.Time
	PausedFor   time.Duration
	// ConfirmFinish asks "Finish the exam?".
	ConfirmFinish bool
	// Alerts are the open violations, in plain words, so the student can
	// fix them ("AnyDesk is running"), the serious ones (the policy blocks
	// them) first; Serious and Minor are the same split by severity. A
	// program is named once however many processes it runs.
	Alerts  []string
	Serious []string
	Minor   []string
	// Kept are the programs the student chose to keep open (Ask) that
	// still run; CloseKept closes them. KeptNote says how the last
	// attempt went.
	Kept     []string
	Closing  bool
	KeptNote string
	// Notice is the privacy notice the student agreed to; NoticeOpen
	// shows it over the exam (ShowNotice, HideNotice).
	Notice     string
	NoticeOpen bool
	// Ask, when set, asks whether to close prohibited programs (policy
	// enforcement "ask").
	Ask []string
	// ClipboardBlocked: copy, cut and paste are refused in the window.
	ClipboardBlocked bool
	// Problem is a lasting problem (capture stopped, disk full).
	Problem string
	// Away is the allowed program that has the focus while the exam
	// window does not (focus.go): the indicator shows then.
	Away FocusAway
	// ExamBrowser: the exam's page opens in the exam browser (policy
	// exam_browser): the student works there, not in this window.
	ExamBrowser bool
}

// Elapsed is the exam's running time at now, pauses left out.
func (e ExamState) Elapsed(now time.Time) time.Duration {
	if e.Started.IsZero() {
		return 0
	}
	d := now.Sub(e.Started) - e.PausedFor
	if e.Paused && !e.PausedAt.IsZero() {
		d -= now.Sub(e.PausedAt)
	}
	return max(d, 0)
}

// FinishingState is the upload drain.
type FinishingState struct {
	EndedByProctor bool
	EndText        string
	Total          uint64 // messages to upload in all
	Uploaded       uint64
	Progress       float64
	Connected      bool
}

// ReceiptState is the end.
type ReceiptState struct {
	Receipt        exam.Receipt
	EndedByProctor bool
	EndText        string
	// WipeProblem is set when the local data could not be removed.
	WipeProblem string
	// Record is the receipt as it is saved and copied.
	Record exam.ReceiptRecord
	// Saved is where the receipt was saved (zero: not saved);
	// SaveProblem says why it could not be.
	Saved       exam.ReceiptFiles
	SaveProblem string
}

// ErrorKind says which error screen to show.
type ErrorKind string

// The error screens.
const (
	ErrorUnreachable ErrorKind = "unreachable" // cannot reach the backend; retrying
	ErrorCamera      ErrorKind = "camera"      // no camera, or busy
	ErrorBadPolicy   ErrorKind = "bad_policy"  // the exam settings do not verify
	ErrorNotOpen     ErrorKind = "not_open"    // the exam opens later
	ErrorRefused     ErrorKind = "refused"     // closed, finished, ...
	ErrorBadLink     ErrorKind = "bad_link"    // a malformed invigil:// link
	ErrorDeclined    ErrorKind = "declined"    // the student did not agree
	ErrorStopped     ErrorKind = "stopped"     // the backend stopped the session
	ErrorUpload      ErrorKind = "upload"      // the final upload could not finish
	ErrorOther       ErrorKind = "other"       // anything else, in one line
)

// Action is something the student can do on an error screen.
type Action string

// The error screens' actions.
const (
	ActionRetry      Action = "retry"       // try the same thing again now
	ActionEnterCode  Action = "enter_code"  // back to the join screen
	ActionBackNotice Action = "back_notice" // back to the privacy notice
	ActionEditServer Action = "edit_server" // back to the join screen with the server and code to correct
	ActionQuit       Action = "quit"
)

// ErrorState is an error screen.
type ErrorState struct {
	Kind ErrorKind
	// Cause says why the server could not be reached (ErrorUnreachable).
	Cause   NetCause
	Title   string
	Message string
	// Detail is the technical cause in one line (for IT staff), never a
	// stack trace.
	Detail string
	// SpoolSafe: recordings are kept on this computer and upload later.
	SpoolSafe bool
	// RetryAt, when set, is when the flow tries again by itself.
	RetryAt time.Time
	// OpensAt is when the exam opens (ErrorNotOpen).
	OpensAt time.Time
	Actions []Action
}
