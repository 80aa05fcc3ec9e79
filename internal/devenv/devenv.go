// Package devenv is the local stack behind `behorig dev`: a private PostgreSQL and slapd
// under one directory (kept between runs), a secret key and demo tokens made once, and the
// demo organisation. Later capabilities add the dev IdP, the BankID simulator and outboxes.
package devenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/store"
)

// Preferred ports, so that .dev/env stays the same between runs when they are free.
const (
	preferredPostgresPort = 54329
	preferredSlapdPort    = 38900
	preferredBankIDPort   = 5557
	preferredAppPort      = 5558
	ldapAdminPassword     = "dev-secret"
)

// Env is a running local stack.
type Env struct {
	Dir      string
	Config   *config.Config
	Tokens   map[string]string // role → plaintext token
	IdP      *IdP
	BankID   *bankid.Simulator
	App      *DevApp
	pool     *pgxpool.Pool
	postgres *localserver.Postgres
	slapd    *localserver.Slapd
}

// Up starts PostgreSQL and slapd under dir and returns the config to serve with.
func Up(ctx context.Context, dir string, listen string, logger *slog.Logger) (*Env, error) {
	if missing := localserver.MissingPackages(); len(missing) > 0 {
		return nil, fmt.Errorf("missing Debian packages %s: run `sudo bash scripts/deps.sh` (or apt-get install -y %s)",
			strings.Join(missing, " "), strings.Join(missing, " "))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("dev dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("make dev dir: %w", err)
	}
	e := &Env{Dir: abs}
	if err := e.start(ctx, logger); err != nil {
		e.Stop()
		return nil, err
	}
	key, err := e.secretKey()
	if err != nil {
		e.Stop()
		return nil, err
	}
	tokens, err := e.tokens()
	if err != nil {
		e.Stop()
		return nil, err
	}
	e.Tokens = tokens
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		e.Stop()
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	// localhost, not 127.0.0.1: browsers treat it as a secure context (WebAuthn needs that).
	baseURL := "http://localhost:" + port
	if e.IdP, err = StartIdP("127.0.0.1", -1, baseURL); err != nil {
		e.Stop()
		return nil, err
	}
	e.Config = e.config(listen, key)
	e.Config.BaseURL = baseURL
	if err := e.configureRADIUS(); err != nil {
		e.Stop()
		return nil, err
	}
	if err := e.startBankID(ctx, logger); err != nil {
		e.Stop()
		return nil, err
	}
	e.Config.IdentityProviders = e.IdP.Providers
	e.Config.APIClients = e.IdP.APIClients
	return e, nil
}

func (e *Env) start(ctx context.Context, logger *slog.Logger) error {
	pgPort, err := portNear(preferredPostgresPort)
	if err != nil {
		return err
	}
	e.postgres, err = localserver.StartPostgres(ctx, filepath.Join(e.Dir, "postgres"), pgPort,
		localserver.PostgresOptions{Logger: logger})
	if err != nil {
		return err
	}
	if err := e.postgres.CreateDatabase(ctx, "behorig"); err != nil {
		return err
	}
	ldapPort, err := portNear(preferredSlapdPort)
	if err != nil {
		return err
	}
	e.slapd, err = localserver.StartSlapd(ctx, filepath.Join(e.Dir, "ldap"), ldapPort,
		localserver.SlapdOptions{BaseDN: "dc=example,dc=org", AdminPassword: ldapAdminPassword, Logger: logger})
	return err
}

// portNear returns the preferred port when it is free, else any free port.
func portNear(preferred int) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(preferred)))
	if err == nil {
		ln.Close()
		return preferred, nil
	}
	return localserver.FreePort()
}

// startBankID starts the BankID simulator, writes an RP certificate and its CA under
// dir/bankid for the config to load as a real one would be, and the page that plays the app.
func (e *Env) startBankID(ctx context.Context, logger *slog.Logger) error {
	port, err := portNear(preferredBankIDPort)
	if err != nil {
		return err
	}
	if e.BankID, err = bankid.StartSimulator(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return err
	}
	cert, err := e.BankID.ClientCertificate()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.Dir, "bankid")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bankid dir: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	files := map[string]*pem.Block{
		"rp.pem": {Type: "CERTIFICATE", Bytes: cert.Leaf.Raw},
		"rp.key": {Type: "PRIVATE KEY", Bytes: keyDER},
		"ca.pem": {Type: "CERTIFICATE", Bytes: e.BankID.CACertificate().Raw},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	e.Config.BankID = config.BankID{URL: e.BankID.URL, CertFile: filepath.Join(dir, "rp.pem"), KeyFile: filepath.Join(dir, "rp.key"),
		CAFile: filepath.Join(dir, "ca.pem")}
	if e.pool, err = store.Open(ctx, e.Config.DatabaseURL); err != nil {
		return err
	}
	appPort, err := portNear(preferredAppPort)
	if err != nil {
		return err
	}
	e.App, err = StartDevApp(net.JoinHostPort("127.0.0.1", strconv.Itoa(appPort)), e.BankID, mail.Outbox{DB: e.pool}, sms.Outbox{DB: e.pool}, logger)
	return err
}

