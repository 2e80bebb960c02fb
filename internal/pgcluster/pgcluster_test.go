package pgcluster

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// A cluster starts on a loopback port that accepts connections, and Stop
// removes every trace of it.
func TestStartStop(t *testing.T) {
	if !Available() {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL's server tools are missing under CI")
		}
		t.Skip("PostgreSQL's server tools are not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(strings.Replace(c.URL, "postgresql+asyncpg", "postgresql", 1))
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" {
		t.Errorf("listens on %q, want loopback", u.Hostname())
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	conn.Close()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s still there after Stop (%v)", c.dir, err)
	}
	if _, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		t.Error("the server still accepts connections after Stop")
	}
}
