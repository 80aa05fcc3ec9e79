package provisioning_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

func grantInput(pnr, given, surname string, items ...provisioning.ItemInput) provisioning.SubmitInput {
	if len(items) == 0 {
		items = []provisioning.ItemInput{{System: "meddix"}, {System: "timecare-pool", Role: "medarbetare"}}
	}
	return provisioning.SubmitInput{
		Person: provisioning.PersonInput{Personnummer: pnr, GivenName: given, Surname: surname, EmployeeType: "employee"},
		Unit:   "5110", Items: items, Approver: "manager",
	}
}

// submitApproved submits as the requester and attests as the manager.
func submitApproved(t *testing.T, app *testapp.App, in provisioning.SubmitInput) provisioning.Submitted {
	t.Helper()
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	return sub
}

func personOf(t *testing.T, app *testapp.App, requestID string) provisioning.PersonView {
	t.Helper()
	r, err := app.Service.Request(ctx, app.Actors["it-handler"], requestID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Service.Person(ctx, app.Actors["it-handler"], r.Person.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A name full of LDAP metacharacters reaches the directory exactly, as attribute values and
// (with cn-named entries) inside the DN, and cannot widen a search.
func TestMetacharacterName(t *testing.T) {
	const given, surname = "Åsa-Märta", `O'Brien (*)\,=+<>#;"`
	for _, rdn := range []string{"uid", "cn"} {
		t.Run(rdn, func(t *testing.T) {
			app := testapp.New(t, testapp.Options{RDNAttribute: rdn})
			other := submitApproved(t, app, grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"}))
			app.WaitStatus(t, other.ID, provisioning.StatusCompleted)
			sub := submitApproved(t, app, grantInput("20010101-2383", given, surname, provisioning.ItemInput{System: "meddix"}))
			app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)

			p := personOf(t, app, sub.ID)
			if len(p.Accounts) != 1 || p.Accounts[0].Username != "asa-marta.obrien" {
				t.Fatalf("accounts = %+v, want username asa-marta.obrien", p.Accounts)
			}
			entries := app.Search(t, app.Slapd.PeopleDN, "(uid=asa-marta.obrien)", "cn", "sn", "givenName")
			if len(entries) != 1 {
				t.Fatalf("%d entries, want 1", len(entries))
			}
			e := entries[0]
			if e.GetAttributeValue("sn") != surname || e.GetAttributeValue("givenName") != given ||
				e.GetAttributeValue("cn") != given+" "+surname {
				t.Fatalf("stored names differ: cn=%q sn=%q givenName=%q", e.GetAttributeValue("cn"), e.GetAttributeValue("sn"), e.GetAttributeValue("givenName"))
			}
			dn, err := goldap.ParseDN(e.DN)
			if err != nil {
				t.Fatalf("DN %q does not parse: %v", e.DN, err)
			}
			wantRDN := map[string]string{"uid": "asa-marta.obrien", "cn": given + " " + surname}[rdn]
			if got := dn.RDNs[0].Attributes[0]; got.Type != rdn || got.Value != wantRDN {
				t.Fatalf("RDN = %s=%q, want %s=%q", got.Type, got.Value, rdn, wantRDN)
			}
			if p.Accounts[0].DN != e.DN {
				t.Errorf("recorded DN %q, directory has %q", p.Accounts[0].DN, e.DN)
			}
			groups, err := app.Directory.GroupsOf(ctx, e.DN)
			if err != nil || !slices.Equal(groups, []string{"meddix"}) {
				t.Fatalf("groups of %s = %v, %v", e.DN, groups, err)
			}
			for _, pattern := range []string{"*", "asa*", ")(uid=*", surname} {
				if ref, err := app.Directory.LookupAccount(ctx, pattern); !errors.Is(err, connectors.ErrNotFound) {
					t.Errorf("LookupAccount(%q) = %+v, %v; want not found", pattern, ref, err)
				}
			}
		})
	}
}

// flakyDirectory fails chosen calls once, to imitate a directory that drops out halfway.
type flakyDirectory struct {
	connectors.Directory
	failMember, failRemove atomic.Int32
}

func (f *flakyDirectory) EnsureMember(ctx context.Context, group string, members ...string) error {
	if f.failMember.Add(-1) >= 0 {
		return errors.New("connection reset (injected)")
	}
	return f.Directory.EnsureMember(ctx, group, members...)
}

func (f *flakyDirectory) RemoveMember(ctx context.Context, group string, members ...string) error {
	if f.failRemove.Add(-1) >= 0 {
		return errors.New("connection reset (injected)")
	}
	return f.Directory.RemoveMember(ctx, group, members...)
}

func grantIDs(t testing.TB, app *testapp.App, requestID string) []string {
	t.Helper()
	rows, err := app.Pool.Query(ctx, "SELECT id::text FROM grants WHERE request_id = $1 ORDER BY id", requestID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		t.Fatalf("request %s has no grants", requestID)
	}
	return ids
}

// Running the job bodies twice, and again after a failure halfway, leaves exactly one
// account and the right groups; revoking twice is as good as once.
func TestJobsAreIdempotent(t *testing.T) {
	var flaky *flakyDirectory
	app := testapp.New(t, testapp.Options{NoJobs: true, Directory: func(d connectors.Directory) connectors.Directory {
		flaky = &flakyDirectory{Directory: d}
		return flaky
	}})
	sub := submitApproved(t, app, grantInput("19850113-9995", "Karl", "Ek"))
	ids := grantIDs(t, app, sub.ID)

	flaky.failMember.Store(1) // the account gets made, the group add fails
	if err := app.Service.ConvergeGrant(ctx, ids[0]); err == nil {
		t.Fatal("provisioning reported success although the group add failed")
	}
	for range 2 {
		for _, id := range ids {
			if err := app.Service.ConvergeGrant(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	accounts := app.Search(t, app.Slapd.PeopleDN, "(objectClass=inetOrgPerson)")
	if len(accounts) != 1 {
		t.Fatalf("%d accounts after retries, want 1", len(accounts))
	}
	dn := accounts[0].DN
	want := []string{"meddix", "timecare-pool-5110-medarbetare"}
	if got, _ := app.Directory.GroupsOf(ctx, dn); !slices.Equal(got, want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
	for _, g := range want {
		if members := app.Search(t, app.Slapd.GroupsDN, "(cn="+g+")", "member"); len(members[0].GetAttributeValues("member")) != 1 {
			t.Errorf("group %s has members %v, want one", g, members[0].GetAttributeValues("member"))
		}
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)

	terminate(t, app, "198501139995")
	flaky.failRemove.Store(1)
	if err := app.Service.ConvergeGrant(ctx, ids[0]); err == nil {
		t.Fatal("revocation reported success although the group removal failed")
	}
	for range 2 {
		for _, id := range ids {
			if err := app.Service.ConvergeGrant(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := app.Directory.GroupsOf(ctx, dn); len(got) != 0 {
		t.Fatalf("still member of %v after revocation", got)
	}
	if ref, err := app.Directory.LookupAccount(ctx, "karl.ek"); err != nil || !ref.Disabled {
		t.Fatalf("account after revocation: %+v, %v; want disabled", ref, err)
	}
	var revoked int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'grant.revoked'").Scan(&revoked)
	if revoked != len(ids) {
		t.Errorf("%d revocations recorded for %d grants", revoked, len(ids))
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

// Dates pass on an injected clock: the account appears at valid-from and the grant ends at
// the end of valid-to, through the jobs scheduled when the grant was made.
func TestScheduledGrantAndRevocation(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	loc, _ := time.LoadLocation("Europe/Stockholm")
	tomorrow := app.Clock.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	in := grantInput("19850113-9995", "Karin", "Lind", provisioning.ItemInput{System: "meddix"})
	in.ValidFrom, in.ValidTo = tomorrow, tomorrow
	sub := submitApproved(t, app, in)
	app.WaitStatus(t, sub.ID, provisioning.StatusScheduled)
	if entries := app.Search(t, app.Slapd.PeopleDN, "(uid=karin.lind)"); len(entries) != 0 {
		t.Fatal("the account was made before valid-from")
	}

	app.Clock.Advance(25 * time.Hour) // into valid-from (DST-proof)
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	entries := app.Search(t, app.Slapd.PeopleDN, "(uid=karin.lind)")
	if len(entries) != 1 {
		t.Fatal("no account at valid-from")
	}

	app.Clock.Advance(25 * time.Hour) // past the end of valid-to
	waitFor(t, "the grant to be revoked", func() bool {
		p := personOf(t, app, sub.ID)
		return p.Grants[0].State == "revoked" && p.Accounts[0].State == "disabled"
	})
	if got, _ := app.Directory.GroupsOf(ctx, entries[0].DN); len(got) != 0 {
		t.Fatalf("still in %v after valid-to", got)
	}
}

// A termination with a future effective date waits for it.
func TestTerminationOnEffectiveDate(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	sub := submitApproved(t, app, grantInput("19850113-9995", "Per", "Al"))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	p := personOf(t, app, sub.ID)
	loc, _ := time.LoadLocation("Europe/Stockholm")
	in := provisioning.SubmitInput{Kind: "terminate", Person: provisioning.PersonInput{Personnummer: "198501139995"},
		Unit: "5110", Approver: "manager", EffectiveDate: app.Clock.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)}
	term, err := app.Service.Submit(ctx, app.Actors["manager"], in)
	if err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, term.ID, provisioning.StatusScheduled)
	if got, _ := app.Directory.GroupsOf(ctx, p.Accounts[0].DN); len(got) != 2 {
		t.Fatalf("groups taken before the effective date: %v", got)
	}
	app.Clock.Advance(25 * time.Hour)
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)
	if got, _ := app.Directory.GroupsOf(ctx, p.Accounts[0].DN); len(got) != 0 {
		t.Fatalf("still in %v after the effective date", got)
	}
}

// Usernames are numbered on collision, skip names the directory already has, and a
// username once issued is never given to anyone else.
func TestUsernames(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: "erik.lund", GivenName: "Erik", Surname: "Lund"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ pnr, given, surname, want string }{
		{"19850113-9995", "Anna", "Berg", "anna.berg"},
		{"20010101-2383", "Anna", "Berg", "anna.berg2"},
		{"19500118-2046", "Erik", "Lund", "erik.lund2"}, // erik.lund exists outside behorig
	} {
		sub := submitApproved(t, app, grantInput(c.pnr, c.given, c.surname))
		app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
		if got := personOf(t, app, sub.ID).Accounts[0].Username; got != c.want {
			t.Errorf("%s %s got username %s, want %s", c.given, c.surname, got, c.want)
		}
	}
	in := grantInput("20100101-2382", "Lisa", "Berg")
	in.Person.Username = "anna.berg"
	_, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Field != "person.username" {
		t.Fatalf("reusing another person's username: %v", err)
	}
}

// terminate ends all of the person's grants now, attested by the manager in one step; with
// NoJobs the test runs the revocation itself.
func terminate(t testing.TB, app *testapp.App, pnr string) provisioning.Submitted {
	t.Helper()
	sub, err := app.Service.Submit(ctx, app.Actors["manager"], provisioning.SubmitInput{Kind: provisioning.KindTerminate,
		Person: provisioning.PersonInput{Personnummer: pnr}, Unit: "5110", Approver: "manager"})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