// Stop stops what Up started.
func (e *Env) Stop() {
	if e.App != nil {
		e.App.Close()
	}
	if e.BankID != nil {
		e.BankID.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.IdP != nil {
		e.IdP.Server.Close()
	}
	if e.slapd != nil {
		e.slapd.Stop()
	}
	if e.postgres != nil {
		e.postgres.Stop()
	}
}

func (e *Env) secretKey() (string, error) {
	path := filepath.Join(e.Dir, "secret.key")
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read dev secret key: %w", err)
	}
	key := secret.NewKey()
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev secret key: %w", err)
	}
	return key, nil
}

// tokens returns the demo tokens, made once and kept in dir so scripts keep working.
func (e *Env) tokens() (map[string]string, error) {
	path := filepath.Join(e.Dir, "tokens.json")
	tokens := map[string]string{}
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &tokens); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dev tokens: %w", err)
	}
	for _, p := range DemoPrincipals {
		if p.Token != "" && tokens[p.Token] == "" {
			tokens[p.Token] = "dev-" + p.Token + "-" + rand.Text()
		}
	}
	data, _ = json.MarshalIndent(tokens, "", "  ")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write dev tokens: %w", err)
	}
	return tokens, nil
}

func (e *Env) config(listen, key string) *config.Config {
	c := &config.Config{
		Listen:      listen,
		DatabaseURL: e.postgres.URL("behorig"),
		SecretKey:   key,
		TimeZone:    "Europe/Stockholm",
		Sessions:    config.Sessions{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 10 * time.Hour},
		Mail:        config.Mail{Outbox: true},
		SMS:         config.SMS{Outbox: true},
		Audit: config.Audit{CheckpointFile: filepath.Join(e.Dir, "audit-checkpoints.jsonl"),
			CheckpointInterval: 5 * time.Minute},
		TrustedProxies: []string{"127.0.0.0/8", "::1/128"},
		Directory: config.Directory{URL: e.slapd.URL(), BindDN: e.slapd.ServiceDN, BindPassword: e.slapd.ServicePassword,
			BaseDN: e.slapd.BaseDN, PeopleDN: e.slapd.PeopleDN, GroupsDN: e.slapd.GroupsDN, RDNAttribute: "uid",
			Flavour: "openldap"},
	}
	for _, p := range DemoPrincipals {
		if p.Token == "" {
			continue
		}
		sum := sha256.Sum256([]byte(e.Tokens[p.Token]))
		c.Tokens = append(c.Tokens, config.Token{Subject: p.Subject, Name: p.Name, Email: p.Email, Role: string(p.Roles[0]),
			SHA256: hex.EncodeToString(sum[:])})
	}
	return c
}

// ConfigFile is where the dev stack's config is written, for the CLI commands that take
// one (behorig reconcile, behorig audit verify) through BEHORIG_CONFIG.
func (e *Env) ConfigFile() string { return filepath.Join(e.Dir, "behorig.yaml") }

// WriteEnvFile writes the config to ConfigFile and dir/env as shell variables, so that
// scripts and the CLI can drive the stack.
func (e *Env) WriteEnvFile(url string) error {
	data, err := yaml.Marshal(e.Config)
	if err != nil {
		return fmt.Errorf("encode the dev config: %w", err)
	}
	header := "# Written by `behorig dev` at each start: the config of the local stack (dev secrets only).\n"
	if err := os.WriteFile(e.ConfigFile(), append([]byte(header), data...), 0o600); err != nil {
		return fmt.Errorf("write the dev config: %w", err)
	}
	vars := e.vars(url)
	var b strings.Builder
	b.WriteString("# Written by `behorig dev`; source it: . .dev/env\n")
	for _, kv := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return os.WriteFile(filepath.Join(e.Dir, "env"), []byte(b.String()), 0o600)
}

