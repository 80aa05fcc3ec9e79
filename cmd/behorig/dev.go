package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/provisioning"
)

// dev runs the whole service locally: servers under dir, demo data, the API.
func dev(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", ".dev", "where PostgreSQL and slapd keep their data")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the API")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := devenv.Up(ctx, *dir, *listen, logger)
	if err != nil {
		return err
	}
	defer env.Stop()
	if err := seedDemo(ctx, env, logger); err != nil {
		return err
	}
	return serve(ctx, env.Config, logger, hooks{
		seed: func(ctx context.Context, service *provisioning.Service) error {
			return devenv.LoadPrincipals(ctx, service, devenv.DemoPrincipals)
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
