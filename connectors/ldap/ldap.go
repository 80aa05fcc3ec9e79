// Package ldap is the connectors.Directory for LDAP directories: OpenLDAP now, Active
// Directory later (Config.Flavour is the seam). Every value that reaches the server is
// escaped for its place: DN values per RFC 4514, filter values per RFC 4515.
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
)

// Config configures a Directory.
type Config struct {
	URL                string // ldap://host:port or ldaps://host:port
	BindDN             string
	BindPassword       string
	BaseDN             string
	PeopleDN           string        // where accounts are created; default ou=people,BaseDN
	GroupsDN           string        // where groups live and are created; default ou=groups,BaseDN
	RDNAttribute       string        // uid (default) or cn: what names a new account's entry
	Timeout            time.Duration // per dial and per operation; default 10 s
	Flavour            string        // openldap (default)
	InsecureSkipVerify bool          // ldaps to test servers only
	// IdentityAttribute, when set (e.g. employeeNumber), holds the person's personnummer:
	// behorig writes it on the entries it creates and reads it to tell whether an existing
	// entry is the person's before linking it.
	IdentityAttribute string
}

// Directory is a live connection to an LDAP directory.
type Directory struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex // guards conn; one operation at a time on it
	conn *ldap.Conn

	// binds are the connections for CheckPassword's binds as users, kept apart from conn,
	// which is bound as the service account.
	binds bindPool
}

var _ connectors.Directory = (*Directory)(nil)

// Open validates the config (every problem at once) and returns the Directory. It does not
// dial: a directory that is down at start delays jobs, it does not stop the service.
func (c Config) Open(logger *slog.Logger) (*Directory, error) {
	if c.PeopleDN == "" && c.BaseDN != "" {
		c.PeopleDN = "ou=people," + c.BaseDN
	}
	if c.GroupsDN == "" && c.BaseDN != "" {
		c.GroupsDN = "ou=groups," + c.BaseDN
	}
	if c.RDNAttribute == "" {
		c.RDNAttribute = "uid"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Flavour == "" {
		c.Flavour = "openldap"
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Directory{cfg: c, log: logger, binds: newBindPool()}, nil
}

func (c Config) validate() error {
	var errs []error
	if !strings.HasPrefix(c.URL, "ldap://") && !strings.HasPrefix(c.URL, "ldaps://") {
		errs = append(errs, fmt.Errorf("ldap url %q must start with ldap:// or ldaps://", c.URL))
	}
	for name, dn := range map[string]string{"base DN": c.BaseDN, "people DN": c.PeopleDN, "groups DN": c.GroupsDN} {
		if _, err := ldap.ParseDN(dn); err != nil || dn == "" {
			errs = append(errs, fmt.Errorf("ldap %s %q is not a DN", name, dn))
		}
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			errs = append(errs, fmt.Errorf("ldap bind DN %q is not a DN", c.BindDN))
		}
	}
	if c.RDNAttribute != "uid" && c.RDNAttribute != "cn" {
		errs = append(errs, fmt.Errorf("ldap rdn attribute %q must be uid or cn", c.RDNAttribute))
	}
	if c.Flavour != "openldap" {
		errs = append(errs, fmt.Errorf("ldap flavour %q is not supported (openldap)", c.Flavour))
	}
	if c.IdentityAttribute != "" && !attributeName.MatchString(c.IdentityAttribute) {
		errs = append(errs, fmt.Errorf("ldap identity attribute %q is not an attribute name", c.IdentityAttribute))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("ldap timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Close closes the connections.
func (d *Directory) Close() error {
	d.closeBindConns()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		err := d.conn.Close()
		d.conn = nil
		return err
	}
	return nil
}

// do runs op on the shared connection, dialling and binding when there is none. A network
// error drops the connection, so the next call dials again.
func (d *Directory) do(ctx context.Context, op func(*ldap.Conn) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.conn == nil || d.conn.IsClosing() {
		conn, err := d.dial(ctx)
		if err != nil {
			return err
		}
		d.conn = conn
	}
	err := op(d.conn)
	if err != nil && (ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || d.conn.IsClosing()) {
		d.conn.Close()
		d.conn = nil
	}
	return err
}

// dial connects and binds as the service account.
func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	if d.cfg.BindDN != "" {
		if err := conn.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
			conn.Close()
			return nil, fmt.Errorf("bind to %s as %s: %w", d.cfg.URL, d.cfg.BindDN, err)
		}
	}
	return conn, nil
}

// connect opens a connection, bound as nobody yet, within the timeout and ctx's deadline.
func (d *Directory) connect(ctx context.Context) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	if deadline, ok := ctx.Deadline(); ok {
		dialer.Deadline = deadline
	}
	opts := []ldap.DialOpt{ldap.DialWithDialer(dialer)}
	if strings.HasPrefix(d.cfg.URL, "ldaps://") {
		opts = append(opts, ldap.DialWithTLSConfig(&tls.Config{InsecureSkipVerify: d.cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12}))
	}
	conn, err := ldap.DialURL(d.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", d.cfg.URL, err)
	}
	conn.SetTimeout(d.cfg.Timeout)
	return conn, nil
}

var attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

// lockedAttr is ppolicy's operational attribute; the value 000001010000Z locks for good.
const (
	lockedAttr      = "pwdAccountLockedTime"
	lockedForever   = "000001010000Z"
	personClass     = "inetOrgPerson"
	groupClass      = "groupOfNames"
	maxGroupNameLen = 64
)

// LookupAccount finds the account whose uid is exactly username.
func (d *Directory) LookupAccount(ctx context.Context, username string) (connectors.AccountRef, error) {
	var ref connectors.AccountRef
	err := d.do(ctx, func(conn *ldap.Conn) error {
		var err error
		ref, err = d.lookup(conn, username)
		return err
	})
	return ref, err
}

// LookupAccountByID finds the account whose entryUUID is id.
func (d *Directory) LookupAccountByID(ctx context.Context, id string) (connectors.AccountRef, error) {
	var ref connectors.AccountRef
	err := d.do(ctx, func(conn *ldap.Conn) error {
		var err error
		ref, err = d.find(conn, fmt.Sprintf("(&(objectClass=%s)(entryUUID=%s))", personClass, ldap.EscapeFilter(id)), "entryUUID="+id)
		return err
	})
	return ref, err
}

func (d *Directory) lookup(conn *ldap.Conn, username string) (connectors.AccountRef, error) {
	return d.find(conn, fmt.Sprintf("(&(objectClass=%s)(uid=%s))", personClass, ldap.EscapeFilter(username)), "uid="+username)
}

// accountAttrs are the attributes an AccountRef is made from.
func (d *Directory) accountAttrs() []string {
	attrs := []string{"uid", lockedAttr, "creatorsName", "entryUUID"}
	if d.cfg.IdentityAttribute != "" {
		attrs = append(attrs, d.cfg.IdentityAttribute)
	}
	return attrs
}

// findChunk bounds the terms of one FindAccounts search.
const findChunk = 100

