package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

func newLog(t testing.TB) *audit.Log {
	t.Helper()
	box, err := secret.NewBox(must(t)(secret.ParseKey(secret.NewKey())))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func must(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func emptyLog(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return pool
}

var at = time.Date(2026, 11, 24, 13, 14, 15, 123456789, time.UTC)

// appendEvents appends n approvals by the manager, with data that needs escaping, and
// seals them.
func appendEvents(t *testing.T, pool *pgxpool.Pool, log *audit.Log, n int) {
	t.Helper()
	appendUnsealed(t, pool, log, n)
	seal(t, pool, log)
}

func appendUnsealed(t *testing.T, pool *pgxpool.Pool, log *audit.Log, n int) {
	t.Helper()
	for i := range n {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.Append(ctx, tx, approval(i))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func approval(i int) audit.Event {
	return audit.Event{At: at.Add(time.Duration(i) * time.Second), Actor: "manager",
		Action: "request.approved", Data: map[string]any{"n": i, "note": "åäö \"quoted\""}}
}

func seal(t *testing.T, pool *pgxpool.Pool, log *audit.Log) int {
	t.Helper()
	n, err := log.Seal(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func logWithEvents(t *testing.T, n int) (*pgxpool.Pool, *audit.Log) {
	t.Helper()
	pool, log := emptyLog(t), newLog(t)
	appendEvents(t, pool, log, n)
	return pool, log
}

// asSuperuser runs fn with the triggers off, as a database superuser can.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) {
	t.Helper()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func execAsSuperuser(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	asSuperuser(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql)
		return err
	})
}

func wantBroken(t *testing.T, err error, seq int64) {
	t.Helper()
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.Seq != seq {
		t.Fatalf("Verify = %v; want broken at event %d", err, seq)
	}
}

// checkpoint writes a checkpoint of the log to a new file and returns the file's path.
func checkpoint(t *testing.T, pool *pgxpool.Pool, log *audit.Log) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	if _, err := log.Checkpoint(ctx, pool, at, audit.CheckpointFile{Path: path}); err != nil {
		t.Fatal(err)
	}
	return path
}

func readCheckpoints(t *testing.T, path string) []audit.Checkpoint {
	t.Helper()
	cs, err := audit.ReadCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestVerifyCleanLog(t *testing.T) {
	pool, log := logWithEvents(t, 5)
	done, err := log.Verify(ctx, pool, nil)
	if err != nil || done.Events != 5 {
		t.Fatalf("Verify = %+v, %v; want 5 events, intact", done, err)
	}
}

// The database itself refuses to change or remove an event, even for a superuser who does
// not first switch the triggers off.
func TestDatabaseRefusesChanges(t *testing.T) {
	for name, sql := range map[string]string{
		"update":   "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
		"delete":   "DELETE FROM audit_events WHERE seq = 5",
		"truncate": "TRUNCATE audit_events",
	} {
		t.Run(name, func(t *testing.T) {
			pool, log := logWithEvents(t, 5)
			_, err := pool.Exec(ctx, sql)
			if err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
				t.Fatalf("%s: %v; want refused as append-only", sql, err)
			}
			if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 5 {
				t.Fatalf("Verify = %+v, %v; want the 5 events intact", done, err)
			}
		})
	}
}

// A superuser who switches the triggers off and edits rows is caught at the first event
// changed or missing.
func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name, sql string
		seq       int64
	}{
		{"changed data", `UPDATE audit_events SET data = '{"n": 99}' WHERE seq = 3`, 3},
		{"changed actor", `UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2`, 2},
		{"changed time", `UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 4`, 4},
		{"deleted event", `DELETE FROM audit_events WHERE seq = 3`, 3},
		{"deleted first events", `DELETE FROM audit_events WHERE seq <= 2`, 1},
		{"rehashed row", `UPDATE audit_events SET hash = sha256(hash) WHERE seq = 2`, 2},
		{"downgraded row", `UPDATE audit_events SET hash_version = 1, mac = NULL, sealed_at = NULL WHERE seq = 4`, 4},
		{"changed entry MAC", `UPDATE audit_events SET mac = sha256(mac) WHERE seq = 3`, 3},
		{"moved in the chain", `UPDATE audit_events SET seq = -seq WHERE seq IN (2, 3);
			UPDATE audit_events SET seq = 5 - seq WHERE seq IN (-2, -3)`, 2},
		{"inserted at the end", `INSERT INTO audit_events (id, seq, at, actor, action, data, prev_hash, hash, hash_version, mac, sealed_at)
			SELECT id + 100, 6, at, 'mallory', action, data, hash, hash, 3, mac, sealed_at FROM audit_events WHERE seq = 5`, 6},
		{"copied under a new id", `INSERT INTO audit_events (id, at, actor, action, data, mac)
			SELECT id + 100, at, actor, action, data, mac FROM audit_events WHERE seq = 5`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool, log := logWithEvents(t, 5)
			execAsSuperuser(t, pool, c.sql)
			_, err := log.Verify(ctx, pool, nil)
			if c.seq == 0 { // an unsealed event, named by its id until the sealer chains it
				var broken *audit.BrokenError
				if !errors.As(err, &broken) || broken.Seq != 0 || broken.ID == 0 {
					t.Fatalf("Verify = %v; want an unsealed event broken", err)
				}
				seal(t, pool, log)
				_, err = log.Verify(ctx, pool, nil)
				c.seq = 6
			}
			wantBroken(t, err, c.seq)
		})
	}
}

