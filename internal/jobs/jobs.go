// Package jobs wires behorig's durable jobs into River: the job kinds, their workers, and the
// Scheduler through which the domain inserts them in its own transactions.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/provisioning"
)

// ProvisionArgs asks for a grant to be given in the directory at its valid-from.
type ProvisionArgs struct {
	GrantID string `json:"grant_id"`
}

// Kind is the job kind stored in river_job.
func (ProvisionArgs) Kind() string { return "provision" }

// InsertOpts makes provisioning unique per grant while it is waiting or running.
func (ProvisionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DirectoryQueue, MaxAttempts: outsideDayAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// RevokeArgs asks for a grant to be taken away. Trigger says why ("valid_to" or
// "request:<id>"), so that a termination can be scheduled beside the grant's own end date.
type RevokeArgs struct {
	GrantID string `json:"grant_id"`
	Trigger string `json:"trigger"`
}

// Kind is the job kind stored in river_job.
func (RevokeArgs) Kind() string { return "revoke" }

// InsertOpts makes revocation unique per grant and trigger. Revocations get more attempts
// than provisioning: a lost revocation leaves access that should be gone.
func (RevokeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DirectoryQueue, MaxAttempts: outsideThreeDaysAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// TermsMailArgs sends the e-mail with a link to sign the terms.
type TermsMailArgs struct {
	LinkID string `json:"link_id"`
}

// Kind is the job kind stored in river_job.
func (TermsMailArgs) Kind() string { return "terms_mail" }

// InsertOpts makes the e-mail unique per link, on the mail queue; the service records it
// once.
func (TermsMailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: MailQueue, MaxAttempts: outsideDayAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type termsMailWorker struct {
	river.WorkerDefaults[TermsMailArgs]
	service *provisioning.Service
}

func (w *termsMailWorker) Work(ctx context.Context, job *river.Job[TermsMailArgs]) error {
	return w.service.SendTermsMail(ctx, job.Args.LinkID)
}

func (w *termsMailWorker) Timeout(*river.Job[TermsMailArgs]) time.Duration { return time.Minute }

// NextRetry caps the wait as for the directory: an e-mail goes out within a minute of the
// end of an SMTP outage.
func (w *termsMailWorker) NextRetry(job *river.Job[TermsMailArgs]) time.Time {
	return outsideRetry(job.Attempt)
}

// NotifyArgs mails one notification (provisioning.SendNotification): a receipt, a decision,
// a request for more information, a comment, a request done, an approval waiting, the
// approvers' digest, a person's login details.
type NotifyArgs struct {
	ID string `json:"id"`
}

// Kind is the job kind stored in river_job.
func (NotifyArgs) Kind() string { return "notify" }

// InsertOpts sends notifications as the terms e-mail: on the mail queue, once per
// notification, retried for a day.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: MailQueue, MaxAttempts: outsideDayAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	service *provisioning.Service
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	return w.service.SendNotification(ctx, job.Args.ID)
}

func (w *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return time.Minute }

func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return outsideRetry(job.Attempt)
}

// ApprovalDigestArgs records the day's digest for the approvers once its time has passed
// (provisioning.QueueApprovalDigests). A periodic job, when the config asks for digests.
type ApprovalDigestArgs struct{}

// Kind is the job kind stored in river_job.
func (ApprovalDigestArgs) Kind() string { return "approval_digest" }

// InsertOpts gives up soon: the next period tries again, and a day's digest is recorded once
// however often it runs.
func (ApprovalDigestArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

type approvalDigestWorker struct {
	river.WorkerDefaults[ApprovalDigestArgs]
	service *provisioning.Service
}

func (w *approvalDigestWorker) Work(ctx context.Context, _ *river.Job[ApprovalDigestArgs]) error {
	_, err := w.service.QueueApprovalDigests(ctx)
	return err
}

// digestInterval is how often the digest job looks whether the day's digest is due: the
// digest goes out within this long of its time.
const digestInterval = 10 * time.Minute

// The queues. Each outside party has its own, so that one that hangs holds only its own
// workers: a hung directory leaves e-mail and signing going, and the reverse.
const (
	// DirectoryQueue runs what writes to the directory: provision, revoke, converge.
	DirectoryQueue = "directory"
	// MailQueue sends the terms e-mails and the notifications.
	MailQueue = "mail"
	// signingQueue collects BankID orders.
	signingQueue = "signing"
)

// SigningWatchArgs collects a BankID signing order until it ends.
type SigningWatchArgs struct {
	OrderRef string `json:"order_ref"`
}

// Kind is the job kind stored in river_job.
func (SigningWatchArgs) Kind() string { return "signing_watch" }

// InsertOpts puts the watch on its own queue, once per order.
func (SigningWatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: signingQueue, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type signingWatchWorker struct {
	river.WorkerDefaults[SigningWatchArgs]
	service *provisioning.Service
}

// signingCollectInterval is how often the watch asks BankID, as BankID recommends.
const signingCollectInterval = 2 * time.Second

// Work collects once and, while the order is pending, snoozes until the next collect: a
// watch never sleeps inside a running job, so it holds no worker while a person takes their
// time, and a crashed process leaves no job running for the rescuer to wait out. The
// collect holds no database connection or transaction while BankID answers (WatchSigning),
// and a collect that fails (BankID hung or answering 5xx) is retried by the next snooze, two
// seconds on, not by River's backoff: the order completes soon after BankID is back.
func (w *signingWatchWorker) Work(ctx context.Context, job *river.Job[SigningWatchArgs]) error {
	again, err := w.service.WatchSigning(ctx, job.Args.OrderRef, signingCollectInterval)
	if err != nil || !again {
		return err
	}
	return river.JobSnooze(signingCollectInterval)
}

// AuditCheckpointArgs writes a checkpoint of the audit log when it has grown since the last.
// It is a periodic job, not inserted by the domain.
type AuditCheckpointArgs struct{}

// Kind is the job kind stored in river_job.
func (AuditCheckpointArgs) Kind() string { return "audit_checkpoint" }

// InsertOpts gives up soon: the next period writes the checkpoint anyway. There is no
// uniqueness: two at once are serialised by the log and the second finds nothing new.
func (AuditCheckpointArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3}
}

type auditCheckpointWorker struct {
	river.WorkerDefaults[AuditCheckpointArgs]
	db   *pgxpool.Pool
	log  *audit.Log
	sink audit.CheckpointSink
	now  func() time.Time
}

func (w *auditCheckpointWorker) Work(ctx context.Context, job *river.Job[AuditCheckpointArgs]) error {
	_, _, err := w.log.CheckpointIfGrown(ctx, w.db, w.now(), w.sink)
	return err
}

func (w *auditCheckpointWorker) Timeout(*river.Job[AuditCheckpointArgs]) time.Duration {
	return time.Minute
}

// Provision and revoke jobs converge their persons in batches with the others that run at
// the same moment (batch.go).
type provisionWorker struct {
	river.WorkerDefaults[ProvisionArgs]
	batch *convergeBatcher
}

func (w *provisionWorker) Work(ctx context.Context, job *river.Job[ProvisionArgs]) error {
	return convergeResult(w.batch.Converge(ctx, job.Args.GrantID))
}

func (w *provisionWorker) NextRetry(job *river.Job[ProvisionArgs]) time.Time {
	return outsideRetry(job.Attempt)
}

type revokeWorker struct {
	river.WorkerDefaults[RevokeArgs]
	batch *convergeBatcher
}

func (w *revokeWorker) Work(ctx context.Context, job *river.Job[RevokeArgs]) error {
	return convergeResult(w.batch.Converge(ctx, job.Args.GrantID))
}

func (w *revokeWorker) NextRetry(job *river.Job[RevokeArgs]) time.Time {
	return outsideRetry(job.Attempt)
}

// ConvergeArgs brings one person's directory state to what their grants say, now. It is not
// unique: a change that comes while one runs must get a run of its own that sees it.
type ConvergeArgs struct {
	PersonID string `json:"person_id"`
}

// Kind is the job kind stored in river_job.
func (ConvergeArgs) Kind() string { return "converge" }

// InsertOpts gives convergence as many attempts as a revocation: it may be one.
func (ConvergeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DirectoryQueue, MaxAttempts: outsideThreeDaysAttempts}
}

type convergeWorker struct {
	river.WorkerDefaults[ConvergeArgs]
	service *provisioning.Service
}

func (w *convergeWorker) Work(ctx context.Context, job *river.Job[ConvergeArgs]) error {
	_, err := w.service.Converge(ctx, job.Args.PersonID, false)
	return convergeResult(err)
}

func (w *convergeWorker) NextRetry(job *river.Job[ConvergeArgs]) time.Time {
	return outsideRetry(job.Attempt)
}

// maxOutsideRetryDelay caps the wait before the next attempt of a job that waits for an
// outside party (the directory, SMTP). River's own policy waits attempt⁴ seconds (4 minutes
// by the 5th attempt, hours later), so after an outage most work would wait long after the
// party came back; a minute at most means work resumes within a minute of the end of an
// outage. After the first hour of failures (longOutageAttempt) the wait grows to
// longOutageRetryDelay, so that the attempts (MaxAttempts) last through a long outage
// instead of giving up after an hour: a terms e-mail or a new account then still goes out
// when the party comes back the next morning, within ten minutes of it.
const (
	maxOutsideRetryDelay = time.Minute
	longOutageAttempt    = 60
	longOutageRetryDelay = 10 * time.Minute
)

// Attempts of the jobs that wait for an outside party: with outsideRetry, about an hour at a
// minute apart, then every ten minutes. Provisioning and the terms e-mail try for about a day,
// revocation and convergence (a revocation may be one) for about three: a lost revocation
// leaves access that should be gone. Reconciliation repairs what is left after that.
const (
	outsideDayAttempts       = longOutageAttempt + 24*6
	outsideThreeDaysAttempts = longOutageAttempt + 3*24*6
)

// outsideRetry is when the next attempt of a job that waits for an outside party runs after
// its attempt-th failed: attempt⁴ seconds as River would, at most maxOutsideRetryDelay (after
// an hour of failures longOutageRetryDelay), with up to a tenth more at random so that 200
// jobs failed together do not all retry at once.
func outsideRetry(attempt int) time.Time {
	d := maxOutsideRetryDelay
	if attempt >= longOutageAttempt {
		d = longOutageRetryDelay
	}
	if attempt < 8 { // 8⁴ s is more than the cap
		d = min(d, time.Duration(attempt*attempt*attempt*attempt)*time.Second)
	}
	d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	return time.Now().Add(d)
}

// convergeResult stops retrying a person who waits for IT to confirm an account link: IT's
// confirmation schedules a new run.
func convergeResult(err error) error {
	if errors.Is(err, provisioning.ErrLinkRequired) {
		return river.JobCancel(err)
	}
	return err
}

// ReconcileArgs compares the directory with the grants and repairs the differences.
type ReconcileArgs struct{}

// Kind is the job kind stored in river_job.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts runs one reconciliation at a time across all instances.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	service *provisioning.Service
	timeout time.Duration
}

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := w.service.Reconcile(ctx, false, "periodic")
	return err
}

