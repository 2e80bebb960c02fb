package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"testing"
	"time"
)

// TestMain fails the package if goroutines outlive the runtimes that every
// test closes.
func TestMain(m *testing.M) {
	before := goruntime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for goruntime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := goruntime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before, %d after\n%s\n", before, n, buf[:goruntime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}
