package localserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Slapd is a private OpenLDAP server in Dir, running as our child process.
type Slapd struct {
	Dir           string
	Port          int
	BaseDN        string
	AdminDN       string
	AdminPassword string
	// ServiceDN and ServicePassword are behorig's own bind, an ordinary entry with write
	// access everywhere: unlike the rootdn, it is held to the password policy when it sets
	// a password, as a production service account is.
	ServiceDN       string
	ServicePassword string
	PeopleDN        string
	GroupsDN        string
	proc            *process
}

// SlapdOptions name the directory tree. Defaults: dc=example,dc=org and password "secret".
type SlapdOptions struct {
	BaseDN        string
	AdminPassword string
	Logger        *slog.Logger
}

// slapdConfig loads memberof (so accounts show memberOf, as AD does) and ppolicy (so that
// pwdAccountLockedTime disables an account, which is how behorig disables in OpenLDAP, and
// so that a password set on the password page is checked against the policy's quality
// rules). Passwords are readable by nobody and writable by behorig's service account and
// their owner; everything else is writable by the service account and readable by all.
const slapdConfig = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile {{dir}}/slapd.pid
sizelimit unlimited
database mdb
maxsize 268435456
suffix "{{base}}"
rootdn "{{admin}}"
rootpw {{password}}
directory {{dir}}/db
dbnosync
index objectClass eq
index uid,cn,member,entryUUID eq
access to attrs=userPassword
	by dn.exact="{{service}}" write
	by self write
	by anonymous auth
	by * none
