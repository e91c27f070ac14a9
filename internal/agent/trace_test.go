package agent_test

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	"skiff.dev/skiff/internal/testserver"
)

// syncBuffer is a log sink the agent's goroutines write concurrently.
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

// At debug level, the sync that starts a pod logs the time of each of its
// steps; at info level it logs nothing.
func TestDebugLogTimesEachStepOfAPodStart(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelDebug, true}, {slog.LevelInfo, false}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			s := testserver.Start(t)
			var out syncBuffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: tc.level}))
			_, stop := runAgent(t, s, agent.Config{
				NodeName: "n1", Log: log,
				Runtime: fake.New(fake.Options{PodCIDR: netip.MustParsePrefix("10.42.7.0/24")}),
			})
			c := kubernetes.NewForConfigOrDie(s.Config(t, "admin", "system:masters"))
			createPod(t, c, "n1", "web", corev1.RestartPolicyAlways, "app")
			eventually(t, "pod Ready", func() (bool, string) {
				pod := getPod(t, c, "web")
				for _, cond := range pod.Status.Conditions {
					if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
						return true, ""
					}
				}
				return false, string(pod.Status.Phase)
			})
			stop() // waits for the workers: the sync's line is written
			var line string
			for l := range strings.Lines(out.String()) {
				// The sync that created the sandbox (later ones may
				// restart the container, which exits).
				if strings.Contains(l, `msg="pod sync"`) && strings.Contains(l, " sandbox=") {
					line = l
					break
				}
			}
			if !tc.want {
				if line != "" {
					t.Fatalf("pod sync logged at %s: %s", tc.level, line)
				}
				return
			}
			if line == "" {
				t.Fatalf("no pod sync line with a sandbox step in the log:\n%s", out.String())
			}
			for _, key := range []string{"pod=default/web", "queued=", "state=", "sandbox=", "image=", "create=", "start=", "status="} {
				if !strings.Contains(line, key) {
					t.Errorf("pod sync line lacks %s: %s", key, line)
				}
			}
		})
	}
}
