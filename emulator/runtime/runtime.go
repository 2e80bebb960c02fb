package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Image says how containers of matching images behave; see the package doc.
type Image struct {
	Pattern                string        // path.Match glob on the image reference, e.g. "prefecthq/prefect:*"
	PassthroughEntrypoints []string      // argv[0] values that only prepare and exec the rest
	DefaultCommand         []string      // used when the container's command is empty
	PathDirs               []string      // prepended to the container's PATH
	PullError              string        // non-empty: the pull fails with this message
	PullDelay              time.Duration // simulated pull time
}

// Config configures a Runtime.
type Config struct {
	BaseEnv             []string      // KEY=VALUE; the container's own variables win over these
	WorkRoot            string        // parent of containers' working dirs; "" = the OS temp dir
	Images              []Image       // first match wins; the built-in defaults follow
	PrefectBin          string        // dir put first on PATH for Prefect's own images
	TimestampResolution time.Duration // 0 = nanoseconds
	RestartBackoff      time.Duration // pause before a restart; 0 = DefaultRestartBackoff
	// NoPIDNamespace contains containers by their environment marker only,
	// even where a PID namespace is allowed (see contain.go).
	NoPIDNamespace bool
	// CallTimeout bounds one attempt of a script's call step; 0 =
	// DefaultCallTimeout.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// DefaultRestartBackoff keeps a crash-looping container from spinning hot.
const DefaultRestartBackoff = 100 * time.Millisecond

// PrefectEntrypoint is the entrypoint script of Prefect's images; it only
// prepares the environment and then runs its arguments.
const PrefectEntrypoint = "/opt/prefect/entrypoint.sh"

// prefectPatterns are the spellings of Prefect's own images on Docker Hub.
var prefectPatterns = hubPatterns("prefecthq/prefect")

// hubPatterns are the spellings of a Docker Hub repository's images: bare,
// under docker.io/ and index.docker.io/, with any tag or digest.
func hubPatterns(repo string) []string {
	var out []string
	for _, r := range []string{repo, "docker.io/" + repo, "index.docker.io/" + repo} {
		out = append(out, r, r+":*", r+"@*")
	}
	return out
}

// matchesAny reports whether image matches one of the path.Match patterns.
func matchesAny(patterns []string, image string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, image); ok {
			return true
		}
	}
	return false
}

// DefaultImages is the built-in image table consulted after Config.Images.
// Prefect's workers put Prefect's entrypoint in front of every command, so
// the script image passes it through too.
func DefaultImages() []Image {
	out := make([]Image, 0, len(prefectPatterns)+len(scriptPatterns))
	for _, p := range slices.Concat(prefectPatterns, scriptPatterns) {
		out = append(out, Image{Pattern: p, PassthroughEntrypoints: []string{PrefectEntrypoint}})
	}
	return out
}

// IsPrefectImage reports whether image is one of Prefect's own images.
func IsPrefectImage(image string) bool { return matchesAny(prefectPatterns, image) }

// matchImage returns the first rule whose pattern matches image.
func matchImage(rules []Image, image string) (Image, bool) {
	for _, r := range rules {
		if ok, _ := path.Match(r.Pattern, image); ok {
			return r, true
		}
	}
	return Image{}, false
}

// Runtime starts containers and owns their processes.
type Runtime struct {
	cfg   Config
	rules []Image
	log   *slog.Logger
	// client makes script containers' calls; each attempt has its own
	// deadline (Config.CallTimeout).
	client *http.Client
	// callBackoff is the first pause between a call's attempts (tests
	// shorten it).
	callBackoff time.Duration

	// pidnsRefused is set once the kernel refused a PID namespace; from
	// then on containers are contained by their marker alone.
	pidnsRefused atomic.Bool

	mu     sync.Mutex
	closed bool
	live   map[*Container]struct{}
	wg     sync.WaitGroup
}

