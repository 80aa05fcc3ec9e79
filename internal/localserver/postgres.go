package localserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL cluster in Dir, running as our child process.
type Postgres struct {
	Dir  string
	Port int
	proc *process
}

// PostgresOptions change how a cluster runs.
type PostgresOptions struct {
	// Ephemeral trades durability for speed (fsync off): for test clusters thrown away after.
	Ephemeral bool
	Logger    *slog.Logger
}

// StartPostgres initialises a cluster in dir/data when there is none, else reuses it, and
// starts it on 127.0.0.1:port. It returns when the server accepts connections.
func StartPostgres(ctx context.Context, dir string, port int, opts PostgresOptions) (*Postgres, error) {
	log := discard(opts.Logger)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make postgres dir: %w", err)
	}
	if err := chownToPostgres(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		start := time.Now()
		cmd, err := postgresCommand(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
			"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
		if err != nil {
			return nil, err
		}
		if err := run(cmd, "initdb "+data); err != nil {
			return nil, err
		}
		log.Info("initialised postgres cluster", "dir", data, "took", time.Since(start).Round(time.Millisecond))
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"}
	if opts.Ephemeral {
		// Many tests run at once, each with the web's pool and the jobs' pool.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=500")
	}
	cmd, err := postgresCommand(filepath.Join(pgBin, "postgres"), args...)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(data, "postmaster.pid")) // left by a killed run; the server checks the process itself
	proc, err := startProcess("postgres", filepath.Join(dir, "postgres.log"), cmd)
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, Port: port, proc: proc}
	err = waitFor(ctx, proc, "postgres on port "+strconv.Itoa(port), 30*time.Second, func() error {
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return nil, err
	}
	log.Info("postgres running", "port", port, "dir", dir)
	return p, nil
}

// URL is the connection string for a database of this cluster.
func (p *Postgres) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, database)
}

// CreateDatabase creates the database unless it exists.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (SIGTERM: PostgreSQL's smart shutdown would wait for clients,
// so SIGINT, the fast shutdown, is sent first).
func (p *Postgres) Stop() error {
	if p == nil || p.proc.exited() {
		return nil
	}
	p.proc.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.proc.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	return p.proc.stop()
}
