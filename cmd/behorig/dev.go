package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/store"
)

// dev runs the whole service locally: servers under dir, demo data, the API.
func dev(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", ".dev", "where PostgreSQL and slapd keep their data")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the API")
	load := fs.Int("load", 0, "fill the database with this many requests (and a fifth as many persons, twice as many grants, ten times as many audit events) once, for scale tests")
	// An external BankID test server instead of the simulator, e.g. BankID's own test
	// environment with its test RP certificate, to sign with the real BankID app for test.
	var external config.BankID
	fs.StringVar(&external.URL, "bankid-url", "", "an external BankID RP API v6.0 (e.g. https://appapi2.test.bankid.com/rp/v6.0) instead of the simulator")
	fs.StringVar(&external.P12File, "bankid-p12", "", "the RP certificate for -bankid-url as PKCS#12; its password in BEHORIG_BANKID_P12_PASSWORD")
	fs.StringVar(&external.CAFile, "bankid-ca", "", "the CA certificate of -bankid-url's environment (PEM), pinned")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if external.URL != "" && (external.P12File == "" || external.CAFile == "") {
		return errors.New("dev: -bankid-url needs -bankid-p12 and -bankid-ca")
	}
	env, err := devenv.Up(ctx, *dir, *listen, logger)
	if err != nil {
		return err
	}
	defer env.Stop()
	if external.URL != "" {
		// The simulator keeps running for the dev app page's outbox; the service signs
		// through the external server.
		external.P12Password, external.Timeout = os.Getenv("BEHORIG_BANKID_P12_PASSWORD"), 10*time.Second
		env.Config.BankID = external
		logger.Info("BankID through an external server", "url", external.URL)
	}
	if err := seedDemo(ctx, env, logger); err != nil {
		return err
	}
	if *load > 0 {
		if err := loadScale(ctx, env, *load, stdout, logger); err != nil {
			return err
		}
	}
	return serve(ctx, env.Config, logger, hooks{
		seed: func(ctx context.Context, st *stack) error {
			if err := devenv.LoadPrincipals(ctx, st.service, devenv.DemoPrincipals); err != nil {
				return err
			}
			// The demo person with remote access, provisioned at once: the README's radclient
			// examples sign in as her as soon as the summary is printed.
			return devenv.SeedRemoteAccess(ctx, st.service, st.remote, st.dir)
		},
		ready: func(string) {
			if err := env.WriteEnvFile(env.Config.BaseURL); err != nil {
				logger.Error("write .dev/env", "err", err)
			}
			env.PrintSummary(stdout, env.Config.BaseURL)
		},
	})
}

func seedDemo(ctx context.Context, env *devenv.Env, logger *slog.Logger) error {
	pool, err := store.Open(ctx, env.Config.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool, logger); err != nil {
		return err
	}
	return devenv.LoadDemo(ctx, pool)
}

// loadScale loads the scale fixture with the instance's own key, so that its personnummer
// can be searched and its audit log verifies. A second run finds it loaded and goes on.
func loadScale(ctx context.Context, env *devenv.Env, n int, stdout io.Writer, logger *slog.Logger) error {
	st, err := openStack(ctx, env.Config, logger)
	if err != nil {
		return err
	}
	defer st.close()
	if err := devenv.LoadPrincipals(ctx, st.service, devenv.DemoPrincipals); err != nil {
		return err
	}
	auditLog, err := audit.NewLog(st.box.AuditKeys())
	if err != nil {
		return err
	}
	size := devenv.ScaleFor(n)
	fmt.Fprintf(stdout, "loading %d requests, %d persons, %d grants and %d audit events ...\n", size.Requests, size.Persons,
		size.Grants, size.AuditEvents)
	start := time.Now()
	err = devenv.LoadScale(ctx, st.pool, st.box, auditLog, size)
	if errors.Is(err, devenv.ErrLoaded) {
		fmt.Fprintln(stdout, "the scale fixture is loaded already; nothing added")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded in %s\n", time.Since(start).Round(time.Second))
	return nil
}
