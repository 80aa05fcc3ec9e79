package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

func openDirectory(t *testing.T, rdn string) (*Directory, *localserver.Slapd) {
	t.Helper()
	s := testenv.LDAP(t)
	d, err := Config{URL: s.URL(), BindDN: s.AdminDN, BindPassword: s.AdminPassword, BaseDN: s.BaseDN,
		RDNAttribute: rdn, Timeout: 5 * time.Second}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, s
}

// search runs a raw admin search, as ldapsearch would.
func search(t *testing.T, s *localserver.Slapd, base, filter string, attrs ...string) []*goldap.Entry {
	t.Helper()
	conn, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

var anna = connectors.Account{Username: "anna.berg", GivenName: "Anna", Surname: "Berg", Email: "anna@example.org",
	Mobile: "+46701234567", EmployeeType: "employee"}

func TestEnsureAccountIsIdempotent(t *testing.T) {
	d, s := openDirectory(t, "uid")
	first, err := d.EnsureAccount(ctx, anna)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.EnsureAccount(ctx, anna)
	if err != nil || second.DN != first.DN {
		t.Fatalf("second EnsureAccount = %+v, %v; want %s", second, err, first.DN)
	}
	entries := search(t, s, s.PeopleDN, "(objectClass=inetOrgPerson)", "mail", "mobile", "employeeType")
	if len(entries) != 1 || entries[0].GetAttributeValue("mail") != anna.Email || entries[0].GetAttributeValue("employeeType") != "employee" {
		t.Fatalf("entries = %d, want one with mail and employeeType", len(entries))
	}
	got, err := d.LookupAccount(ctx, "anna.berg")
	if err != nil || got.DN != first.DN || got.Disabled {
		t.Fatalf("LookupAccount = %+v, %v", got, err)
	}
}

func TestConcurrentEnsureAccountMakesOne(t *testing.T) {
	_, s := openDirectory(t, "uid")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Directory each, so that the server, not our mutex, settles the race.
			d, err := Config{URL: s.URL(), BindDN: s.AdminDN, BindPassword: s.AdminPassword, BaseDN: s.BaseDN}.Open(nil)
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			_, err = d.EnsureAccount(ctx, anna)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(search(t, s, s.PeopleDN, "(uid=anna.berg)")); n != 1 {
		t.Fatalf("%d entries after 8 concurrent creates, want 1", n)
	}
}

func TestMembership(t *testing.T) {
	d, s := openDirectory(t, "uid")
	a, _ := d.EnsureAccount(ctx, anna)
	b, _ := d.EnsureAccount(ctx, connectors.Account{Username: "bo.ek", GivenName: "Bo", Surname: "Ek"})
	for range 2 {
		for _, dn := range []string{a.DN, b.DN} {
			if err := d.EnsureMember(ctx, "treserva-5110-utforare", dn); err != nil {
				t.Fatal(err)
			}
		}
	}
	members := search(t, s, s.GroupsDN, "(cn=treserva-5110-utforare)", "member")[0].GetAttributeValues("member")
	if len(members) != 2 {
		t.Fatalf("members = %v, want two", members)
	}
	if groups, _ := d.GroupsOf(ctx, a.DN); !slices.Equal(groups, []string{"treserva-5110-utforare"}) {
		t.Fatalf("GroupsOf = %v", groups)
	}
	if err := d.EnsureMember(ctx, "meddix", a.DN); err != nil {
		t.Fatal(err)
	}
	// Upper case and spaces in a DN asked for are the same DN; an account in no group is missing.
	askA := strings.ToUpper(a.DN[:1]) + a.DN[1:]
	all, err := d.GroupsOfMembers(ctx, []string{askA, b.DN, "uid=nobody," + s.PeopleDN})
	if err != nil || len(all) != 2 || !slices.Equal(all[askA], []string{"meddix", "treserva-5110-utforare"}) ||
		!slices.Equal(all[b.DN], []string{"treserva-5110-utforare"}) {
		t.Fatalf("GroupsOfMembers = %v, %v", all, err)
	}
	if err := d.RemoveMember(ctx, "meddix", a.DN); err != nil {
		t.Fatal(err)
	}
	memberOf := search(t, s, a.DN, "(objectClass=*)", "memberOf")[0].GetAttributeValues("memberOf")
	if len(memberOf) != 1 {
		t.Fatalf("memberOf = %v", memberOf)
	}
	// Remove both, twice; the group must survive losing its last member and take one again.
	for range 2 {
		for _, dn := range []string{a.DN, b.DN} {
			if err := d.RemoveMember(ctx, "treserva-5110-utforare", dn); err != nil {
				t.Fatal(err)
			}
		}
	}
	if groups, _ := d.GroupsOf(ctx, a.DN); len(groups) != 0 {
		t.Fatalf("still in %v", groups)
	}
	if err := d.RemoveMember(ctx, "no-such-group", a.DN); err != nil {
		t.Fatalf("removing from a missing group: %v", err)
	}
	if err := d.EnsureMember(ctx, "treserva-5110-utforare", b.DN); err != nil {
		t.Fatal(err)
	}
	members = search(t, s, s.GroupsDN, "(cn=treserva-5110-utforare)", "member")[0].GetAttributeValues("member")
	if !slices.Equal(members, []string{b.DN}) {
		t.Fatalf("members after re-adding = %q, want only %s (no placeholder)", members, b.DN)
	}
	if err := d.EnsureMember(ctx, strings.Repeat("x", 65), a.DN); err == nil {
		t.Fatal("a 65-character group name was accepted")
	}
}

func TestDisableAndEnable(t *testing.T) {
	d, s := openDirectory(t, "uid")
	ref, _ := d.EnsureAccount(ctx, anna)
	admin, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	setPassword := goldap.NewModifyRequest(ref.DN, nil)
	setPassword.Replace("userPassword", []string{"Hemligt-1"})
	if err := admin.Modify(setPassword); err != nil {
		t.Fatal(err)
	}
	bind := func() error {
		conn, err := goldap.DialURL(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.Bind(ref.DN, "Hemligt-1")
	}
	if err := bind(); err != nil {
		t.Fatalf("bind before disabling: %v", err)
	}
	for range 2 {
		if err := d.DisableAccount(ctx, ref.DN); err != nil {
			t.Fatal(err)
		}
	}
	if err := bind(); !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind to a disabled account: %v, want invalid credentials (49)", err)
	}
	if got, _ := d.LookupAccount(ctx, "anna.berg"); !got.Disabled {
		t.Fatal("LookupAccount does not report the account disabled")
	}
	if _, err := d.EnsureAccount(ctx, anna); err != nil {
		t.Fatal(err)
	}
	if err := bind(); err != nil {
		t.Fatalf("bind after EnsureAccount re-enabled: %v", err)
	}
	if err := d.DisableAccount(ctx, "uid=nobody,"+s.PeopleDN); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("disabling a missing entry: %v", err)
	}
}

