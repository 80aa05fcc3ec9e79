package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/secret"
)

const remoteBase = `
database_url: postgres://localhost/behorig
directory: {url: "ldap://127.0.0.1:389", base_dn: "dc=example,dc=org"}
mail: {outbox: true}
`

func TestSMSGatewaysLoadInOrderWithDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, remoteBase+"secret_key: "+secret.NewKey()+`
sms:
  from: Kommunen
  gateways:
    - {provider: 46elks, username: u123, password: hemligt}
    - {provider: twilio, username: AC123, password: hemligt}
    - {provider: http, url: "https://sms.kommun.se/send"}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := c.SMS.Gateways
	if len(g) != 3 || g[0].URL != "https://api.46elks.com/a1" || g[1].URL != "https://api.twilio.com/2010-04-01" ||
		g[2].URL != "https://sms.kommun.se/send" || c.SMS.Timeout.Seconds() != 10 {
		t.Errorf("gateways loaded as %+v, timeout %s", g, c.SMS.Timeout)
	}
}

func TestSMSGatewaysRefusedWithTheirReason(t *testing.T) {
	_, err := Load(writeConfig(t, remoteBase+"secret_key: "+secret.NewKey()+`
sms:
  from: "Kommunen IT!"
  outbox: true
  gateways:
    - {provider: 46elks, username: u123}
    - {provider: twilio, url: "http://api.twilio.example/2010-04-01", username: AC1, password: x}
    - {provider: http, url: "http://127.0.0.1:9000/send"}
    - {provider: sinch, url: "https://x"}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"sms.gateways[0]: username and password (or password_file) are required for 46elks",
		`sms.gateways[1].url: "http://api.twilio.example/2010-04-01": the codes go over HTTPS only`,
		`sms.gateways[3].provider: "sinch" is not one of`,
		"sms.outbox keeps the codes in the database",
		`sms.from: "Kommunen IT!" is neither a sender name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "sms.gateways[2]") {
		t.Errorf("a relay on localhost over HTTP was refused:\n%v", err)
	}
}

// The README's SMS section loads as written, beside a whole config.
func TestREADMESMSSectionLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var section string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if b, _, _ := strings.Cut(block, "```"); strings.HasPrefix(b, "sms:") {
			section = b
		}
	}
	if section == "" {
		t.Fatal("README has no yaml block that starts with sms:")
	}
	dir := t.TempDir()
	for _, name := range []string{"46elks.pw", "twilio.token", "sms.pw"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("hemligt\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(writeConfig(t, remoteBase+"secret_key: "+secret.NewKey()+"\n"+strings.ReplaceAll(section, "/etc/behorig", dir)))
	if err != nil {
		t.Fatalf("the README's SMS section does not load: %v", err)
	}
	if len(c.SMS.Gateways) != 3 || c.SMS.Gateways[1].Password != "hemligt" || c.RemoteAccess.SMSPerHour != 5 {
		t.Errorf("loaded as %+v %+v", c.SMS, c.RemoteAccess)
	}
}