// Timeout lets a reconciliation of a large directory run longer than a single job, but
// ends it before the rescuer would take it for stuck.
func (w *reconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return w.timeout }

// Runner owns the River client. Create it, hand Scheduler() to the domain, Register the
// domain service, then Start.
type Runner struct {
	workers *river.Workers
	client  *river.Client[pgx.Tx]
	cfg     Config
}

// Config configures the Runner.
type Config struct {
	// Queues are the worker counts per queue; a zero gets config's default. The pool given
	// to New must have a connection for each worker and a few for River
	// (config.RiverConnections).
	Queues config.Queues
	// Time replaces River's clock in tests, so that scheduled jobs fall due when a test
	// moves the clock on. Nil in production.
	Time   rivertype.TimeGenerator
	Logger *slog.Logger
	// FetchPollInterval is how often River looks for due jobs when no notification comes.
	// Default River's (1 s); tests set it lower.
	FetchPollInterval time.Duration
	// JobTimeout ends a job that runs longer, so that a hung call cannot hold a worker for
	// good. Default 2 minutes.
	JobTimeout time.Duration
	// RescueAfter is when a job still marked running is taken for the job of a crashed
	// process and run again. It must exceed every job's timeout. Default 5 minutes (River's
	// own default is an hour, which left access in place that long after a crash).
	RescueAfter time.Duration
	// ReconcileInterval is how often the directory is compared with the grants and repaired.
	// Default 15 minutes; negative turns the periodic run off.
	ReconcileInterval time.Duration
	// Audit, when set, seals the audit log every second (audit_seal.go) and writes a
	// checkpoint of it every CheckpointInterval (default 5m), and when the jobs start, if the
	// log has grown since the last: into CheckpointSink (none when nil) and into the log.
	Audit              *audit.Log
	CheckpointSink     audit.CheckpointSink
	CheckpointInterval time.Duration
	// ApprovalDigest runs the job that records the approvers' daily digest every
	// digestInterval (the service decides whether the day's is due).
	ApprovalDigest bool
}

