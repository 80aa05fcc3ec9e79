// Command behorig grants access to people and takes it away again: requests, attestation,
// terms, provisioning to LDAP and revocation at the end date.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/ops"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
)

const usage = `behorig — access requests, attestation and provisioning

Usage:
  behorig serve [-config FILE]         run the service (migrates the database first)
  behorig dev [-dir .dev] [-load N]    run the whole service locally with demo data; -load adds
                                       N requests, N/5 persons, 2N grants, 10N audit events once
  behorig migrate [-config FILE]       apply database migrations
  behorig audit verify [-config FILE] [-checkpoints FILE]
                                       check the audit log's MACs and checkpoints
  behorig audit checkpoint [-config FILE]
                                       write a checkpoint of the audit log now
  behorig reconcile [-dry-run] [-config FILE]
                                       compare the directory with the grants and repair it
  behorig yubikey import [-config FILE] FILE.csv
                                       put YubiKeys programmed for Yubico OTP in stock (the
                                       personalization tool's log or ykman's CSV)
  behorig keygen                       print a new secret key for secret_key
  behorig version                      print the version

The config file is YAML; environment variables BEHORIG_* override it (see README.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every line logged with a request's context carries its request id.
	logger := slog.New(ops.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := run(ctx, os.Args[1:], os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "behorig:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("name a command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		cfg, err := loadConfig(flag.NewFlagSet(cmd, flag.ContinueOnError), rest, config.ScopeServe)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, logger, hooks{})
	case "dev":
		return dev(ctx, rest, stdout, logger)
	case "migrate":
		cfg, err := loadConfig(flag.NewFlagSet(cmd, flag.ContinueOnError), rest, config.ScopeServe)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, logger)
	case "audit":
		return auditCommand(ctx, rest, stdout, logger)
	case "reconcile":
		return reconcile(ctx, rest, stdout, logger)
	case "yubikey":
		return yubikeyCommand(ctx, rest, stdout, logger)
	case "keygen":
		fmt.Fprintln(stdout, secret.NewKey())
		return nil
	case "version":
		fmt.Fprintln(stdout, "behorig", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q; run behorig help", cmd)
}

// loadConfig adds -config to the command's flags, parses them and loads the part of the
// config the command needs.
func loadConfig(fs *flag.FlagSet, args []string, scope config.Scope) (*config.Config, error) {
	path := fs.String("config", os.Getenv("BEHORIG_CONFIG"), "YAML config file (env BEHORIG_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return config.LoadFor(*path, scope)
}

func migrate(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return store.Migrate(ctx, pool, logger)
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