func (e *Env) vars(url string) [][2]string {
	d := e.Config.Directory
	return [][2]string{
		{"BEHORIG_URL", url},
		{"BEHORIG_CONFIG", e.ConfigFile()},
		{"BEHORIG_TOKEN_IT", e.Tokens["it"]},
		{"BEHORIG_TOKEN_MANAGER", e.Tokens["manager"]},
		{"BEHORIG_TOKEN_REQUESTER", e.Tokens["requester"]},
		{"DATABASE_URL", e.Config.DatabaseURL},
		{"LDAP_URL", d.URL},
		{"LDAP_BASE_DN", d.BaseDN},
		{"LDAP_BIND_DN", d.BindDN},
		{"LDAP_BIND_PASSWORD", d.BindPassword},
		{"BEHORIG_IDP_AD_ISSUER", e.IdP.AD.URL()},
		{"BEHORIG_IDP_BANKID_ISSUER", e.IdP.BankID.URL()},
		{"BEHORIG_HR_CLIENT_ID", HRClientID},
		{"BEHORIG_HR_CLIENT_SECRET", e.IdP.HRSecret},
		{"BEHORIG_BANKID_URL", e.BankID.URL},
		{"BEHORIG_DEV_APP_URL", e.App.URL},
		// remote access: RADIUS for radclient, and the demo person who signs in through it
		{"BEHORIG_RADIUS_ADDR", e.Config.RemoteAccess.RADIUS.Listen},
		{"BEHORIG_RADIUS_SECRET", e.Config.RemoteAccess.RADIUS.Clients[0].Secret},
		{"BEHORIG_DEMO_REMOTE_USER", DemoRemotePerson.Username},
		{"BEHORIG_DEMO_REMOTE_PASSWORD", DemoRemotePerson.Password},
		{"BEHORIG_DEMO_REMOTE_MOBILE", demoRemoteMobile()},
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// PrintSummary tells the developer what runs and how to use it.
func (e *Env) PrintSummary(w io.Writer, url string) {
	d := e.Config.Directory
	fmt.Fprintf(w, `
behorig dev is running (Ctrl-C stops everything)

  Sign in      %s/login   (dev IdP: AD %s, BankID %s)
  API          %s/api/v1   (health: %s/healthz)
  PostgreSQL   %s
  LDAP         %s   base %s
               bind %s / %s
  Audit log    checkpoints appended to %s

BankID-appen, the phone (SMS codes) and the e-mail outbox: %s (sign the terms of a request there)

Sign in as Maria Chef, Rolf Beställare, Ingrid IT-handläggare or Ivar IT-administratör (AD), or as
Olle Omsorgschef of an external provider (BankID; Tova Testsson is refused: not registered).

Demo users (bearer tokens):
  IT handler   Ingrid IT-handläggare   %s
  manager      Maria Chef              %s   attests for units 5110 and 5210
  requester    Rolf Beställare         %s

Units: 5000 Vård- och omsorgsförvaltningen, 5110 Hemtjänst Norr, 5120 Hemtjänst Söder,
       5210 Särskilt boende Ekbacken, 5220 Särskilt boende Lindgården

These are also in %s as shell variables:  . %s

Try:
  curl -s -H "Authorization: Bearer $BEHORIG_TOKEN_MANAGER" -H 'Content-Type: application/json' \
    $BEHORIG_URL/api/v1/requests -d '{"person":{"personnummer":"19500118-2046","givenName":"Anna",
    "surname":"Berg","employeeType":"employee"},"unit":"5110","items":[{"system":"meddix"}],"approver":"manager"}'

An HR system's token (client credentials):
  curl -s -u "$BEHORIG_HR_CLIENT_ID:$BEHORIG_HR_CLIENT_SECRET" -d grant_type=client_credentials \
    "$BEHORIG_IDP_AD_ISSUER/token"

`, url, e.IdP.AD.URL(), e.IdP.BankID.URL(), url, url, e.Config.DatabaseURL, d.URL, d.BaseDN, d.BindDN, d.BindPassword,
		e.Config.Audit.CheckpointFile, e.App.URL, e.Tokens["it"], e.Tokens["manager"], e.Tokens["requester"],
		filepath.Join(e.Dir, "env"), filepath.Join(e.Dir, "env"))
	e.printRemoteAccess(w)
}
