package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

// `behorig audit verify` reports events that wait for the sealer instead of calling them
// broken, warns when they have waited long (no sealer runs), and seals them unless told only
// to read.
func TestAuditVerifyReportsUnsealedEvents(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgreSQL(t)
	key := secret.NewKey()
	t.Setenv("BEHORIG_CONFIG", "")
	t.Setenv("BEHORIG_DATABASE_URL", url)
	t.Setenv("BEHORIG_SECRET_KEY", key)
	t.Setenv("BEHORIG_AUDIT_CHECKPOINT_FILE", "")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(must(secret.NewBox(must(secret.ParseKey(key)))).AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{time.Now().Add(-10 * time.Minute), time.Now()} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.Append(ctx, tx, audit.Event{At: at, Actor: "manager", Action: "request.approved"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "-seal=false"}, &out, logger); err != nil {
		t.Fatalf("verify of a log whose events wait for the sealer: %v\n%s", err, out.String())
	}
	for _, want := range []string{"0 events verified", "2 events wait for the sealer", "warning: an event has waited 10m"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify -seal=false said %q; want %q in it", out.String(), want)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, &out, logger); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "sealed 2 events") || !strings.Contains(out.String(), "2 events verified") ||
		strings.Contains(out.String(), "wait for the sealer") {
		t.Errorf("verify said %q; want the 2 events sealed and verified, none waiting", out.String())
	}
	// A row inserted by someone without the key is named before it is sealed.
	if _, err := pool.Exec(ctx, `INSERT INTO audit_events (at, actor, action, data, mac)
		VALUES (now(), 'mallory', 'request.approved', '{}', '\x00')`); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"audit", "verify", "-seal=false"}, io.Discard, logger)
	if err == nil || !strings.Contains(err.Error(), "audit log broken at unsealed event id") {
		t.Fatalf("forged unsealed event: %v; want it named", err)
	}
}
