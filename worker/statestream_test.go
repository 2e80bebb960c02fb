package worker

import "testing"

// Wakes bring an interval's round forward and never add one: between two
// ticks there is at most one round, and each wake is served by the next
// round that runs.
func TestRoundGate(t *testing.T) {
	t.Parallel()
	// T: tick, W: wake, S: the settle timer fires (only once armed).
	// Rounds are written R (at a tick) and r (early, after a wake).
	tests := []struct{ events, rounds string }{
		{"TTT", "RRR"},
		{"WSTT", "rR"},     // the early round replaces the first tick's
		{"WSWWTWST", "rr"}, // wakes while the interval's round ran wait for the next interval
		{"WT", "R"},        // a tick during the settle serves the wake
		{"WWWSWT", "r"},    // many wakes, one round
		{"TWSWTWSTWT", "RrrR"},
	}
	for _, tc := range tests {
		var g roundGate
		armed := false
		var got []byte
		for _, e := range tc.events {
			switch e {
			case 'T':
				run, served := g.tick()
				if served {
					armed = false
				}
				if run {
					got = append(got, 'R')
				}
			case 'W':
				if g.wake() {
					armed = true
				}
			case 'S':
				if !armed {
					continue // a stopped timer does not fire
				}
				armed = false
				g.settled()
				got = append(got, 'r')
			}
		}
		if string(got) != tc.rounds {
			t.Errorf("%s: rounds %q, want %q", tc.events, got, tc.rounds)
		}
	}
}
