// Package version reports what build of kommerce is running. The variables are set
// at link time by the Makefile (-ldflags -X) so that a binary found on a node can be
// traced back to its commit without access to the build machine.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release (a git tag, or "dev" for local builds).
var Version = "dev"

// Commit is the git commit the binary was built from; filled from the module build
// info when the linker did not set it.
var Commit = ""

// Date is the build time in RFC 3339, UTC.
var Date = ""

// Info is the machine-readable form printed by `kommerce version --json`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information, falling back to what the Go toolchain embedded
// (vcs.revision, vcs.time) for binaries built with plain `go build`.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		Date:      Date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.Date == "":
				info.Date = s.Value
			}
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// String is the one-line form printed by `kommerce version`.
func (i Info) String() string {
	return fmt.Sprintf("kommerce %s (commit %s, built %s, %s %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}
