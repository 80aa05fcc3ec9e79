// Package config reads behorig's one YAML file, applies environment overrides and validates
// the result, reporting every problem at once so that an operator fixes them in one go.
package config

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/behorig/behorig/internal/secret"
)

// Config is the whole configuration of one behorig process.
type Config struct {
	// Listen is the address of the HTTP server. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// DatabaseURL is the PostgreSQL connection string. Env: BEHORIG_DATABASE_URL.
	DatabaseURL string `yaml:"database_url"`
	// SecretKey is the base64 master key that encrypts personnummer at rest and keys the
	// blind index. Env: BEHORIG_SECRET_KEY. Or SecretKeyFile, a file holding it.
	SecretKey     string `yaml:"secret_key"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// TimeZone decides when a date begins and ends. Default Europe/Stockholm.
	TimeZone string `yaml:"time_zone"`
	// Directory is the LDAP directory accounts and groups are provisioned to.
	Directory Directory `yaml:"directory"`
	// Tokens are static API bearer tokens, stored as SHA-256 hashes.
	Tokens []Token `yaml:"tokens"`
	// Workers was the one worker count of all jobs; jobs.queues replaced it. Read only to say
	// so clearly instead of "unknown field".
	Workers int `yaml:"workers"`
	// Database sizes the connection pools of the web and of the jobs.
	Database Database `yaml:"database"`
	// Jobs bounds how long jobs run and how soon a crashed process's jobs run again, and
	// how many run at once in each queue.
	Jobs Jobs `yaml:"jobs"`
	// BaseURL is where browsers reach behorig, e.g. https://behorig.kommun.se; OIDC redirect
	// URIs are made from it and session cookies are Secure when it is https.
	// Default http://localhost plus the listen port. Env: BEHORIG_BASE_URL.
	BaseURL string `yaml:"base_url"`
	// TrustedProxies are the reverse proxies (CIDRs) whose X-Forwarded-For names the client,
	// e.g. for BankID's endUserIp. Default loopback only.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Sessions bounds how long a browser session lasts.
	Sessions Sessions `yaml:"sessions"`
	// IdentityProviders are the OpenID Providers people sign in with.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`
	// Mail is how behorig sends e-mail, such as the link to sign the terms.
	Mail Mail `yaml:"mail"`
	// BankID is the RP API the person signs the terms with. Without it, only paper forms.
	BankID BankID `yaml:"bankid"`
	// APIClients are integrations (an HR system) that call the API with access tokens from an
	// identity provider's client-credentials flow.
	APIClients []APIClient `yaml:"api_clients"`
	// Audit says where checkpoints of the audit log go, and how often.
	Audit Audit `yaml:"audit"`
	// RemoteAccess is the RADIUS server for VPN and Citrix gateways and its factors' limits.
	RemoteAccess RemoteAccess `yaml:"remote_access"`
	// SMS sends one-time codes: gateways in order, or the dev outbox.
	SMS SMS `yaml:"sms"`
}

// Database sizes the two connection pools. The web (pages, sign-in, the API, /readyz) and the
// jobs have a pool each, so that no burst of jobs, and no job waiting for the outside world,
// can take the connections the web needs: the web's pool is its reserve.
type Database struct {
	// WebConnections is the web's pool. Default max(16, 4 × CPUs): a page or an API call
	// holds a connection for milliseconds, so 16 serve hundreds of requests a second.
	WebConnections int `yaml:"web_connections"`
	// JobConnections is the jobs' pool: every worker and River's own work (fetching,
	// completing, notifications, leader election). Default the workers of all queues plus
	// RiverConnections, so that each running job can have one; at least the workers plus 2.
	JobConnections int `yaml:"job_connections"`
}

// RiverConnections are the connections River needs beside its workers: its LISTEN
// connection, fetching and completing jobs, and the leader's maintenance.
const RiverConnections = 4

