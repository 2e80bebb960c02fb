package buildinfo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// modulePath guards the checkout fallback against reporting some other
// repository's commit.
const modulePath = "github.com/aciworker/aciworker"

// gitTimeout bounds each git call of the checkout fallback.
const gitTimeout = 3 * time.Second

// Describe is Get, except that a binary that recorded no commit — a plain
// go build where VCS stamping is off (-buildvcs=false, or a git worktree,
// which the toolchain does not stamp) — and that still knows where its
// source lies (no -trimpath) asks git for that checkout's commit. The
// result is marked FromCheckout: it is the checkout's commit when asked,
// which is the build's unless the checkout moved since. Release builds
// (ldflags, -trimpath) never take this path.
func Describe(ctx context.Context) Info {
	info := Get()
	if info.Commit != "" {
		return info
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return info
	}
	if c, dirty, ok := checkoutCommit(ctx, filepath.Dir(filepath.Dir(filepath.Dir(file)))); ok {
		info.Commit, info.Dirty, info.FromCheckout = c, dirty, true
	}
	return info
}

// checkoutCommit reads HEAD and whether tracked files changed in root, the
// module's directory; ok is false unless root holds this module in git.
func checkoutCommit(ctx context.Context, root string) (commit string, dirty, ok bool) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(mod), []byte("module "+modulePath)) {
		return "", false, false
	}
	git := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, gitTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil || head == "" {
		return "", false, false
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	return head, err == nil && status != "", true
}
