package remoteaccess

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

// Accepted logins recorded at once by many goroutines are each committed exactly once, in
// fewer writes than logins, and the log verifies; a login whose request ends before its
// record was written is either recorded or says it was not, never both nor neither.
func TestAcceptRecorderGroupCommits(t *testing.T) {
	ctx := t.Context()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
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
	r := newAcceptRecorder(pool, log)
	const logins = 200
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	for i := range logins {
		wg.Go(func() {
			var id int64
			if err := pool.QueryRow(ctx, "SELECT "+audit.NextID).Scan(&id); err != nil {
				errs <- err
				return
			}
			rec := &acceptRecord{factorID: "7f9c24e5-1a2b-4c3d-8e9f-0a1b2c3d4e5f", eventID: id,
				event: audit.Event{At: time.Now(), Actor: "radius:vpn", Action: "remote_access.login", Data: map[string]any{"n": i}}}
			_, err := r.do(ctx, *rec)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var events, distinct int
	if err := pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT data->>'n') FROM audit_events").Scan(&events, &distinct); err != nil {
		t.Fatal(err)
	}
	if events != logins || distinct != logins {
		t.Fatalf("%d events (%d distinct) for %d logins", events, distinct, logins)
	}
	if _, err := log.Verify(ctx, pool, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := r.runs.Load(); n >= logins {
		t.Errorf("%d logins recorded in %d writes: none shared one", logins, n)
	}
	t.Logf("%d logins recorded in %d writes", logins, r.runs.Load())

	// Requests that end at once: each is recorded if and only if record says so.
	for range 20 {
		var id int64
		if err := pool.QueryRow(ctx, "SELECT "+audit.NextID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := r.do(cctx, acceptRecord{factorID: "7f9c24e5-1a2b-4c3d-8e9f-0a1b2c3d4e5f", eventID: id,
			event: audit.Event{At: time.Now(), Actor: "radius:vpn", Action: "remote_access.login"}})
		var n int
		if qerr := pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE id = $1", id).Scan(&n); qerr != nil {
			t.Fatal(qerr)
		}
		if (err == nil) != (n == 1) {
			t.Fatalf("record = %v with %d events written", err, n)
		}
	}
}
