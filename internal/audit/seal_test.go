package audit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
)

// begin opens a transaction the test ends itself.
func begin(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return tx
}

// appendWithin appends in tx, failing the test if that takes longer than a generous bound:
// an append that waits for another transaction to end would wait for good.
func appendWithin(t *testing.T, tx pgx.Tx, log *audit.Log, e audit.Event) {
	t.Helper()
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := log.Append(bounded, tx, e); err != nil {
		t.Fatalf("append %s while another transaction with an event is open: %v", e.Data, err)
	}
}

func actions(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT actor FROM audit_events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two transactions that each append an event commit side by side, in either order: an
// append waits for no other transaction.
func TestAppendsCommitSideBySide(t *testing.T) {
	for _, firstCommits := range []string{"first", "second"} {
		t.Run(firstCommits+" commits first", func(t *testing.T) {
			pool, log := emptyLog(t), newLog(t)
			first, second := begin(t, pool), begin(t, pool)
			appendWithin(t, first, log, audit.Event{At: at, Actor: "first", Action: "test"})
			appendWithin(t, second, log, audit.Event{At: at, Actor: "second", Action: "test"})
			order := []pgx.Tx{first, second}
			if firstCommits == "second" {
				order = []pgx.Tx{second, first}
			}
			for _, tx := range order {
				bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := tx.Commit(bounded)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				seal(t, pool, log)
			}
			got := actions(t, pool)
			if want := []string{firstCommits, map[string]string{"first": "second", "second": "first"}[firstCommits]}; !equal(got, want) {
				t.Errorf("chain order %v; want the order of commits %v", got, want)
			}
			if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 2 {
				t.Fatalf("Verify = %+v, %v; want 2 events", done, err)
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// The sealer chains what has committed and leaves an open transaction's event alone; the
// event is chained after it commits, behind events with higher ids sealed meanwhile. History
// shows events before they are sealed.
func TestSealerChainsCommittedEventsOnly(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	const request = "0b5c2e1e-6f4a-4f0e-9a53-0d3c1c6b7f11"
	open := begin(t, pool)
	appendWithin(t, open, log, audit.Event{At: at, Actor: "slow", Action: "request.approved", RequestID: request})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return log.Append(ctx, tx, audit.Event{At: at.Add(time.Second), Actor: "fast", Action: "request.submitted", RequestID: request})
	})
	if err != nil {
		t.Fatal(err)
	}
	history, err := audit.ForRequest(ctx, pool, request)
	if err != nil || len(history) != 1 || history[0].Actor != "fast" || history[0].Sealed() {
		t.Fatalf("history before sealing = %+v, %v; want the committed event, unsealed", history, err)
	}
	if n := seal(t, pool, log); n != 1 {
		t.Fatalf("sealed %d events while one transaction is open; want the 1 committed", n)
	}
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Events != 1 || done.Unsealed.Events != 0 {
		t.Fatalf("Verify = %+v, %v; want 1 event sealed, none waiting", done, err)
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	done, err = log.Verify(ctx, pool, nil)
	if err != nil || done.Events != 1 || done.Unsealed.Events != 1 || !done.Unsealed.Oldest.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("Verify = %+v, %v; want 1 event sealed and 1 waiting since %s, not broken", done, err, at)
	}
	history, err = audit.ForRequest(ctx, pool, request)
	if err != nil || len(history) != 2 || history[1].Actor != "slow" || history[1].Sealed() {
		t.Fatalf("history = %+v, %v; want the sealed event, then the one waiting", history, err)
	}
	if n := seal(t, pool, log); n != 1 {
		t.Fatalf("sealed %d events; want the late one", n)
	}
	if got := actions(t, pool); !equal(got, []string{"fast", "slow"}) {
		t.Errorf("chain %v; want the order of sealing, fast then slow", got)
	}
	if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 2 || done.Unsealed.Events != 0 {
		t.Fatalf("Verify = %+v, %v; want 2 events", done, err)
	}
}

// An append rolled back leaves a gap in the ids, never in the chain.
func TestRolledBackAppendLeavesNoGap(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	appendEvents(t, pool, log, 2)
	tx := begin(t, pool)
	appendWithin(t, tx, log, audit.Event{At: at, Actor: "rolled back", Action: "test"})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, pool, log, 2)
	if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 4 {
		t.Fatalf("Verify = %+v, %v; want 4 events", done, err)
	}
}

// A sealer that fails or dies between the commit of events and their seal loses nothing:
// the next run continues the chain from the sealed head.
func TestSealerCrashLosesNothing(t *testing.T) {
	for name, fail := range map[string]func(context.Context, pgx.Tx) error{
		"sealer error": func(context.Context, pgx.Tx) error { return errors.New("injected") },
		// The process dies: its connection ends, which rolls back and releases the lock.
		"connection dies": func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			pool, log := emptyLog(t), newLog(t)
			appendEvents(t, pool, log, 3)
			appendUnsealed(t, pool, log, 4)
			log.BeforeSealCommit(fail)
			if _, err := log.Seal(ctx, pool); err == nil {
				t.Fatal("the failing sealer reported success")
			}
			log.BeforeSealCommit(nil)
			done, err := log.Verify(ctx, pool, nil)
			if err != nil || done.Events != 3 || done.Unsealed.Events != 4 {
				t.Fatalf("after the failed seal: Verify = %+v, %v; want 3 sealed and 4 waiting", done, err)
			}
			bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if n, err := log.Seal(bounded, pool); err != nil || n != 4 {
				t.Fatalf("the next sealer sealed %d, %v; want the 4 waiting", n, err)
			}
			if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 7 || done.Unsealed.Events != 0 {
				t.Fatalf("Verify = %+v, %v; want 7 events in one chain", done, err)
			}
		})
	}
}

// Sealers running at once, as on several instances, make one chain of every event.
func TestSealersAtOnceMakeOneChain(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	other := log.Clone() // another instance, with the same keys
	const appenders, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, appenders+4)
	stop := make(chan struct{})
	for i := range appenders {
		wg.Go(func() {
			for j := range each {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					return log.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "system", Action: "test", Data: []int{i, j}})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var sealers sync.WaitGroup
	for _, l := range []*audit.Log{log, other, log, other} {
		sealers.Go(func() {
			for {
				if _, err := l.Seal(ctx, pool); err != nil {
					errs <- err
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seal(t, pool, log)
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Events != appenders*each {
		t.Fatalf("Verify = %+v, %v; want %d events in one chain", done, err, appenders*each)
	}
}

// The database lets only the sealer's one-time setting of the seal through.
func TestDatabaseLetsOnlyTheSealerUpdate(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	appendUnsealed(t, pool, log, 2)
	for name, sql := range map[string]string{
		"content with the seal": `UPDATE audit_events SET seq = 1, prev_hash = '\x00', hash = '\x00', hash_version = 3,
			sealed_at = now(), actor = 'mallory' WHERE id = (SELECT min(id) FROM audit_events)`,
		"content of an unsealed event": "UPDATE audit_events SET actor = 'mallory'",
	} {
		if _, err := pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
			t.Errorf("%s: %v; want refused as append-only", name, err)
		}
	}
	seal(t, pool, log)
	if _, err := pool.Exec(ctx, `UPDATE audit_events SET seq = seq + 10, hash = sha256(hash), sealed_at = now()`); err == nil ||
		!strings.Contains(err.Error(), "audit_events is append-only") {
		t.Errorf("resealing: %v; want refused as append-only", err)
	}
	if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 2 {
		t.Fatalf("Verify = %+v, %v; want the 2 events intact", done, err)
	}
}
