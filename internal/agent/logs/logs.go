// Package logs reads container log files in the CRI log format the
// runtime writes (one entry per line:
// `2016-10-06T00:17:09.669794202Z stdout F log line`, tag P for a partial
// line the runtime split, F for the last piece) and writes them out as
// `kubectl logs` shows them, with the options of upstream's PodLogOptions:
// tail, since, timestamps, limitBytes and follow.
//
//	err := logs.Read(ctx, path, logs.Options{TailLines: 10, Follow: true}, running, w)
//
// Following polls the file: when the reader reaches the end it waits for
// the file to grow, or to be replaced (rotation renames the file and the
// runtime reopens a new one at the same path: the old file is drained
// first), and stops once the container is no longer running and what it
// wrote is drained.
package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// timestampOut is the fixed-width RFC 3339 form upstream prints with
// --timestamps (always nine fractional digits).
const timestampOut = "2006-01-02T15:04:05.000000000Z07:00"

// Options say what part of a log to read. The zero value reads the whole
// file once.
type Options struct {
	// TailLines, if >= 0, starts that many lines before the end of the
	// file (counting the file's lines, partial ones included, as
	// upstream does). Negative reads from the start.
	TailLines int64
	// LimitBytes, if > 0, stops after writing that many bytes (the last
	// line is cut).
	LimitBytes int64
	// Since skips entries older than this time.
	Since time.Time
	// Timestamps prefixes each line with its timestamp.
	Timestamps bool
	// Follow keeps reading as the file grows until the container stops.
	Follow bool

	// pollEvery and checkEvery pace following; zero means the defaults.
	pollEvery, checkEvery time.Duration
}

// Following pace: how often the file is looked at for new data, and how
// often the container is asked whether it still runs while no data
// arrives.
const (
	defaultPollEvery  = 100 * time.Millisecond
	defaultCheckEvery = time.Second
)

// FromPodLogOptions converts the API's options; now resolves sinceSeconds.
// As upstream, the later of sinceSeconds and sinceTime wins.
func FromPodLogOptions(o *corev1.PodLogOptions, now time.Time) Options {
	opts := Options{TailLines: -1, Timestamps: o.Timestamps, Follow: o.Follow}
	if o.TailLines != nil {
		opts.TailLines = *o.TailLines
	}
	if o.LimitBytes != nil {
		opts.LimitBytes = *o.LimitBytes
	}
	if o.SinceSeconds != nil {
		opts.Since = now.Add(-time.Duration(*o.SinceSeconds) * time.Second)
	}
	if o.SinceTime != nil && o.SinceTime.After(opts.Since) {
		opts.Since = o.SinceTime.Time
	}
	return opts
}

// Running reports whether the container writing the log still runs. Read
// calls it only when following; an error ends the read.
type Running func(ctx context.Context) (bool, error)

// errLimit ends a read that has written LimitBytes.
var errLimit = errors.New("byte limit reached")

