package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/metrics"
	"github.com/behorig/behorig/remoteaccess"
)

// smsSender is the dev outbox when sms.outbox is set, else the configured gateways tried in
// order, each instrumented under its own name; nil when there is none (SMS codes then fail
// saying so). codeTTL bounds how long Twilio may queue a code.
func smsSender(c config.SMS, codeTTL time.Duration, pool *pgxpool.Pool, m *metrics.Metrics, logger *slog.Logger) connectors.SMSSender {
	if c.Outbox {
		return metrics.SMS{Inner: sms.Outbox{DB: pool}, Gateway: sms.ProviderOutbox, Metrics: m}
	}
	if len(c.Gateways) == 0 {
		return nil
	}
	// One client for all gateways, so that each keeps its connections warm between codes;
	// every call is bounded by the gateway's own timeout.
	client := &http.Client{}
	seen := map[string]int{}
	var gateways []sms.Gateway
	for _, g := range c.Gateways {
		seen[g.Provider]++
		name := g.Provider
		if seen[g.Provider] > 1 { // two accounts of one provider: 46elks, 46elks-2
			name = fmt.Sprintf("%s-%d", g.Provider, seen[g.Provider])
		}
		var sender connectors.SMSSender
		switch g.Provider {
		case sms.Provider46elks:
			sender = sms.FortySixElks{URL: g.URL, Username: g.Username, Password: g.Password, From: c.From, Timeout: c.Timeout, Client: client}
		case sms.ProviderTwilio:
			sender = sms.Twilio{URL: g.URL, AccountSID: g.Username, AuthToken: g.Password, From: c.From, ValidityPeriod: codeTTL,
				Timeout: c.Timeout, Client: client}
		default: // http; the config allows no other
			sender = sms.HTTPGateway{URL: g.URL, Username: g.Username, Password: g.Password, From: c.From, Timeout: c.Timeout, Client: client}
		}
		gateways = append(gateways, sms.Gateway{Name: name, Sender: metrics.SMS{Inner: sender, Gateway: name, Metrics: m}})
	}
	return sms.Failover{Gateways: gateways, Logger: logger}
}

// openRemoteAccess assembles remote access on the web's pool: the password page's SMS codes
// use it as it is, RADIUS on a pool of its own (remoteaccess.Service.OnPool).
func openRemoteAccess(cfg *config.Config, st *stack, auditLog *audit.Log, dir connectors.Directory, logger *slog.Logger) (*remoteaccess.Service, error) {
	r := cfg.RemoteAccess
	return remoteaccess.New(remoteaccess.Config{DB: st.pool, Box: st.box, Audit: auditLog, Directory: dir,
		SMS: smsSender(cfg.SMS, r.CodeTTL, st.pool, st.metrics, logger), CodeTTL: r.CodeTTL, CodeTries: r.CodeTries,
		SMSPerHour: r.SMSPerHour, MaxFailures: r.MaxFailures, PasswordTimeout: r.RADIUS.PasswordTimeout, Logger: logger})
}