// FindAccounts finds the accounts by username and by entryUUID, a hundred terms a search.
func (d *Directory) FindAccounts(ctx context.Context, usernames, ids []string) ([]connectors.AccountRef, error) {
	var terms []string
	for _, u := range usernames {
		terms = append(terms, "(uid="+ldap.EscapeFilter(u)+")")
	}
	for _, id := range ids {
		terms = append(terms, "(entryUUID="+ldap.EscapeFilter(id)+")")
	}
	var refs []connectors.AccountRef
	for chunk := range slices.Chunk(terms, findChunk) {
		filter := fmt.Sprintf("(&(objectClass=%s)(|%s))", personClass, strings.Join(chunk, ""))
		err := d.do(ctx, func(conn *ldap.Conn) error {
			res, err := conn.Search(ldap.NewSearchRequest(d.cfg.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
				0, int(d.cfg.Timeout.Seconds()), false, filter, d.accountAttrs(), nil))
			if err != nil {
				return fmt.Errorf("look up %d accounts under %s: %w", len(chunk), d.cfg.PeopleDN, err)
			}
			for _, e := range res.Entries {
				ref := d.accountRef(e)
				// An entry found by one of several uid values answers to the one asked for.
				for _, uid := range e.GetAttributeValues("uid") {
					if i := slices.IndexFunc(usernames, func(u string) bool { return strings.EqualFold(u, uid) }); i >= 0 {
						ref.Username = usernames[i]
					}
				}
				refs = append(refs, ref)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// find reads the one account the filter matches; what names it in errors.
func (d *Directory) find(conn *ldap.Conn, filter, what string) (connectors.AccountRef, error) {
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.cfg.Timeout.Seconds()), false, filter, d.accountAttrs(), nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return connectors.AccountRef{}, fmt.Errorf("look up %s under %s: %w", what, d.cfg.PeopleDN, err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		return connectors.AccountRef{}, fmt.Errorf("account %s under %s: %w", what, d.cfg.PeopleDN, connectors.ErrNotFound)
	case len(res.Entries) > 1:
		return connectors.AccountRef{}, fmt.Errorf("look up %s under %s: more than one entry", what, d.cfg.PeopleDN)
	}
	return d.accountRef(res.Entries[0]), nil
}

func (d *Directory) accountRef(e *ldap.Entry) connectors.AccountRef {
	ref := connectors.AccountRef{ID: e.GetAttributeValue("entryUUID"), DN: e.DN, Username: e.GetAttributeValue("uid"), Disabled: e.GetAttributeValue(lockedAttr) != "",
		CreatedByUs: d.cfg.BindDN != "" && sameDN(e.GetAttributeValue("creatorsName"), d.cfg.BindDN)}
	if d.cfg.IdentityAttribute != "" {
		ref.Identity = e.GetAttributeValue(d.cfg.IdentityAttribute)
	}
	return ref
}

// EnsureAccount creates the account when absent, and enables it when disabled.
func (d *Directory) EnsureAccount(ctx context.Context, a connectors.Account) (connectors.AccountRef, error) {
	if a.Username == "" || a.Surname == "" {
		return connectors.AccountRef{}, errors.New("ensure account: username and surname are required")
	}
	var ref connectors.AccountRef
	err := d.do(ctx, func(conn *ldap.Conn) error {
		var err error
		ref, err = d.ensureAccount(conn, a)
		return err
	})
	return ref, err
}

func (d *Directory) ensureAccount(conn *ldap.Conn, a connectors.Account) (connectors.AccountRef, error) {
	ref, err := d.lookup(conn, a.Username)
	if err == nil {
		if ref.Disabled {
			if err := d.enable(conn, ref); err != nil {
				return ref, err
			}
			ref.Disabled = false
		}
		return ref, nil
	}
	if !errors.Is(err, connectors.ErrNotFound) {
		return ref, err
	}
	rdnValue := a.Username
	if d.cfg.RDNAttribute == "cn" {
		rdnValue = commonName(a)
	}
	dn := childDN(d.cfg.RDNAttribute, rdnValue, d.cfg.PeopleDN)
	err = conn.Add(d.accountAdd(dn, a, commonName(a)))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		if ref, lerr := d.lookup(conn, a.Username); lerr == nil {
			return ref, nil // an earlier or concurrent attempt made it
		}
		if d.cfg.RDNAttribute != "cn" {
			return ref, fmt.Errorf("add %s: %w", dn, err)
		}
		// Another person with the same name: tell the entries apart by username.
		cn := rdnValue + " (" + a.Username + ")"
		dn = childDN("cn", cn, d.cfg.PeopleDN)
		err = conn.Add(d.accountAdd(dn, a, commonName(a), cn))
	}
	if err != nil {
		return ref, fmt.Errorf("add %s: %w", dn, err)
	}
	// Read it back: the receipt keeps the DN as the server writes it.
	return d.lookup(conn, a.Username)
}

// CreateAccounts adds the entries as EnsureAccount would name them, without looking first,
// pipelined (see pipeline): slapd checks and encodes the next entries while it writes one,
// so a day's starters cost the directory's work and not a round trip each.
func (d *Directory) CreateAccounts(ctx context.Context, accounts []connectors.Account) []connectors.Created {
	made := make([]connectors.Created, len(accounts))
	err := d.do(ctx, func(conn *ldap.Conn) error {
		return pipeline(len(accounts), func(i int) error {
			made[i] = d.createAccount(conn, accounts[i])
			return made[i].Err
		})
	})
	if err != nil {
		for i := range made {
			if made[i].DN == "" && made[i].Err == nil {
				made[i].Err = err
			}
		}
	}
	return made
}

// ahead is how many requests pipeline has outstanding on the connection at once.
const ahead = 16

// pipeline runs op(0) to op(n-1) on one connection without waiting for each answer before
// sending the next, ahead at a time: a batch then costs the directory's work and not a round
// trip per entry. It returns a network error one of them met, after which do drops the
// connection; the other errors are op's to keep.
func pipeline(n int, op func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var network error
	slots := make(chan struct{}, ahead)
	for i := range n {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := op(i); ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
				mu.Lock()
				network = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return network
}

func (d *Directory) createAccount(conn *ldap.Conn, a connectors.Account) connectors.Created {
	if a.Username == "" || a.Surname == "" {
		return connectors.Created{Err: errors.New("create account: username and surname are required")}
	}
	rdnValue := a.Username
	if d.cfg.RDNAttribute == "cn" {
		rdnValue = commonName(a)
	}
	dn := childDN(d.cfg.RDNAttribute, rdnValue, d.cfg.PeopleDN)
	err := conn.Add(d.accountAdd(dn, a, commonName(a)))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists):
		return connectors.Created{Err: fmt.Errorf("add %s: %w", dn, connectors.ErrExists)}
	case err != nil:
		return connectors.Created{Err: fmt.Errorf("add %s: %w", dn, err)}
	}
	return connectors.Created{DN: dn}
}

func commonName(a connectors.Account) string {
	return strings.TrimSpace(a.GivenName + " " + a.Surname)
}

// childDN builds attr=value,parent with the value escaped per RFC 4514 (only the characters
// that must be, so that Swedish letters stay readable in the DN).
func childDN(attr, value, parent string) string {
	return attr + "=" + ldap.EscapeDN(value) + "," + parent
}

// accountAdd builds the entry; cns holds every cn value, which must include the RDN's.
func (d *Directory) accountAdd(dn string, a connectors.Account, cns ...string) *ldap.AddRequest {
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"top", "person", "organizationalPerson", personClass})
	r.Attribute("uid", []string{a.Username})
	r.Attribute("cn", cns)
	r.Attribute("sn", []string{a.Surname})
	for attr, v := range map[string]string{"givenName": a.GivenName, "displayName": commonName(a), "mail": a.Email,
		"mobile": a.Mobile, "employeeType": a.EmployeeType} {
		if v != "" {
			r.Attribute(attr, []string{v})
		}
	}
	if d.cfg.IdentityAttribute != "" && a.Identity != "" {
		r.Attribute(d.cfg.IdentityAttribute, []string{a.Identity})
	}
	return r
}

