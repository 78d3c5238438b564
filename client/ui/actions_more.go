package ui

import "github.com/invigil/invigil/client"

// moreActions are the actions of the error, exam and receipt screens that
// Actions does not list (kept apart so that app.go stays as it is);
// *client.Flow implements them, and more finds them on any Actions.
type moreActions interface {
	// EditServer goes back to the join screen to correct the server
	// address or the code.
	EditServer()
	// ShowNotice and HideNotice open and close the privacy notice during
	// the exam.
	ShowNotice()
	HideNotice()
	// CloseKept closes the programs the student chose to keep open.
	CloseKept()
}

var _ moreActions = (*client.Flow)(nil)

// more is act's moreActions; an Actions without them gets buttons that do
// nothing.
func more(act Actions) moreActions {
	if m, ok := act.(moreActions); ok {
		return m
	}
	return noMore{}
}

type noMore struct{}

func (noMore) EditServer() {}
func (noMore) ShowNotice() {}
func (noMore) HideNotice() {}
func (noMore) CloseKept()  {}
