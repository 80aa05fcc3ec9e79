package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/ldap"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/jobs"
	"github.com/behorig/behorig/internal/metrics"
	"github.com/behorig/behorig/internal/ops"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/web"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// hooks let `behorig dev` seed demo data and print its summary; both are optional.
type hooks struct {
	seed  func(context.Context, *stack) error
	ready func(addr string)
	// radiusReady is told where the RADIUS server listens, when the config has one.
	radiusReady func(addr string)
}

// stack is the domain with what it runs on: the database, the directory, the job runner.
// The web and the jobs have a pool each (config.Database): jobs cannot take the connections
// the web needs. service works on the web's pool, the jobs' copy of it on jobsPool.
type stack struct {
	pool     *pgxpool.Pool
	jobsPool *pgxpool.Pool
	metrics  *metrics.Metrics
	probes   []ops.Probe // what /readyz reports
	box      *secret.Box
	dir      *ldap.Directory
	runner   *jobs.Runner
	service  *provisioning.Service
	remote   *remoteaccess.Service
}

func (st *stack) close() {
	if st.dir != nil {
		st.dir.Close()
	}
	if st.pool != nil {
		st.pool.Close()
	}
	if st.jobsPool != nil {
		st.jobsPool.Close()
	}
}

// openStack connects to the database (migrating it), opens the directory, and assembles the
// domain with its job runner registered but not started. The caller closes it.
func openStack(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *stack, err error) {
	st := &stack{metrics: metrics.New()}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	queues := cfg.Jobs.Queues.WithDefaults()
	pools := cfg.Database.WithDefaults(queues)
	if st.pool, err = store.OpenSized(ctx, cfg.DatabaseURL, pools.WebConnections); err != nil {
		return nil, err
	}
	if st.jobsPool, err = store.OpenSized(ctx, cfg.DatabaseURL, pools.JobConnections); err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, st.pool, logger); err != nil {
		return nil, err
	}
	box, err := openBox(cfg)
	if err != nil {
		return nil, err
	}
	st.box = box
	auditLog, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		return nil, err
	}
	sink, err := checkpointSink(cfg.Audit, logger)
	if err != nil {
		return nil, err
	}
	if st.dir, err = ldapConfig(cfg.Directory).Open(logger); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	// The domain calls the outside parties through instrumenting wrappers; the probes call
	// them directly, so that /metrics counts the work, not the probing.
	var dir connectors.Directory = metrics.Directory{Inner: st.dir, Metrics: st.metrics}
	st.probes = append(st.probes, ops.Probe{Name: "database", Decides: true, Check: st.pool.Ping},
		ops.Probe{Name: "directory", Check: ops.DirectoryCheck(st.dir)})
	jc := jobsConfig(cfg, logger)
	jc.Audit, jc.CheckpointSink, jc.CheckpointInterval = auditLog, sink, cfg.Audit.CheckpointInterval
	if st.runner, err = jobs.New(st.jobsPool, jc); err != nil {
		return nil, err
	}
	sender, err := mailer(cfg.Mail, st.jobsPool) // the mail jobs send
	if err != nil {
		return nil, err
	}
	if smtp, ok := sender.(mail.SMTP); ok {
		st.probes = append(st.probes, ops.Probe{Name: "smtp", Check: smtp.Probe})
	}
	sender = metrics.Mailer{Inner: sender, Metrics: st.metrics}
	bankIDClient, err := newBankID(cfg.BankID)
	if err != nil {
		return nil, err
	}
	var signer connectors.BankID
	if bankIDClient != nil {
		// a nil *bankid.Client must not become a non-nil interface
		signer = metrics.BankID{Inner: bankIDClient, Metrics: st.metrics}
		st.probes = append(st.probes, ops.Probe{Name: "bankid", Check: bankIDClient.Probe})
	}
	digestAt, _ := cfg.Mail.DigestAt() // checked with the config
	st.service, err = provisioning.New(provisioning.Config{DB: st.pool, Box: st.box, Audit: auditLog, Directory: dir,
		Scheduler: st.runner.Scheduler(), Location: cfg.Location(), Logger: logger, Mailer: sender,
		BaseURL: cfg.BaseURL, TermsLinkTTL: cfg.Mail.TermsLinkTTL, BankID: signer,
		ApprovalDigest: cfg.Mail.ApprovalDigest, ApprovalDigestAt: digestAt})
	if err != nil {
		return nil, err
	}
	if st.remote, err = openRemoteAccess(cfg, st, auditLog, dir, logger); err != nil {
		return nil, err
	}
	if err := st.runner.Register(st.service.OnPool(st.jobsPool)); err != nil {
		return nil, err
	}
	if err := st.service.NormalizeGroupKeys(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// serve runs the whole service until ctx ends: migrations, the job runner and the HTTP
// server.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, h hooks) error {
	st, err := openStack(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.close()
	gateways, err := openRADIUS(ctx, cfg, st, logger)
	if err != nil {
		return err
	}
	defer gateways.close()
	if h.seed != nil {
		if err := h.seed(ctx, st); err != nil {
			return err
		}
	}
	rp := oidc.New(ctx, cfg.BaseURL, cfg.IdentityProviders, cfg.APIClients, oidc.Options{Logger: logger})
	handler, err := httpHandler(ctx, cfg, rp, st.pool, st.box, st.service, st.remote, logger)
	if err != nil {
		return err
	}
	ready := ops.NewReadiness(append(st.probes, idpProbes(rp)...), ops.ReadinessOptions{Observe: st.metrics.ObserveProbe})
	ready.Run(ctx)
	pools := map[string]*pgxpool.Pool{"web": st.pool, "jobs": st.jobsPool}
	if gateways != nil {
		pools["radius"] = gateways.pool
	}
	st.metrics.RegisterPools(pools)
	st.metrics.RegisterQueues(st.pool, logger)
	handler = ops.Routes(handler, ops.RoutesOptions{Ready: ready, Metrics: st.metrics.Handler(),
		Instrument: st.metrics.Instrument, Logger: logger})
	if err := st.runner.Start(ctx); err != nil {
		return err
	}
	st.metrics.WatchJobs(ctx, st.runner.Client())
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := st.runner.Stop(stopCtx); err != nil {
			logger.Warn("stop jobs", "err", err)
		}
	}()
	if gateways != nil {
		defer gateways.start(ctx)()
		if h.radiusReady != nil {
			h.radiusReady(gateways.addr())
		}
	}
	return listenAndServe(ctx, cfg.Listen, handler, logger, h.ready)
}

