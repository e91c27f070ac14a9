package agent

import (
	"context"
	"log/slog"
	"time"
)

// syncTrace times the steps of one pod sync for the debug log: where a
// pod's start goes (waiting for the worker, volumes, the sandbox with its
// CNI set-up inside containerd, image check, create, start, status and
// its patch). It is nil, and costs nothing, unless the agent logs at
// debug level. Wall-clock time, not the agent's clock: it measures, it
// decides nothing.
type syncTrace struct {
	last  time.Time
	attrs []any
}

// newSyncTrace starts a trace if debug logging is on; woke is when the
// worker was poked (zero: by its timer), so the wait for the worker shows.
func (a *Agent) newSyncTrace(ctx context.Context, woke time.Time) *syncTrace {
	if !a.log.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	now := time.Now()
	t := &syncTrace{last: now}
	if !woke.IsZero() {
		t.attrs = append(t.attrs, "queued", now.Sub(woke).Round(time.Microsecond))
	}
	return t
}

// step records the time since the previous step under name.
func (t *syncTrace) step(name string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.attrs = append(t.attrs, name, now.Sub(t.last).Round(time.Microsecond))
	t.last = now
}

// log writes the trace as one debug line.
func (t *syncTrace) log(ctx context.Context, a *Agent, pod string, attrs ...any) {
	if t == nil {
		return
	}
	a.log.DebugContext(ctx, "pod sync", append(append([]any{"pod", pod}, attrs...), t.attrs...)...)
}