// Changing who approved a request and recomputing the chain after it does not pass without
// the secret key, however the attacker hashes.
func TestVerifyFindsRecomputedChain(t *testing.T) {
	cases := []struct {
		name   string
		forger audit.Forger
	}{
		{"plain SHA-256 marked as such", audit.Forger{Label: audit.HashSHA256, HashAs: audit.HashSHA256}},
		{"plain SHA-256 marked as HMAC", audit.Forger{Label: audit.HashHMAC, HashAs: audit.HashSHA256}},
		{"HMAC under another key", audit.Forger{Label: audit.HashHMAC, HashAs: audit.HashHMAC, Key: []byte(rand.Text() + rand.Text())}},
		{"sealed under another key", audit.Forger{Label: audit.HashSealed, HashAs: audit.HashSealed, Key: []byte(rand.Text() + rand.Text())}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool, log := logWithEvents(t, 5)
			asSuperuser(t, pool, func(tx pgx.Tx) error {
				return c.forger.Rewrite(ctx, tx, 3, func(r *audit.Record) { r.Actor = "mallory" })
			})
			var actor string
			if err := pool.QueryRow(ctx, "SELECT actor FROM audit_events WHERE seq = 3").Scan(&actor); err != nil || actor != "mallory" {
				t.Fatalf("the rewrite did not happen: actor %q, %v", actor, err)
			}
			_, err := log.Verify(ctx, pool, nil)
			wantBroken(t, err, 3)
		})
	}
}

// A log rewritten from the first event as plain SHA-256 is a valid old-style chain; the
// checkpoint outside the database still catches it.
func TestVerifyFindsLogRewrittenAsSHA256(t *testing.T) {
	pool, log := logWithEvents(t, 5)
	path := checkpoint(t, pool, log)
	asSuperuser(t, pool, func(tx pgx.Tx) error {
		return audit.Forger{Label: audit.HashSHA256, HashAs: audit.HashSHA256}.Rewrite(ctx, tx, 1,
			func(r *audit.Record) { r.Actor = "mallory" })
	})
	_, err := log.Verify(ctx, pool, readCheckpoints(t, path))
	wantBroken(t, err, 5)
}

// Deleting the newest events leaves an intact chain; a checkpoint names the first missing.
func TestVerifyFindsDeletedNewestEvents(t *testing.T) {
	pool, log := logWithEvents(t, 8)
	path := checkpoint(t, pool, log) // vouches for event 8 and is event 9
	appendEvents(t, pool, log, 2)
	execAsSuperuser(t, pool, "DELETE FROM audit_events WHERE seq >= 7")
	if _, err := log.Verify(ctx, pool, nil); err != nil {
		t.Fatalf("without checkpoints: %v; the chain alone cannot see this, the test is wrong", err)
	}
	_, err := log.Verify(ctx, pool, readCheckpoints(t, path))
	wantBroken(t, err, 7)
}

