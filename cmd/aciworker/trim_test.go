package main

import "testing"

func TestShouldTrim(t *testing.T) {
	t.Parallel()
	const mb = 1 << 20
	tests := []struct {
		name       string
		inFlight   int
		rss, floor int64
		want       bool
	}{
		{name: "idle and grown by the slack", rss: 13 * mb, floor: 8 * mb, want: true},
		{name: "idle, grown exactly the slack", rss: 9 * mb, floor: 8 * mb, want: true},
		{name: "idle, grown less than the slack", rss: 8*mb + mb/2, floor: 8 * mb},
		{name: "idle, smaller than after the last trim", rss: 7 * mb, floor: 8 * mb},
		{name: "a run in flight", inFlight: 1, rss: 40 * mb, floor: 8 * mb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := shouldTrim(tt.inFlight, tt.rss, tt.floor); got != tt.want {
				t.Errorf("shouldTrim(%d, %d, %d) = %v, want %v", tt.inFlight, tt.rss, tt.floor, got, tt.want)
			}
		})
	}
}