func (d *Directory) enable(conn *ldap.Conn, ref connectors.AccountRef) error {
	m := ldap.NewModifyRequest(ref.DN, nil)
	m.Delete(lockedAttr, nil)
	if err := conn.Modify(m); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return fmt.Errorf("enable %s: %w", ref.DN, err)
	}
	return nil
}

// DisableAccount locks the account for good.
func (d *Directory) DisableAccount(ctx context.Context, dn string) error {
	return d.do(ctx, func(conn *ldap.Conn) error { return disable(conn, dn) })
}

// DisableAccounts locks the accounts, pipelined (see pipeline), so that a mass termination
// costs the directory's work and not a round trip per account.
func (d *Directory) DisableAccounts(ctx context.Context, dns []string) []error {
	errs := make([]error, len(dns))
	err := d.do(ctx, func(conn *ldap.Conn) error {
		return pipeline(len(dns), func(i int) error {
			errs[i] = disable(conn, dns[i])
			return errs[i]
		})
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

func disable(conn *ldap.Conn, dn string) error {
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace(lockedAttr, []string{lockedForever})
	err := conn.Modify(m)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return fmt.Errorf("disable %s: %w", dn, connectors.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("disable %s: %w", dn, err)
	}
	return nil
}

// GroupDN is the DN the named group has (or would have), checked to parse back as a DN.
func (d *Directory) GroupDN(group string) (string, error) {
	dn, err := d.groupDN(group)
	if err != nil {
		return "", err
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		return "", fmt.Errorf("group %q does not make a valid DN: %w", group, err)
	}
	return dn, nil
}

func (d *Directory) groupDN(group string) (string, error) {
	if group == "" || len(group) > maxGroupNameLen {
		return "", fmt.Errorf("group name %q must be 1–%d characters", group, maxGroupNameLen)
	}
	return childDN("cn", group, d.cfg.GroupsDN), nil
}

// placeholder keeps a groupOfNames valid when its last real member leaves: the schema
// requires at least one member. It is the empty DN, which names no entry.
const placeholder = ""

// EnsureMember adds the members to the group, creating the group if needed. The usual case
// (the group exists and has none of them yet) is a compare, which tells whether the
// placeholder is to go, and one modify; only when the directory says the group is missing or
// already has one of them are its members read to add the rest.
func (d *Directory) EnsureMember(ctx context.Context, group string, memberDNs ...string) error {
	gdn, err := d.groupDN(group)
	if err != nil || len(memberDNs) == 0 {
		return err
	}
	return d.do(ctx, func(conn *ldap.Conn) error {
		hasPlaceholder, err := conn.Compare(gdn, "member", placeholder)
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("read members of %s: %w", gdn, err)
		}
		m := ldap.NewModifyRequest(gdn, nil)
		m.Add("member", memberDNs)
		if hasPlaceholder {
			m.Delete("member", []string{placeholder})
		}
		if err == nil {
			err = conn.Modify(m)
		}
		switch {
		case err == nil:
			return nil
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			r := ldap.NewAddRequest(gdn, nil)
			r.Attribute("objectClass", []string{"top", groupClass})
			r.Attribute("cn", []string{group})
			r.Attribute("member", memberDNs)
			err := conn.Add(r)
			if err == nil {
				return nil
			}
			if !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				return fmt.Errorf("add group %s with %d members: %w", gdn, len(memberDNs), err)
			}
		case !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists):
			return fmt.Errorf("add %d members to %s: %w", len(memberDNs), gdn, err)
		}
		return d.addMissing(conn, gdn, memberDNs)
	})
}

