package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// `behorig audit verify` passes on a clean log and fails naming the first tampered event.
func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgreSQL(t)
	t.Setenv("BEHORIG_CONFIG", "")
	t.Setenv("BEHORIG_DATABASE_URL", url)
	t.Setenv("BEHORIG_SECRET_KEY", secret.NewKey())
	t.Setenv("BEHORIG_LDAP_URL", "ldap://127.0.0.1:1")
	t.Setenv("BEHORIG_LDAP_BASE_DN", "dc=example,dc=org")
	t.Setenv("BEHORIG_SMTP_ADDR", "127.0.0.1:1")
	t.Setenv("BEHORIG_MAIL_FROM", "behorig@kommun.example")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, &out, logger); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i := range 3 {
		pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return audit.Append(ctx, tx, audit.Event{At: time.Now(), Actor: "it", Action: "test", Data: i})
		})
	}
	if err := run(ctx, []string{"audit", "verify"}, &out, logger); err != nil {
		t.Fatalf("clean log: %v", err)
	}
	if !strings.Contains(out.String(), "3 events verified") {
		t.Errorf("output %q does not say how many events were checked", out.String())
	}
	if _, err := pool.Exec(ctx, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"audit", "verify"}, &out, logger)
	if err == nil || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("tampered log: %v, want an error naming event 2", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, slog.Default()); err == nil {
		t.Fatal("an unknown command succeeded")
	}
}
