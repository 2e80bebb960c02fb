package emulator

import (
	"math"
	"sync"
	"time"
)

// Bucket is one ARM token bucket: Size requests at once, refilled at
// RefillPerSecond.
type Bucket struct {
	Size            int
	RefillPerSecond float64
}

// ThrottleLimits are the per-subscription buckets. Zero fields take ARM's
// documented defaults (reads 250 @ 25/s, writes 200 @ 10/s, deletes 200 @ 10/s).
type ThrottleLimits struct {
	Reads, Writes, Deletes Bucket
}

func (l ThrottleLimits) withDefaults() ThrottleLimits {
	def := func(b, d Bucket) Bucket {
		if b.Size <= 0 {
			b.Size = d.Size
		}
		if b.RefillPerSecond <= 0 {
			b.RefillPerSecond = d.RefillPerSecond
		}
		return b
	}
	l.Reads = def(l.Reads, Bucket{250, 25})
	l.Writes = def(l.Writes, Bucket{200, 10})
	l.Deletes = def(l.Deletes, Bucket{200, 10})
	return l
}

type bucketState struct {
	tokens float64
	last   time.Time
}

// throttler keeps ARM's buckets per subscription and request class.
type throttler struct {
	mu      sync.Mutex
	on      bool
	limits  ThrottleLimits
	buckets map[string]*bucketState // subscription + "/" + class
	now     func() time.Time
}

func newThrottler(on bool, limits ThrottleLimits) *throttler {
	return &throttler{on: on, limits: limits.withDefaults(), buckets: map[string]*bucketState{}, now: time.Now}
}

func (t *throttler) bucket(cls string) Bucket {
	switch cls {
	case "reads":
		return t.limits.Reads
	case "deletes":
		return t.limits.Deletes
	default:
		return t.limits.Writes
	}
}

// take spends one token. It returns the tokens left and, when the bucket is
// empty, how long until one is available.
func (t *throttler) take(sub, cls string) (remaining int, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(cls)
	key := sub + "/" + cls
	now := t.now()
	st := t.buckets[key]
	if st == nil {
		st = &bucketState{tokens: float64(b.Size), last: now}
		t.buckets[key] = st
	}
	st.tokens = math.Min(float64(b.Size), st.tokens+now.Sub(st.last).Seconds()*b.RefillPerSecond)
	st.last = now
	if !t.on {
		return b.Size, 0
	}
	if st.tokens < 1 {
		need := (1 - st.tokens) / b.RefillPerSecond
		return 0, time.Duration(need * float64(time.Second))
	}
	st.tokens--
	return int(st.tokens), 0
}

func (t *throttler) set(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = on
	// Start from full buckets so that turning throttling on does not punish
	// traffic sent while it was off.
	t.buckets = map[string]*bucketState{}
}

func (t *throttler) setLimits(l ThrottleLimits) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limits = l.withDefaults()
	t.buckets = map[string]*bucketState{}
}