// addMissing adds the members the group does not have yet, and drops the placeholder.
func (d *Directory) addMissing(conn *ldap.Conn, gdn string, memberDNs []string) error {
	members, _, err := d.members(conn, gdn)
	if err != nil {
		return err
	}
	var missing []string
	for _, dn := range memberDNs {
		if !containsDN(members, dn) && !containsDN(missing, dn) {
			missing = append(missing, dn)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	m := ldap.NewModifyRequest(gdn, nil)
	m.Add("member", missing)
	if slices.Contains(members, placeholder) {
		m.Delete("member", []string{placeholder})
	}
	err = conn.Modify(m)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		return fmt.Errorf("add %d members to %s: %w", len(missing), gdn, err)
	}
	return nil
}

// RemoveMember removes the members from the group where they are members. The usual case
// (all of them are members, and others stay) is one modify; otherwise the group's members
// are read and only those present removed, with the placeholder added when none would stay.
func (d *Directory) RemoveMember(ctx context.Context, group string, memberDNs ...string) error {
	gdn, err := d.groupDN(group)
	if err != nil || len(memberDNs) == 0 {
		return err
	}
	return d.do(ctx, func(conn *ldap.Conn) error {
		m := ldap.NewModifyRequest(gdn, nil)
		m.Delete("member", memberDNs)
		err := conn.Modify(m)
		switch {
		case err == nil, ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			return nil
		case !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) &&
			!ldap.IsErrorWithCode(err, ldap.LDAPResultObjectClassViolation):
			return fmt.Errorf("remove %d members from %s: %w", len(memberDNs), gdn, err)
		}
		return d.removePresent(conn, gdn, memberDNs)
	})
}

