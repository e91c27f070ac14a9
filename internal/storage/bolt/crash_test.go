package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"skiff.dev/skiff/internal/storage"
)

// crashChildEnv makes the test binary act as the writer process of
// TestKillKeepsAcknowledgedWrites instead of running tests.
const crashChildEnv = "SKIFF_BOLT_CRASH_CHILD_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(runCrashChild(path))
	}
	os.Exit(m.Run())
}

// runCrashChild creates keys from 16 goroutines and prints "key revision"
// for each acknowledged create, until it is killed (or, as a bound, after
// 30 seconds or 200,000 writes).
func runCrashChild(path string) int {
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; i < 200_000/16 && time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("/crash/%02d/%06d", w, i)
				rev, err := s.Create(context.Background(), key, []byte(key))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", key, rev)
				out.Flush() // an ack is only printed once it is durable
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.Close()
	return 0
}

// TestKillKeepsAcknowledgedWrites kills a writing process with SIGKILL and
// checks that every write it had acknowledged is in the reopened store and
// that the store is consistent. (A process kill does not lose the page
// cache, so this proves that nothing is acknowledged before its commit,
// not the fsync itself, which bbolt does on every commit: NoSync is never
// set.)
func TestKillKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start writer process: %v", err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(stdout)
	const killAfter = 500
	killed := false
	for sc.Scan() {
		key, revText, ok := strings.Cut(sc.Text(), " ")
		rev, err := strconv.ParseInt(revText, 10, 64)
		if !ok || err != nil {
			t.Fatalf("bad line from writer: %q", sc.Text())
		}
		acked[key] = rev
		if len(acked) == killAfter && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("writer exited after %d acks, before it was killed", len(acked))
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	for key, rev := range acked {
		kv, err := s.Get(t.Context(), key)
		if err != nil || kv.ModRevision != rev || kv.Key != string(kv.Value) {
			t.Fatalf("acknowledged %s at %d, after kill: %+v, %v", key, rev, kv, err)
		}
	}
	// Only creates were made from revision 1: every revision is a key,
	// and the history agrees with the index.
	cur := mustRev(t, s)
	res, err := s.List(t.Context(), "/crash/", storage.ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if int64(len(res.Items)) != cur-1 || countBucket(t, s, bucketLog) != len(res.Items) {
		t.Fatalf("after kill: revision %d, %d keys, %d log entries", cur, len(res.Items), countBucket(t, s, bucketLog))
	}
	t.Logf("%d writes acknowledged before the kill, %d found committed", len(acked), len(res.Items))
}