// New returns a Runtime; it starts nothing until Start.
func New(cfg Config) *Runtime {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RestartBackoff <= 0 {
		cfg.RestartBackoff = DefaultRestartBackoff
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.WorkRoot == "" {
		cfg.WorkRoot = os.TempDir()
	}
	// Commands run with the working dir as their cwd; an absolute root keeps
	// HOME and paths resolved against it meaningful inside the container.
	if abs, err := filepath.Abs(cfg.WorkRoot); err == nil {
		cfg.WorkRoot = abs
	}
	rules := append(slices.Clone(cfg.Images), DefaultImages()...)
	// Script containers call loopback services by the thousand: keep
	// connections for reuse rather than one per call.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Runtime{cfg: cfg, rules: rules, log: cfg.Logger, live: map[*Container]struct{}{},
		client: &http.Client{Transport: tr}, callBackoff: callBackoff}
}

// ImageRule returns the rule that applies to image, if any.
func (r *Runtime) ImageRule(image string) (Image, bool) {
	return matchImage(r.rules, image)
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("runtime: closed")

// Start creates the container and begins its lifecycle (pull, create,
// start). It returns once the container exists; the process starts
// asynchronously. Errors are for invalid specs or a closed runtime only;
// failures of the container itself show in its Status.
func (r *Runtime) Start(spec Spec) (*Container, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	rule, _ := matchImage(r.rules, spec.Image)
	if spec.PullError != "" {
		rule.PullError = spec.PullError
	}
	p := plan(r.cfg, rule, spec)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	// A script container has no process, so no working dir and no marker.
	scripted := IsScriptImage(spec.Image)
	var dir, marker string
	env := slices.Clone(p.env)
	if !scripted {
		if err := os.MkdirAll(r.cfg.WorkRoot, 0o755); err != nil {
			return nil, fmt.Errorf("runtime: create work root: %w", err)
		}
		d, err := os.MkdirTemp(r.cfg.WorkRoot, dirPrefix(spec))
		if err != nil {
			return nil, fmt.Errorf("runtime: create working dir for container %q: %w", spec.Name, err)
		}
		dir, marker = d, newMarker()
		env = append(env, MarkerEnv+"="+marker)
		if !p.homeGiven {
			env = append(env, "HOME="+dir)
		}
	}
	c := &Container{
		r:        r,
		spec:     spec,
		rule:     rule,
		argv:     p.argv,
		noCmd:    p.noCmd,
		scripted: scripted,
		env:      env,
		marker:   marker,
		pathEnv:  p.path,
		dir:      dir,
		log:      newLogBuffer(r.cfg.TimestampResolution, nil),
		logger:   r.log.With("group", spec.Group, "container", spec.Name),
		cur:      State{State: StateWaiting},
		stopCh:   make(chan struct{}),
		done:     make(chan struct{}),
		cleaned:  make(chan struct{}),
	}
	r.live[c] = struct{}{}
	r.wg.Add(1)
	go c.run()
	return c, nil
}

// usePIDNamespace says whether the next container should try a PID
// namespace.
func (r *Runtime) usePIDNamespace() bool {
	return !r.cfg.NoPIDNamespace && !r.pidnsRefused.Load()
}

func newMarker() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Runtime) forget(c *Container) {
	r.mu.Lock()
	delete(r.live, c)
	r.mu.Unlock()
}

// Close stops every container it started (killing their process groups),
// waits for all of them and removes their working dirs. Start fails after.
func (r *Runtime) Close() {
	r.mu.Lock()
	r.closed = true
	cs := make([]*Container, 0, len(r.live))
	for c := range r.live {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(c.Stop)
	}
	wg.Wait()
	r.wg.Wait()
}

func dirPrefix(spec Spec) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
				return r
			}
			return '_'
		}, s)
	}
	p := clean(spec.Group) + "_" + clean(spec.Name)
	if len(p) > 100 {
		p = p[:100]
	}
	return p + "-"
}

// Restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// Spec describes one container to run.
type Spec struct {
	Group, Name, Image string
	Command            []string          // ACI command array (exec form, no shell added)
	Env                map[string]string // value and secureValue variables alike
	RestartPolicy      string            // Always (also ""), OnFailure or Never
	// PullError, when set, makes the pull fail with this message whatever
	// the image rule says (e.g. a private registry without credentials).
	PullError string
}

func (s Spec) validate() error {
	switch s.RestartPolicy {
	case "", RestartAlways, RestartOnFailure, RestartNever:
	default:
		return fmt.Errorf("runtime: container %q: restartPolicy %q is not Always, OnFailure or Never", s.Name, s.RestartPolicy)
	}
	for i, a := range s.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("runtime: container %q: command[%d] contains a NUL byte", s.Name, i)
		}
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("runtime: container %q: environment variable name %q is invalid", s.Name, k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			// The value may be secret: name only the variable.
			return fmt.Errorf("runtime: container %q: environment variable %q contains a NUL byte", s.Name, k)
		}
	}
	return nil
}

// defaultPath is Docker's PATH for containers whose environment has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// launchPlan is what Start derives from the spec and image rule, without I/O.
type launchPlan struct {
	argv      []string // nil when there is nothing to run
	noCmd     bool
	env       []string // KEY=VALUE, HOME not yet filled in
	path      string   // the container's PATH, for looking up argv[0]
	homeGiven bool
}

func plan(cfg Config, rule Image, spec Spec) launchPlan {
	var p launchPlan
	argv := spec.Command
	if len(argv) == 0 {
		argv = rule.DefaultCommand
	}
	if len(argv) > 0 && slices.Contains(rule.PassthroughEntrypoints, argv[0]) {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		p.noCmd = true
	} else {
		p.argv = slices.Clone(argv)
	}

	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range cfg.BaseEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		set(k, v)
	}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set(k, spec.Env[k])
	}
	_, p.homeGiven = spec.Env["HOME"]
	if !p.homeGiven {
		if _, ok := vals["HOME"]; ok {
			// HOME is filled in per container; drop the base value so it
			// is not listed twice.
			order = slices.DeleteFunc(order, func(k string) bool { return k == "HOME" })
			delete(vals, "HOME")
		}
	}

	pathVal, ok := vals["PATH"]
	if !ok || pathVal == "" {
		pathVal = defaultPath
	}
	var pre []string
	if cfg.PrefectBin != "" && IsPrefectImage(spec.Image) {
		pre = append(pre, cfg.PrefectBin)
	}
	pre = append(pre, rule.PathDirs...)
	if len(pre) > 0 {
		pathVal = strings.Join(pre, string(os.PathListSeparator)) + string(os.PathListSeparator) + pathVal
	}
	set("PATH", pathVal)
	p.path = pathVal

	p.env = make([]string, 0, len(order)+1)
	for _, k := range order {
		p.env = append(p.env, k+"="+vals[k])
	}
	return p
}

// lookPath finds argv0 the way a container runtime does: a name with a
// slash is a path (relative to the working dir), anything else is searched
// in the container's PATH. The int is the shell-style exit code for a
// failure: 127 not found, 126 found but not executable.
func lookPath(argv0, pathList, dir string) (string, int, error) {
	check := func(p string) (int, error) {
		fi, err := os.Stat(p)
		if err != nil {
			return 127, err
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return 126, &os.PathError{Op: "exec", Path: p, Err: os.ErrPermission}
		}
		return 0, nil
	}
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if code, err := check(p); err != nil {
			return "", code, fmt.Errorf("exec: %q: %w", argv0, err)
		}
		return p, 0, nil
	}
	var denied error
	for _, d := range filepath.SplitList(pathList) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, argv0)
		code, err := check(p)
		if err == nil {
			return p, 0, nil
		}
		if code == 126 && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", 126, fmt.Errorf("exec: %q: %w", argv0, denied)
	}
	return "", 127, fmt.Errorf("exec: %q: executable file not found in $PATH", argv0)
}
