package client

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/transport"
)

// TestRefusedOutdatedClient: a join refused as client_outdated tells the
// student to update (with the backend's message: which version, where),
// not to check the join code.
func TestRefusedOutdatedClient(t *testing.T) {
	err := fmt.Errorf("%w: %w", exam.ErrJoinRefused, &transport.RemoteError{Code: transport.CodeClientOutdated,
		Message: "Update Invigil to 0.2 or later: https://exam.example/download"})
	e := refusedError(err)
	if e.Title != "Invigil needs an update" || !strings.Contains(e.Message, "Update Invigil to 0.2 or later: https://exam.example/download") ||
		strings.Contains(e.Message, "join code") || !strings.Contains(e.Message, exam.Version) {
		t.Errorf("error screen %+v", e)
	}
	if slices.Contains(e.Actions, ActionEnterCode) {
		t.Errorf("actions %v offer another code", e.Actions)
	}
}
