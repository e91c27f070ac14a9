package logs

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const sample = `2016-10-06T00:17:09.669794202Z stdout F one
2016-10-06T00:17:10.000000000Z stderr F two
2016-10-06T00:17:11.5Z stdout P thr
2016-10-06T00:17:11.6Z stdout F ee
not a cri line
2016-10-06T00:17:12Z stdout F
2016-10-06T00:17:13.000000001Z stdout F five
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRead(t *testing.T) {
	all := Options{TailLines: -1}
	tests := []struct {
		name    string
		content string
		opts    Options
		want    string
	}{
		{"whole file", sample, all, "one\ntwo\nthree\n\nfive\n"},
		{"empty file", "", all, ""},
		{"tail 1", sample, Options{TailLines: 1}, "five\n"},
		{"tail 0", sample, Options{TailLines: 0}, ""},
		// Tail counts the file's lines: the empty entry and five.
		{"tail 2", sample, Options{TailLines: 2}, "\nfive\n"},
		// The partial line's second half alone, as upstream.
		{"tail cuts a partial line", sample, Options{TailLines: 4}, "ee\n\nfive\n"},
		{"tail more than the file", sample, Options{TailLines: 100}, "one\ntwo\nthree\n\nfive\n"},
		{"tail without final newline", "2016-10-06T00:17:09Z stdout F a\n2016-10-06T00:17:10Z stdout F b", Options{TailLines: 1}, "b\n"},
		{"since", sample, Options{TailLines: -1, Since: at("2016-10-06T00:17:11.55Z")}, "ee\n\nfive\n"},
		{"since equal keeps the entry", sample, Options{TailLines: -1, Since: at("2016-10-06T00:17:10Z")}, "two\nthree\n\nfive\n"},
		{"timestamps", sample, Options{TailLines: -1, Timestamps: true},
			"2016-10-06T00:17:09.669794202Z one\n" +
				"2016-10-06T00:17:10.000000000Z two\n" +
				"2016-10-06T00:17:11.500000000Z three\n" +
				"2016-10-06T00:17:12.000000000Z \n" +
				"2016-10-06T00:17:13.000000001Z five\n"},
		{"limit bytes cuts a line", sample, Options{TailLines: -1, LimitBytes: 6}, "one\ntw"},
		{"limit bytes exact", sample, Options{TailLines: -1, LimitBytes: 8}, "one\ntwo\n"},
		{"limit bytes counts timestamps", sample, Options{TailLines: -1, LimitBytes: 33, Timestamps: true}, "2016-10-06T00:17:09.669794202Z on"},
		{"tail and limit", sample, Options{TailLines: 2, LimitBytes: 3}, "\nfi"},
		{"content with spaces and tags", "2016-10-06T00:17:09Z stdout F:x a  b \n", all, "a  b \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Read(context.Background(), writeLog(t, tt.content), tt.opts, nil, &out); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "nope.log"), Options{TailLines: -1}, nil, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func TestFromPodLogOptions(t *testing.T) {
	now := at("2024-01-01T00:01:00Z")
	tests := []struct {
		name string
		in   corev1.PodLogOptions
		want Options
	}{
		{"defaults", corev1.PodLogOptions{}, Options{TailLines: -1}},
		{"all set", corev1.PodLogOptions{Follow: true, Timestamps: true, TailLines: ptr.To[int64](3), LimitBytes: ptr.To[int64](10), SinceSeconds: ptr.To[int64](30)},
			Options{TailLines: 3, LimitBytes: 10, Follow: true, Timestamps: true, Since: at("2024-01-01T00:00:30Z")}},
		{"later sinceTime wins", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60), SinceTime: &metav1.Time{Time: at("2024-01-01T00:00:10Z")}},
			Options{TailLines: -1, Since: at("2024-01-01T00:00:10Z")}},
		{"later sinceSeconds wins", corev1.PodLogOptions{SinceSeconds: ptr.To[int64](10), SinceTime: &metav1.Time{Time: at("2024-01-01T00:00:10Z")}},
			Options{TailLines: -1, Since: at("2024-01-01T00:00:50Z")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromPodLogOptions(&tt.in, now); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// syncBuffer is written by Read's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// follower runs Read with Follow in the background.
type follower struct {
	running atomic.Bool
	out     syncBuffer
	done    chan error
	cancel  context.CancelFunc
}

func startFollow(t *testing.T, path string, opts Options) *follower {
	t.Helper()
	f := &follower{done: make(chan error, 1)}
	f.running.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	opts.Follow, opts.pollEvery, opts.checkEvery = true, time.Millisecond, time.Millisecond
	go func() {
		f.done <- Read(ctx, path, opts, func(context.Context) (bool, error) { return f.running.Load(), nil }, &f.out)
	}()
	return f
}

func (f *follower) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", f.out.String(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *follower) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
		return nil
	}
}

func appendLog(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestFollow(t *testing.T) {
	path := writeLog(t, "2016-10-06T00:17:09Z stdout F one\n")
	f := startFollow(t, path, Options{TailLines: -1})
	f.waitOutput(t, "one\n")
	// A line written in two pieces is shown once complete.
	appendLog(t, path, "2016-10-06T00:17:10Z stdout F t")
	appendLog(t, path, "wo\n")
	f.waitOutput(t, "one\ntwo\n")
	// What the container wrote before it stopped is drained.
	appendLog(t, path, "2016-10-06T00:17:11Z stderr F three\n")
	f.running.Store(false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := f.out.String(); got != "one\ntwo\nthree\n" {
		t.Errorf("got %q", got)
	}
}

func TestFollowTail(t *testing.T) {
	path := writeLog(t, sample)
	f := startFollow(t, path, Options{TailLines: 1})
	f.waitOutput(t, "five\n")
	appendLog(t, path, "2016-10-06T00:17:14Z stdout F six\n")
	f.waitOutput(t, "five\nsix\n")
	f.running.Store(false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	path := writeLog(t, "2016-10-06T00:17:09Z stdout F one\n")
	f := startFollow(t, path, Options{TailLines: -1})
	f.waitOutput(t, "one\n")
	// Rotation: the file is renamed after a last write, and the runtime
	// reopens a new file at the same path.
	appendLog(t, path, "2016-10-06T00:17:10Z stdout F two\n")
	if err := os.Rename(path, path+".20161006-001710"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, "2016-10-06T00:17:11Z stdout F three\n")
	f.waitOutput(t, "one\ntwo\nthree\n")
	appendLog(t, path, "2016-10-06T00:17:12Z stdout F four\n")
	f.waitOutput(t, "one\ntwo\nthree\nfour\n")
	f.running.Store(false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestFollowStoppedContainer(t *testing.T) {
	path := writeLog(t, sample)
	f := startFollow(t, path, Options{TailLines: -1})
	f.running.Store(false)
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := f.out.String(); got != "one\ntwo\nthree\n\nfive\n" {
		t.Errorf("got %q", got)
	}
}

func TestFollowLimitBytes(t *testing.T) {
	path := writeLog(t, "2016-10-06T00:17:09Z stdout F one\n")
	f := startFollow(t, path, Options{TailLines: -1, LimitBytes: 6})
	f.waitOutput(t, "one\n")
	appendLog(t, path, "2016-10-06T00:17:10Z stdout F two\n")
	// The limit ends the read although the container still runs.
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := f.out.String(); got != "one\ntw" {
		t.Errorf("got %q", got)
	}
}

func TestFollowCancel(t *testing.T) {
	path := writeLog(t, "2016-10-06T00:17:09Z stdout F one\n")
	f := startFollow(t, path, Options{TailLines: -1})
	f.waitOutput(t, "one\n")
	f.cancel()
	if err := f.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestFollowRuntimeError(t *testing.T) {
	path := writeLog(t, "")
	boom := errors.New("runtime is down")
	err := Read(context.Background(), path, Options{TailLines: -1, Follow: true, pollEvery: time.Millisecond, checkEvery: time.Millisecond},
		func(context.Context) (bool, error) { return false, boom }, &bytes.Buffer{})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "container state") {
		t.Fatalf("got %v", err)
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		want    corev1.PodLogOptions
		wantErr bool
	}{
		{"", corev1.PodLogOptions{}, false},
		{"container=a&follow=true&previous=1&timestamps=True&tailLines=5&limitBytes=7&sinceSeconds=9",
			corev1.PodLogOptions{Container: "a", Follow: true, Previous: true, Timestamps: true, TailLines: ptr.To[int64](5), LimitBytes: ptr.To[int64](7), SinceSeconds: ptr.To[int64](9)}, false},
		{"follow=false&previous=0&timestamps=", corev1.PodLogOptions{Timestamps: true}, false},
		{"sinceTime=2024-01-01T00:00:10Z", corev1.PodLogOptions{SinceTime: &metav1.Time{Time: at("2024-01-01T00:00:10Z")}}, false},
		{"stream=Stdout", corev1.PodLogOptions{Stream: ptr.To("Stdout")}, false},
		{"tailLines=x", corev1.PodLogOptions{}, true},
		{"sinceTime=yesterday", corev1.PodLogOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(q)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && !equality.Semantic.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}
