package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/invigil/invigil/client/exam"
)

func init() {
	commands["version"] = command{summary: "print the client's version, commit and platform", run: runVersion}
}

// commit is the source revision for builds the Go toolchain cannot stamp
// from git itself (a source tarball, -buildvcs=false): the build scripts
// set it with -ldflags "-X main.commit=REVISION" (scripts/build-*.sh,
// scripts/package-*.sh). The toolchain's own stamp (vcs.revision) wins.
var commit = ""

// versionInfo is what `invigil version` prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"` // "unknown" when the build recorded none
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Go      string `json:"go"`
}

// buildCommit is the revision the binary was built from: the toolchain's
// vcs.revision, with "-dirty" when the work tree had uncommitted changes
// (vcs.modified), else the -ldflags stamp, else "unknown".
func buildCommit(info *debug.BuildInfo, ok bool, stamped string) string {
	if ok && info != nil {
		rev, dirty := "", false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return rev
		}
	}
	if stamped != "" {
		return stamped
	}
	return "unknown"
}

func currentVersion() versionInfo {
	info, ok := debug.ReadBuildInfo()
	return versionInfo{Version: exam.Version, Commit: buildCommit(info, ok, commit),
		OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
}

// runVersion prints what IT staff and support ask for first: the version,
// the commit it was built from and the platform it was built for.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	v := currentVersion()
	if *asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	// The first words stay "invigil VERSION (OS/ARCH, go...": scripts
	// match them.
	fmt.Fprintf(stdout, "invigil %s (%s/%s, %s, commit %s)\n", v.Version, v.OS, v.Arch, v.Go, v.Commit)
	return exitOK
}
