package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/cronjob"
	"skiff.dev/skiff/internal/controller/daemonset"
	"skiff.dev/skiff/internal/controller/job"
	"skiff.dev/skiff/internal/controller/statefulset"
	"skiff.dev/skiff/internal/controller/ttlafterfinished"
)

// Worker counts: upstream's --concurrent-statefulset-syncs,
// --concurrent-daemonset-syncs, --concurrent-job-syncs,
// --concurrent-cron-job-syncs and --concurrent-ttl-after-finished-syncs
// defaults.
const (
	statefulSetWorkers      = 5
	daemonSetWorkers        = 2
	jobWorkers              = 5
	cronJobWorkers          = 5
	ttlAfterFinishedWorkers = 5
)

// startAppsControllers builds the StatefulSet, DaemonSet, Job, CronJob
// and TTL-after-finished controllers on factory and runs them until ctx
// ends. It must be called before factory.Start: the controllers add
// indexes and handlers to shared informers.
func startAppsControllers(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder func(string) record.EventRecorder, log *slog.Logger) error {
	ss, err := statefulset.New(client, factory, recorder("statefulset-controller"), log.With("controller", "statefulset"))
	if err != nil {
		return fmt.Errorf("statefulset controller: %w", err)
	}
	ds, err := daemonset.New(client, factory, recorder("daemonset-controller"), log.With("controller", "daemonset"))
	if err != nil {
		return fmt.Errorf("daemonset controller: %w", err)
	}
	jc, err := job.New(client, factory, recorder("job-controller"), log.With("controller", "job"))
	if err != nil {
		return fmt.Errorf("job controller: %w", err)
	}
	cj, err := cronjob.New(client, factory, recorder("cronjob-controller"), log.With("controller", "cronjob"), time.Now)
	if err != nil {
		return fmt.Errorf("cronjob controller: %w", err)
	}
	ttl, err := ttlafterfinished.New(client, factory, log.With("controller", "ttlafterfinished"), time.Now)
	if err != nil {
		return fmt.Errorf("ttl-after-finished controller: %w", err)
	}
	go func() { _ = ss.Run(ctx, statefulSetWorkers) }()
	go func() { _ = ds.Run(ctx, daemonSetWorkers) }()
	go func() { _ = jc.Run(ctx, jobWorkers) }()
	go func() { _ = cj.Run(ctx, cronJobWorkers) }()
	go func() { _ = ttl.Run(ctx, ttlAfterFinishedWorkers) }()
	return nil
}
