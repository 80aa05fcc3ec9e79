package provisioning_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// grantByWhat finds the person's grant of a system and role in a state.
func grantByWhat(t *testing.T, p provisioning.PersonView, system, role, state string) provisioning.GrantView {
	t.Helper()
	for _, g := range p.Grants {
		if g.System == system && g.Role == role && g.State == state {
			return g
		}
	}
	t.Fatalf("no %s grant of %s/%s among %+v", state, system, role, p.Grants)
	return provisioning.GrantView{}
}

func changeInput(pnr string, items []provisioning.ItemInput, end ...provisioning.EndInput) provisioning.SubmitInput {
	return provisioning.SubmitInput{Kind: provisioning.KindChange, Person: provisioning.PersonInput{Personnummer: pnr},
		Unit: "5110", Items: items, End: end, Approver: "manager"}
}

func auditCount(t *testing.T, app *testapp.App, requestID, action string) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(t.Context(), "SELECT count(*) FROM audit_events WHERE request_id = $1 AND action = $2",
		requestID, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func activeGroups(t *testing.T, app *testapp.App, p provisioning.PersonView) []string {
	t.Helper()
	ref, err := app.Directory.LookupAccount(t.Context(), p.Accounts[0].Username)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := app.Directory.GroupsOf(t.Context(), ref.DN)
	if err != nil {
		t.Fatal(err)
	}
	return groups
}

// A change adds a role, changes another (the old grant ends, the new one is added) and ends a
// system while the rest stays; nothing happens before the manager approves, the jobs do the
// rest, and the directory, the database and the audit trail agree. A second change that ends
// the last grants leaves the account disabled, as a termination would.
func TestChangeAddsChangesAndEnds(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	const pnr = "19850113-9995"
	first := submitApproved(t, app, grantInput(pnr, "Karin", "Ek", provisioning.ItemInput{System: "meddix"},
		provisioning.ItemInput{System: "timecare-pool", Role: "medarbetare"},
		provisioning.ItemInput{System: "timecare-planering", Role: "medarbetare"}))
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	before := personOf(t, app, first.ID)
	pool := grantByWhat(t, before, "timecare-pool", "medarbetare", provisioning.GrantActive)
	want := []string{"meddix", "timecare-planering-5110-medarbetare", "timecare-pool-5110-medarbetare"}
	if got := activeGroups(t, app, before); !slices.Equal(got, want) {
		t.Fatalf("groups before the change = %v, want %v", got, want)
	}

	in := changeInput(pnr, []provisioning.ItemInput{{System: "timecare-pool", Role: "chef"}, {System: "panorama-ros"}},
		provisioning.EndInput{Grant: pool.ID}, provisioning.EndInput{System: "timecare-planering"})
	in.Approver = "maria.chef@example.org"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	// Before approval: the request says what will change, nothing has.
	pending, err := app.Service.Request(ctx, app.Actors["manager"], sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pending.Kind != provisioning.KindChange || pending.Status != provisioning.StatusAwaitingApproval ||
		len(pending.Items) != 2 || len(pending.Ends) != 2 || pending.TermsRequired {
		t.Fatalf("pending change = kind %s, status %s, %d items, %d ends, terms %v", pending.Kind, pending.Status,
			len(pending.Items), len(pending.Ends), pending.TermsRequired)
	}
	if pending.Ends[0].GrantID != pool.ID || pending.Ends[1].System != "timecare-planering" || pending.Ends[0].EffectiveDate == "" {
		t.Fatalf("ends = %+v", pending.Ends)
	}
	var ending int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM grants WHERE person_id = $1 AND (ends_at IS NOT NULL OR ended_by_request IS NOT NULL)",
		before.ID).Scan(&ending)
	if ending != 0 {
		t.Fatalf("%d grants marked to end before approval", ending)
	}
	if got := activeGroups(t, app, before); !slices.Equal(got, want) {
		t.Fatalf("groups changed before approval: %v", got)
	}

	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	after := personOf(t, app, first.ID)
	want = []string{"meddix", "panorama-ros", "timecare-pool-5110-chef"}
	if got := activeGroups(t, app, after); !slices.Equal(got, want) {
		t.Fatalf("groups after the change = %v, want %v", got, want)
	}
	assertAgreement(t, app, after.ID)
	grantByWhat(t, after, "meddix", "", provisioning.GrantActive)
	grantByWhat(t, after, "timecare-pool", "medarbetare", provisioning.GrantRevoked)
	grantByWhat(t, after, "timecare-planering", "medarbetare", provisioning.GrantRevoked)
	if g := grantByWhat(t, after, "timecare-pool", "chef", provisioning.GrantActive); g.RequestID != sub.ID {
		t.Errorf("the new role's grant belongs to %s, want the change %s", g.RequestID, sub.ID)
	}
	var endedBy int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM grants WHERE ended_by_request = $1 AND state = 'revoked'", sub.ID).Scan(&endedBy)
	if endedBy != 2 {
		t.Errorf("%d grants ended by the change, want 2", endedBy)
	}
	for action, n := range map[string]int{"request.submitted": 1, "request.approved": 1, "grant.created": 2,
		"grant.ending": 2, "grant.provisioned": 2} {
		if got := auditCount(t, app, sub.ID, action); got != n {
			t.Errorf("%d %s events on the change, want %d", got, action, n)
		}
	}
	// The revocations belong to the grants' own requests' histories, triggered by the change.
	var revoked int
	app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'grant.revoked' AND data->>'trigger' = $1`,
		"request:"+sub.ID).Scan(&revoked)
	if revoked != 2 {
		t.Errorf("%d revocations triggered by the change, want 2", revoked)
	}

	// The remaining grants ended by a second change, as IT: the account is disabled.
	rest := changeInput(pnr, nil, provisioning.EndInput{System: "meddix"}, provisioning.EndInput{Unit: "5110", System: "panorama-ros"},
		provisioning.EndInput{System: "timecare-pool", Role: "chef"})
	last, err := app.Service.Submit(ctx, app.Actors["manager"], rest)
	if err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, last.ID, provisioning.StatusCompleted)
	final := personOf(t, app, first.ID)
	if groups, enabled := assertAgreement(t, app, final.ID); len(groups) != 0 || enabled {
		t.Fatalf("after ending every grant: groups %v, enabled %v", groups, enabled)
	}
	if final.Accounts[0].State != provisioning.AccountDisabled {
		t.Errorf("account %s after ending every grant", final.Accounts[0].State)
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

// Terms are asked for what a change adds, and nothing ends before the person has signed
// (here: IT verified a paper form), so a changed role is never lost without the new one.
func TestChangeWaitsForTermsOfWhatIsNew(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	const pnr = "19850113-9995"
	first := submitApproved(t, app, grantInput(pnr, "Per", "Al", provisioning.ItemInput{System: "meddix"},
		provisioning.ItemInput{System: "panorama-ros"}))
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	p := personOf(t, app, first.ID)

	// Ending only needs no terms.
	only, err := app.Service.Submit(ctx, app.Actors["requester"], changeInput(pnr, nil, provisioning.EndInput{System: "panorama-ros"}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := app.Service.Request(ctx, app.Actors["it-handler"], only.ID); v.TermsRequired {
		t.Error("a change that only ends asks for terms")
	}
	if err := app.Service.Reject(ctx, app.Actors["manager"], only.ID, "inte nu"); err != nil {
		t.Fatal(err)
	}

	sub := submitApproved(t, app, changeInput(pnr, []provisioning.ItemInput{{System: "pascal-npo"}},
		provisioning.EndInput{System: "panorama-ros"}))
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingUser)
	if !v.TermsRequired {
		t.Fatal("adding a system with terms asks for none")
	}
	if got := activeGroups(t, app, p); !slices.Equal(got, []string{"meddix", "panorama-ros"}) {
		t.Fatalf("groups while the terms wait = %v", got)
	}
	if _, err := app.Service.RecordPaperTerms(ctx, app.Actors["it-handler"], sub.ID, "signerad blankett"); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if got := activeGroups(t, app, p); !slices.Equal(got, []string{"meddix", "pascal-npo"}) {
		t.Fatalf("groups after the terms = %v", got)
	}
	assertAgreement(t, app, p.ID)
}

// An end with a later effective date waits for it; the rest of the access stays.
func TestChangeEndsOnTheEffectiveDate(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	const pnr = "19850113-9995"
	first := submitApproved(t, app, grantInput(pnr, "Eva", "Al"))
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	p := personOf(t, app, first.ID)
	loc, _ := time.LoadLocation("Europe/Stockholm")
	tomorrow := app.Clock.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	sub := submitApproved(t, app, changeInput(pnr, nil, provisioning.EndInput{System: "timecare-pool", EffectiveDate: tomorrow}))
	v := app.WaitStatus(t, sub.ID, provisioning.StatusScheduled)
	if v.Ends[0].EffectiveDate != tomorrow {
		t.Errorf("effective date %s, want %s", v.Ends[0].EffectiveDate, tomorrow)
	}
	if got := activeGroups(t, app, p); len(got) != 2 {
		t.Fatalf("groups taken before the effective date: %v", got)
	}
	app.Clock.Advance(25 * time.Hour)
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if got := activeGroups(t, app, p); !slices.Equal(got, []string{"meddix"}) {
		t.Fatalf("groups after the effective date = %v", got)
	}
	assertAgreement(t, app, p.ID)
}

// Bad change requests are refused with a reason per field and store nothing; a grant of
// someone else, or of a person the requester cannot see, is as unknown as none.
func TestChangeValidation(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	const pnr = "19850113-9995"
	in := grantInput(pnr, "Bo", "Ek")
	in.ValidTo = app.Clock.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	first := submitApproved(t, app, in)
	other := submitApproved(t, app, grantInput("20010101-2383", "Ida", "Berg", provisioning.ItemInput{System: "panorama-ros"}))
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	app.WaitStatus(t, other.ID, provisioning.StatusCompleted)
	mine := grantByWhat(t, personOf(t, app, first.ID), "meddix", "", provisioning.GrantActive)
	theirs := personOf(t, app, other.ID).Grants[0]
	loc, _ := time.LoadLocation("Europe/Stockholm")
	yesterday := app.Clock.Now().In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	afterEnd := app.Clock.Now().In(loc).AddDate(0, 2, 0).Format(time.DateOnly)

	for _, c := range []struct {
		name   string
		actor  string
		in     provisioning.SubmitInput
		fields []string
	}{
		{"nothing to change", "requester", changeInput(pnr, nil), []string{"items"}},
		{"another person's grant", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: theirs.ID}), []string{"end[0].grant"}},
		{"no such grant", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: "not-a-uuid"}), []string{"end[0].grant"}},
		{"a system not in the catalog", "requester", changeInput(pnr, nil, provisioning.EndInput{System: "nosuch"}), []string{"end[0].system"}},
		{"a system the person lacks", "requester", changeInput(pnr, nil, provisioning.EndInput{System: "tes"}), []string{"end[0]"}},
		{"a role without its system", "requester", changeInput(pnr, nil, provisioning.EndInput{Role: "chef"}), []string{"end[0].role"}},
		{"an empty end", "requester", changeInput(pnr, nil, provisioning.EndInput{}), []string{"end[0]"}},
		{"id and system", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID, System: "meddix"}), []string{"end[0]"}},
		{"the same grant twice", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID}, provisioning.EndInput{System: "meddix"}), []string{"end[1]"}},
		{"a date in the past", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID, EffectiveDate: yesterday}), []string{"end[0].effectiveDate"}},
		{"after the grant ends anyway", "requester", changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID, EffectiveDate: afterEnd}), []string{"end[0].effectiveDate"}},
		{"not a date", "requester", func() provisioning.SubmitInput {
			c := changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID})
			c.EffectiveDate = "31/12"
			return c
		}(), []string{"effectiveDate"}},
		{"adding what the person has", "requester", changeInput(pnr, []provisioning.ItemInput{{System: "meddix"}}), []string{"items"}},
		{"an unknown system to add", "requester", changeInput(pnr, []provisioning.ItemInput{{System: "nosuch"}}), []string{"items[0].system"}},
		{"validity without anything added", "requester", func() provisioning.SubmitInput {
			c := changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID})
			c.ValidFrom = afterEnd
			return c
		}(), []string{"validFrom"}},
		{"the person's details", "requester", func() provisioning.SubmitInput {
			c := changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID})
			c.Person.Email = "attacker@example.org"
			return c
		}(), []string{"person"}},
		{"a person the requester cannot see", "manager-soder", func() provisioning.SubmitInput {
			c := changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID})
			c.Unit, c.Approver = "5120", "manager-soder"
			return c
		}(), []string{"person"}},
		{"an approver without rights for the ended grant", "requester", func() provisioning.SubmitInput {
			c := changeInput(pnr, nil, provisioning.EndInput{Grant: mine.ID})
			c.Approver = "manager-soder"
			return c
		}(), []string{"approver"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests, ending int
			app.Pool.QueryRow(ctx, "SELECT count(*) FROM requests").Scan(&requests)
			_, err := app.Service.Submit(ctx, app.Actors[c.actor], c.in)
			got := fieldErrors(err)
			if len(got) == 0 {
				t.Fatalf("accepted: %v", err)
			}
			for _, f := range c.fields {
				if got[f] == "" {
					t.Errorf("no error on %s; errors: %v", f, got)
				}
			}
			var after int
			app.Pool.QueryRow(ctx, "SELECT count(*) FROM requests").Scan(&after)
			app.Pool.QueryRow(ctx, "SELECT count(*) FROM request_endings").Scan(&ending)
			if after != requests || ending != 0 {
				t.Errorf("stored something: %d requests before, %d after, %d endings", requests, after, ending)
			}
			for f, msg := range got {
				if strings.Contains(msg, theirs.ID) && f != "end[0].grant" {
					t.Errorf("%s names another person's grant: %s", f, msg)
				}
			}
		})
	}
}

// The approver of a pending request sees the person's current access before deciding, with
// the personnummer masked and nothing else of the person; the requester of a grant request
// for someone they do not otherwise see does not, and neither does the approver once the
// request is decided.
func TestApproverSeesCurrentAccessWhilePending(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	in := grantInput("19850113-9995", "Karl", "Ek", provisioning.ItemInput{System: "meddix"})
	in.Person.Email, in.Person.Mobile = "karl.ek@example.org", "0701234567"
	first := submitApproved(t, app, in)
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	personID := personOf(t, app, first.ID).ID
	sven, lena := app.Actors["manager-soder"], app.Actors["requester-manager"]
	if _, err := app.Service.Person(ctx, sven, personID); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("another unit's manager sees the person before any request: %v", err)
	}

	second := grantInput("19850113-9995", "Karl", "Ek", provisioning.ItemInput{System: "panorama-ros"})
	second.Unit, second.Approver = "5120", "manager-soder"
	sub, err := app.Service.Submit(ctx, lena, second)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Service.Person(ctx, sven, personID)
	if err != nil {
		t.Fatalf("the approver cannot see the person of a pending request: %v", err)
	}
	if !p.Limited || p.Email != "" || p.Mobile != "" || p.Personnummer != "19850113-****" || len(p.Grants) != 1 ||
		p.Grants[0].System != "meddix" || len(p.Accounts) != 1 || p.Accounts[0].DN != "" || p.Accounts[0].Username != "karl.ek" {
		t.Fatalf("the approver's view of the person: %+v", p)
	}
	if found, err := app.Service.FindPersons(ctx, sven, "19850113-9995"); err != nil || len(found) != 0 {
		t.Errorf("the approver finds the person by personnummer: %+v, %v", found, err)
	}
	if v, err := app.Service.Request(ctx, sven, sub.ID); err != nil || !v.Viewer.SeePerson {
		t.Errorf("the approver's request view: seePerson %v, %v", v.Viewer.SeePerson, err)
	}
	if _, err := app.Service.Person(ctx, lena, personID); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("the requester of a pending grant request sees the person: %v", err)
	}
	if v, err := app.Service.Request(ctx, lena, sub.ID); err != nil || v.Viewer.SeePerson {
		t.Errorf("the requester's request view: seePerson %v, %v", v.Viewer.SeePerson, err)
	}
	if err := app.Service.Reject(ctx, sven, sub.ID, "fel enhet"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Person(ctx, sven, personID); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("the approver still sees the person after rejecting: %v", err)
	}
}
