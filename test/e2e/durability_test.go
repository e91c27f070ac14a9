package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAcknowledgedWritesSurviveKill9 writes concurrently, kills the server
// with SIGKILL while writes are in flight, restarts it on the same data
// directory and checks that every write the server acknowledged is there
// with its acknowledged resourceVersion.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	s := startServer(t)
	cs := s.clientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	acked := map[string]string{} // name → resourceVersion
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("cm-%d-%d", w, i)
				obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}
				got, err := cs.CoreV1().ConfigMaps("default").Create(ctx, obj, metav1.CreateOptions{})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[name] = got.ResourceVersion
				n := len(acked)
				mu.Unlock()
				if n == 300 {
					s.kill9()
				}
			}
		}(w)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 300 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	s.start()
	cs = s.clientset()
	list, err := cs.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, it := range list.Items {
		stored[it.Name] = it.ResourceVersion
	}
	for name, rv := range acked {
		if got, ok := stored[name]; !ok || got != rv {
			t.Errorf("acknowledged write %s (rv %s) after restart: present=%v rv=%s", name, rv, ok, got)
		}
	}
	t.Logf("%d acknowledged writes, %d stored after kill -9 and restart", len(acked), len(stored))
}