// Queues are how many jobs of each queue run at once in this process. A queue per outside
// party keeps a hung party from holding the workers of the others: a hung directory fills
// the directory queue, and e-mail and signing go on.
type Queues struct {
	// Default runs the audit sealer and checkpoints and reconciliation. Default 2.
	Default int `yaml:"default"`
	// Directory runs provisioning, revocation and convergence: everything that writes to
	// the directory. Default 8; the directory connector sends one operation at a time, so
	// more mostly wait for each other.
	Directory int `yaml:"directory"`
	// Mail sends the terms e-mails. Default 4.
	Mail int `yaml:"mail"`
	// Signing collects BankID orders (each collects once and snoozes). Default 5.
	Signing int `yaml:"signing"`
}

// Total is how many jobs may run at once.
func (q Queues) Total() int { return q.Default + q.Directory + q.Mail + q.Signing }

// WithDefaults gives each queue left at zero its default worker count.
func (q Queues) WithDefaults() Queues {
	q.Default = cmp.Or(q.Default, 2)
	q.Directory = cmp.Or(q.Directory, 8)
	q.Mail = cmp.Or(q.Mail, 4)
	q.Signing = cmp.Or(q.Signing, 5)
	return q
}

// WithDefaults gives each pool left at zero its default size, the jobs' from the queues.
func (d Database) WithDefaults(q Queues) Database {
	d.WebConnections = cmp.Or(d.WebConnections, max(16, 4*runtime.NumCPU()))
	d.JobConnections = cmp.Or(d.JobConnections, q.Total()+RiverConnections)
	return d
}

// Jobs are the timeouts of the durable jobs and the interval of reconciliation.
type Jobs struct {
	// Queues are the worker counts per queue.
	Queues Queues `yaml:"queues"`
	// Timeout ends a job that runs longer (a hung directory call). Default 2m.
	Timeout time.Duration `yaml:"timeout"`
	// RescueAfter is when a job still marked running, because the process that ran it died,
	// is run again. Longer than Timeout. Default 5m.
	RescueAfter time.Duration `yaml:"rescue_after"`
	// ReconcileInterval is how often the directory is compared with the grants and repaired.
	// Default 15m.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
}

