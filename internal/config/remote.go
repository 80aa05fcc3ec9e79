package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// RemoteAccess configures remote access (issue 18): the RADIUS server the VPN or Citrix
// gateways ask, and the limits of its second factors.
type RemoteAccess struct {
	// RADIUS is the server; it runs only when Listen is set.
	RADIUS RADIUS `yaml:"radius"`
	// CodeTTL is how long an SMS code works. Default 5m; never over 10m.
	CodeTTL time.Duration `yaml:"code_ttl"`
	// CodeTries is how many times one SMS code may be tried. Default 3.
	CodeTries int `yaml:"code_tries"`
	// MaxFailures locks a person's factor after this many consecutive failed logins; only
	// IT unlocks it. Default 10; never over 100.
	MaxFailures int `yaml:"max_failures"`
	// SMSPerHour bounds the codes sent to one person in an hour (RADIUS and the password
	// page together). Default 5.
	SMSPerHour int `yaml:"sms_per_hour"`
}

// RADIUS is the RADIUS server (UDP) and the gateways allowed to ask it.
type RADIUS struct {
	// Listen is host:port, e.g. 0.0.0.0:1812 (the port defaults to 1812). Empty: no RADIUS
	// server. Env: BEHORIG_RADIUS_ADDR.
	Listen string `yaml:"listen"`
	// Clients are the gateways; a packet from any other source is ignored and logged.
	Clients []RADIUSClient `yaml:"clients"`
	// PasswordTimeout bounds the LDAP bind that checks a password. Default 5s.
	PasswordTimeout time.Duration `yaml:"password_timeout"`
}

// RADIUSClient is one gateway: where its packets come from and the secret it shares.
type RADIUSClient struct {
	Name string `yaml:"name"`
	// Address is the source IP or a CIDR, e.g. 10.1.2.3 or 10.1.2.0/28.
	Address string `yaml:"address"`
	// Secret is the shared secret, at least 16 characters; or SecretFile. Env
	// BEHORIG_RADIUS_SECRET sets the secret of a single client that has none.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// AllowMissingMessageAuthenticator accepts Access-Requests without Message-Authenticator
	// from this client (a migration period for an old gateway; BlastRADIUS applies). Default
	// false: such packets are dropped.
	AllowMissingMessageAuthenticator bool `yaml:"allow_missing_message_authenticator"`
}

