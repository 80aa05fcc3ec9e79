package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/behorig/behorig/internal/audit"
)

// auditSealInterval is how often the sealer chains the audit events committed since its
// last run. It bounds the window in which an event is in the log but not yet in the chain
// (see internal/audit), so it is short; a run with nothing to seal is a few index look-ups.
const auditSealInterval = time.Second

// AuditSealArgs chains the committed audit events. It is a periodic job, not inserted by the
// domain.
type AuditSealArgs struct{}

// Kind is the job kind stored in river_job.
func (AuditSealArgs) Kind() string { return "audit_seal" }

// InsertOpts keeps one sealing job waiting or running at a time: a slow run is not joined by
// a queue of others behind the sealer's lock. It is not retried: the next second's run seals
// what this one did not.
func (AuditSealArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

type auditSealWorker struct {
	river.WorkerDefaults[AuditSealArgs]
	db  *pgxpool.Pool
	log *audit.Log
}

func (w *auditSealWorker) Work(ctx context.Context, _ *river.Job[AuditSealArgs]) error {
	_, err := w.log.Seal(ctx, w.db)
	return err
}

// Timeout ends a run that cannot get the database well before the next ones pile up.
func (w *auditSealWorker) Timeout(*river.Job[AuditSealArgs]) time.Duration { return 30 * time.Second }

// addAuditSealer registers the sealer and runs it every auditSealInterval, and at start, so
// that events committed before a restart are chained at once.
func addAuditSealer(cfg *river.Config, pool *pgxpool.Pool, log *audit.Log) error {
	if err := river.AddWorkerSafely(cfg.Workers, &auditSealWorker{db: pool, log: log}); err != nil {
		return fmt.Errorf("add audit seal worker: %w", err)
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(auditSealInterval),
		func() (river.JobArgs, *river.InsertOpts) { return AuditSealArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}
