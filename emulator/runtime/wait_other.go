//go:build !linux

package runtime

import "errors"

// waitExited is not available here: the caller reaps the process first and
// kills the rest of its group after.
func waitExited(pid int) error { return errors.ErrUnsupported }
