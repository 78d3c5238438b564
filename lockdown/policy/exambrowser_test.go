package policy

import (
	"net/url"
	"strings"
	"testing"
)

func TestMatchURLPrefix(t *testing.T) {
	tests := []struct {
		prefix, url string
		want        bool
	}{
		{"https://lms.example.edu/quiz/", "https://lms.example.edu/quiz/", true},
		{"https://lms.example.edu/quiz/", "https://lms.example.edu/quiz/7?page=2#q3", true},
		{"https://lms.example.edu/quiz/", "https://lms.example.edu/quiz", false},
		{"https://lms.example.edu/quiz", "https://lms.example.edu/quiz", true},
		{"https://lms.example.edu/quiz", "https://lms.example.edu/quiz?x=1", true},
		{"https://lms.example.edu/quiz", "https://lms.example.edu/quiz/1", true},
		{"https://lms.example.edu/quiz", "https://lms.example.edu/quizzes", false},
		{"https://lms.example.edu", "https://lms.example.edu/anything", true},
		{"https://lms.example.edu", "https://lms.example.edu", true},
		{"https://lms.example.edu", "https://lms.example.edu.evil.example/", false},
		{"https://lms.example.edu", "https://evil.example/?https://lms.example.edu/", false},
		{"https://lms.example.edu/", "http://lms.example.edu/", false},
		{"HTTPS://LMS.Example.EDU/quiz", "https://lms.example.edu/quiz/1", true},
		{"https://lms.example.edu:443/", "https://lms.example.edu/x", true},
		{"https://lms.example.edu/", "https://lms.example.edu:443/x", true},
		{"https://lms.example.edu/", "https://lms.example.edu:8443/x", false},
		{"http://127.0.0.1:8080/exam/", "http://127.0.0.1:8080/exam/a", true},
		{"http://127.0.0.1:8080/exam/", "http://127.0.0.1:8081/exam/a", false},
		{"https://lms.example.edu/", "https://user@lms.example.edu/", false},
		{"https://lms.example.edu/", "javascript:alert(1)", false},
		{"https://lms.example.edu/", "data:text/html,hi", false},
		{"https://lms.example.edu/", "file:///etc/passwd", false},
		{"https://lms.example.edu/", "about:blank", false},
		{"https://lms.example.edu/", "/relative", false},
		{"https://lms.example.edu/a%2Fb/", "https://lms.example.edu/a%2Fb/c", true},
		{"https://lms.example.edu/a%2Fb/", "https://lms.example.edu/a/b/c", false},
	}
	for _, tt := range tests {
		if got := MatchURLPrefix(tt.prefix, tt.url); got != tt.want {
			t.Errorf("MatchURLPrefix(%q, %q) = %v, want %v", tt.prefix, tt.url, got, tt.want)
		}
	}
}

func TestExamBrowserAllowedPrefixes(t *testing.T) {
	e := ExamBrowser{StartURL: "https://lms.example.edu:8443/quiz/7?x=1"}
	if got := e.AllowedPrefixes(); len(got) != 1 || got[0] != "https://lms.example.edu:8443/" {
		t.Errorf("default prefixes = %q, want the start URL's origin", got)
	}
	if !e.Allows("https://lms.example.edu:8443/other") || e.Allows("https://lms.example.edu/other") {
		t.Error("the default prefix lets in the wrong URLs")
	}
	if (ExamBrowser{}).Enabled() || (ExamBrowser{}).AllowedPrefixes() != nil || (ExamBrowser{}).Allows("https://x/") {
		t.Error("the zero ExamBrowser is not off")
	}
}

func TestExamBrowserValidate(t *testing.T) {
	tests := []struct {
		name string
		e    ExamBrowser
		want []string // substrings of the error; none: valid
	}{
		{"off", ExamBrowser{}, nil},
		{"start only", ExamBrowser{StartURL: "https://lms.example.edu/quiz/7"}, nil},
		{"inside", ExamBrowser{StartURL: "https://lms.example.edu/quiz/7?attempt=2#top", Allowed: []string{"https://cdn.example.edu/", "https://lms.example.edu/quiz/"}}, nil},
		{"outside", ExamBrowser{StartURL: "https://lms.example.edu/home", Allowed: []string{"https://lms.example.edu/quiz/"}},
			[]string{`exam_browser.start_url: "https://lms.example.edu/home" is not inside any of the allowed prefixes`}},
		{"relative", ExamBrowser{StartURL: "/quiz"}, []string{"exam_browser.start_url", "absolute http:// or https://"}},
		{"ftp", ExamBrowser{StartURL: "ftp://lms.example.edu/"}, []string{"absolute http:// or https://"}},
		{"no host", ExamBrowser{StartURL: "https:///quiz"}, []string{"has no host"}},
		{"opaque", ExamBrowser{StartURL: "https:lms.example.edu"}, []string{"has no host"}},
		{"user", ExamBrowser{StartURL: "https://bob:pw@lms.example.edu/"}, []string{"user name or password"}},
		{"space", ExamBrowser{StartURL: "https://lms.example.edu/a b"}, []string{"white space"}},
		{"long", ExamBrowser{StartURL: "https://lms.example.edu/" + strings.Repeat("a", 3000)}, []string{"at most 2048"}},
		{"bad url", ExamBrowser{StartURL: "https://lms.example.edu/%zz"}, []string{"is not a URL"}},
		{"prefix query", ExamBrowser{StartURL: "https://lms.example.edu/q", Allowed: []string{"https://lms.example.edu/?a=1"}},
			[]string{"exam_browser.allowed[0]", "query or fragment"}},
		{"prefix fragment", ExamBrowser{StartURL: "https://lms.example.edu/q", Allowed: []string{"https://lms.example.edu/#x"}},
			[]string{"query or fragment"}},
		{"empty prefix", ExamBrowser{StartURL: "https://lms.example.edu/q", Allowed: []string{""}}, []string{"exam_browser.allowed[0]"}},
		{"allowed without start", ExamBrowser{Allowed: []string{"https://lms.example.edu/"}}, []string{"start_url: is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := defaults()
			p.Version = Version
			p.fillSlices()
			p.ExamBrowser = tt.e
			err := p.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func FuzzMatchURLPrefix(f *testing.F) {
	f.Add("https://lms.example.edu/quiz/", "https://lms.example.edu/quiz/7?x=1")
	f.Add("https://lms.example.edu", "https://lms.example.edu.evil.example/")
	f.Add("http://127.0.0.1:8080/a%2Fb", "http://127.0.0.1:8080/a%2Fb/c")
	f.Fuzz(func(t *testing.T, prefix, u string) {
		if !MatchURLPrefix(prefix, u) {
			return
		}
		p, err1 := url.Parse(prefix)
		v, err2 := url.Parse(u)
		if err1 != nil || err2 != nil {
			t.Fatalf("MatchURLPrefix(%q, %q) with an unparsable URL", prefix, u)
		}
		if s := strings.ToLower(v.Scheme); s != "http" && s != "https" {
			t.Errorf("MatchURLPrefix(%q, %q): scheme %q matched", prefix, u, v.Scheme)
		}
		if !strings.EqualFold(p.Hostname(), v.Hostname()) || v.User != nil {
			t.Errorf("MatchURLPrefix(%q, %q): host %q matched prefix host %q", prefix, u, v.Host, p.Host)
		}
	})
}
