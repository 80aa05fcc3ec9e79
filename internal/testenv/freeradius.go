package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/localserver"
)

// FreeRADIUSLDAPTOTP configures the private FreeRADIUS that `make bench` compares behorig's
// RADIUS server with: it does what a gateway's RADIUS server does for password + TOTP, with
// FreeRADIUS's own modules. The User-Password's last 6 digits are the TOTP code and the rest
// the password; rlm_ldap finds the user by uid under PeopleDN (reading the base32 TOTP secret
// from SecretAttribute) and binds as the user with the password; rlm_totp checks the code.
type FreeRADIUSLDAPTOTP struct {
	Slapd *localserver.Slapd
	// SecretAttribute is the user entry's attribute holding the base32 TOTP secret.
	SecretAttribute string
	// Secret is the shared secret of the one client, 127.0.0.1.
	Secret string
}

// FreeRADIUS is a running private FreeRADIUS.
type FreeRADIUS struct {
	Addr string // host:port of its auth listener
	Dir  string
}

// freeradiusSite is the virtual server: the password and the code split in authorize, the
// user and its secret found with rlm_ldap, the password checked with a bind as the user
// (Auth-Type LDAP) and then the code with rlm_totp, in one authenticate section: both must
// pass.
const freeradiusSite = `server bench {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = {{port}}
	}
	authorize {
		if (&User-Password =~ /^(.+)([0-9]{6})$/) {
			update request {
				&TOTP-Password := "%{2}"
				&User-Password := "%{1}"
			}
		}
		else {
			reject
		}
		ldap
		if (!ok && !updated) {
			reject
		}
		update control {
			&Auth-Type := LDAP
		}
	}
	authenticate {
		Auth-Type LDAP {
			ldap
			totp
		}
	}
}
`

// freeradiusLDAP is rlm_ldap on the test's slapd, its connection pool as large as the
// server's thread pool (32), so that neither waits for the other.
const freeradiusLDAP = `ldap {
	server = "127.0.0.1"
	port = {{ldapport}}
	identity = "{{admin}}"
	password = "{{adminpw}}"
	base_dn = "{{people}}"
	update {
		control:TOTP-Secret := '{{secretattr}}'
	}
	user {
		base_dn = "{{people}}"
		filter = "(uid=%{%{Stripped-User-Name}:-%{User-Name}})"
		scope = "one"
	}
	options {
		chase_referrals = no
		res_timeout = 5
		srv_timelimit = 5
		net_timeout = 2
	}
	pool {
		start = 8
		min = 8
		max = 32
		spare = 8
		uses = 0
		retry_delay = 1
		lifetime = 0
		idle_timeout = 60
	}
}
`

// StartFreeRADIUS copies the packaged configuration into a temporary directory, replaces its
// sites and clients with the bench's, and runs FreeRADIUS in the foreground (multi-threaded,
// as in production, with reject_delay 0 so that a Reject is not held back a second), stopped
// when the test ends. It waits until the server answers.
func StartFreeRADIUS(t testing.TB, c FreeRADIUSLDAPTOTP) *FreeRADIUS {
	t.Helper()
	for _, need := range []string{"/usr/sbin/freeradius", "/usr/lib/freeradius/rlm_ldap.so", "/usr/lib/freeradius/rlm_totp.so"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run `bash scripts/deps.sh` as root (packages freeradius, freeradius-ldap)", need)
		}
	}
	dir, err := os.MkdirTemp("", "behorig-freeradius-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	raddb := filepath.Join(dir, "raddb")
	if out, err := exec.Command("cp", "-a", "/etc/freeradius/3.0", raddb).CombinedOutput(); err != nil {
		t.Fatalf("copy the FreeRADIUS configuration: %v: %s", err, out)
	}
	for _, d := range []string{"log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sites, _ := filepath.Glob(filepath.Join(raddb, "sites-enabled", "*"))
	for _, f := range append(sites, filepath.Join(raddb, "mods-enabled", "eap")) {
		os.Remove(f)
	}
	port := freeUDPPort(t)
	replace := strings.NewReplacer("{{port}}", strconv.Itoa(port), "{{ldapport}}", strconv.Itoa(c.Slapd.Port),
		"{{admin}}", c.Slapd.AdminDN, "{{adminpw}}", c.Slapd.AdminPassword, "{{people}}", c.Slapd.PeopleDN,
		"{{secretattr}}", c.SecretAttribute)
	files := map[string]string{
		"sites-enabled/bench": replace.Replace(freeradiusSite),
		"mods-enabled/ldap":   replace.Replace(freeradiusLDAP),
		"mods-enabled/totp":   "totp {\n}\n",
		"clients.conf":        fmt.Sprintf("client lo {\n\tipaddr = 127.0.0.1\n\tsecret = %s\n}\n", c.Secret),
	}
	for name, content := range files {
		path := filepath.Join(raddb, name)
		os.Remove(path) // mods-enabled entries are symlinks into mods-available
		if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(raddb, "radiusd.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "raddbdir ="):
			line = "raddbdir = " + raddb + "\n"
		case strings.HasPrefix(trimmed, "logdir ="):
			line = "logdir = " + filepath.Join(dir, "log") + "\n"
		case strings.HasPrefix(trimmed, "run_dir ="):
			line = "run_dir = " + filepath.Join(dir, "run") + "\n"
		case strings.HasPrefix(trimmed, "user = freerad"), strings.HasPrefix(trimmed, "group = freerad"):
			line = "#" + line
		case strings.HasPrefix(trimmed, "reject_delay ="):
			line = "reject_delay = 0\n"
		}
		lines = append(lines, line)
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/usr/sbin/freeradius", "-C", "-d", raddb).CombinedOutput(); err != nil {
		t.Fatalf("FreeRADIUS refuses the bench configuration: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "log", "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/freeradius", "-f", "-l", "stdout", "-d", raddb)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start FreeRADIUS: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	fr := &FreeRADIUS{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if answered(fr.Addr, c.Secret) {
			return fr
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "log", "stdout.log"))
			t.Fatalf("FreeRADIUS stopped: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log", "stdout.log"))
			t.Fatalf("FreeRADIUS does not answer on %s\n%s", fr.Addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RejectCauses are the errors and warnings of FreeRADIUS's log, for a test that expected
// Accepts. (Logging every login, auth = yes, would say more but add work to every request of
// the benchmark that this server is compared in.)
func (fr *FreeRADIUS) RejectCauses() string {
	b, _ := os.ReadFile(filepath.Join(fr.Dir, "log", "stdout.log")) // -l stdout
	var causes []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, "ERROR") || strings.Contains(line, "WARNING") {
			causes = append(causes, strings.TrimSpace(line))
		}
	}
	if len(causes) > 20 {
		causes = append(causes[:20], fmt.Sprintf("... and %d more", len(causes)-20))
	}
	return strings.Join(causes, "\n")
}

// answered tells whether a RADIUS server answers an Access-Request at addr at all: any
// answer, even a Reject, shows that it listens.
func answered(addr, secret string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "radclient", "-x", "-r", "1", "-t", "0.3", addr, "auth", secret)
	cmd.Stdin = strings.NewReader("User-Name = \"probe\", User-Password = \"probe123456\", Message-Authenticator = 0x00\n")
	out, _ := cmd.CombinedOutput()
	return strings.Contains(string(out), "Received Access-")
}

// freeUDPPort returns a UDP port free at the moment.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).Port
}
