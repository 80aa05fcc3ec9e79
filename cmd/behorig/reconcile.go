package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/provisioning"
)

// reconcile compares the directory with the grants once, repairs the differences unless
// -dry-run, and prints what it found. It exits non-zero when something could not be compared
// or repaired, so that a cron job or a monitoring check notices.
func reconcile(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("BEHORIG_CONFIG"), "YAML config file (env BEHORIG_CONFIG)")
	dryRun := fs.Bool("dry-run", false, "report the differences, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	st, err := openStack(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.close()
	report, err := st.service.Reconcile(ctx, *dryRun, "cli")
	printReconcile(stdout, report)
	if err != nil {
		return err
	}
	if len(report.Problems) > 0 {
		return fmt.Errorf("reconciliation left %d problems", len(report.Problems))
	}
	return nil
}

func printReconcile(w io.Writer, r provisioning.ReconcileReport) {
	mode := "repaired"
	if r.DryRun {
		mode = "dry run: nothing changed"
	}
	fmt.Fprintf(w, "reconciliation (%s): %d persons and %d groups compared, %d differences, %d repaired\n",
		mode, r.Persons, r.Groups, len(r.Differences), r.Repaired)
	counts := r.Counts()
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "  %-22s %d\n", kind, counts[kind])
	}
	for _, d := range r.Differences {
		fmt.Fprintf(w, "  - %s", d.Kind)
		for _, kv := range [][2]string{{"username", d.Username}, {"group", d.Group}, {"dn", d.DN}} {
			if kv[1] != "" {
				fmt.Fprintf(w, " %s=%q", kv[0], kv[1])
			}
		}
		fmt.Fprintln(w)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
}