// New creates the River client. Jobs are not worked until Start.
func New(pool *pgxpool.Pool, c Config) (*Runner, error) {
	c.Queues = c.Queues.WithDefaults()
	if c.JobTimeout == 0 {
		c.JobTimeout = 2 * time.Minute
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = 5 * time.Minute
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 15 * time.Minute
	}
	if c.RescueAfter <= c.JobTimeout {
		return nil, fmt.Errorf("jobs: rescue_after (%s) must be longer than job_timeout (%s)", c.RescueAfter, c.JobTimeout)
	}
	workers := river.NewWorkers()
	cfg := &river.Config{
		JobTimeout:           c.JobTimeout,
		RescueStuckJobsAfter: c.RescueAfter,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.Queues.Default},
			DirectoryQueue: {MaxWorkers: c.Queues.Directory},
			MailQueue:      {MaxWorkers: c.Queues.Mail},
			// A watch collects once and snoozes; its own queue keeps a burst of signings from
			// holding up provisioning.
			signingQueue: {MaxWorkers: c.Queues.Signing}},
		Workers:           workers,
		Logger:            c.Logger,
		FetchPollInterval: c.FetchPollInterval,
		Test:              river.TestConfig{Time: c.Time},
	}
	if c.FetchPollInterval > 0 && c.FetchPollInterval < 50*time.Millisecond {
		cfg.FetchCooldown = c.FetchPollInterval
	}
	if c.ReconcileInterval > 0 {
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(c.ReconcileInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil }, nil)}
	}
	if c.ApprovalDigest {
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(digestInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ApprovalDigestArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	if c.Audit != nil {
		if err := addAuditCheckpoints(cfg, pool, c); err != nil {
			return nil, err
		}
		if err := addAuditSealer(cfg, pool, c.Audit); err != nil {
			return nil, err
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("create job client: %w", err)
	}
	return &Runner{workers: workers, client: client, cfg: c}, nil
}

func addAuditCheckpoints(cfg *river.Config, pool *pgxpool.Pool, c Config) error {
	now := time.Now
	if c.Time != nil {
		now = c.Time.Now
	}
	worker := &auditCheckpointWorker{db: pool, log: c.Audit, sink: c.CheckpointSink, now: now}
	if err := river.AddWorkerSafely(cfg.Workers, worker); err != nil {
		return fmt.Errorf("add audit checkpoint worker: %w", err)
	}
	interval := c.CheckpointInterval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return AuditCheckpointArgs{}, nil },
		// A checkpoint at start covers what was appended since the last one before a restart.
		&river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}

// Scheduler returns what the domain uses to insert jobs in its transactions.
func (r *Runner) Scheduler() provisioning.Scheduler { return scheduler{r.client} }

// Register adds the workers for the service. It must come before the first job is
// inserted: River refuses kinds it has no worker for.
func (r *Runner) Register(service *provisioning.Service) error {
	// A batch ends before the job that waits longest for it would time out.
	batch := newConvergeBatcher(service, r.cfg.JobTimeout-r.cfg.JobTimeout/10)
	if err := river.AddWorkerSafely(r.workers, &provisionWorker{batch: batch}); err != nil {
		return fmt.Errorf("add provision worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &revokeWorker{batch: batch}); err != nil {
		return fmt.Errorf("add revoke worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &termsMailWorker{service: service}); err != nil {
		return fmt.Errorf("add terms mail worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &notifyWorker{service: service}); err != nil {
		return fmt.Errorf("add notify worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &approvalDigestWorker{service: service}); err != nil {
		return fmt.Errorf("add approval digest worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &signingWatchWorker{service: service}); err != nil {
		return fmt.Errorf("add signing watch worker: %w", err)
	}
	if err := river.AddWorkerSafely(r.workers, &convergeWorker{service: service}); err != nil {
		return fmt.Errorf("add converge worker: %w", err)
	}
	if err := r.registerCertificates(service); err != nil {
		return err
	}
	// A reconciliation ends well before the rescuer would run it a second time beside itself.
	timeout := r.cfg.RescueAfter - r.cfg.RescueAfter/5
	if err := river.AddWorkerSafely(r.workers, &reconcileWorker{service: service, timeout: timeout}); err != nil {
		return fmt.Errorf("add reconcile worker: %w", err)
	}
	return nil
}

// Start begins working jobs.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.client.Start(ctx); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	return nil
}

// Stop lets running jobs finish (until ctx ends) and stops fetching new ones.
func (r *Runner) Stop(ctx context.Context) error {
	return r.client.Stop(ctx)
}

// Client exposes River for tests and operations (listing jobs).
func (r *Runner) Client() *river.Client[pgx.Tx] { return r.client }

type scheduler struct{ client *river.Client[pgx.Tx] }

func (s scheduler) ScheduleProvision(ctx context.Context, tx pgx.Tx, grantID string, at time.Time) error {
	_, err := s.client.InsertTx(ctx, tx, ProvisionArgs{GrantID: grantID}, &river.InsertOpts{ScheduledAt: at})
	return err // a zero ScheduledAt makes the job available at once
}

func (s scheduler) ScheduleRevoke(ctx context.Context, tx pgx.Tx, grantID, trigger string, at time.Time) error {
	_, err := s.client.InsertTx(ctx, tx, RevokeArgs{GrantID: grantID, Trigger: trigger}, &river.InsertOpts{ScheduledAt: at})
	return err
}

func (s scheduler) ScheduleTermsMail(ctx context.Context, tx pgx.Tx, linkID string) error {
	_, err := s.client.InsertTx(ctx, tx, TermsMailArgs{LinkID: linkID}, nil)
	return err
}

func (s scheduler) ScheduleConverge(ctx context.Context, tx pgx.Tx, personID string) error {
	_, err := s.client.InsertTx(ctx, tx, ConvergeArgs{PersonID: personID}, nil)
	return err
}

func (s scheduler) ScheduleSigningWatch(ctx context.Context, tx pgx.Tx, orderRef string) error {
	_, err := s.client.InsertTx(ctx, tx, SigningWatchArgs{OrderRef: orderRef}, nil)
	return err
}

func (s scheduler) ScheduleNotifications(ctx context.Context, tx pgx.Tx, ids []string) error {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: NotifyArgs{ID: id}}
	}
	_, err := s.client.InsertManyTx(ctx, tx, params)
	return err
}