// removePresent removes those of the members the group has, keeping it valid.
func (d *Directory) removePresent(conn *ldap.Conn, gdn string, memberDNs []string) error {
	members, found, err := d.members(conn, gdn)
	if err != nil || !found {
		return err
	}
	var stored []string // the values as the server holds them, which may differ in case or spacing
	for _, v := range members {
		if slices.ContainsFunc(memberDNs, func(dn string) bool { return sameDN(v, dn) }) {
			stored = append(stored, v)
		}
	}
	if len(stored) == 0 {
		return nil
	}
	m := ldap.NewModifyRequest(gdn, nil)
	if len(stored) == len(members) {
		m.Add("member", []string{placeholder})
	}
	m.Delete("member", stored)
	err = conn.Modify(m)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return fmt.Errorf("remove %d members from %s: %w", len(stored), gdn, err)
	}
	return nil
}

// members reads a group's member values; found is false when the group does not exist.
func (d *Directory) members(conn *ldap.Conn, gdn string) ([]string, bool, error) {
	res, err := conn.Search(ldap.NewSearchRequest(gdn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1,
		int(d.cfg.Timeout.Seconds()), false, "(objectClass="+groupClass+")", []string{"member"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read members of %s: %w", gdn, err)
	}
	if len(res.Entries) == 0 {
		return nil, false, fmt.Errorf("%s is not a %s", gdn, groupClass)
	}
	return res.Entries[0].GetAttributeValues("member"), true, nil
}

// GroupMembers lists the member values of the group, leaving out the placeholder.
func (d *Directory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	gdn, err := d.groupDN(group)
	if err != nil {
		return nil, err
	}
	var members []string
	err = d.do(ctx, func(conn *ldap.Conn) error {
		all, _, err := d.members(conn, gdn)
		for _, m := range all {
			if m != placeholder {
				members = append(members, m)
			}
		}
		return err
	})
	return members, err
}

// GroupsOf lists the names of the groups directly under GroupsDN that have memberDN as a member.
func (d *Directory) GroupsOf(ctx context.Context, memberDN string) ([]string, error) {
	var groups []string
	err := d.do(ctx, func(conn *ldap.Conn) error {
		filter := fmt.Sprintf("(&(objectClass=%s)(member=%s))", groupClass, ldap.EscapeFilter(memberDN))
		// One level, where EnsureMember and RemoveMember name groups: a group of the same
		// name moved into a sub-OU is another group, not one behorig could leave.
		res, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupsDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			0, int(d.cfg.Timeout.Seconds()), false, filter, []string{"cn"}, nil))
		if err != nil {
			return fmt.Errorf("groups of %s: %w", memberDN, err)
		}
		for _, e := range res.Entries {
			groups = append(groups, e.GetAttributeValue("cn"))
		}
		return nil
	})
	slices.Sort(groups)
	return groups, err
}

