package replicaset_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/controllertest"
)

// BenchmarkCreate1000Pods measures how long the controller takes from a
// ReplicaSet of 1,000 replicas being created to status.replicas=1000,
// against the in-process API server:
//
//	go test ./internal/controller/replicaset -run '^$' -bench Create1000 -benchtime 1x
func BenchmarkCreate1000Pods(b *testing.B) {
	for i := 0; i < b.N; i++ {
		env := start(b)
		b.ResetTimer()
		rs := newRS(fmt.Sprintf("burst-%d", i), 1000)
		began := time.Now()
		if _, err := env.Client.AppsV1().ReplicaSets("default").Create(env.Ctx, rs, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		controllertest.Eventually(b, 60*time.Second, func() error {
			cur, err := env.Client.AppsV1().ReplicaSets("default").Get(env.Ctx, rs.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.Status.Replicas != 1000 {
				return fmt.Errorf("status.replicas %d", cur.Status.Replicas)
			}
			return nil
		})
		b.ReportMetric(time.Since(began).Seconds(), "s/1000pods")
		b.StopTimer()
	}
}
