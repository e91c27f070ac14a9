package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Upstream's defaults for the log backend's flags are 0 (keep everything);
// ours are what the CIS benchmark asks for, so that a default install
// passes it.
const (
	DefaultMaxAge     = 30  // days
	DefaultMaxBackups = 10  // files
	DefaultMaxSize    = 100 // megabytes
)

// LogOptions configure the log file: upstream's --audit-log-* flags.
type LogOptions struct {
	// Path of the log file; "-" writes to standard output.
	Path string
	// MaxAge is how many days rotated files are kept (0: no limit).
	MaxAge int
	// MaxBackups is how many rotated files are kept (0: no limit).
	MaxBackups int
	// MaxSize is the size in megabytes at which the file is rotated.
	MaxSize int
	// BufferSize is how many events may wait for the disk before new
	// ones are dropped; 0 means 10,000.
	BufferSize int
}

// Backend writes event lines to the log in the background. Write never
// waits for the disk for more than enqueueWait: when the buffer is full
// (the disk cannot keep up), the line is dropped, counted (Dropped) and
// logged. Lines are written in arrival order, in batches.
type Backend struct {
	out   io.Writer
	close func() error

	mu     sync.RWMutex // guards closed against Write racing Close
	closed bool
	lines  chan []byte
	done   chan struct{}

	dropped     atomic.Uint64
	failed      atomic.Uint64
	lastDropLog atomic.Int64 // unix nanoseconds
}

const (
	// enqueueWait is how long a request may wait for room in a full
	// buffer before its event is dropped.
	enqueueWait = 50 * time.Millisecond
	// maxBatch bounds one write: lumberjack rotates between writes, and
	// refuses a write larger than the file's maximum size.
	maxBatch = 256 << 10
	// dropLogEvery throttles the "events dropped" log line.
	dropLogEvery = 10 * time.Second
)

// NewLogBackend opens (creating, mode 0600) the log file, so that a bad
// path fails at start-up rather than at the first request, and starts the
// writer. Close flushes and stops it.
func NewLogBackend(opts LogOptions) (*Backend, error) {
	if opts.Path == "-" {
		return newBackend(os.Stdout, func() error { return nil }, opts.BufferSize), nil
	}
	if opts.Path == "" {
		return nil, fmt.Errorf("audit log: no path")
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(opts.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f.Close()
	lj := &lumberjack.Logger{Filename: opts.Path, MaxAge: opts.MaxAge, MaxBackups: opts.MaxBackups, MaxSize: opts.MaxSize}
	return newBackend(lj, lj.Close, opts.BufferSize), nil
}

// newBackend starts the writer of lines to out; closeOut runs on Close.
func newBackend(out io.Writer, closeOut func() error, buffer int) *Backend {
	if buffer <= 0 {
		buffer = 10000
	}
	b := &Backend{out: out, close: closeOut, lines: make(chan []byte, buffer), done: make(chan struct{})}
	go b.run()
	return b
}

// Write queues one line (which must end in a newline) and takes ownership
// of it. Safe for concurrent use; after Close, lines are dropped.
func (b *Backend) Write(line []byte) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		b.drop("the audit log is closed")
		return
	}
	select {
	case b.lines <- line:
		return
	default:
	}
	t := time.NewTimer(enqueueWait)
	defer t.Stop()
	select {
	case b.lines <- line:
	case <-t.C:
		b.drop("the audit log cannot keep up; is its disk slow or full?")
	}
}

func (b *Backend) drop(why string) {
	n := b.dropped.Add(1)
	now := time.Now().UnixNano()
	last := b.lastDropLog.Load()
	if now-last >= int64(dropLogEvery) && b.lastDropLog.CompareAndSwap(last, now) {
		slog.Error("audit events dropped", "reason", why, "dropped_total", n)
	}
}

// Dropped is how many events were dropped because the buffer was full or
// the backend closed.
func (b *Backend) Dropped() uint64 { return b.dropped.Load() }

// Failed is how many events the log file refused (write errors).
func (b *Backend) Failed() uint64 { return b.failed.Load() }

// Close writes what is queued, then closes the file. Events written after
// Close are dropped.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.lines)
	b.mu.Unlock()
	<-b.done
	return b.close()
}

func (b *Backend) run() {
	defer close(b.done)
	batch := make([]byte, 0, maxBatch)
	for line := range b.lines {
		batch = append(batch[:0], line...)
		n, open := 1, true
	fill:
		for open && len(batch) < maxBatch {
			select {
			case l, ok := <-b.lines:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, l...)
				n++
			default:
				break fill
			}
		}
		b.flush(batch, n)
		if !open {
			return
		}
		if cap(batch) > 4*maxBatch {
			batch = make([]byte, 0, maxBatch) // one huge event must not pin its memory
		}
	}
}

func (b *Backend) flush(batch []byte, n int) {
	if _, err := b.out.Write(batch); err != nil {
		total := b.failed.Add(uint64(n))
		slog.Error("write audit events", "events", n, "failed_total", total, "err", err)
	}
}

// Logger is the API server's audit: a policy and a log. The API server's
// filter asks Decide per request and hands each stage's event to Record.
type Logger struct {
	eval    *Evaluator
	backend *Backend
}

// NewLogger records events the policy selects to backend.
func NewLogger(p *Policy, backend *Backend) *Logger {
	return &Logger{eval: NewEvaluator(p), backend: backend}
}

// Decide implements the API server's Auditor.
func (l *Logger) Decide(a Attributes) Decision { return l.eval.Decide(a) }

// Record serializes ev at once, so the caller may go on changing it (the
// next stage), and queues the line. It does not wait for the disk.
func (l *Logger) Record(ev *Event) {
	if ev.Kind == "" {
		ev.Kind, ev.APIVersion = "Event", APIVersion
	}
	line, err := json.Marshal(ev)
	if err != nil {
		// Only a broken RawObject can fail; the event still counts.
		slog.Error("encode audit event", "auditID", ev.AuditID, "err", err)
		l.backend.drop("an event could not be encoded")
		return
	}
	l.backend.Write(append(line, '\n'))
}

// Close flushes the log.
func (l *Logger) Close() error { return l.backend.Close() }

// Dropped is how many events were lost (see Backend.Dropped).
func (l *Logger) Dropped() uint64 { return l.backend.Dropped() }
