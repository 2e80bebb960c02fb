package profiling_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/profiling"
)

// blockOnChannel waits on a channel that another goroutine closes after d:
// a block event of about d.
func blockOnChannel(d time.Duration) {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	<-ch
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func TestServeRecordsBlockEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := profiling.Serve(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	blockOnChannel(20 * time.Millisecond)
	// Block profiling is off by default: the wait is in the profile only
	// because Serve turned it on.
	if text := get(t, "http://"+addr+"/debug/pprof/block?debug=1"); !strings.Contains(text, "profiling_test.blockOnChannel") {
		t.Errorf("the block profile does not show the channel wait:\n%s", text)
	}
	if text := get(t, "http://"+addr+"/debug/pprof/"); !strings.Contains(text, "mutex") {
		t.Errorf("the index does not list the mutex profile:\n%s", text)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := profiling.Serve(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + addr + "/debug/pprof/")
		if err != nil {
			return
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving 10 s after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeNamesABadAddress(t *testing.T) {
	_, err := profiling.Serve(context.Background(), "127.0.0.1:notaport", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "profile server on 127.0.0.1:notaport") {
		t.Fatalf("err = %v, want one naming the profile server and its address", err)
	}
}
