package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
)

const auditUsage = "usage: behorig audit verify [-config FILE] [-checkpoints FILE] [-seal=false] | behorig audit checkpoint [-config FILE]"

// auditCommand runs `behorig audit verify` and `behorig audit checkpoint`. Both need only the
// database and the secret key, so that the log can be checked from a machine that runs
// nothing else.
func auditCommand(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	switch args[0] {
	case "verify":
		return verifyAudit(ctx, args[1:], stdout)
	case "checkpoint":
		return checkpointAudit(ctx, args[1:], stdout, logger)
	}
	return errors.New(auditUsage)
}

// staleUnsealed is how long an event may wait for the sealer, which runs every second,
// before verify warns that no sealer seems to run.
const staleUnsealed = time.Minute

func verifyAudit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	checkpointFile := fs.String("checkpoints", "", "the checkpoint file to check the log against (default audit.checkpoint_file)")
	seal := fs.Bool("seal", true, "chain the committed events that wait for the sealer before verifying (false: only read)")
	cfg, err := loadConfig(fs, args, config.ScopeAudit)
	if err != nil {
		return err
	}
	log, err := openAuditLog(cfg)
	if err != nil {
		return err
	}
	path := cmp.Or(*checkpointFile, cfg.Audit.CheckpointFile)
	var checkpoints []audit.Checkpoint
	if path != "" {
		if checkpoints, err = audit.ReadCheckpoints(path); err != nil {
			return err
		}
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	started := time.Now()
	if *seal {
		waiting, err := audit.Unsealed(ctx, pool)
		if err != nil {
			return err
		}
		if waiting.Events > 0 {
			sealed, err := log.Seal(ctx, pool)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "sealed %d events that waited for the sealer, the oldest since %s\n", sealed, age(waiting.Oldest, started))
			warnStale(stdout, waiting, started)
		}
	}
	done, err := log.Verify(ctx, pool, checkpoints)
	if err != nil {
		return err
	}
	took := time.Since(started).Round(time.Millisecond)
	if path == "" {
		fmt.Fprintf(stdout, "audit log intact: %d events verified in %s\n"+
			"warning: no checkpoint file, so only the chain was checked: whoever can write the database could have\n"+
			"deleted the newest events, emptied the log, or rewritten it whole (as plain SHA-256 events) unseen;\n"+
			"set audit.checkpoint_file (or -checkpoints) to a file out of their reach\n", done.Events, took)
	} else {
		fmt.Fprintf(stdout, "audit log intact: %d events verified, %d checkpoints verified (%s) in %s\n", done.Events, done.Checkpoints, path, took)
		if done.Checkpoints == 0 {
			fmt.Fprintln(stdout, "warning: the checkpoint file vouches for no event yet; events deleted at the end of the log would go unseen")
		}
	}
	if done.Unsealed.Events > 0 {
		fmt.Fprintf(stdout, "%d events wait for the sealer, the oldest since %s: their entry MACs verify, their place in the chain is not yet given\n",
			done.Unsealed.Events, age(done.Unsealed.Oldest, started))
		warnStale(stdout, done.Unsealed, started)
	}
	return nil
}

// warnStale warns when events have waited for the sealer far longer than it takes to run.
func warnStale(stdout io.Writer, p audit.Pending, now time.Time) {
	if now.Sub(p.Oldest) > staleUnsealed {
		fmt.Fprintf(stdout, "warning: an event has waited %s for the sealer, which runs every second in behorig serve: "+
			"is no instance running its jobs? Until sealed, an event deleted by someone who can switch the triggers off leaves no trace\n",
			now.Sub(p.Oldest).Round(time.Second))
	}
}

func age(t, now time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), now.Sub(t).Round(time.Second))
}

func checkpointAudit(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	cfg, err := loadConfig(flag.NewFlagSet("audit checkpoint", flag.ContinueOnError), args, config.ScopeAudit)
	if err != nil {
		return err
	}
	log, err := openAuditLog(cfg)
	if err != nil {
		return err
	}
	sink, err := checkpointSink(cfg.Audit, logger)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	c, err := log.Checkpoint(ctx, pool, time.Now(), sink)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoint of event %d written to the log and to %s\n", c.Seq, cmp.Or(cfg.Audit.CheckpointFile, "no file"))
	return nil
}

func openBox(cfg *config.Config) (*secret.Box, error) {
	key, err := secret.ParseKey(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return secret.NewBox(key)
}

func openAuditLog(cfg *config.Config) (*audit.Log, error) {
	box, err := openBox(cfg)
	if err != nil {
		return nil, err
	}
	return audit.NewLog(box.AuditKeys())
}

// checkpointSink is the configured checkpoint file, made sure to be writable now; nil when
// none is configured, with a warning.
func checkpointSink(c config.Audit, logger *slog.Logger) (audit.CheckpointSink, error) {
	if c.CheckpointFile == "" {
		logger.Warn("audit.checkpoint_file is not set: checkpoints are kept only in the database, where deleted newest events take them along")
		return nil, nil
	}
	file := audit.CheckpointFile{Path: c.CheckpointFile}
	if err := file.Check(); err != nil {
		return nil, fmt.Errorf("audit.checkpoint_file: %w", err)
	}
	return file, nil
}
