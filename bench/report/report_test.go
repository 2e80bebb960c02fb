package report

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func sampleRows() []Row {
	return []Row{
		{Worker: "prefect-azure", Engine: "real", N: 10, PeakRSSBytes: 200 << 20, IdleRSSBytes: 126 << 20, IdleRSSMaxBytes: 130 << 20, ARMReads: 150, Completed: 10, CPUPerRun: 0.5, DeploymentsLeft: 10},
		{Worker: "aciworker", Engine: "real", N: 10, PeakRSSBytes: 20 << 20, IdleRSSBytes: 15 << 20, ARMReads: 30, Completed: 10, CPUPerRun: 0.01, PrefectRequestsPerRun: 3.5},
		{Worker: "prefect-azure", Engine: "standin", N: 100, PeakRSSBytes: 700 << 20, ARMReads: 2500, Completed: 90, Stuck: 10, Notes: "worker exited"},
		{Worker: "aciworker", Engine: "standin", N: 100, PeakRSSBytes: 25 << 20, ARMReads: 200, Completed: 100},
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	got := Table(sampleRows())
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) < 6 {
		t.Fatalf("table has %d lines:\n%s", len(lines), got)
	}
	if !strings.HasPrefix(lines[0], "| worker | engine | N | idle RSS MB | idle RSS max MB | peak RSS MB |") {
		t.Errorf("header: %s", lines[0])
	}
	cells := strings.Split(lines[2], "|")
	if strings.TrimSpace(cells[1]) != "prefect-azure" || strings.TrimSpace(cells[3]) != "10" || strings.TrimSpace(cells[4]) != "126" || strings.TrimSpace(cells[5]) != "130" || strings.TrimSpace(cells[6]) != "200" {
		t.Errorf("first row: %s", lines[2])
	}
	if !strings.Contains(got, "- prefect-azure, N=100: worker exited") {
		t.Errorf("note missing:\n%s", got)
	}
	for _, l := range lines[:6] {
		if n := strings.Count(l, "|"); n != len(columns)+1 {
			t.Errorf("line has %d pipes, want %d: %s", n, len(columns)+1, l)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	doc := Document{Meta: Meta{Date: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), CPUs: 2, Database: "sqlite"}, Rows: sampleRows()}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, doc); err != nil {
		t.Fatal(err)
	}
	var back Document
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 4 || back.Rows[2].Stuck != 10 || back.Meta.CPUs != 2 || !back.Meta.Date.Equal(doc.Meta.Date) {
		t.Errorf("round trip: %+v", back)
	}
	if !strings.Contains(buf.String(), `"cpu_seconds_per_completed_run": 0.5`) {
		t.Errorf("JSON lacks the per-run CPU key:\n%s", buf.String())
	}
	// The acceptance check reads this key.
	if !strings.Contains(buf.String(), `"prefect_requests_per_run": 3.5`) {
		t.Errorf("JSON lacks the per-run Prefect requests key:\n%s", buf.String())
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{3}, 0.95, 3},
		{[]float64{4, 1, 3, 2}, 0.5, 2},
		{[]float64{5, 1, 4, 2, 3}, 0.5, 3},
		{[]float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0.95, 10},
		{[]float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0.9, 9},
	}
	for _, tc := range tests {
		if got := Percentile(tc.xs, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
}

func TestNiceScale(t *testing.T) {
	t.Parallel()
	tests := []struct{ v, max, step float64 }{
		{0, 1, 0.25},
		{1375, 1500, 500},
		{700, 800, 200},
		{30, 30, 10},
		{0.3, 0.3, 0.1},
		{0.31, 0.4, 0.1},
		{2500, 3000, 1000},
	}
	for _, tc := range tests {
		m, s := niceScale(tc.v)
		if math.Abs(m-tc.max) > 1e-9 || math.Abs(s-tc.step) > 1e-9 {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tc.v, m, s, tc.max, tc.step)
		}
	}
}

func TestWritePNG(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WritePNG(&buf, sampleRows()); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("BENCH_PLOT_SAMPLE"); p != "" {
		_ = os.WriteFile(p, buf.Bytes(), 0o644)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != panelW*2 || b.Dy() != panelH+legendH {
		t.Errorf("size %v", b)
	}
	for name, want := range colors {
		if countColor(img, want) < 100 {
			t.Errorf("%s's colour barely appears in the plot", name)
		}
	}
	if err := WritePNG(&buf, nil); err == nil {
		t.Error("no rows: no error")
	}
}

func countColor(img image.Image, c interface{ RGBA() (r, g, b, a uint32) }) int {
	r0, g0, b0, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r == r0 && g == g0 && bb == b0 {
				n++
			}
		}
	}
	return n
}
