// Package config reads behorig's one YAML file, applies environment overrides and validates
// the result, reporting every problem at once so that an operator fixes them in one go.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
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
	// Workers is how many jobs run at once. Default 10.
	Workers int `yaml:"workers"`
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
}

// Token is one static API token. Only its SHA-256 is kept, so the config file is not a secret
// that grants access.
type Token struct {
	Subject string `yaml:"subject"` // stable id of the principal, e.g. "it-handler"
	Name    string `yaml:"name"`    // display name
	Email   string `yaml:"email"`
	Role    string `yaml:"role"`   // it, manager or requester
	SHA256  string `yaml:"sha256"` // hex SHA-256 of the token
}

// Roles a token may carry. Attestation rights come from the units' managers, not from here.
const (
	RoleIT        = "it"
	RoleManager   = "manager"
	RoleRequester = "requester"
)

// Load reads the file (when path is non-empty), applies the environment and validates.
func Load(path string) (*Config, error) {
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
	if err := c.resolveFiles(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
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
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.TimeZone == "" {
		c.TimeZone = "Europe/Stockholm"
	}
	if c.Workers == 0 {
		c.Workers = 10
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
}

func (c *Config) resolveFiles() error {
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
	return errors.Join(
		read(&c.SecretKey, c.SecretKeyFile, "secret_key_file"),
		read(&c.Directory.BindPassword, c.Directory.BindPasswordFile, "directory.bind_password_file"),
	)
}

// Validate returns every problem with the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		fail("listen: %q is not host:port", c.Listen)
	}
	if c.DatabaseURL == "" {
		fail("database_url: required (or BEHORIG_DATABASE_URL)")
	}
	if c.SecretKey == "" {
		fail("secret_key: required (or BEHORIG_SECRET_KEY or secret_key_file); make one with `behorig keygen`")
	} else if _, err := secret.ParseKey(c.SecretKey); err != nil {
		fail("secret_key: %v", err)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		fail("time_zone: %v", err)
	}
	if c.Workers < 1 {
		fail("workers: must be at least 1")
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
	errs = append(errs, c.validateTokens()...)
	return errors.Join(errs...)
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
		switch t.Role {
		case RoleIT, RoleManager, RoleRequester:
		default:
			errs = append(errs, fmt.Errorf("%s.role: %q must be it, manager or requester", at, t.Role))
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

// Location returns the configured time zone; Validate has checked it.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}
