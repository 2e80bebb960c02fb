package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/aciworker/aciworker/prefect"
)

// sync is Prefect's sync_with_backend over REST: the pool, then a
// heartbeat.
func (w *Worker) sync(ctx context.Context) error {
	if err := w.syncPool(ctx); err != nil {
		return err
	}
	if err := w.heartbeat(ctx); err != nil {
		w.log.Warn("heartbeat failed", "err", err)
		return err
	}
	return nil
}

// syncPool reads (or creates) the work pool and writes the default
// template into a pool that has none. The first success lets the loops
// start.
func (w *Worker) syncPool(ctx context.Context) error {
	pool, err := w.pf.ReadWorkPool(ctx, w.cfg.Pool)
	if errors.Is(err, prefect.ErrNotFound) {
		if !w.cfg.CreatePoolIfNotFound {
			w.log.Warn(fmt.Sprintf("Work pool %q not found!", w.cfg.Pool))
			return err
		}
		create := prefect.WorkPoolCreate{Name: w.cfg.Pool, Type: w.cfg.Type, BaseJobTemplate: w.cfg.BaseJobTemplate}
		pool, err = w.pf.CreateWorkPool(ctx, create)
		if errors.Is(err, prefect.ErrConflict) {
			pool, err = w.pf.ReadWorkPool(ctx, w.cfg.Pool)
		} else if err == nil {
			w.log.Info("created work pool", "pool", w.cfg.Pool)
		}
	}
	if err != nil {
		w.log.Warn("reading the work pool failed; retrying", "pool", w.cfg.Pool, "err", err)
		return err
	}
	template := pool.BaseJobTemplate
	if len(template) == 0 {
		template = w.cfg.BaseJobTemplate
		if err := w.pf.UpdateWorkPoolTemplate(ctx, w.cfg.Pool, template); err != nil {
			w.log.Warn("writing the default base job template into the pool failed", "err", err)
		}
	}
	if pool.Type != w.cfg.Type && !w.typeWarned.Swap(true) {
		w.log.Warn("Worker type mismatch!", "pool_type", pool.Type, "worker_type", w.cfg.Type)
	}
	w.mu.Lock()
	w.pool, w.template = pool, template
	w.mu.Unlock()
	w.syncOnce.Do(func() { close(w.synced) })
	return nil
}

func (w *Worker) syncLoop(ctx context.Context) {
	w.every(ctx, w.cfg.HeartbeatInterval, false, w.sync)
}
