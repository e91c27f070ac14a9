package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/informers"

	"skiff.dev/skiff/internal/controller/cronjob"
	"skiff.dev/skiff/internal/controller/daemonset"
	"skiff.dev/skiff/internal/controller/job"
	"skiff.dev/skiff/internal/controller/podautoscaler"
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
	// upstream's --concurrent-horizontal-pod-autoscaler-syncs
	hpaWorkers = 5
)

// startAppsControllers builds the StatefulSet, DaemonSet, Job, CronJob,
// TTL-after-finished and horizontal pod autoscaler controllers on factory, each with its identity
// from ids, and runs them until ctx ends. It must be called before factory.Start: the controllers add
// indexes and handlers to shared informers.
func startAppsControllers(ctx context.Context, ids *controllerIdentities, factory informers.SharedInformerFactory, log *slog.Logger) error {
	id, err := ids.get("statefulset-controller")
	if err != nil {
		return err
	}
	ss, err := statefulset.New(id.client, factory, id.recorder("statefulset-controller"), log.With("controller", "statefulset"))
	if err != nil {
		return fmt.Errorf("statefulset controller: %w", err)
	}
	if id, err = ids.get("daemon-set-controller"); err != nil {
		return err
	}
	ds, err := daemonset.New(id.client, factory, id.recorder("daemonset-controller"), log.With("controller", "daemonset"))
	if err != nil {
		return fmt.Errorf("daemonset controller: %w", err)
	}
	if id, err = ids.get("job-controller"); err != nil {
		return err
	}
	jc, err := job.New(id.client, factory, id.recorder("job-controller"), log.With("controller", "job"))
	if err != nil {
		return fmt.Errorf("job controller: %w", err)
	}
	if id, err = ids.get("cronjob-controller"); err != nil {
		return err
	}
	cj, err := cronjob.New(id.client, factory, id.recorder("cronjob-controller"), log.With("controller", "cronjob"), time.Now)
	if err != nil {
		return fmt.Errorf("cronjob controller: %w", err)
	}
	if id, err = ids.get("ttl-after-finished-controller"); err != nil {
		return err
	}
	ttl, err := ttlafterfinished.New(id.client, factory, log.With("controller", "ttlafterfinished"), time.Now)
	if err != nil {
		return fmt.Errorf("ttl-after-finished controller: %w", err)
	}
	if id, err = ids.get("horizontal-pod-autoscaler"); err != nil {
		return err
	}
	hpa, err := podautoscaler.New(id.client, factory, id.recorder("horizontal-pod-autoscaler"), log.With("controller", "horizontalpodautoscaler"),
		podautoscaler.SyncPeriod, time.Now)
	if err != nil {
		return fmt.Errorf("horizontal pod autoscaler controller: %w", err)
	}
	go func() { _ = ss.Run(ctx, statefulSetWorkers) }()
	go func() { _ = ds.Run(ctx, daemonSetWorkers) }()
	go func() { _ = jc.Run(ctx, jobWorkers) }()
	go func() { _ = cj.Run(ctx, cronJobWorkers) }()
	go func() { _ = ttl.Run(ctx, ttlAfterFinishedWorkers) }()
	go func() { _ = hpa.Run(ctx, hpaWorkers) }()
	return nil
}
