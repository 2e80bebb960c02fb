// Package buildinfo says which build of aciworker is running: its version,
// the commit it was built from (and whether the tree was dirty), when, and
// with which Go. Release builds pass the values with -ldflags -X; any other
// build (go build in a checkout, go install …@vX) falls back to what the Go
// toolchain records in the binary, so every binary tells the truth about
// itself.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Set at link time, e.g.
//
//	-ldflags "-X github.com/aciworker/aciworker/internal/buildinfo.version=v1.2.3
//	          -X github.com/aciworker/aciworker/internal/buildinfo.commit=0123abc
//	          -X github.com/aciworker/aciworker/internal/buildinfo.date=2026-12-03T12:00:00Z"
//
// A commit ending in "-dirty" marks a build from a modified tree.
var version, commit, date string

// Info describes one build.
type Info struct {
	// Version is a release tag (v1.2.3), the module's pseudo-version for
	// a build in a checkout, or "dev" when nothing better is known.
	Version string
	// Commit is the VCS revision, "" when unknown.
	Commit string
	// Dirty is true when the tree had uncommitted changes.
	Dirty bool
	// Date is the build date from -ldflags, else the commit's time (the
	// toolchain records no build time, which keeps builds reproducible).
	Date      string
	GoVersion string
	Platform  string
	// FromCheckout marks a commit read at run time from the source
	// checkout the binary was built in (see Describe), not recorded at
	// build time.
	FromCheckout bool
}

// Get returns the running binary's build information.
var Get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
})

// resolve prefers link-time values and fills the rest from the toolchain's
// record; bi may be nil (a binary built without module support).
func resolve(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) Info {
	info := Info{GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var modVersion string
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			modVersion = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				info.Dirty = s.Value == "true"
			case "vcs.time":
				info.Date = s.Value
			}
		}
	}
	if c := strings.TrimSpace(ldCommit); c != "" {
		info.Commit, info.Dirty = strings.CutSuffix(c, "-dirty")
	}
	if d := strings.TrimSpace(ldDate); d != "" {
		info.Date = d
	}
	switch {
	case strings.TrimSpace(ldVersion) != "":
		info.Version = strings.TrimSpace(ldVersion)
	case modVersion != "":
		// A checkout build's pseudo-version already carries "+dirty".
		info.Version = modVersion
	default:
		info.Version = "dev"
	}
	return info
}

// ShortCommit is the first 12 hex digits of the commit, with "-dirty" when
// the tree was modified; "unknown" without a commit.
func (i Info) ShortCommit() string {
	c := i.Commit
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Dirty {
		c += "-dirty"
	}
	return c
}

// String is the one line `aciworker version` prints.
func (i Info) String() string {
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	}
	if i.Dirty {
		commit += "-dirty"
	}
	if i.FromCheckout {
		commit += ", read from the source checkout"
	}
	date := i.Date
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("aciworker %s (commit %s, built %s, %s %s)", i.Version, commit, date, i.GoVersion, i.Platform)
}

// UserAgent is the product token sent to Prefect: "aciworker/VERSION". It
// deliberately does not look like "prefect/x.y.z", which Prefect's server
// would parse as a client version.
func (i Info) UserAgent() string { return "aciworker/" + i.Version }

// maxApplicationID is azcore's limit on Telemetry.ApplicationID: longer
// values are cut, which would leave half a pseudo-version in User-Agent.
const maxApplicationID = 24

// AzureApplicationID is the User-Agent prefix for Azure requests: the
// version when it fits azcore's 24 characters, else the short commit, so
// ARM's request logs can still be matched to a build.
func (i Info) AzureApplicationID() string {
	if ua := i.UserAgent(); len(ua) <= maxApplicationID {
		return ua
	}
	if i.Commit != "" {
		c := i.Commit
		if n := maxApplicationID - len("aciworker/"); len(c) > n {
			c = c[:n]
		}
		return "aciworker/" + c
	}
	return "aciworker"
}