func TestMetacharactersInNames(t *testing.T) {
	const given, surname = "Åsa-Märta", `O'Brien (*)\,=+<>#;"`
	for _, rdn := range []string{"uid", "cn"} {
		t.Run(rdn, func(t *testing.T) {
			d, s := openDirectory(t, rdn)
			ref, err := d.EnsureAccount(ctx, connectors.Account{Username: "asa-marta.obrien", GivenName: given, Surname: surname})
			if err != nil {
				t.Fatal(err)
			}
			e := search(t, s, ref.DN, "(objectClass=*)", "cn", "sn")
			if len(e) != 1 || e[0].GetAttributeValue("sn") != surname || e[0].GetAttributeValue("cn") != given+" "+surname {
				t.Fatalf("entry at %s does not hold the exact names", ref.DN)
			}
			dn, err := goldap.ParseDN(ref.DN)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"uid": "asa-marta.obrien", "cn": given + " " + surname}[rdn]
			if got := dn.RDNs[0].Attributes[0].Value; got != want {
				t.Fatalf("RDN value %q, want %q", got, want)
			}
			if err := d.EnsureMember(ctx, "meddix", ref.DN); err != nil {
				t.Fatal(err)
			}
			if groups, _ := d.GroupsOf(ctx, ref.DN); !slices.Equal(groups, []string{"meddix"}) {
				t.Fatalf("GroupsOf = %v", groups)
			}
		})
	}
}

func TestEscapesEveryCharacterRFC4514Names(t *testing.T) {
	for _, value := range []string{" leading", "trailing ", "#hash", "a,b+c\"d\\e<f>g;h", "nul\x00byte", "å ä ö"} {
		dn := childDN("cn", value, "ou=people,dc=example,dc=org")
		parsed, err := goldap.ParseDN(dn)
		if err != nil {
			t.Errorf("childDN(%q) = %q does not parse: %v", value, dn, err)
			continue
		}
		if got := parsed.RDNs[0].Attributes[0].Value; got != value {
			t.Errorf("childDN(%q) = %q parses back to %q", value, dn, got)
		}
	}
}

