package soak

import (
	"math/rand/v2"
	"sort"
	"strings"
)

// rateInjector decides which requests to fail so that about share of all
// ARM requests fail: the emulator's faults are counted ("fail the next n
// requests of op"), so each step looks at the requests answered since the
// last step and queues faults in proportion, on operations drawn by how
// often they were just seen.
type rateInjector struct {
	share float64
	owed  float64
	prev  map[string]int
}

func newRateInjector(share float64) *rateInjector {
	return &rateInjector{share: share, prev: map[string]int{}}
}

// armOp tells whether an operation name is an ARM request (faults apply
// only there; Entra is not ARM).
func armOp(op string) bool {
	i := strings.IndexByte(op, '.')
	return i > 0 && op != "unknown"
}

// step takes the total count of requests per operation and returns the
// operations to queue one fault for each.
func (r *rateInjector) step(totals map[string]int, rnd *rand.Rand) []string {
	ops := make([]string, 0, len(totals))
	for op := range totals {
		if armOp(op) {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	delta := make([]int, len(ops))
	sum := 0
	for i, op := range ops {
		d := totals[op] - r.prev[op]
		if d < 0 {
			d = 0
		}
		delta[i] = d
		sum += d
		r.prev[op] = totals[op]
	}
	if sum == 0 || r.share <= 0 {
		return nil
	}
	r.owed += r.share * float64(sum)
	var out []string
	for r.owed >= 1 {
		r.owed--
		pick := rnd.IntN(sum)
		for i, d := range delta {
			if pick < d {
				out = append(out, ops[i])
				break
			}
			pick -= d
		}
	}
	return out
}
