package main

import "strings"

// isUsage recognises cobra's own argument errors, which it returns as plain
// errors rather than through the flag error hook.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
