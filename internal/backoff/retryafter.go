package backoff

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads one Retry-After value: delay seconds (fractions
// accepted, as Prefect's client does) or an HTTP date, measured from now.
// Negative delays and past dates are 0; ok is false when v is empty or not
// a valid value.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(max(f, 0) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// RetryAfter reads Azure's back-off hints in the order Azure's own SDK
// does: Retry-After-Ms, x-ms-retry-after-ms, then Retry-After. A
// millisecond hint counts only when positive; ok is false when no header
// holds a valid hint.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get(k)), 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	return ParseRetryAfter(h.Get("Retry-After"), now)
}
