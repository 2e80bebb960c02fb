package worker

import (
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
}

func newStore(limit int) *store {
	return &store{runs: map[string]*run{}, limit: limit, badPIDs: map[string]bool{}, ended: map[string]time.Time{}}
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

// forgetUnlisted forgets the pids of runs no longer in flight in the pool.
func (s *store) forgetUnlisted(listed map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.badPIDs {
		if !listed[id] {
			delete(s.badPIDs, id)
		}
	}
	for id := range s.ended {
		if !listed[id] {
			delete(s.ended, id)
		}
	}
}
