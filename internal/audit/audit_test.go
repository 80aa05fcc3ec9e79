package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

func logWithEvents(t *testing.T, n int) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 13, 14, 15, 123456789, time.UTC)
	for i := range n {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return audit.Append(ctx, tx, audit.Event{At: at.Add(time.Duration(i) * time.Second), Actor: "manager",
				Action: "request.approved", Data: map[string]any{"n": i, "note": "åäö \"quoted\""}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

func TestVerifyCleanLog(t *testing.T) {
	pool := logWithEvents(t, 5)
	n, err := audit.Verify(ctx, pool)
	if err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v; want 5 events, intact", n, err)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name, sql string
		seq       int64
	}{
		{"changed data", `UPDATE audit_events SET data = '{"n": 99}' WHERE seq = 3`, 3},
		{"changed actor", `UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2`, 2},
		{"changed time", `UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 4`, 4},
		{"deleted event", `DELETE FROM audit_events WHERE seq = 3`, 4},
		{"rehashed row", `UPDATE audit_events SET hash = sha256(hash) WHERE seq = 2`, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := logWithEvents(t, 5)
			if _, err := pool.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(ctx, pool)
			var broken *audit.BrokenError
			if !errors.As(err, &broken) || broken.Seq != c.seq {
				t.Fatalf("Verify = %v; want broken at event %d", err, c.seq)
			}
		})
	}
}

// Appends from many transactions at once still form one chain.
func TestConcurrentAppends(t *testing.T) {
	pool := logWithEvents(t, 0)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			errs <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return audit.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "system", Action: "test", Data: i})
			})
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := audit.Verify(ctx, pool); err != nil || n != 20 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}