access to *
	by dn.exact="{{service}}" write
	by * read
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{{base}}"
`

// StartSlapd writes dir/slapd.conf, seeds the tree on first start, and starts slapd on
// 127.0.0.1:port. Data in dir/db is kept between starts.
func StartSlapd(ctx context.Context, dir string, port int, opts SlapdOptions) (*Slapd, error) {
	log := discard(opts.Logger)
	s := &Slapd{Dir: dir, Port: port, BaseDN: opts.BaseDN, AdminPassword: opts.AdminPassword}
	if s.BaseDN == "" {
		s.BaseDN = "dc=example,dc=org"
	}
	if s.AdminPassword == "" {
		s.AdminPassword = "secret"
	}
	s.AdminDN = "cn=admin," + s.BaseDN
	s.ServiceDN = "cn=behorig,ou=services," + s.BaseDN
	s.ServicePassword = "behorig-" + s.AdminPassword
	s.PeopleDN = "ou=people," + s.BaseDN
	s.GroupsDN = "ou=groups," + s.BaseDN
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, fmt.Errorf("make slapd dir: %w", err)
	}
	_, statErr := os.Stat(filepath.Join(dir, "db", "data.mdb"))
	fresh := errors.Is(statErr, os.ErrNotExist)
	conf := strings.NewReplacer("{{dir}}", dir, "{{base}}", s.BaseDN, "{{admin}}", s.AdminDN,
		"{{password}}", s.AdminPassword, "{{service}}", s.ServiceDN).Replace(slapdConfig)
	confPath := filepath.Join(dir, "slapd.conf")
	before, _ := os.ReadFile(confPath)
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("write slapd.conf: %w", err)
	}
	// An index added to the configuration knows nothing of the entries already stored:
	// a search through it would miss them until slapindex has run.
	if !fresh && string(before) != conf {
		if out, err := exec.CommandContext(ctx, "/usr/sbin/slapindex", "-f", confPath).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("slapindex after a configuration change: %w: %s", err, out)
		}
	}
	cmd := exec.Command("/usr/sbin/slapd", "-f", confPath, "-h", s.URL()+"/", "-d", "0")
	proc, err := startProcess("slapd", filepath.Join(dir, "slapd.log"), cmd)
	if err != nil {
		return nil, err
	}
	s.proc = proc
	err = waitFor(ctx, proc, "slapd on port "+strconv.Itoa(port), 15*time.Second, func() error {
		conn, err := s.Dial()
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := s.seed(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	// A tree seeded before the service account and the quality rules existed (a kept dev
	// directory) gets them too.
	if err := s.ensureServiceAndPolicy(); err != nil {
		s.Stop()
		return nil, err
	}
	log.Info("slapd running", "url", s.URL(), "base", s.BaseDN, "dir", dir)
	return s, nil
}

// URL is where the server listens.
func (s *Slapd) URL() string { return "ldap://127.0.0.1:" + strconv.Itoa(s.Port) }

// Dial connects and binds as the admin.
func (s *Slapd) Dial() (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(5 * time.Second)
	if err := conn.Bind(s.AdminDN, s.AdminPassword); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// seed adds the base entry, the people, groups and policies units, and the default password
// policy that makes pwdAccountLockedTime take effect.
func (s *Slapd) seed() error {
	conn, err := s.Dial()
	if err != nil {
		return fmt.Errorf("seed %s: %w", s.BaseDN, err)
	}
	defer conn.Close()
	rdn, _, _ := strings.Cut(s.BaseDN, ",")
	dc := strings.TrimPrefix(rdn, "dc=")
	base := ldap.NewAddRequest(s.BaseDN, nil)
	base.Attribute("objectClass", []string{"top", "dcObject", "organization"})
	base.Attribute("dc", []string{dc})
	base.Attribute("o", []string{dc})
	adds := []*ldap.AddRequest{base}
	for _, ou := range []string{"people", "groups", "policies"} {
		r := ldap.NewAddRequest("ou="+ou+","+s.BaseDN, nil)
		r.Attribute("objectClass", []string{"organizationalUnit"})
		r.Attribute("ou", []string{ou})
		adds = append(adds, r)
	}
	policy := ldap.NewAddRequest("cn=default,ou=policies,"+s.BaseDN, nil)
	policy.Attribute("objectClass", []string{"person", "pwdPolicy"})
	policy.Attribute("cn", []string{"default"})
	policy.Attribute("sn", []string{"default"})
	policy.Attribute("pwdAttribute", []string{"userPassword"})
	policy.Attribute("pwdLockout", []string{"TRUE"})
	adds = append(adds, policy)
	for _, r := range adds {
		if err := conn.Add(r); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return fmt.Errorf("seed %s: %w", r.DN, err)
		}
	}
	return nil
}

// PasswordMinLength is the shortest password the seeded policy lets through.
const PasswordMinLength = 10

// ensureServiceAndPolicy adds behorig's service account and makes the default password
// policy check a new password's quality: at least PasswordMinLength characters, and a
// password the directory cannot check (sent hashed) is refused (pwdCheckQuality 2).
func (s *Slapd) ensureServiceAndPolicy() error {
	conn, err := s.Dial()
	if err != nil {
		return fmt.Errorf("seed the service account: %w", err)
	}
	defer conn.Close()
	ou := ldap.NewAddRequest("ou=services,"+s.BaseDN, nil)
	ou.Attribute("objectClass", []string{"organizationalUnit"})
	ou.Attribute("ou", []string{"services"})
	svc := ldap.NewAddRequest(s.ServiceDN, nil)
	svc.Attribute("objectClass", []string{"organizationalRole", "simpleSecurityObject"})
	svc.Attribute("cn", []string{"behorig"})
	svc.Attribute("userPassword", []string{s.ServicePassword})
	for _, r := range []*ldap.AddRequest{ou, svc} {
		if err := conn.Add(r); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return fmt.Errorf("seed %s: %w", r.DN, err)
		}
	}
	policy := ldap.NewModifyRequest("cn=default,ou=policies,"+s.BaseDN, nil)
	policy.Replace("pwdMinLength", []string{strconv.Itoa(PasswordMinLength)})
	policy.Replace("pwdCheckQuality", []string{"2"})
	if err := conn.Modify(policy); err != nil {
		return fmt.Errorf("seed the password policy: %w", err)
	}
	return nil
}

// Stop stops slapd: SIGTERM, then SIGKILL after five seconds.
func (s *Slapd) Stop() error {
	if s == nil {
		return nil
	}
	return s.proc.stop()
}

// Signal sends sig to slapd: tests stop it with SIGSTOP to imitate a directory that hangs,
// and let it go on with SIGCONT.
func (s *Slapd) Signal(sig os.Signal) error {
	return s.proc.cmd.Process.Signal(sig)
}
