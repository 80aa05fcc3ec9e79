package remoteaccess

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

// A try given back after the request ended (giveBack) is a write without the request's end,
// yet bounded: a database that does not answer (here: a lock that is never released) fails
// it instead of holding the login's goroutine, and the RADIUS server's slot, for ever.
func TestGiveBackIsBoundedWhenTheDatabaseHangs(t *testing.T) {
	ctx := t.Context()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	old := detachedTimeout
	detachedTimeout = 300 * time.Millisecond
	t.Cleanup(func() { detachedTimeout = old })

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "LOCK TABLE authenticators IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	s := &Service{db: pool, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	reqCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		s.giveBack(reqCtx, &attempt{factor: &factorState{id: "7f9c24e5-1a2b-4c3d-8e9f-0a1b2c3d4e5f"}})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("giveBack still waits for the database 5s after its request ended")
	}
}
