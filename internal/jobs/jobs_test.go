package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/jobs"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A job that was running when its process was killed (River still marks it running) is run
// again after rescue_after, not after River's default hour: a terminated person's access does
// not outlive a crash by more than a few minutes.
func TestJobOfACrashedProcessIsRescued(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true, Jobs: jobs.Config{JobTimeout: time.Second, RescueAfter: 3 * time.Second}})
	sub, err := app.Service.Submit(ctx, app.Actors["manager"], provisioning.SubmitInput{
		Person: provisioning.PersonInput{Personnummer: "19850113-9995", GivenName: "Rut", Surname: "Räddad", EmployeeType: "employee"},
		Unit:   "5110", Items: []provisioning.ItemInput{{System: "meddix"}}, Approver: "manager"})
	if err != nil {
		t.Fatal(err)
	}
	// The process that took the job died a minute ago, halfway.
	tag, err := app.Pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1,
		attempted_by = '{killed-host}' WHERE kind = 'provision'`, app.Clock.Now().Add(-time.Minute))
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("mark the job stuck: %v, %d rows", err, tag.RowsAffected())
	}
	if err := app.Runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		app.Runner.Stop(stopCtx)
	})
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
}

// A rescue sooner than a job may run would run live jobs twice; the runner refuses it.
func TestRescueMustOutlastTheJobTimeout(t *testing.T) {
	if _, err := jobs.New(nil, jobs.Config{JobTimeout: time.Minute, RescueAfter: time.Minute}); err == nil {
		t.Fatal("a rescue_after no longer than the job timeout was accepted")
	}
}

// The periodic checkpoint runs when the jobs start and writes a checkpoint of a log that has
// grown to the file and into the log.
func TestAuditCheckpointJob(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	key, err := secret.ParseKey(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "manager", Action: "request.approved"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
	runner, err := jobs.New(pool, jobs.Config{Queues: config.Queues{Default: 1, Directory: 1}, Logger: logger, FetchPollInterval: 20 * time.Millisecond,
		Audit: log, CheckpointSink: audit.CheckpointFile{Path: path}, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer runner.Stop(ctx)
	// The file is written before the checkpoint event commits, so the event comes last.
	for deadline, n := time.Now().Add(time.Minute), 0; n == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint was written after the jobs started")
		}
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = $1", audit.CheckpointAction).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	checkpoints, err := audit.ReadCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	done, err := log.Verify(ctx, pool, checkpoints)
	if err != nil || done.Events != 3 || done.Checkpoints != 1 || checkpoints[0].Seq != 2 {
		t.Fatalf("Verify = %+v, %v, checkpoints %+v; want 2 events and the checkpoint of event 2", done, err, checkpoints)
	}
}

// Directory work retries as River would at first, but never waits more than a minute (and a
// tenth at random) through the first hour of an outage, so that work resumes within a minute
// of its end; after that every ten minutes, so that the attempts last through a night.
func TestDirectoryRetryIsCappedAtAMinute(t *testing.T) {
	for attempt := 1; attempt <= 80; attempt++ {
		wait := time.Until(jobs.OutsideRetry(attempt))
		floor := min(time.Duration(attempt*attempt*attempt*attempt)*time.Second, time.Minute)
		if attempt >= 8 {
			floor = time.Minute
		}
		if attempt >= 60 {
			floor = 10 * time.Minute
		}
		if wait < floor-time.Second || wait > floor+floor/10+time.Second {
			t.Errorf("attempt %d retries after %s, want %s to %s", attempt, wait, floor, floor+floor/10)
		}
	}
}

// The attempts of the work that waits for an outside party outlast a night's outage: an
// e-mail or an account waits for the party instead of being given up after an hour.
func TestOutsideWorkOutlastsANightsOutage(t *testing.T) {
	for kind, opts := range map[string]river.InsertOpts{"terms_mail": jobs.TermsMailArgs{}.InsertOpts(),
		"provision": jobs.ProvisionArgs{}.InsertOpts(), "revoke": jobs.RevokeArgs{}.InsertOpts(), "converge": jobs.ConvergeArgs{}.InsertOpts(),
		"notify": jobs.NotifyArgs{}.InsertOpts()} {
		var span time.Duration
		for attempt := 1; attempt < opts.MaxAttempts; attempt++ {
			span += time.Until(jobs.OutsideRetry(attempt))
		}
		if span < 20*time.Hour {
			t.Errorf("%s gives up after %s of failures", kind, span.Round(time.Minute))
		}
	}
}

// The digest job, run by River once the morning's time has passed on the injected clock,
// records one digest for the approver with requests waiting (Maria) and the notify job mails
// it; run again the same day it records nothing more.
func TestApprovalDigestJob(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{ApprovalDigest: true, Jobs: jobs.Config{ApprovalDigest: true}})
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], provisioning.SubmitInput{
		Person: provisioning.PersonInput{Personnummer: "19850113-9995", GivenName: "Rut", Surname: "Rask", EmployeeType: "employee"},
		Unit:   "5110", Items: []provisioning.ItemInput{{System: "meddix"}}, Approver: "manager"}); err != nil {
		t.Fatal(err)
	}
	stockholm, _ := time.LoadLocation("Europe/Stockholm")
	now := app.Clock.Now().In(stockholm)
	app.Clock.Advance(time.Date(now.Year(), now.Month(), now.Day()+1, 7, 5, 0, 0, stockholm).Sub(app.Clock.Now()))
	for range 2 {
		if _, err := app.Runner.Client().Insert(ctx, jobs.ApprovalDigestArgs{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var digests, sent int
	for deadline := time.Now().Add(20 * time.Second); sent == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := app.Pool.QueryRow(ctx, `SELECT count(*), count(sent_at) FROM notifications WHERE kind = $1`,
			provisioning.NoticeDigest).Scan(&digests, &sent); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the second job's turn
	app.Pool.QueryRow(ctx, `SELECT count(*), count(sent_at) FROM notifications WHERE kind = $1`, provisioning.NoticeDigest).Scan(&digests, &sent)
	var to string
	app.Pool.QueryRow(ctx, `SELECT recipient FROM mail_outbox WHERE subject = '1 ärende väntar på ditt godkännande'`).Scan(&to)
	if digests != 1 || sent != 1 || to != "maria.chef@example.org" {
		t.Fatalf("%d digests, %d sent, the last approval e-mail to %q; want 1 to Maria", digests, sent, to)
	}
}
