package runtime

// Scripted containers: the cheap container mode. A container of a script
// image (ScriptImage) runs no process; its command is a short script the
// runtime interprets in a goroutine, so thousands of containers cost
// thousands of goroutines, not thousands of processes. Everything else —
// states, events, restart policy, logs, Kill and Stop — is the same as for a
// process, so an API client cannot tell the two apart.
//
// The script is the command array, read as steps, each a verb and its
// arguments:
//
//	sleep DURATION     stay Running for DURATION (Go syntax: 1.5s, 2m)
//	echo TEXT          write TEXT as one line on stdout
//	stderr TEXT        write TEXT as one line on stderr
//	call URL VARS      POST the named environment variables (VARS:
//	                   comma-separated names, or "-" for none) as JSON to
//	                   URL and wait for the answer; its body's lines go to
//	                   stdout. Not 2xx: the script fails
//	exit CODE          end with exit code CODE (0-255); the default is 0
//
// A script that cannot be parsed behaves like a program that prints its
// usage error and exits 2; a failed call exits 1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ScriptImage is the repository of the built-in script image; any tag or
// digest, with or without a docker.io/ or index.docker.io/ prefix.
const ScriptImage = "aciworker/emulator-script"

var scriptPatterns = hubPatterns(ScriptImage)

// IsScriptImage reports whether image is the built-in script image.
func IsScriptImage(image string) bool { return matchesAny(scriptPatterns, image) }

// Exit codes of a script that fails on its own.
const (
	exitScriptUsage = 2 // the script cannot be parsed
	exitCallFailed  = 1 // a call step did not get a 2xx answer
)

// Bounds of a call step.
const (
	// DefaultCallTimeout bounds one attempt of a call step.
	DefaultCallTimeout = 2 * time.Minute
	// callAttempts is how often a call is tried when the answer is a
	// transport error, 429 or 5xx.
	callAttempts = 5
	// callBackoff is the first pause between attempts; it doubles.
	callBackoff = 500 * time.Millisecond
	// maxCallAnswer bounds how much of an answer is read into the log.
	maxCallAnswer = 64 << 10
)

type stepKind int

const (
	stepSleep stepKind = iota
	stepEcho
	stepStderr
	stepCall
	stepExit
)

type step struct {
	kind stepKind
	d    time.Duration
	text string // echo, stderr: the line; call: the URL
	vars []string
	code int
}

// parseScript reads a command array as script steps.
func parseScript(argv []string) ([]step, error) {
	var steps []step
	for i := 0; i < len(argv); {
		verb := argv[i]
		arity := map[string]int{"sleep": 1, "echo": 1, "stderr": 1, "call": 2, "exit": 1}[verb]
		if arity == 0 {
			return nil, fmt.Errorf("word %d: %q is not a step (want sleep, echo, stderr, call or exit)", i+1, verb)
		}
		if i+arity >= len(argv) {
			return nil, fmt.Errorf("word %d: %s needs %d argument(s)", i+1, verb, arity)
		}
		args := argv[i+1 : i+1+arity]
		var s step
		switch verb {
		case "sleep":
			d, err := time.ParseDuration(args[0])
			if err != nil || d < 0 {
				return nil, fmt.Errorf("word %d: sleep %q: want a non-negative duration such as 30s", i+1, args[0])
			}
			s = step{kind: stepSleep, d: d}
		case "echo":
			s = step{kind: stepEcho, text: args[0]}
		case "stderr":
			s = step{kind: stepStderr, text: args[0]}
		case "call":
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("word %d: call: %q is not an http or https URL", i+1, args[0])
			}
			s = step{kind: stepCall, text: args[0]}
			if args[1] != "-" {
				for v := range strings.SplitSeq(args[1], ",") {
					if v == "" || strings.ContainsAny(v, "=\x00") {
						return nil, fmt.Errorf("word %d: call: %q is not a list of variable names", i+1, args[1])
					}
					s.vars = append(s.vars, v)
				}
			}
		case "exit":
			c, err := strconv.Atoi(args[0])
			if err != nil || c < 0 || c > 255 {
				return nil, fmt.Errorf("word %d: exit %q: want a code from 0 to 255", i+1, args[0])
			}
			s = step{kind: stepExit, code: c}
		}
		steps = append(steps, s)
		i += 1 + arity
		if s.kind == stepExit && i < len(argv) {
			return nil, fmt.Errorf("word %d: steps after exit never run", i+1)
		}
	}
	return steps, nil
}

// callRequest is the JSON body of a call step.
type callRequest struct {
	Group     string            `json:"group"`
	Container string            `json:"container"`
	Env       map[string]string `json:"env"`
}

// scriptRun is what one run of a script acts on.
type scriptRun struct {
	group, name string
	env         map[string]string
	out         func(stream int, line string) // stream 0 stdout, 1 stderr
	client      *http.Client
	callTimeout time.Duration
	backoff     time.Duration
}

// run interprets steps until the end, an exit step, a failure or ctx's
// end; it returns the exit code, and ok false when ctx ended it.
func (x scriptRun) run(ctx context.Context, steps []step) (code int, ok bool) {
	for _, s := range steps {
		if ctx.Err() != nil {
			return 0, false
		}
		switch s.kind {
		case stepSleep:
			t := time.NewTimer(s.d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return 0, false
			}
		case stepEcho:
			x.out(0, s.text)
		case stepStderr:
			x.out(1, s.text)
		case stepCall:
			if err := x.call(ctx, s); err != nil {
				if ctx.Err() != nil {
					return 0, false
				}
				x.out(1, err.Error())
				return exitCallFailed, true
			}
		case stepExit:
			return s.code, true
		}
	}
	return 0, ctx.Err() == nil
}

// call POSTs the step's variables and copies a 2xx answer to stdout. A
// transport error, 429 or 5xx is retried with backoff; anything else fails.
func (x scriptRun) call(ctx context.Context, s step) error {
	body := callRequest{Group: x.group, Container: x.name, Env: map[string]string{}}
	for _, v := range s.vars {
		if val, ok := x.env[v]; ok {
			body.Env[v] = val
		}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("call %s: %w", redactURL(s.text), err)
	}
	wait := x.backoff
	var last error
	for attempt := range callAttempts {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			wait *= 2
		}
		answer, retry, err := x.post(ctx, s.text, data)
		if err == nil {
			for line := range strings.Lines(string(answer)) {
				x.out(0, strings.TrimRight(line, "\r\n"))
			}
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return last
}

// post makes one attempt; retry says whether another may succeed.
func (x scriptRun) post(ctx context.Context, target string, data []byte) (answer []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, x.callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("call %s: %w", redactURL(target), err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := x.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the whole URL
		}
		return nil, true, fmt.Errorf("call %s: %w", redactURL(target), err)
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, maxCallAnswer))
	if err != nil {
		return nil, true, fmt.Errorf("call %s: read answer: %w", redactURL(target), err)
	}
	if resp.StatusCode/100 != 2 {
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return nil, retry, fmt.Errorf("call %s: %s: %s", redactURL(target), resp.Status, firstLine(answer))
	}
	return answer, false, nil
}

// redactURL drops the query and user info, which may carry a token, from
// what a log shows.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}