// Prefix is the client's address as a prefix (a single address is a /32 or /128).
func (c RADIUSClient) Prefix() (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(c.Address); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(c.Address)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", c.Address)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// SMS is how behorig sends text messages: gateways tried in order, or the dev outbox.
type SMS struct {
	// Gateways are tried in this order; the next is tried when one fails or times out.
	Gateways []SMSGateway `yaml:"gateways"`
	// From is the sender shown on the phone: up to 11 letters and digits, or an E.164
	// number. Default "Behorig".
	From string `yaml:"from"`
	// Timeout bounds each gateway's call. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Outbox keeps messages in the database instead of sending them (dev only).
	Outbox bool `yaml:"outbox"`
}

// SMSGateway is one provider account.
type SMSGateway struct {
	// Provider is 46elks, twilio or http (a generic gateway that takes a form POST).
	Provider string `yaml:"provider"`
	// URL is the API's base: default https://api.46elks.com/a1 for 46elks and
	// https://api.twilio.com/2010-04-01 for twilio; required for http.
	URL string `yaml:"url"`
	// Username is 46elks' API username, Twilio's Account SID, or the http gateway's Basic
	// auth user; Password (or PasswordFile) is its secret.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

var smsProviders = []string{"46elks", "twilio", "http"}

// A sender is what the phone shows: a name of up to 11 letters and digits (the SMS
// standard's alphanumeric sender), or a number of the account in E.164.
var (
	smsSenderName   = regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)
	smsSenderNumber = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// gatewayURL checks an SMS gateway's URL: the codes and the account's password travel in it,
// so only HTTPS, or HTTP to this host (a relay on localhost, the tests' fakes).
func gatewayURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: the codes go over HTTPS only (HTTP only to localhost)", raw)
}

const (
	maxCodeTTL     = 10 * time.Minute
	maxMaxFailures = 100
)

func (c *Config) applyRemoteDefaults() {
	r := &c.RemoteAccess
	if r.CodeTTL == 0 {
		r.CodeTTL = 5 * time.Minute
	}
	if r.CodeTries == 0 {
		r.CodeTries = 3
	}
	if r.MaxFailures == 0 {
		r.MaxFailures = 10
	}
	if r.SMSPerHour == 0 {
		r.SMSPerHour = 5
	}
	if r.RADIUS.PasswordTimeout == 0 {
		r.RADIUS.PasswordTimeout = 5 * time.Second
	}
	defaultTo(&c.SMS.From, "Behorig")
	if c.SMS.Timeout == 0 {
		c.SMS.Timeout = 10 * time.Second
	}
	for i := range c.SMS.Gateways {
		g := &c.SMS.Gateways[i]
		switch g.Provider {
		case "46elks":
			defaultTo(&g.URL, "https://api.46elks.com/a1")
		case "twilio":
			defaultTo(&g.URL, "https://api.twilio.com/2010-04-01")
		}
	}
}

func (c *Config) remoteSecretFiles(read func(dst *string, path, what string) error) []error {
	var errs []error
	for i := range c.RemoteAccess.RADIUS.Clients {
		cl := &c.RemoteAccess.RADIUS.Clients[i]
		errs = append(errs, read(&cl.Secret, cl.SecretFile, fmt.Sprintf("remote_access.radius.clients[%d].secret_file", i)))
	}
	for i := range c.SMS.Gateways {
		g := &c.SMS.Gateways[i]
		errs = append(errs, read(&g.Password, g.PasswordFile, fmt.Sprintf("sms.gateways[%d].password_file", i)))
	}
	return errs
}

func (c *Config) validateRemote() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := c.RemoteAccess
	if r.CodeTTL < 30*time.Second || r.CodeTTL > maxCodeTTL {
		fail("remote_access.code_ttl: %s is outside 30s..10m", r.CodeTTL)
	}
	if r.CodeTries < 1 || r.CodeTries > 10 {
		fail("remote_access.code_tries: %d is outside 1..10", r.CodeTries)
	}
	if r.MaxFailures < 1 || r.MaxFailures > maxMaxFailures {
		fail("remote_access.max_failures: %d is outside 1..%d", r.MaxFailures, maxMaxFailures)
	}
	if r.SMSPerHour < 1 {
		fail("remote_access.sms_per_hour: %d must be at least 1", r.SMSPerHour)
	}
	names := map[string]bool{}
	for i, cl := range r.RADIUS.Clients {
		where := fmt.Sprintf("remote_access.radius.clients[%d]", i)
		if cl.Name == "" {
			fail("%s.name is required", where)
		} else if names[cl.Name] {
			fail("%s.name: %q is used twice", where, cl.Name)
		}
		names[cl.Name] = true
		if _, err := cl.Prefix(); err != nil {
			fail("%s.address: %v", where, err)
		}
		if len(cl.Secret) < 16 {
			fail("%s.secret: at least 16 characters are required (a long random secret per gateway)", where)
		}
	}
	if r.RADIUS.Listen != "" && len(r.RADIUS.Clients) == 0 {
		fail("remote_access.radius.clients: the RADIUS server listens on %s but no gateway may ask it", r.RADIUS.Listen)
	}
	for i, g := range c.SMS.Gateways {
		where := fmt.Sprintf("sms.gateways[%d]", i)
		if !slices.Contains(smsProviders, g.Provider) {
			fail("%s.provider: %q is not one of %v", where, g.Provider, smsProviders)
		}
		if g.URL == "" {
			fail("%s.url is required for provider %q", where, g.Provider)
		} else if err := gatewayURL(g.URL); err != nil {
			fail("%s.url: %v", where, err)
		}
		// 46elks' and Twilio's accounts always have credentials; a relay of one's own may not.
		if g.Provider != "http" && (g.Username == "" || g.Password == "") {
			fail("%s: username and password (or password_file) are required for %s", where, g.Provider)
		}
	}
	if c.SMS.Outbox && len(c.SMS.Gateways) > 0 {
		fail("sms.outbox keeps the codes in the database instead of sending them (behorig dev only): remove it, or the gateways")
	}
	if !smsSenderName.MatchString(c.SMS.From) && !smsSenderNumber.MatchString(c.SMS.From) {
		fail("sms.from: %q is neither a sender name (up to 11 letters and digits) nor a number (+46…)", c.SMS.From)
	}
	return errs
}
