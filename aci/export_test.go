package aci

import "time"

// Internals the external tests (package aci_test) check.
var Escape = escape

// SetRecordWait shortens how long DeleteRecord waits for a running
// deployment before cancelling it.
func (l *Lifecycle) SetRecordWait(d time.Duration) { l.recordWait = d }
