// Package testapp assembles the whole service for tests: a fresh database and slapd from
// internal/testenv, the domain, River jobs, the API over real HTTP, a clock the test can move
// on, and a token per demo user. Test packages call testenv.Main in their TestMain.
package testapp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/ldap"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/jobs"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/metrics"
	"github.com/behorig/behorig/internal/ops"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// Clock is the wall clock moved on by a test, shared by the domain and River, so that moving
// it on makes scheduled jobs fall due. It keeps running between moves: a job that snoozes
// for two seconds runs two seconds later, as in production.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// NowOrNil is River's hook for a stubbed time.
func (c *Clock) NowOrNil() *time.Time {
	now := c.Now()
	return &now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// App is a running behorig for one test.
type App struct {
	// Pool is the web's pool, which the API and Service use; JobsPool is the jobs'.
	Pool     *pgxpool.Pool
	JobsPool *pgxpool.Pool
	Box      *secret.Box
	Audit    *audit.Log
	Service  *provisioning.Service
	// Remote is remote access's domain on the web's pool (remoteaccess).
	Remote    *remoteaccess.Service
	Directory connectors.Directory
	Slapd     *localserver.Slapd
	Runner    *jobs.Runner
	Clock     *Clock
	URL       string
	// Tokens and Actors are keyed by principal subject: it-handler, manager, requester,
	// manager-soder (attests for 5120 only) and requester-manager (attests for 5220).
	Tokens map[string]string
	Actors map[string]provisioning.Actor
	// Metrics and Ready are the app's /metrics and /readyz; Logger is its logger.
	Metrics *metrics.Metrics
	Ready   *ops.Readiness
	Logger  *slog.Logger
}

// RoutesOptions put /readyz, /metrics, request ids and metrics around a handler as serve
// does, for tests that serve more than the API (the web pages).
func (a *App) RoutesOptions() ops.RoutesOptions {
	return ops.RoutesOptions{Ready: a.Ready, Metrics: a.Metrics.Handler(), Instrument: a.Metrics.Instrument, Logger: a.Logger}
}

// Options change the assembly.
type Options struct {
	// NoJobs leaves River stopped, so a test can run the job bodies itself.
	NoJobs bool
	// Directory wraps the real directory, e.g. to inject failures.
	Directory func(connectors.Directory) connectors.Directory
	// RDNAttribute names new accounts' entries: uid (default) or cn.
	RDNAttribute string
	// Mailer sends the terms e-mail; default the outbox table.
	Mailer connectors.Mailer
	// BaseURL starts the links in e-mail. Default http://localhost.
	BaseURL string
	// BankID signs the terms; nil without BankID.
	BankID connectors.BankID
	// IdentityAttribute is the directory attribute that holds the personnummer; none by default.
	IdentityAttribute string
	// Jobs overrides the job runner's timeouts and queues; the periodic reconciliation is off
	// unless Jobs.ReconcileInterval is set.
	Jobs jobs.Config
	// WebConnections sizes the web's pool; default 16.
	WebConnections int
	// Probes are readiness probes beside the database's and the directory's, e.g. smtp.
	Probes []ops.Probe
	// Logger replaces the test's logger, e.g. to read what a request logged.
	Logger *slog.Logger
	// ApprovalDigest turns the approvers' daily digest on (at 07:00); the periodic job runs
	// when Jobs.ApprovalDigest is set too.
	ApprovalDigest bool
}

// extraPrincipals complete the demo users with a manager of another unit and a requester
// who is also a manager (for one-step attestation).
var extraPrincipals = []devenv.DemoPrincipal{
	{Token: "manager-soder", Principal: provisioning.Principal{Subject: "manager-soder", Name: "Sven Söderchef", Email: "sven@example.org",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5120", Manages: []string{"5120"}}},
	{Token: "requester-manager", Principal: provisioning.Principal{Subject: "requester-manager", Name: "Lena Lindchef", Email: "lena@example.org",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5220", Manages: []string{"5220"}}},
}

// New starts a whole behorig for the test and stops it in t.Cleanup.
func New(t testing.TB, opts Options) *App {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(ops.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	if opts.Logger != nil {
		logger = opts.Logger
	}
	// Two pools as in serve: the web's, and the jobs' with a connection per worker.
	dbURL := testenv.PostgreSQL(t)
	pool, err := store.OpenSized(ctx, dbURL, cmp.Or(opts.WebConnections, 16))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	jc := opts.Jobs
	if jc.Queues == (config.Queues{}) {
		jc.Queues = config.Queues{Default: 2, Directory: 4, Mail: 4, Signing: 2}
	}
	jc.Queues = jc.Queues.WithDefaults()
	jobsPool, err := store.OpenSized(ctx, dbURL, jc.Queues.Total()+config.RiverConnections)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(jobsPool.Close)
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	if err := devenv.LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	slapd := testenv.LDAP(t)
	rdn := opts.RDNAttribute
	if rdn == "" {
		rdn = "uid"
	}
	real, err := ldap.Config{URL: slapd.URL(), BindDN: slapd.ServiceDN, BindPassword: slapd.ServicePassword,
		BaseDN: slapd.BaseDN, PeopleDN: slapd.PeopleDN, GroupsDN: slapd.GroupsDN, RDNAttribute: rdn,
		Timeout: 5 * time.Second, Flavour: "openldap", IdentityAttribute: opts.IdentityAttribute}.Open(logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	var dir connectors.Directory = real
	if opts.Directory != nil {
		dir = opts.Directory(real)
	}
	// As in serve: the domain calls the directory and the mailer through the metrics'
	// wrappers, and the readiness probes call the connector itself (not a test's wrapper,
	// whose injected faults and counted calls are the domain's).
	m := metrics.New()
	probes := []ops.Probe{{Name: "database", Decides: true, Check: pool.Ping}, {Name: "directory", Check: ops.DirectoryCheck(real)}}
	probes = append(probes, opts.Probes...)
	dir = metrics.Directory{Inner: dir, Metrics: m}
	clock := &Clock{}
	jc.Time, jc.Logger, jc.FetchPollInterval = clock, logger, 20*time.Millisecond
	if jc.ReconcileInterval == 0 {
		jc.ReconcileInterval = -1
	}
	runner, err := jobs.New(jobsPool, jc)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(must(secret.ParseKey(secret.NewKey())))
	if err != nil {
		t.Fatal(err)
	}
	auditLog, err := audit.NewLog(box.AuditKeys())
	if err != nil {
		t.Fatal(err)
	}
	var mailer connectors.Mailer = mail.Outbox{DB: jobsPool} // jobs send the mail
	if opts.Mailer != nil {
		mailer = opts.Mailer
	}
	mailer = metrics.Mailer{Inner: mailer, Metrics: m}
	var bankID connectors.BankID
	if opts.BankID != nil {
		bankID = metrics.BankID{Inner: opts.BankID, Metrics: m}
	}
	service, err := provisioning.New(provisioning.Config{DB: pool, Box: box, Audit: auditLog, Directory: dir, Scheduler: runner.Scheduler(),
		Clock: clock, Logger: logger, Mailer: mailer, BaseURL: cmp.Or(opts.BaseURL, "http://localhost"),
		BankID: bankID, ApprovalDigest: opts.ApprovalDigest})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := remoteaccess.New(remoteaccess.Config{DB: pool, Box: box, Audit: auditLog, Directory: dir,
		SMS: sms.Outbox{DB: pool}, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ready := ops.NewReadiness(probes, ops.ReadinessOptions{Interval: 250 * time.Millisecond, Timeout: time.Second,
		Observe: m.ObserveProbe})
	readyCtx, stopProbes := context.WithCancel(ctx)
	t.Cleanup(stopProbes)
	ready.Run(readyCtx)
	m.RegisterPools(map[string]*pgxpool.Pool{"web": pool, "jobs": jobsPool})
	m.RegisterQueues(pool, logger)
	app := &App{Metrics: m, Ready: ready, Logger: logger, Pool: pool, JobsPool: jobsPool, Box: box, Audit: auditLog, Service: service, Remote: remote, Directory: dir, Slapd: slapd,
		Runner: runner, Clock: clock, Tokens: map[string]string{}, Actors: map[string]provisioning.Actor{}}
	app.startAPI(t, ctx, logger)
	if err := runner.Register(service.OnPool(jobsPool)); err != nil {
		t.Fatal(err)
	}
	if !opts.NoJobs {
		if err := runner.Start(ctx); err != nil {
			t.Fatal(err)
		}
		m.WatchJobs(readyCtx, runner.Client())
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			runner.Stop(stopCtx)
		})
	}
	return app
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (a *App) startAPI(t testing.TB, ctx context.Context, logger *slog.Logger) {
	t.Helper()
	var tokens []config.Token
	for _, p := range append(append([]devenv.DemoPrincipal{}, devenv.DemoPrincipals...), extraPrincipals...) {
		actor, err := a.Service.RegisterPrincipal(ctx, p.Principal)
		if err != nil {
			t.Fatal(err)
		}
		a.Actors[p.Subject] = actor
		if p.Token == "" {
			continue
		}
		token := rand.Text()
		sum := sha256.Sum256([]byte(token))
		tokens = append(tokens, config.Token{Subject: p.Subject, Name: p.Name, Email: p.Email, Role: string(p.Roles[0]),
			SHA256: hex.EncodeToString(sum[:])})
		a.Tokens[p.Subject] = token
	}
	server, err := api.New(ctx, a.Service, api.Config{Tokens: tokens, Logger: logger, RemoteAccess: a.Remote})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ops.Routes(checkedByOpenAPI(t, server.Handler()), a.RoutesOptions()))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
}

// Call sends a JSON API request as the principal and decodes the JSON answer into out (when
// not nil). It returns the status code.
func (a *App) Call(t testing.TB, subject, method, path string, body any, out any) int {
	t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "" {
		req.Header.Set("Authorization", "Bearer "+a.Tokens[subject])
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer is not JSON (%v): %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// WaitStatus waits until the request reaches the status, failing after 20 s.
func (a *App) WaitStatus(t testing.TB, requestID, status string) provisioning.RequestView {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := a.Service.Request(context.Background(), a.Actors["it-handler"], requestID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == status {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s, not %s, after 20 s; history: %s", v.Number, v.Status, status, mustJSON(v.Events))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustJSON(v any) string {
	data, _ := json.MarshalIndent(v, "", "  ")
	return string(data)
}

// Search runs an LDAP search as the directory admin, as ldapsearch would, and returns the
// entries.
func (a *App) Search(t testing.TB, baseDN, filter string, attrs ...string) []*goldap.Entry {
	t.Helper()
	conn, err := goldap.DialURL(a.Slapd.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(a.Slapd.AdminDN, a.Slapd.AdminPassword); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Search(goldap.NewSearchRequest(baseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, nil))
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return nil
		}
		t.Fatalf("search %s %s: %v", baseDN, filter, err)
	}
	return res.Entries
}

// InClear returns "column: value" for each value found in clear in a row of the table: in
// the bytes PostgreSQL sends for any column (binary, so a bytea's own bytes) or in the row's
// text form. For checking that what must be sealed is.
func (a *App) InClear(t testing.TB, table string, values ...string) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	rows, err := a.Pool.Query(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			for _, v := range values {
				if bytes.Contains(raw, []byte(v)) {
					found = append(found, rows.FieldDescriptions()[i].Name+": "+v)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = a.Pool.Query(ctx, "SELECT t::text FROM "+pgx.Identifier{table}.Sanitize()+" t")
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range texts {
		for _, v := range values {
			if strings.Contains(text, v) || strings.Contains(text, hex.EncodeToString([]byte(v))) {
				found = append(found, "row text: "+v)
			}
		}
	}
	return found
}