// Audit configures the checkpoints of the audit log: signed statements of its newest event,
// kept outside the database, which reveal deleted newest events.
type Audit struct {
	// CheckpointFile is the file checkpoints are appended to, one JSON line each; put it out of
	// reach of whoever can change the database. Without it checkpoints are only in the log.
	// Env: BEHORIG_AUDIT_CHECKPOINT_FILE.
	CheckpointFile string `yaml:"checkpoint_file"`
	// CheckpointInterval is how often a checkpoint is written when the log has grown: events
	// deleted since the last checkpoint go unseen. Default 5m.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

// Scope is the part of the config a command needs. LoadFor reads and checks only that part,
// so that `behorig audit verify` runs where there is the database and the secret key and
// nothing else.
type Scope int

const (
	// ScopeServe is everything: what `behorig serve` needs.
	ScopeServe Scope = iota
	// ScopeAudit is database_url, the secret key and the audit section.
	ScopeAudit
)

// Mail configures the SMTP server, or the outbox of `behorig dev`.
type Mail struct {
	SMTPAddr     string `yaml:"smtp_addr"` // host:port, e.g. smtp.kommun.se:587; env BEHORIG_SMTP_ADDR
	From         string `yaml:"from"`      // e.g. "Behörig <behorig@kommun.se>"; env BEHORIG_MAIL_FROM
	Username     string `yaml:"username"`
	Password     string `yaml:"password"` // or BEHORIG_SMTP_PASSWORD, or password_file
	PasswordFile string `yaml:"password_file"`
	Security     string `yaml:"security"` // starttls (default), tls or none
	// Outbox keeps e-mail in the database instead of sending it (dev only).
	Outbox bool `yaml:"outbox"`
	// TermsLinkTTL is how long a link to sign the terms works. Default 14 days.
	TermsLinkTTL time.Duration `yaml:"terms_link_ttl"`
	// ApprovalDigest also sends each approver, once a day at ApprovalDigestAt ("HH:MM" in
	// the service's time zone, default 07:00), the list of the requests waiting for them.
	ApprovalDigest   bool   `yaml:"approval_digest"`
	ApprovalDigestAt string `yaml:"approval_digest_at"`
}

// DigestAt is the time of day of the approvers' digest, as an offset from midnight.
func (m Mail) DigestAt() (time.Duration, error) {
	if m.ApprovalDigestAt == "" {
		return 7 * time.Hour, nil
	}
	t, err := time.Parse("15:04", m.ApprovalDigestAt)
	if err != nil {
		return 0, fmt.Errorf("mail.approval_digest_at: %q is not a time of day such as 07:00", m.ApprovalDigestAt)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// BankID configures the RP API v6.0 client: the environment's URL, the RP certificate (PEM
// files or a PKCS#12 file) and BankID's CA certificate, which is pinned.
type BankID struct {
	URL             string        `yaml:"url"` // https://appapi2.test.bankid.com/rp/v6.0 or the production URL
	CertFile        string        `yaml:"cert_file"`
	KeyFile         string        `yaml:"key_file"`
	P12File         string        `yaml:"p12_file"`
	P12Password     string        `yaml:"p12_password"` // or BEHORIG_BANKID_P12_PASSWORD, or the file
	P12PasswordFile string        `yaml:"p12_password_file"`
	CAFile          string        `yaml:"ca_file"`
	Timeout         time.Duration `yaml:"timeout"` // each call; default 10s
}

// Sessions are the timeouts of browser sessions.
type Sessions struct {
	IdleTimeout     time.Duration `yaml:"idle_timeout"`     // default 30m
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"` // default 10h
}

// IdentityProvider is one OpenID Provider.
type IdentityProvider struct {
	// ID names the IdP in URLs, config and audit events: [a-z0-9-].
	ID string `yaml:"id"`
	// Label is the sign-in button, e.g. "Logga in med AD-konto".
	Label            string   `yaml:"label"`
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"` // or BEHORIG_IDP_<ID>_CLIENT_SECRET, or the file
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"` // default openid profile email
	Claims           Claims   `yaml:"claims"`
	// Roles maps values of the groups claim to behorig roles (requester, it_handler,
	// it_admin); DefaultRoles are given to everyone who signs in (default requester).
	Roles        map[string]string `yaml:"roles"`
	DefaultRoles []string          `yaml:"default_roles"`
	// KnownUsersOnly refuses a subject behorig has no principal for, instead of creating one.
	KnownUsersOnly bool `yaml:"known_users_only"`
	// Unit is the ansvarskod new principals from this IdP belong to (an external provider).
	Unit string `yaml:"unit"`
	// ACRValues, when set, are requested at sign-in and the ID token's acr must be one of
	// them: a broker offering several eIDs is pinned to the accepted ones (e.g. BankID).
	ACRValues []string `yaml:"acr_values"`
}

// Claims names the ID token claims that carry each value. BankID brokers differ in what they
// call the personnummer, so it is configurable.
type Claims struct {
	Subject      string `yaml:"subject"` // default sub
	Name         string `yaml:"name"`    // default name
	Email        string `yaml:"email"`   // default email
	Personnummer string `yaml:"personnummer"`
	Groups       string `yaml:"groups"`
}

// APIClient maps an OAuth 2 client of an identity provider to a role.
type APIClient struct {
	IdP      string `yaml:"idp"`       // id of an identity provider
	Audience string `yaml:"audience"`  // the aud access tokens must carry
	ClientID string `yaml:"client_id"` // the value of the client claim
	// ClientClaim names the claim that identifies the client: client_id (RFC 9068, the
	// default), or azp for IdPs such as Entra ID. Tokens with a nonce (ID tokens) are refused
	// whatever this says.
	ClientClaim string `yaml:"client_claim"`
	Role        string `yaml:"role"`
	Name        string `yaml:"name"`
}

// Directory configures the LDAP connector.
type Directory struct {
	URL              string        `yaml:"url"`           // env BEHORIG_LDAP_URL
	BindDN           string        `yaml:"bind_dn"`       // env BEHORIG_LDAP_BIND_DN
	BindPassword     string        `yaml:"bind_password"` // env BEHORIG_LDAP_BIND_PASSWORD
	BindPasswordFile string        `yaml:"bind_password_file"`
	BaseDN           string        `yaml:"base_dn"` // env BEHORIG_LDAP_BASE_DN
	PeopleDN         string        `yaml:"people_dn"`
	GroupsDN         string        `yaml:"groups_dn"`
	RDNAttribute     string        `yaml:"rdn_attribute"` // uid (default) or cn
	Timeout          time.Duration `yaml:"timeout"`       // default 10s
	Flavour          string        `yaml:"flavour"`       // openldap (default)
	// IdentityAttribute holds the personnummer on directory entries (e.g. employeeNumber):
	// written on the accounts behorig creates, and read to link an existing entry to the
	// person it names. Optional.
	IdentityAttribute string `yaml:"identity_attribute"`
}

// Token is one static API token. Only its SHA-256 is kept, so the config file is not a secret
// that grants access.
type Token struct {
	Subject string `yaml:"subject"` // stable id of the principal, e.g. "it-handler"
	Name    string `yaml:"name"`    // display name
	Email   string `yaml:"email"`
	Role    string `yaml:"role"`   // requester, it_handler or it_admin
	SHA256  string `yaml:"sha256"` // hex SHA-256 of the token
}

// roles are what a token, an IdP group or an API client may map to. Attestation rights come
// from the units' managers, not from here.
var roles = []string{"requester", "it_handler", "it_admin"}

// Load reads the file (when path is non-empty), applies the environment and validates.
func Load(path string) (*Config, error) {
	return LoadFor(path, ScopeServe)
}

// LoadFor is Load for a command that needs only the scope's part of the config.
func LoadFor(path string, scope Scope) (*Config, error) {
	var c Config
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	c.applyEnv(os.Getenv)
	c.applyDefaults()
	if err := c.resolveFiles(scope); err != nil {
		return nil, err
	}
	if err := c.ValidateFor(scope); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	set := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set(&c.Listen, "BEHORIG_LISTEN")
	set(&c.DatabaseURL, "BEHORIG_DATABASE_URL")
	set(&c.SecretKey, "BEHORIG_SECRET_KEY")
	set(&c.Directory.URL, "BEHORIG_LDAP_URL")
	set(&c.Directory.BindDN, "BEHORIG_LDAP_BIND_DN")
	set(&c.Directory.BindPassword, "BEHORIG_LDAP_BIND_PASSWORD")
	set(&c.Directory.BaseDN, "BEHORIG_LDAP_BASE_DN")
	set(&c.BaseURL, "BEHORIG_BASE_URL")
	set(&c.Mail.SMTPAddr, "BEHORIG_SMTP_ADDR")
	set(&c.Mail.From, "BEHORIG_MAIL_FROM")
	set(&c.Mail.Password, "BEHORIG_SMTP_PASSWORD")
	set(&c.BankID.P12Password, "BEHORIG_BANKID_P12_PASSWORD")
	set(&c.Audit.CheckpointFile, "BEHORIG_AUDIT_CHECKPOINT_FILE")
	set(&c.RemoteAccess.RADIUS.Listen, "BEHORIG_RADIUS_ADDR")
	if cl := c.RemoteAccess.RADIUS.Clients; len(cl) == 1 && cl[0].Secret == "" && cl[0].SecretFile == "" {
		set(&cl[0].Secret, "BEHORIG_RADIUS_SECRET")
	}
	for i := range c.IdentityProviders {
		idp := &c.IdentityProviders[i]
		set(&idp.ClientSecret, "BEHORIG_IDP_"+strings.ToUpper(strings.ReplaceAll(idp.ID, "-", "_"))+"_CLIENT_SECRET")
	}
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.TimeZone == "" {
		c.TimeZone = "Europe/Stockholm"
	}
	c.Jobs.Queues = c.Jobs.Queues.WithDefaults()
	c.Database = c.Database.WithDefaults(c.Jobs.Queues)
	if c.Jobs.Timeout == 0 {
		c.Jobs.Timeout = 2 * time.Minute
	}
	if c.Jobs.RescueAfter == 0 {
		c.Jobs.RescueAfter = 5 * time.Minute
	}
	if c.Jobs.ReconcileInterval == 0 {
		c.Jobs.ReconcileInterval = 15 * time.Minute
	}
	if c.BaseURL == "" {
		if _, port, err := net.SplitHostPort(c.Listen); err == nil {
			c.BaseURL = "http://localhost:" + port
		}
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.TrustedProxies == nil {
		c.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	}
	if c.Sessions.IdleTimeout == 0 {
		c.Sessions.IdleTimeout = 30 * time.Minute
	}
	if c.Sessions.AbsoluteTimeout == 0 {
		c.Sessions.AbsoluteTimeout = 10 * time.Hour
	}
	for i := range c.IdentityProviders {
		idp := &c.IdentityProviders[i]
		if len(idp.Scopes) == 0 {
			idp.Scopes = []string{"openid", "profile", "email"}
		}
		if idp.DefaultRoles == nil {
			idp.DefaultRoles = []string{"requester"}
		}
		defaultTo(&idp.Claims.Subject, "sub")
		defaultTo(&idp.Claims.Name, "name")
		defaultTo(&idp.Claims.Email, "email")
		defaultTo(&idp.Label, idp.ID)
	}
	d := &c.Directory
	if d.PeopleDN == "" && d.BaseDN != "" {
		d.PeopleDN = "ou=people," + d.BaseDN
	}
	if d.GroupsDN == "" && d.BaseDN != "" {
		d.GroupsDN = "ou=groups," + d.BaseDN
	}
	if d.RDNAttribute == "" {
		d.RDNAttribute = "uid"
	}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Flavour == "" {
		d.Flavour = "openldap"
	}
	if c.Audit.CheckpointInterval == 0 {
		c.Audit.CheckpointInterval = 5 * time.Minute
	}
	c.applyRemoteDefaults()
}

func defaultTo(dst *string, value string) {
	if *dst == "" {
		*dst = value
	}
}

func (c *Config) resolveFiles(scope Scope) error {
	read := func(dst *string, path, what string) error {
		if path == "" || *dst != "" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		*dst = strings.TrimSpace(string(data))
		return nil
	}
	if err := read(&c.SecretKey, c.SecretKeyFile, "secret_key_file"); err != nil || scope == ScopeAudit {
		return err
	}
	errs := []error{
		read(&c.Directory.BindPassword, c.Directory.BindPasswordFile, "directory.bind_password_file"),
		read(&c.Mail.Password, c.Mail.PasswordFile, "mail.password_file"),
		read(&c.BankID.P12Password, c.BankID.P12PasswordFile, "bankid.p12_password_file"),
	}
	errs = append(errs, c.remoteSecretFiles(read)...)
	for i := range c.IdentityProviders {
		idp := &c.IdentityProviders[i]
		errs = append(errs, read(&idp.ClientSecret, idp.ClientSecretFile, fmt.Sprintf("identity_providers[%d].client_secret_file", i)))
	}
	return errors.Join(errs...)
}

// Validate returns every problem with the configuration, joined.
func (c *Config) Validate() error {
	return c.ValidateFor(ScopeServe)
}

// ValidateFor returns every problem with the scope's part of the configuration, joined.
func (c *Config) ValidateFor(scope Scope) error {
	errs := c.validateAuditScope()
	if scope == ScopeServe {
		errs = append(errs, c.validateService()...)
		errs = append(errs, c.validateRemote()...)
	}
	return errors.Join(errs...)
}

// validateAuditScope checks what reading and checkpointing the audit log need.
func (c *Config) validateAuditScope() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DatabaseURL == "" {
		fail("database_url: required (or BEHORIG_DATABASE_URL)")
	}
	if c.SecretKey == "" {
		fail("secret_key: required (or BEHORIG_SECRET_KEY or secret_key_file); make one with `behorig keygen`")
	} else if _, err := secret.ParseKey(c.SecretKey); err != nil {
		fail("secret_key: %v", err)
	}
	if info, err := os.Stat(c.Audit.CheckpointFile); err == nil && info.IsDir() {
		fail("audit.checkpoint_file: %s is a directory; name a file in it", c.Audit.CheckpointFile)
	}
	if i := c.Audit.CheckpointInterval; i < time.Minute || i > 24*time.Hour {
		fail("audit.checkpoint_interval: %s must be from 1m to 24h", i)
	}
	return errs
}

func (c *Config) validateService() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		fail("listen: %q is not host:port", c.Listen)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		fail("time_zone: %v", err)
	}
	if c.Workers != 0 {
		fail("workers: replaced by jobs.queues (default, directory, mail, signing: workers per queue); remove it")
	}
	q := c.Jobs.Queues
	for name, n := range map[string]int{"default": q.Default, "directory": q.Directory, "mail": q.Mail, "signing": q.Signing} {
		if n < 1 || n > 1000 {
			fail("jobs.queues.%s: %d workers; must be from 1 to 1000", name, n)
		}
	}
	if c.Database.WebConnections < 2 {
		fail("database.web_connections: %d; must be at least 2", c.Database.WebConnections)
	}
	if c.Database.JobConnections < q.Total()+2 {
		fail("database.job_connections: %d is fewer than the %d workers of jobs.queues plus 2 for River itself",
			c.Database.JobConnections, q.Total())
	}
	if c.Jobs.Timeout < time.Second {
		fail("jobs.timeout: must be at least 1s")
	}
	if c.Jobs.RescueAfter <= c.Jobs.Timeout {
		fail("jobs.rescue_after: %s must be longer than jobs.timeout %s, or a running job would be run twice",
			c.Jobs.RescueAfter, c.Jobs.Timeout)
	}
	if c.Jobs.ReconcileInterval < time.Minute {
		fail("jobs.reconcile_interval: must be at least 1m")
	}
	d := c.Directory
	if d.URL == "" {
		fail("directory.url: required")
	} else if !strings.HasPrefix(d.URL, "ldap://") && !strings.HasPrefix(d.URL, "ldaps://") {
		fail("directory.url: %q must start with ldap:// or ldaps://", d.URL)
	}
	if d.BaseDN == "" {
		fail("directory.base_dn: required")
	}
	if d.RDNAttribute != "uid" && d.RDNAttribute != "cn" {
		fail("directory.rdn_attribute: %q must be uid or cn", d.RDNAttribute)
	}
	if d.Flavour != "openldap" {
		fail("directory.flavour: %q is not supported (openldap)", d.Flavour)
	}
	if d.IdentityAttribute != "" && !attributeName.MatchString(d.IdentityAttribute) {
		fail("directory.identity_attribute: %q is not an LDAP attribute name", d.IdentityAttribute)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		fail("base_url: %q must be http(s)://host[:port] without a path", c.BaseURL)
	}
	for i, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			fail("trusted_proxies[%d]: %q is not a CIDR such as 10.0.0.0/8", i, p)
		}
	}
	if c.Sessions.IdleTimeout < time.Minute || c.Sessions.AbsoluteTimeout < c.Sessions.IdleTimeout {
		fail("sessions: idle_timeout must be at least 1m and absolute_timeout at least idle_timeout")
	}
	if !c.Mail.Outbox && (c.Mail.SMTPAddr == "" || c.Mail.From == "") {
		fail("mail: smtp_addr and from are required, so that the links to sign the terms reach people")
	}
	if _, err := c.Mail.DigestAt(); err != nil {
		fail("%v", err)
	}
	if c.Mail.Outbox && (c.Mail.SMTPAddr != "") {
		fail("mail: outbox keeps e-mail instead of sending it; choose it or smtp_addr, not both")
	}
	if b := c.BankID; b.URL != "" {
		if !strings.HasPrefix(b.URL, "https://") {
			fail("bankid.url: %q must be https", b.URL)
		}
		if (b.P12File == "") == (b.CertFile == "" || b.KeyFile == "") {
			fail("bankid: give either cert_file and key_file or p12_file")
		}
		if b.CAFile == "" {
			fail("bankid.ca_file: required: BankID's CA certificate is pinned")
		}
	}
	errs = append(errs, c.validateTokens()...)
	return append(errs, c.validateIdentityProviders()...)
}