// GroupsOfMembers lists the groups directly under GroupsDN of each member, a hundred members a
// search. The search asks for the member values that match (the matched values control, RFC
// 3876), so that a large group does not send all its members; a server that ignores the
// control sends them all, and they are matched here.
func (d *Directory) GroupsOfMembers(ctx context.Context, memberDNs []string) (map[string][]string, error) {
	groups := map[string][]string{}
	for chunk := range slices.Chunk(memberDNs, findChunk) {
		var terms strings.Builder
		// The control filters every attribute: the group's name is asked for too.
		cn, err := ldap.CompileFilter("(cn=*)")
		if err != nil {
			return nil, err
		}
		items := cn.Bytes()
		for _, dn := range chunk {
			term := "(member=" + ldap.EscapeFilter(dn) + ")"
			terms.WriteString(term)
			packet, err := ldap.CompileFilter(term)
			if err != nil {
				return nil, fmt.Errorf("groups of %s: %w", dn, err)
			}
			items = append(items, packet.Bytes()...)
		}
		matched := &ldap.ControlString{ControlType: matchedValuesOID, ControlValue: string(derSequence(items))}
		filter := fmt.Sprintf("(&(objectClass=%s)(|%s))", groupClass, terms.String())
		asked := newDNSet(chunk)
		err = d.do(ctx, func(conn *ldap.Conn) error {
			res, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupsDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
				0, int(d.cfg.Timeout.Seconds()), false, filter, []string{"cn", "member"}, []ldap.Control{matched}))
			if err != nil {
				return fmt.Errorf("groups of %d members: %w", len(chunk), err)
			}
			for _, e := range res.Entries {
				cn := e.GetAttributeValue("cn")
				for _, v := range e.GetAttributeValues("member") {
					for _, dn := range asked.match(v) {
						groups[dn] = append(groups[dn], cn)
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, gs := range groups {
		slices.Sort(gs)
	}
	return groups, nil
}

// matchedValuesOID is the matched values control (RFC 3876).
const matchedValuesOID = "1.2.826.0.1.3344810.2.3"

// derSequence wraps encoded items in a DER SEQUENCE.
func derSequence(items []byte) []byte {
	out := []byte{0x30}
	switch n := len(items); {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var length []byte
		for ; n > 0; n >>= 8 {
			length = append([]byte{byte(n)}, length...)
		}
		out = append(append(out, 0x80|byte(len(length))), length...)
	}
	return append(out, items...)
}

// dnSet matches member values against the DNs asked for, as LDAP compares DNs.
type dnSet struct {
	exact  map[string]string // lower-case spelling → as asked
	parsed []*ldap.DN
	asked  []string
}

func newDNSet(dns []string) dnSet {
	s := dnSet{exact: map[string]string{}, asked: dns}
	for _, dn := range dns {
		s.exact[strings.ToLower(dn)] = dn
		parsed, _ := ldap.ParseDN(dn)
		s.parsed = append(s.parsed, parsed)
	}
	return s
}

// match returns the DNs asked for that the value names.
func (s dnSet) match(v string) []string {
	if dn, ok := s.exact[strings.ToLower(v)]; ok {
		return []string{dn}
	}
	pv, err := ldap.ParseDN(v)
	if err != nil || v == placeholder {
		return nil
	}
	var out []string
	for i, p := range s.parsed {
		if p != nil && pv.EqualFold(p) {
			out = append(out, s.asked[i])
		}
	}
	return out
}

func containsDN(values []string, dn string) bool {
	return slices.ContainsFunc(values, func(v string) bool { return sameDN(v, dn) })
}

// sameDN compares two DNs as LDAP does (case-insensitive types and values, escapes decoded).
func sameDN(a, b string) bool {
	if a == b {
		return true
	}
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	return errA == nil && errB == nil && da.EqualFold(db)
}
