package worker

import (
	"maps"
	"sync"
	"time"
)

// store holds the runs this process owns: one map and one lock. A run is
// taken before its goroutine starts and dropped by that goroutine as it
// returns; dropping is the one place its --limit slot is given back.
// Reconcile removes only what the store does not own.
type store struct {
	mu    sync.Mutex
	runs  map[string]*run
	limit int // the most slots; 0: unlimited
	used  int // slots held
	// badPIDs are runs whose malformed infrastructure pid was reported
	// (once per run), forgotten with runs no longer in flight in the pool.
	badPIDs map[string]bool
	// ended is when each run was dropped, forgotten likewise: a listing
	// read before then shows the run as it was before this process ended
	// it (see endedSince).
	ended map[string]time.Time
	// unmoved are adoptions that ended with their run still in the state
	// it was adopted in, forgotten likewise: adopting it again at once
	// would only repeat the adoption (see adoptionDue).
	unmoved map[string]adoptMemo
}

// adoptMemo remembers the adoptions of a run that ended with it unmoved.
type adoptMemo struct {
	stateID string // the state they ended in
	tries   int
	next    time.Time // not adopted again before
}

func newStore(limit int) *store {
	return &store{runs: map[string]*run{}, limit: limit, badPIDs: map[string]bool{}, ended: map[string]time.Time{}, unmoved: map[string]adoptMemo{}}
}

// takeResult says how a take went.
type takeResult int

const (
	taken takeResult = iota
	held             // a run of that id is owned already
	full             // no --limit slot is free
)

// take makes r owned. A submitted run needs a slot (full when none is
// free); an adopted one takes a slot when one is free and is owned anyway:
// runs in flight are watched even past --limit. r.hasSlot says whether it
// holds one.
func (s *store) take(r *run, needSlot bool) takeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.id]; ok {
		return held
	}
	free := s.limit == 0 || s.used < s.limit
	if needSlot && !free {
		return full
	}
	r.hasSlot = free
	if free && s.limit > 0 {
		s.used++
	}
	s.runs[r.id] = r
	return taken
}

// drop gives up r and its slot, at now. Only r's own goroutine calls it,
// once.
func (s *store) drop(r *run, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs[r.id] != r {
		return
	}
	delete(s.runs, r.id)
	s.ended[r.id] = now
	if r.hasSlot && s.limit > 0 {
		s.used--
	}
}

// owns says whether a run of that id is owned.
func (s *store) owns(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.runs[id]
	return ok
}

// ids are the ids of the runs owned.
func (s *store) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.runs))
	for id := range s.runs {
		out = append(out, id)
	}
	return out
}

// get is the owned run of that id, nil if none.
func (s *store) get(id string) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

// endedSince says whether a run of that id was dropped at t or later.
func (s *store) endedSince(id string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.ended[id]
	return ok && !at.Before(t)
}

// count is the number of runs owned, and of those whose end the observer
// has not yet heard.
func (s *store) count() (all, unfinished int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if !r.finishCounted.Load() {
			unfinished++
		}
	}
	return len(s.runs), unfinished
}

// noteBadPID says whether a run's malformed pid is reported for the first
// time.
func (s *store) noteBadPID(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.badPIDs[id] {
		return false
	}
	s.badPIDs[id] = true
	return true
}

// adoptionEnded notes that an adoption of run id ended, at now, with the
// run still in state stateID: it is not due again before readoptAt.
func (s *store) adoptionEnded(id, stateID string, now time.Time, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.unmoved[id]
	if m.stateID != stateID {
		m = adoptMemo{stateID: stateID}
	}
	m.tries++
	m.next = readoptAt(now, m.tries, interval)
	s.unmoved[id] = m
}

// adoptionDue says whether run id, now in state stateID, may be adopted at
// now, and after how many adoptions that left it in that state (0: none).
// A run that moved on since is due, and its memory forgotten.
func (s *store) adoptionDue(id, stateID string, now time.Time) (due bool, tries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.unmoved[id]
	switch {
	case !ok:
		return true, 0
	case stateID == "" || stateID != m.stateID:
		delete(s.unmoved, id)
		return true, 0
	case now.Before(m.next):
		return false, m.tries
	default:
		return true, m.tries
	}
}

// forgetUnlisted forgets what is remembered of runs no longer in flight
// in the pool: their pids, when they ended, their unmoved adoptions.
func (s *store) forgetUnlisted(listed map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := func(id string) bool { return !listed[id] }
	maps.DeleteFunc(s.badPIDs, func(id string, _ bool) bool { return gone(id) })
	maps.DeleteFunc(s.ended, func(id string, _ time.Time) bool { return gone(id) })
	maps.DeleteFunc(s.unmoved, func(id string, _ adoptMemo) bool { return gone(id) })
}
