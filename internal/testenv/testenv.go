// Package testenv starts the real servers tests need: PostgreSQL and OpenLDAP slapd, each on
// a free port in its own temporary directory, stopped when the tests end. A missing server
// fails the test with the command that installs it; nothing is skipped silently.
package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/localserver"
)

// cluster is the PostgreSQL server shared by the tests of one test binary.
var cluster struct {
	once   sync.Once
	server *localserver.Postgres
	dir    string
	admin  string // URL of the maintenance database
	err    error
}

// Main runs the package's tests and then stops the servers they started. Call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if cluster.server != nil {
		cluster.server.Stop()
		os.RemoveAll(cluster.dir)
	}
	os.Exit(code)
}

func requirePackages(t testing.TB) {
	t.Helper()
	if missing := localserver.MissingPackages(); len(missing) > 0 {
		t.Fatalf("missing Debian packages %s: run `bash scripts/deps.sh` as root", strings.Join(missing, " "))
	}
}

// PostgreSQL returns the URL of a new, empty database, dropped when the test ends. The
// server is started once per test binary, or is BEHORIG_TEST_DATABASE_URL when that is set.
func PostgreSQL(t testing.TB) string {
	t.Helper()
	cluster.once.Do(startCluster)
	if cluster.err != nil {
		t.Fatal(cluster.err)
	}
	ctx := context.Background()
	name := "behorig_" + strings.ToLower(rand.Text()[:12])
	conn, err := pgx.Connect(ctx, cluster.admin)
	if err != nil {
		t.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, cluster.admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(cluster.admin)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name) + passwordSuffix(cfg)
}

func passwordSuffix(cfg *pgx.ConnConfig) string {
	if cfg.Password == "" {
		return ""
	}
	return "&password=" + cfg.Password
}

func startCluster() {
	if url := os.Getenv("BEHORIG_TEST_DATABASE_URL"); url != "" {
		cluster.admin = url
		return
	}
	if missing := localserver.MissingPackages(); len(missing) > 0 {
		cluster.err = fmt.Errorf("missing Debian packages %s: run `bash scripts/deps.sh` as root", strings.Join(missing, " "))
		return
	}
	// Not t.TempDir: its parent is private to root, and the server runs as postgres.
	dir, err := os.MkdirTemp("", "behorig-pg-")
	if err != nil {
		cluster.err = err
		return
	}
	port, err := localserver.FreePort()
	if err != nil {
		cluster.err = err
		return
	}
	cluster.dir = dir
	cluster.server, cluster.err = localserver.StartPostgres(context.Background(), dir, port,
		localserver.PostgresOptions{Ephemeral: true})
	if cluster.err == nil {
		cluster.admin = cluster.server.URL("postgres")
	}
}

// LDAP starts a fresh slapd for the test, stopped when the test ends.
func LDAP(t testing.TB) *localserver.Slapd {
	t.Helper()
	requirePackages(t)
	dir, err := os.MkdirTemp("", "behorig-ldap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := localserver.StartSlapd(context.Background(), dir, port, localserver.SlapdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}
