package main

import (
	"bytes"
	"context"
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

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // a test started this binary as behorig itself (startBehorig)
		os.Exit(0)
	}
	testenv.Main(m)
}

// `behorig audit checkpoint` and `behorig audit verify` need nothing but the database and
// the secret key; verify passes on a clean log and fails naming the first event that is
// missing or changed.
func TestAuditCommands(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgreSQL(t)
	key := secret.NewKey()
	t.Setenv("BEHORIG_CONFIG", "")
	t.Setenv("BEHORIG_DATABASE_URL", url)
	t.Setenv("BEHORIG_SECRET_KEY", key)
	checkpoints := filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
	t.Setenv("BEHORIG_AUDIT_CHECKPOINT_FILE", checkpoints)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(must(secret.ParseKey(key)))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return log.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "manager", Action: "request.approved", Data: i})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "checkpoint"}, &out, logger); err != nil || !strings.Contains(out.String(), "event 4") {
		t.Fatalf("audit checkpoint: %v, %q; want a checkpoint of event 4", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify"}, &out, logger); err != nil {
		t.Fatalf("clean log: %v", err)
	}
	if !strings.Contains(out.String(), "5 events verified, 1 checkpoints verified") {
		t.Errorf("output %q does not say how many events and checkpoints were checked", out.String())
	}

	tamper(t, pool, "DELETE FROM audit_events WHERE seq >= 3")
	moved := filepath.Join(t.TempDir(), "moved.jsonl")
	if err := os.Rename(checkpoints, moved); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"audit", "verify"}, io.Discard, logger); err == nil {
		t.Fatal("verify passed without the configured checkpoint file")
	}
	err = run(ctx, []string{"audit", "verify", "-checkpoints", moved}, io.Discard, logger)
	if err == nil || !strings.Contains(err.Error(), "audit log broken at event 3: missing") {
		t.Fatalf("deleted newest events: %v, want an error naming event 3 as missing", err)
	}
	tamper(t, pool, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
	err = run(ctx, []string{"audit", "verify", "-checkpoints", moved}, io.Discard, logger)
	if err == nil || !strings.Contains(err.Error(), "audit log broken at event 2") {
		t.Fatalf("changed actor: %v, want an error naming event 2", err)
	}
}

// tamper runs sql as a superuser who has switched the append-only triggers off.
func tamper(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), sql)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, slog.Default()); err == nil {
		t.Fatal("an unknown command succeeded")
	}
}
