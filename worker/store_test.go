package worker

import (
	"sync"
	"testing"
	"time"
)

// Under a limit, submitted runs need a slot and adopted ones take one only
// when free; a run is owned once; dropping gives its slot back, once.
func TestStoreSlots(t *testing.T) {
	t.Parallel()
	s := newStore(2)
	a, b, c := &run{id: "a"}, &run{id: "b"}, &run{id: "c"}
	adopted := &run{id: "adopted"}
	steps := []struct {
		name string
		do   func() takeResult
		want takeResult
	}{
		{"a takes a slot", func() takeResult { return s.take(a, true) }, taken},
		{"a again is held", func() takeResult { return s.take(&run{id: "a"}, true) }, held},
		{"b takes the last slot", func() takeResult { return s.take(b, true) }, taken},
		{"c finds none", func() takeResult { return s.take(c, true) }, full},
		{"an adoption goes on without one", func() takeResult { return s.take(adopted, false) }, taken},
		{"after a's drop c has one", func() takeResult { s.drop(a, time.Time{}); s.drop(a, time.Time{}); return s.take(c, true) }, taken},
		{"a stale drop of a replaced run frees nothing", func() takeResult {
			s.drop(&run{id: "c", hasSlot: true}, time.Time{})
			return s.take(&run{id: "d"}, true)
		}, full},
		{"dropping the slotless adoption frees nothing", func() takeResult { s.drop(adopted, time.Time{}); return s.take(&run{id: "d"}, true) }, full},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("%s: %v, want %v", st.name, got, st.want)
		}
	}
	if adopted.hasSlot || !a.hasSlot || !c.hasSlot {
		t.Errorf("slots held: adopted %v, a %v, c %v", adopted.hasSlot, a.hasSlot, c.hasSlot)
	}
	if !s.owns("b") || !s.owns("c") || s.owns("a") || s.owns("adopted") {
		t.Error("owns disagrees with what was taken and dropped")
	}
	if n, _ := s.count(); n != 2 {
		t.Errorf("count %d, want 2", n)
	}
}

// Without a limit every run takes a slot-free place, concurrently.
func TestStoreUnlimitedConcurrent(t *testing.T) {
	t.Parallel()
	s := newStore(0)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &run{id: string(rune('A' + i))}
			if s.take(r, true) != taken {
				t.Errorf("run %d not taken", i)
			}
			s.drop(r, time.Time{})
		}()
	}
	wg.Wait()
	if n, _ := s.count(); n != 0 {
		t.Errorf("count %d after every drop, want 0", n)
	}
}
