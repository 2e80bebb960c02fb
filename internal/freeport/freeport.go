// Package freeport finds a free loopback TCP port for a server a test or a
// benchmark starts as a separate process (which must be told its port).
package freeport

import (
	"fmt"
	"net"
)

// Get returns a loopback port that was free a moment ago. Another process
// may take it before the caller's server binds it; callers that can bind
// port 0 themselves should.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
