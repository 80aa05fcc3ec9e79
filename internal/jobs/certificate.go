package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/behorig/behorig/provisioning"
)

// CertificateDeadlineArgs cancels a request that has no verified training certificate seven
// days after its submission (provisioning.CancelWithoutCertificate).
type CertificateDeadlineArgs struct {
	RequestID string `json:"request_id"`
}

// Kind names the job in River.
func (CertificateDeadlineArgs) Kind() string { return "certificate_deadline" }

// InsertOpts makes one deadline per request.
func (CertificateDeadlineArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type certificateDeadlineWorker struct {
	river.WorkerDefaults[CertificateDeadlineArgs]
	service *provisioning.Service
}

func (w *certificateDeadlineWorker) Work(ctx context.Context, job *river.Job[CertificateDeadlineArgs]) error {
	wait, err := w.service.CancelWithoutCertificate(ctx, job.Args.RequestID)
	if errors.Is(err, provisioning.ErrNotYet) {
		// Run before its time (a clock ahead on another instance): again at the deadline.
		return river.JobSnooze(wait + time.Second)
	}
	return err
}

func (s scheduler) ScheduleCertificateDeadline(ctx context.Context, tx pgx.Tx, requestID string, at time.Time) error {
	_, err := s.client.InsertTx(ctx, tx, CertificateDeadlineArgs{RequestID: requestID}, &river.InsertOpts{ScheduledAt: at})
	return err
}

// registerCertificates adds the certificate deadline's worker.
func (r *Runner) registerCertificates(service *provisioning.Service) error {
	if err := river.AddWorkerSafely(r.workers, &certificateDeadlineWorker{service: service}); err != nil {
		return fmt.Errorf("add certificate deadline worker: %w", err)
	}
	return nil
}