// httpHandler joins the web pages, sign-in and the API behind one cross-origin guard.
func httpHandler(ctx context.Context, cfg *config.Config, rp *oidc.RP, pool *pgxpool.Pool, box *secret.Box, service *provisioning.Service,
	remote *remoteaccess.Service, logger *slog.Logger) (http.Handler, error) {
	sessions, err := session.New(pool, session.Config{Idle: cfg.Sessions.IdleTimeout, Absolute: cfg.Sessions.AbsoluteTimeout,
		Secure: strings.HasPrefix(cfg.BaseURL, "https://"), Box: box})
	if err != nil {
		return nil, err
	}
	go sweepSessions(ctx, sessions, logger)
	webServer, err := web.New(service, rp, sessions, cfg.BaseURL, cfg.Proxies(), logger)
	if err != nil {
		return nil, err
	}
	webServer.UseRemoteAccess(remote)
	apiServer, err := api.New(ctx, service, api.Config{Tokens: cfg.Tokens, APIClients: cfg.APIClients, AccessTokens: rp,
		Sessions: webServer, Logger: logger, RemoteAccess: remote})
	if err != nil {
		return nil, err
	}
	return webServer.Handler(apiServer.Handler()), nil
}

// idpProbes report each IdP's discovery on /readyz as "idp:<id>", never deciding: an IdP
// with a typo in its issuer must be seen, but the other IdPs, the API and the jobs serve.
func idpProbes(rp *oidc.RP) []ops.Probe {
	var probes []ops.Probe
	for _, idp := range rp.IdPs() {
		id := idp.ID
		probes = append(probes, ops.Probe{Name: "idp:" + id, Check: func(context.Context) error { return rp.DiscoveryError(id) }})
	}
	return probes
}

// newBankID makes the RP API client, or nil when BankID is not configured.
func newBankID(c config.BankID) (*bankid.Client, error) {
	if c.URL == "" {
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	if c.P12File != "" {
		cert, err = bankid.LoadPKCS12(c.P12File, c.P12Password)
	} else {
		cert, err = bankid.LoadPEM(c.CertFile, c.KeyFile)
	}
	if err != nil {
		return nil, err
	}
	ca, err := bankid.LoadCA(c.CAFile)
	if err != nil {
		return nil, err
	}
	return bankid.New(bankid.Config{BaseURL: c.URL, Certificate: cert, CA: ca, Timeout: c.Timeout})
}

// mailer is the outbox in dev, else SMTP.
func mailer(c config.Mail, pool *pgxpool.Pool) (connectors.Mailer, error) {
	if c.Outbox {
		return mail.Outbox{DB: pool}, nil
	}
	m := mail.SMTP{Addr: c.SMTPAddr, From: c.From, Username: c.Username, Password: c.Password, Security: c.Security}
	return m, m.Check()
}

func ldapConfig(d config.Directory) ldap.Config {
	return ldap.Config{URL: d.URL, BindDN: d.BindDN, BindPassword: d.BindPassword, BaseDN: d.BaseDN,
		PeopleDN: d.PeopleDN, GroupsDN: d.GroupsDN, RDNAttribute: d.RDNAttribute, Timeout: d.Timeout, Flavour: d.Flavour,
		IdentityAttribute: d.IdentityAttribute}
}

func jobsConfig(cfg *config.Config, logger *slog.Logger) jobs.Config {
	return jobs.Config{Queues: cfg.Jobs.Queues, Logger: logger, JobTimeout: cfg.Jobs.Timeout, RescueAfter: cfg.Jobs.RescueAfter,
		ReconcileInterval: cfg.Jobs.ReconcileInterval, ApprovalDigest: cfg.Mail.ApprovalDigest}
}

// sweepSessions removes expired sessions every quarter of an hour until ctx ends. Several
// instances sweeping at once is harmless.
func sweepSessions(ctx context.Context, sessions *session.Store, logger *slog.Logger) {
	tick := time.NewTicker(15 * time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := sessions.Sweep(ctx); err != nil {
				logger.Warn("sweep sessions", "err", err)
			} else if n > 0 {
				logger.Info("swept expired sessions", "count", n)
			}
		}
	}
}

func listenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}