// Read writes the log at path to w according to opts. running is needed
// only with opts.Follow. Read returns nil at the end of the log (at once
// without Follow; once the container has stopped and the file is drained
// with Follow), ctx's error if ctx ends first, and the first write error.
// Lines that are not in the CRI format are skipped.
func Read(ctx context.Context, path string, opts Options, running Running, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log file %q: %w", path, err)
	}
	r := &lineReader{f: f}
	defer func() { r.f.Close() }()
	start, err := tailStart(f, opts.TailLines)
	if err != nil {
		return fmt.Errorf("tail %d lines of log file %q: %w", opts.TailLines, path, err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seek in log file %q: %w", path, err)
	}
	out := &writer{w: w, opts: opts, remain: opts.LimitBytes, newLine: true}
	if !opts.Follow {
		err = copyEntries(bufio.NewReader(f), out)
	} else if running == nil {
		err = errors.New("logs: following needs to know whether the container runs")
	} else {
		err = follow(ctx, path, r, out, running)
	}
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// follow reads r, then waits for more, until the container stops. r.f
// changes when the file is rotated.
func follow(ctx context.Context, path string, r *lineReader, out *writer, running Running) error {
	poll, check := out.opts.pollEvery, out.opts.checkEvery
	if poll <= 0 {
		poll = defaultPollEvery
	}
	if check <= 0 {
		check = defaultCheckEvery
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	lastCheck := time.Time{}
	stopped := false
	for {
		progressed, err := r.drain(out)
		if err != nil {
			return err
		}
		// A new file at path means the old one was rotated away: drain
		// the old one again (it may have grown since the read above,
		// before it was renamed), then continue with the new one from
		// its start.
		if nf, ok := replaced(path, r.f); ok {
			if _, err := r.drain(out); err != nil {
				nf.Close()
				return err
			}
			r.f.Close()
			r.f, r.pending = nf, nil
			continue
		}
		if stopped {
			// The container had stopped before this last drain.
			return nil
		}
		if !progressed && time.Since(lastCheck) >= check {
			lastCheck = time.Now()
			ok, err := running(ctx)
			if err != nil {
				return fmt.Errorf("check container state: %w", err)
			}
			if !ok {
				// Read once more: it may have written before it stopped.
				stopped = true
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// replaced opens path if it is now a different file than f.
func replaced(path string, f *os.File) (*os.File, bool) {
	cur, err := f.Stat()
	if err != nil {
		return nil, false
	}
	st, err := os.Stat(path)
	if err != nil || os.SameFile(cur, st) {
		return nil, false
	}
	nf, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	return nf, true
}

// lineReader reads whole lines from a growing file: a line the runtime is
// still writing (no newline yet) is kept until it is complete.
type lineReader struct {
	f       *os.File
	pending []byte
	buf     [32 << 10]byte
}

// drain writes every complete line now in the file and reports whether
// it read anything.
func (r *lineReader) drain(out *writer) (bool, error) {
	progressed := false
	for {
		n, err := r.f.Read(r.buf[:])
		if n > 0 {
			progressed = true
			r.pending = append(r.pending, r.buf[:n]...)
			for {
				i := bytes.IndexByte(r.pending, '\n')
				if i < 0 {
					break
				}
				if err := out.entry(r.pending[:i+1]); err != nil {
					return progressed, err
				}
				r.pending = r.pending[i+1:]
			}
			// Keep the unfinished line at the front of a fresh slice so
			// the buffer does not grow without bound.
			r.pending = append([]byte(nil), r.pending...)
		}
		if err == io.EOF {
			return progressed, nil
		}
		if err != nil {
			return progressed, fmt.Errorf("read log file: %w", err)
		}
	}
}

// copyEntries writes every line of r, a last line without its newline
// too.
func copyEntries(r *bufio.Reader, out *writer) error {
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if werr := out.entry(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log file: %w", err)
		}
	}
}

// entry is one parsed line of a CRI log.
type entry struct {
	time    time.Time
	stream  string // "stdout" or "stderr"
	partial bool
	content []byte // without the tag; ends in '\n' unless partial
}

// parse parses one CRI log line (with or without its trailing newline).
func parse(line []byte) (entry, error) {
	var e entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, errors.New("timestamp is not found")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("bad timestamp %q: %w", ts, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, errors.New("stream type is not found")
	}
	if s := string(stream); s != "stdout" && s != "stderr" {
		return e, fmt.Errorf("unexpected stream type %q", stream)
	}
	tags, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "... stdout F" followed by the newline: an empty line.
		tags, content = bytes.TrimSuffix(rest, []byte{'\n'}), []byte{'\n'}
	}
	// Tags are ':'-separated; only the first (P or F) means anything yet.
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	e.time, e.stream, e.partial = t, string(stream), string(tag) == "P"
	if e.partial {
		content = bytes.TrimSuffix(content, []byte{'\n'})
	} else if len(content) == 0 || content[len(content)-1] != '\n' {
		content = append(content[:len(content):len(content)], '\n')
	}
	e.content = content
	return e, nil
}

// writer applies since, timestamps and the byte limit.
type writer struct {
	w      io.Writer
	opts   Options
	remain int64 // bytes left when opts.LimitBytes > 0
	// newLine: the previous entry ended a line, so the next one starts
	// one and gets the timestamp prefix.
	newLine bool
}

func (w *writer) entry(line []byte) error {
	e, err := parse(line)
	if err != nil {
		return nil // not a CRI line: skipped, as upstream skips them
	}
	startsLine := w.newLine
	w.newLine = !e.partial
	if e.time.Before(w.opts.Since) {
		return nil
	}
	out := e.content
	if w.opts.Timestamps && startsLine {
		out = append([]byte(e.time.Format(timestampOut)+" "), out...)
	}
	if w.opts.LimitBytes > 0 && int64(len(out)) > w.remain {
		out = out[:w.remain]
	}
	n, err := w.w.Write(out)
	if err != nil {
		return err
	}
	if n < len(out) {
		return io.ErrShortWrite
	}
	if w.opts.LimitBytes > 0 {
		w.remain -= int64(n)
		if w.remain <= 0 {
			return errLimit
		}
	}
	return nil
}

// tailStart returns the offset of the n-th line from the end of f (0 for
// n < 0 or a file with fewer lines). A last line without its newline
// counts as a line.
func tailStart(f *os.File, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	const block = 8 << 10
	buf := make([]byte, block)
	end := size
	// A trailing newline ends the last line; it does not start another.
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		end--
	}
	if n == 0 {
		return size, nil
	}
	var seen int64
	for pos := end; pos > 0; {
		lo := max(pos-block, 0)
		chunk := buf[:pos-lo]
		if _, err := f.ReadAt(chunk, lo); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				seen++
				if seen == n {
					return lo + int64(i) + 1, nil
				}
			}
		}
		pos = lo
	}
	return 0, nil
}