func TestVerifyFindsTruncatedLog(t *testing.T) {
	pool, log := logWithEvents(t, 4)
	path := checkpoint(t, pool, log)
	execAsSuperuser(t, pool, "TRUNCATE audit_events")
	_, err := log.Verify(ctx, pool, readCheckpoints(t, path))
	wantBroken(t, err, 1)
}

// A checkpoint line changed to vouch for what the attacker left, or made with another key,
// is refused.
func TestVerifyFindsForgedCheckpoint(t *testing.T) {
	pool, log := logWithEvents(t, 6)
	path := checkpoint(t, pool, log)
	real := readCheckpoints(t, path)[0]
	var fifth []byte
	if err := pool.QueryRow(ctx, "SELECT hash FROM audit_events WHERE seq = 5").Scan(&fifth); err != nil {
		t.Fatal(err)
	}
	moved := real
	moved.Seq, moved.Hash = 5, fifth
	otherKey := checkpoint(t, pool, newLog(t))
	for name, forged := range map[string]audit.Checkpoint{
		"moved to an earlier event": moved,
		"made with another key":     readCheckpoints(t, otherKey)[0],
	} {
		t.Run(name, func(t *testing.T) {
			line, err := json.Marshal(forged)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
			if err := os.WriteFile(file, append(line, '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = log.Verify(ctx, pool, readCheckpoints(t, file))
			var bad *audit.ForgedCheckpointError
			if !errors.As(err, &bad) {
				t.Fatalf("Verify = %v; want a forged checkpoint", err)
			}
		})
	}
}

// Events chained before the sealer, hashed with plain SHA-256 (version 1) and then HMAC'ed
// (version 2), are accepted as a prefix of the sealed chain, never after a newer version.
func TestVerifyOldVersionsAsPrefix(t *testing.T) {
	appendOld := func(t *testing.T, pool *pgxpool.Pool, log *audit.Log, version int) {
		t.Helper()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.AppendOld(ctx, tx, audit.Event{At: at, Actor: "manager", Action: "request.approved"}, version)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	prefix := func(t *testing.T) (*pgxpool.Pool, *audit.Log) {
		pool, log := emptyLog(t), newLog(t)
		for _, v := range []int{1, 1, 2, 2} {
			appendOld(t, pool, log, v)
		}
		appendEvents(t, pool, log, 2)
		if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 6 {
			t.Fatalf("Verify = %+v, %v; want 6 events, intact", done, err)
		}
		return pool, log
	}
	for _, version := range []int{audit.HashSHA256, audit.HashHMAC} {
		t.Run(fmt.Sprintf("version %d after sealed events", version), func(t *testing.T) {
			pool, log := prefix(t)
			appendOld(t, pool, log, version)
			_, err := log.Verify(ctx, pool, nil)
			wantBroken(t, err, 7)
		})
	}
	t.Run("version 1 after version 2", func(t *testing.T) {
		pool, log := emptyLog(t), newLog(t)
		appendOld(t, pool, log, 2)
		appendOld(t, pool, log, 1)
		_, err := log.Verify(ctx, pool, nil)
		wantBroken(t, err, 2)
	})
}

// A database whose log was chained before migration 018 keeps verifying after it, old rows
// and new, and a change to an old row is still caught.
func TestMigrationKeepsOldChains(t *testing.T) {
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	const sealer = "018_audit_sealer.sql"
	// Migrate as before the sealer: 018 marked as applied, so that it is skipped.
	if _, err := pool.Exec(ctx, `CREATE TABLE behorig_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO behorig_migrations (name) VALUES ('`+sealer+`')`); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	var hasID bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM information_schema.columns
		WHERE table_name = 'audit_events' AND column_name = 'id')`).Scan(&hasID); err != nil || hasID {
		t.Fatalf("the schema before 018 has an id column (%v): the test does not test an old log", err)
	}
	log := newLog(t)
	for i, v := range []int{1, 1, 2, 2, 2} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.AppendOld(ctx, tx, approval(i), v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "DELETE FROM behorig_migrations WHERE name = $1", sealer); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, pool, log, 3)
	if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 8 {
		t.Fatalf("Verify = %+v, %v; want 8 events, intact", done, err)
	}
	var id int64
	if err := pool.QueryRow(ctx, "SELECT id FROM audit_events WHERE seq = 6").Scan(&id); err != nil || id != 6 {
		t.Fatalf("the first new event has id %d (%v); want 6, after the old ids", id, err)
	}
	execAsSuperuser(t, pool, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
	_, err = log.Verify(ctx, pool, nil)
	wantBroken(t, err, 4)
}

// The periodic checkpoint writes one only when events were appended since the last.
func TestCheckpointIfGrown(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	sink := audit.CheckpointFile{Path: filepath.Join(t.TempDir(), "checkpoints.jsonl")}
	if _, err := log.Checkpoint(ctx, pool, at, sink); !errors.Is(err, audit.ErrEmpty) {
		t.Fatalf("checkpoint of an empty log: %v", err)
	}
	want := []struct {
		appendFirst int
		written     bool
		seq         int64
	}{{0, false, 0}, {3, true, 3}, {0, false, 0}, {1, true, 5}}
	for i, w := range want {
		appendEvents(t, pool, log, w.appendFirst)
		c, written, err := log.CheckpointIfGrown(ctx, pool, at, sink)
		if err != nil || written != w.written || c.Seq != w.seq {
			t.Fatalf("step %d: CheckpointIfGrown = seq %d, %v, %v; want seq %d, %v", i, c.Seq, written, err, w.seq, w.written)
		}
	}
	done, err := log.Verify(ctx, pool, readCheckpoints(t, sink.Path))
	if err != nil || done.Events != 6 || done.Checkpoints != 2 {
		t.Fatalf("Verify = %+v, %v; want 6 events and 2 checkpoints", done, err)
	}
}

// Appends from many transactions at once still form one chain.
func TestConcurrentAppends(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			errs <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return log.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "system", Action: "test", Data: i})
			})
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seal(t, pool, log)
	if done, err := log.Verify(ctx, pool, nil); err != nil || done.Events != 20 {
		t.Fatalf("Verify = %+v, %v", done, err)
	}
}

// hungSink hangs like a stuck mount until released.
type hungSink struct{ entered, release chan struct{} }

func (h hungSink) WriteCheckpoint(audit.Checkpoint) error {
	close(h.entered)
	<-h.release
	return nil
}

// A checkpoint sink that hangs holds up the checkpoint only: events are appended meanwhile.
func TestHungSinkDoesNotStopAppends(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	appendEvents(t, pool, log, 2)
	sink := hungSink{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, _, err := log.CheckpointIfGrown(ctx, pool, at, sink)
		done <- err
	}()
	<-sink.entered
	appendEvents(t, pool, log, 3) // hangs for good if the checkpoint held the append lock
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if result, err := log.Verify(ctx, pool, nil); err != nil || result.Events != 6 {
		t.Fatalf("Verify = %+v, %v; want 6 events", result, err)
	}
}

// Events appended while a checkpoint's line was written get a checkpoint of their own at the
// next run, so deleting them is seen.
func TestEventsAppendedDuringACheckpointAreVouchedForNext(t *testing.T) {
	pool, log := emptyLog(t), newLog(t)
	appendEvents(t, pool, log, 2)
	path := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	file := audit.CheckpointFile{Path: path}
	sink := hungSink{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		c, _, err := log.CheckpointIfGrown(ctx, pool, at, sink)
		if err == nil {
			err = file.WriteCheckpoint(c)
		}
		done <- err
	}()
	<-sink.entered
	appendEvents(t, pool, log, 3)
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c, written, err := log.CheckpointIfGrown(ctx, pool, at, file)
	if err != nil || !written || c.Seq != 6 {
		t.Fatalf("the next checkpoint = seq %d, written %v, %v; want one of event 6", c.Seq, written, err)
	}
	if _, err := log.Verify(ctx, pool, readCheckpoints(t, path)); err != nil {
		t.Fatal(err)
	}
}
