package ui

// The test driver's protocol (testdriver.go, built only with the tag
// invigil_uitest): plain data, so the tests that speak it build either
// way.

// DriverRequest is one request of the test driver's protocol.
type DriverRequest struct {
	Op          string `json:"op"`
	Screen      string `json:"screen,omitempty"`
	Until       string `json:"until,omitempty"`
	TimeoutMS   int    `json:"timeout_ms,omitempty"`
	Label       string `json:"label,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
	Text        string `json:"text,omitempty"`
}

// DriverReply is the answer to a DriverRequest.
type DriverReply struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Screen  string  `json:"screen,omitempty"`
	Version uint64  `json:"version,omitempty"`
	Detail  string  `json:"detail,omitempty"`
	X       float32 `json:"x,omitempty"`
	Y       float32 `json:"y,omitempty"`
	W       float32 `json:"w,omitempty"`
	H       float32 `json:"h,omitempty"`
	Scale   float32 `json:"scale,omitempty"`
}