func (c *Config) validateTokens() []error {
	var errs []error
	subjects := map[string]bool{}
	hashes := map[string]bool{}
	for i, t := range c.Tokens {
		at := fmt.Sprintf("tokens[%d]", i)
		if t.Subject == "" {
			errs = append(errs, fmt.Errorf("%s.subject: required", at))
		} else if subjects[t.Subject] {
			errs = append(errs, fmt.Errorf("%s.subject: %q is used twice", at, t.Subject))
		}
		subjects[t.Subject] = true
		if !slices.Contains(roles, t.Role) {
			errs = append(errs, fmt.Errorf("%s.role: %q must be one of %s", at, t.Role, strings.Join(roles, ", ")))
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("%s.sha256: must be 64 hex digits (the SHA-256 of the token, not the token)", at))
		} else if hashes[strings.ToLower(t.SHA256)] {
			errs = append(errs, fmt.Errorf("%s.sha256: the same token is configured twice", at))
		}
		hashes[strings.ToLower(t.SHA256)] = true
	}
	return errs
}

var attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

var idpID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func (c *Config) validateIdentityProviders() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ids := map[string]bool{}
	for i, idp := range c.IdentityProviders {
		at := fmt.Sprintf("identity_providers[%d]", i)
		if !idpID.MatchString(idp.ID) {
			fail("%s.id: %q must be 1–32 of a-z, 0-9 and -", at, idp.ID)
		} else if ids[idp.ID] {
			fail("%s.id: %q is used twice", at, idp.ID)
		}
		ids[idp.ID] = true
		if u, err := url.Parse(idp.Issuer); err != nil || (u.Scheme != "https" && !isLoopback(u.Hostname())) {
			fail("%s.issuer: %q must be an https URL (http only on localhost)", at, idp.Issuer)
		}
		if idp.ClientID == "" {
			fail("%s.client_id: required", at)
		}
		if idp.ClientSecret == "" {
			fail("%s.client_secret: required (or BEHORIG_IDP_%s_CLIENT_SECRET or client_secret_file)", at,
				strings.ToUpper(strings.ReplaceAll(idp.ID, "-", "_")))
		}
		if !slices.Contains(idp.Scopes, "openid") {
			fail("%s.scopes: must include openid", at)
		}
		for value, role := range idp.Roles {
			if !slices.Contains(roles, role) {
				fail("%s.roles[%q]: %q must be one of %s", at, value, role, strings.Join(roles, ", "))
			}
		}
		if len(idp.Roles) > 0 && idp.Claims.Groups == "" {
			fail("%s.roles: maps groups to roles, but claims.groups names no claim to read them from", at)
		}
		for _, role := range idp.DefaultRoles {
			if !slices.Contains(roles, role) {
				fail("%s.default_roles: %q must be one of %s", at, role, strings.Join(roles, ", "))
			}
		}
	}
	for i, client := range c.APIClients {
		at := fmt.Sprintf("api_clients[%d]", i)
		if !ids[client.IdP] {
			fail("%s.idp: %q is not an identity provider in identity_providers", at, client.IdP)
		}
		if client.Audience == "" {
			fail("%s.audience: required: the aud the IdP puts in access tokens for behorig", at)
		}
		if client.ClientID == "" {
			fail("%s.client_id: required", at)
		}
		if client.ClientClaim != "" && client.ClientClaim != "client_id" && client.ClientClaim != "azp" {
			fail("%s.client_claim: %q must be client_id or azp", at, client.ClientClaim)
		}
		if !slices.Contains(roles, client.Role) {
			fail("%s.role: %q must be one of %s", at, client.Role, strings.Join(roles, ", "))
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Proxies returns the trusted proxies; Validate has checked them.
func (c *Config) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if prefix, err := netip.ParsePrefix(p); err == nil {
			out = append(out, prefix)
		}
	}
	return out
}

// Location returns the configured time zone; Validate has checked it.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}