func TestSearchCannotBeWidened(t *testing.T) {
	d, _ := openDirectory(t, "uid")
	for _, u := range []string{"anna.berg", "bo.ek", "asa.lind"} {
		if _, err := d.EnsureAccount(ctx, connectors.Account{Username: u, GivenName: "X", Surname: "Y"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pattern := range []string{"*", "a*", ")(uid=*", "*)(|(uid=*", `anna.berg\2a`} {
		if ref, err := d.LookupAccount(ctx, pattern); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("LookupAccount(%q) = %+v, %v; want not found", pattern, ref, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := Config{URL: "http://x", BaseDN: "not a dn", RDNAttribute: "sn", Flavour: "novell"}.Open(nil)
	if err == nil {
		t.Fatal("a bad config was accepted")
	}
	for _, want := range []string{"ldap url", "base DN", "rdn attribute", "flavour"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestUnreachableServer(t *testing.T) {
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "ldap://127.0.0.1:" + strconv.Itoa(port)
	d, err := Config{URL: url, BaseDN: "dc=example,dc=org", Timeout: time.Second}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.LookupAccount(ctx, "anna.berg")
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("error %v does not name %s", err, url)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s, beyond the timeout", time.Since(start))
	}
}

// A batch finds many accounts in one search, by username (also one of several uid values,
// answered under the name asked for) and by entryUUID, and leaves out those that do not
// exist; CreateAccounts adds many without looking, and says for each one that fails why: an
// entry in the way, a name the directory refuses, a missing surname.
func TestFindAndCreateAccounts(t *testing.T) {
	d, s := openDirectory(t, "uid")
	made := d.CreateAccounts(ctx, []connectors.Account{anna})
	if made[0].Err != nil || made[0].DN != "uid=anna.berg,"+s.PeopleDN {
		t.Fatalf("CreateAccounts = %+v", made)
	}
	var starters []connectors.Account
	for i := range 40 {
		starters = append(starters, connectors.Account{Username: fmt.Sprintf("start.%02d", i), GivenName: "Ny", Surname: fmt.Sprintf("Start%02d", i)})
	}
	starters[7] = anna                                                           // in the way
	starters[13] = connectors.Account{Username: "no.surname", GivenName: "Utan"} // refused before the directory
	starters[21].Username = "bad,=name\\+<>"                                     // escaped into a valid DN
	made = d.CreateAccounts(ctx, starters)
	if len(made) != len(starters) {
		t.Fatalf("%d answers for %d accounts", len(made), len(starters))
	}
	for i, m := range made {
		switch i {
		case 7:
			if !errors.Is(m.Err, connectors.ErrExists) {
				t.Errorf("anna again: %+v, want ErrExists", m)
			}
		case 13:
			if m.Err == nil {
				t.Errorf("an account without surname was added: %+v", m)
			}
		default:
			if m.Err != nil {
				t.Errorf("%s: %v", starters[i].Username, m.Err)
				continue
			}
			ref, err := d.LookupAccount(ctx, starters[i].Username)
			if err != nil {
				t.Errorf("%s: made %s, not found: %v", starters[i].Username, m.DN, err)
				continue
			}
			// The server may write the DN's escapes its own way (\2C for \,).
			madeDN, _ := goldap.ParseDN(m.DN)
			foundDN, _ := goldap.ParseDN(ref.DN)
			if madeDN == nil || !madeDN.Equal(foundDN) {
				t.Errorf("%s: made %s, found %s", starters[i].Username, m.DN, ref.DN)
			}
		}
	}
	bo, err := d.EnsureAccount(ctx, connectors.Account{Username: "bo.ek", GivenName: "Bo", Surname: "Ek"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := goldap.NewModifyRequest(bo.DN, nil)
	m.Add("uid", []string{"bo.ek2"})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	refs, err := d.FindAccounts(ctx, []string{"Anna.Berg", "bo.ek2", "nobody"}, []string{bo.ID, "00000000-0000-0000-0000-000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range refs {
		got[r.Username] = r.DN
		if r.ID == "" || !r.CreatedByUs {
			t.Errorf("%s: id %q, created by us %v", r.Username, r.ID, r.CreatedByUs)
		}
	}
	if len(refs) != 2 || got["Anna.Berg"] != "uid=anna.berg,"+s.PeopleDN || got["bo.ek2"] != bo.DN {
		t.Fatalf("FindAccounts = %+v", refs)
	}
}
