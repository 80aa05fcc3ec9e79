package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/jobs"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

// The periodic sealer chains events soon after they commit, with nothing else asking it to.
func TestAuditSealJob(t *testing.T) {
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
	appendApprovals := func(n int) {
		for range n {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return log.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "manager", Action: "request.approved"})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	appendApprovals(3)
	runner, err := jobs.New(pool, jobs.Config{Queues: config.Queues{Default: 2}, Logger: logger, FetchPollInterval: 20 * time.Millisecond,
		Audit: log, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer runner.Stop(ctx)
	waitSealed(t, pool, 3)
	appendApprovals(2)
	started := time.Now()
	waitSealed(t, pool, 5)
	t.Logf("2 events sealed %s after they committed", time.Since(started).Round(time.Millisecond))
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Unsealed.Events != 0 {
		t.Fatalf("Verify = %+v, %v; want every event sealed", done, err)
	}
}

// waitSealed waits until n approvals are in the chain.
func waitSealed(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline, sealed := time.Now().Add(time.Minute), 0; sealed < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d approvals sealed after a minute", sealed, n)
		}
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM audit_events WHERE action = 'request.approved' AND seq IS NOT NULL").Scan(&sealed)
		if err != nil {
			t.Fatal(err)
		}
	}
}
