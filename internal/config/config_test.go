package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/secret"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "behorig.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadValid(t *testing.T) {
	path := writeConfig(t, `
database_url: postgres://localhost/behorig
secret_key: `+secret.NewKey()+`
directory:
  url: ldap://127.0.0.1:389
  base_dn: dc=example,dc=org
mail: {smtp_addr: "smtp.kommun.se:587", from: behorig@kommun.se}
tokens:
  - subject: it
    role: it_handler
    sha256: `+strings.Repeat("ab", 32)+`
`)
	t.Setenv("BEHORIG_LDAP_URL", "ldaps://ldap.example.org")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Directory.URL != "ldaps://ldap.example.org" {
		t.Errorf("environment did not override directory.url: %q", c.Directory.URL)
	}
	if c.Directory.PeopleDN != "ou=people,dc=example,dc=org" || c.Listen != "127.0.0.1:8080" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoadListsEveryError(t *testing.T) {
	path := writeConfig(t, `
secret_key: c2hvcnQ=
time_zone: Mars/Olympus
directory:
  url: http://x
  rdn_attribute: sn
tokens:
  - subject: a
    role: boss
    sha256: not-hex
base_url: localhost:8080/behorig
sessions: {idle_timeout: 10s}
identity_providers:
  - id: AD
    issuer: http://adfs.kommun.se/adfs
    scopes: [profile]
    roles: {behorig-it: wizard}
  - id: bankid
    issuer: https://broker.example
    client_id: behorig
    client_secret: s
    default_roles: [manager]
api_clients:
  - idp: hr
    client_id: hr-system
    role: it
audit: {checkpoint_file: `+t.TempDir()+`, checkpoint_interval: 10s}
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"database_url", "secret_key", "time_zone", "directory.url", "directory.base_dn",
		"directory.rdn_attribute", "tokens[0].role", "tokens[0].sha256", "base_url", "sessions",
		"identity_providers[0].id", "identity_providers[0].issuer", "identity_providers[0].client_id",
		"identity_providers[0].client_secret", "identity_providers[0].scopes", `identity_providers[0].roles["behorig-it"]`,
		"identity_providers[0].roles: maps groups", "identity_providers[1].default_roles",
		"api_clients[0].idp", "api_clients[0].audience", "api_clients[0].role",
		"audit.checkpoint_file", "audit.checkpoint_interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestIdentityProviderSecretFromEnvironment(t *testing.T) {
	path := writeConfig(t, `
database_url: postgres://localhost/behorig
secret_key: `+secret.NewKey()+`
directory:
  url: ldap://127.0.0.1:389
  base_dn: dc=example,dc=org
mail: {outbox: true}
identity_providers:
  - id: ad-staff
    issuer: https://adfs.kommun.se/adfs
    client_id: behorig
`)
	t.Setenv("BEHORIG_IDP_AD_STAFF_CLIENT_SECRET", "från-miljön")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	idp := c.IdentityProviders[0]
	if idp.ClientSecret != "från-miljön" || idp.Claims.Subject != "sub" || idp.Label != "ad-staff" ||
		!slices.Equal(idp.DefaultRoles, []string{"requester"}) || c.BaseURL != "http://localhost:8080" {
		t.Fatalf("secret or defaults not applied: %+v, base %s", idp, c.BaseURL)
	}
}

// `behorig audit verify` needs the database and the secret key, not the directory, mail or
// the files of their secrets.
func TestLoadForAudit(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(keyFile, []byte(secret.NewKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
database_url: postgres://localhost/behorig
secret_key_file: `+keyFile+`
directory: {bind_password_file: /nonexistent/ldap.pw}
`)
	t.Setenv("BEHORIG_AUDIT_CHECKPOINT_FILE", "/var/lib/behorig/audit-checkpoints.jsonl")
	if _, err := Load(path); err == nil {
		t.Fatal("the whole config loaded without a directory or mail; the test is wrong")
	}
	c, err := LoadFor(path, ScopeAudit)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.CheckpointFile != "/var/lib/behorig/audit-checkpoints.jsonl" || c.Audit.CheckpointInterval != 5*time.Minute {
		t.Fatalf("audit section: %+v; want the file from the environment and the default interval", c.Audit)
	}
	if _, err := LoadFor(writeConfig(t, "database_url: postgres://localhost/behorig\n"), ScopeAudit); err == nil ||
		!strings.Contains(err.Error(), "secret_key") {
		t.Fatalf("audit scope without a secret key: %v", err)
	}
}

func TestUnknownFieldRejected(t *testing.T) {
	if _, err := Load(writeConfig(t, "databse_url: x\n")); err == nil || !strings.Contains(err.Error(), "databse_url") {
		t.Fatalf("a misspelt key was not named: %v", err)
	}
}

// The README's example must stay a config that loads.
func TestREADMEExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The whole example is the yaml block with database_url; others show one section.
	var example string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if b, _, _ := strings.Cut(block, "```"); strings.Contains(b, "database_url:") {
			example = b
		}
	}
	if example == "" {
		t.Fatal("README has no whole yaml example")
	}
	dir := t.TempDir()
	for _, name := range []string{"secret.key", "ldap.pw", "adfs.secret", "broker.secret", "smtp.pw"} {
		value := "hemligt"
		if name == "secret.key" {
			value = secret.NewKey()
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	example = strings.ReplaceAll(example, "/etc/behorig", dir)
	example = strings.ReplaceAll(example, "<sha256 of the token in hex>", strings.Repeat("cd", 32))
	c, err := Load(writeConfig(t, example))
	if err != nil {
		t.Fatalf("the README's example does not load: %v", err)
	}
	if len(c.IdentityProviders) != 2 || c.IdentityProviders[1].Claims.Personnummer != "personal_number" || len(c.APIClients) != 1 {
		t.Fatalf("example loaded as %+v", c)
	}
}

// The pools are sized from the queues unless given: the jobs' pool has a connection for each
// worker and River's own, and too small a jobs' pool is refused with its reason.
func TestPoolsAndQueues(t *testing.T) {
	base := `
database_url: postgres://localhost/behorig
secret_key: ` + secret.NewKey() + `
directory: {url: "ldap://127.0.0.1:389", base_dn: "dc=example,dc=org"}
mail: {smtp_addr: "smtp.kommun.se:587", from: behorig@kommun.se}
`
	c, err := Load(writeConfig(t, base))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Jobs.Queues
	if q != (Queues{Default: 2, Directory: 8, Mail: 4, Signing: 5}) {
		t.Errorf("default queues %+v", q)
	}
	if c.Database.JobConnections != q.Total()+RiverConnections || c.Database.WebConnections < 16 {
		t.Errorf("default pools %+v for %d workers", c.Database, q.Total())
	}
	c, err = Load(writeConfig(t, base+"jobs: {queues: {directory: 20}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.JobConnections != 2+20+4+5+RiverConnections {
		t.Errorf("jobs' pool %d does not follow the queues %+v", c.Database.JobConnections, c.Jobs.Queues)
	}
	_, err = Load(writeConfig(t, base+"database: {job_connections: 10}\njobs: {queues: {mail: -1}}\nworkers: 10\n"))
	for _, want := range []string{"database.job_connections: 10", "jobs.queues.mail", "workers: replaced by jobs.queues"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
