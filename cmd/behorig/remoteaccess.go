package main

import (
	"log/slog"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/remoteaccess"
)

// openRemoteAccess assembles remote access's domain on the web's pool, with the limits of
// the config (validated by config.Load). RADIUS runs it on a pool of its own (OnPool).
func openRemoteAccess(cfg *config.Config, st *stack, auditLog *audit.Log, dir connectors.Directory,
	logger *slog.Logger) (*remoteaccess.Service, error) {
	r := cfg.RemoteAccess
	return remoteaccess.New(remoteaccess.Config{DB: st.pool, Box: st.box, Audit: auditLog, Directory: dir,
		CodeTTL: r.CodeTTL, CodeTries: r.CodeTries, SMSPerHour: r.SMSPerHour, MaxFailures: r.MaxFailures,
		PasswordTimeout: r.RADIUS.PasswordTimeout, Logger: logger})
}
