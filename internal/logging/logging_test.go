package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevelAcceptsWhatPrefectAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"DEBUG", slog.LevelDebug, false},
		{"debug", slog.LevelDebug, false},
		{"Info", slog.LevelInfo, false},
		{"WARNING", slog.LevelWarn, false},
		{" warning ", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"CRITICAL", LevelCritical, false},
		{"WARN", 0, true}, // Prefect 3 rejects it
		{"30", 0, true},   // and numbers
		{"trace", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParseLevel(%q) error %q does not name the value", tt.in, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Format{"": Text, "text": Text, "JSON": JSON, " json": JSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("logfmt"); err == nil {
		t.Error("ParseFormat(logfmt) accepted")
	}
}

// decode reads JSON lines, failing on any line that is not an object with
// time, level and msg.
func decode(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %q has no %s", line, k)
			}
		}
		recs = append(recs, m)
	}
	return recs
}

func TestJSONLinesAtLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := New(&buf, JSON, slog.LevelWarn)
	log.Info("hidden")
	log.Warn("shown", "flow_run_id", "abc", "group", "g1")
	log.Log(t.Context(), LevelCritical, "worst")
	recs := decode(t, buf.String())
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %s", len(recs), buf.String())
	}
	if recs[0]["level"] != "WARN" || recs[0]["flow_run_id"] != "abc" || recs[0]["group"] != "g1" {
		t.Errorf("record %v", recs[0])
	}
	if recs[1]["level"] != "CRITICAL" {
		t.Errorf("critical record has level %v", recs[1]["level"])
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	lw := NewLineWriter(New(&buf, JSON, slog.LevelInfo), slog.LevelInfo, "aciworker: ")
	lw.Write([]byte("aciworker: deploying group g1\naciworker: warning: GPU"))
	lw.Write([]byte(" retired\n\npartial"))
	lw.Flush()
	recs := decode(t, buf.String())
	want := []struct{ level, msg string }{{"INFO", "deploying group g1"}, {"WARN", "GPU retired"}, {"INFO", "partial"}}
	if len(recs) != len(want) {
		t.Fatalf("got %d records: %s", len(recs), buf.String())
	}
	for i, w := range want {
		if recs[i]["level"] != w.level || recs[i]["msg"] != w.msg {
			t.Errorf("record %d = %v, want %s %q", i, recs[i], w.level, w.msg)
		}
	}
}
