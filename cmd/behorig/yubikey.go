package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/remoteaccess"
)

const yubikeyUsage = "usage: behorig yubikey import [-config FILE] FILE.csv   (- reads standard input)"

// yubikeyCommand runs `behorig yubikey import`: the keys IT programmed with the YubiKey
// Personalization Tool or ykman go into stock, their secrets sealed. It needs only the
// database and the secret key, like `behorig audit`.
func yubikeyCommand(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New(yubikeyUsage)
	}
	fs := flag.NewFlagSet("yubikey import", flag.ContinueOnError)
	cfg, err := loadConfig(fs, args[1:], config.ScopeAudit)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(yubikeyUsage)
	}
	in := io.Reader(os.Stdin)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("yubikey import: %w", err)
		}
		defer f.Close()
		in = f
	}
	box, err := openBox(cfg)
	if err != nil {
		return err
	}
	auditLog, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, logger); err != nil {
		return err
	}
	im := remoteaccess.Importer{DB: pool, Box: box, Audit: auditLog, Logger: logger}
	res, err := im.Import(ctx, cliActor(), in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d YubiKeys into stock; %d lines of other kinds skipped\n", res.Imported, res.Skipped)
	return nil
}

// cliActor names who ran a command in the audit log: the operating system's user.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
