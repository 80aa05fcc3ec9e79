package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// faultyDirectory imitates a process that dies at a chosen directory call: the n-th call
// after arming fails with an error, panics, or reaches the directory and then the process
// "dies" (its context is cancelled, so nothing after the call is recorded).
type faultyDirectory struct {
	connectors.Directory
	mu     sync.Mutex
	calls  int
	failAt int
	mode   string // error, panic or crash
	cancel context.CancelFunc
	names  []string
}

func (f *faultyDirectory) arm(n int, mode string, cancel context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.failAt, f.mode, f.cancel, f.names = 0, n, mode, cancel, nil
}

func (f *faultyDirectory) callNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.names)
}

func (f *faultyDirectory) step(name string, call func() error) error {
	f.mu.Lock()
	f.calls++
	f.names = append(f.names, name)
	hit, mode, cancel := f.calls == f.failAt, f.mode, f.cancel
	// A process killed makes no call after: what a batch would try again alone (a call that
	// panicked for all of it) panics as well.
	hit = hit || mode == "panic" && f.failAt > 0 && f.calls > f.failAt
	f.mu.Unlock()
	if hit && mode == "error" {
		return fmt.Errorf("%s: connection reset (injected)", name)
	}
	if hit && mode == "panic" {
		panic("process killed in " + name + " (injected)")
	}
	err := call()
	if hit && mode == "crash" {
		cancel() // the directory has done it; the process dies before it records anything
	}
	return err
}

func (f *faultyDirectory) LookupAccount(ctx context.Context, username string) (ref connectors.AccountRef, err error) {
	err = f.step("LookupAccount", func() error { ref, err = f.Directory.LookupAccount(ctx, username); return err })
	return ref, err
}

func (f *faultyDirectory) FindAccounts(ctx context.Context, usernames, ids []string) (refs []connectors.AccountRef, err error) {
	err = f.step("FindAccounts", func() error { refs, err = f.Directory.FindAccounts(ctx, usernames, ids); return err })
	return refs, err
}

func (f *faultyDirectory) CreateAccounts(ctx context.Context, accounts []connectors.Account) (made []connectors.Created) {
	err := f.step("CreateAccounts", func() error {
		made = f.Directory.CreateAccounts(ctx, accounts)
		var errs []error
		for _, m := range made {
			errs = append(errs, m.Err)
		}
		return errors.Join(errs...)
	})
	if made == nil {
		made = make([]connectors.Created, len(accounts))
		for i := range made {
			made[i].Err = err
		}
	}
	return made
}

func (f *faultyDirectory) LookupAccountByID(ctx context.Context, id string) (ref connectors.AccountRef, err error) {
	err = f.step("LookupAccountByID", func() error { ref, err = f.Directory.LookupAccountByID(ctx, id); return err })
	return ref, err
}

func (f *faultyDirectory) EnsureAccount(ctx context.Context, a connectors.Account) (ref connectors.AccountRef, err error) {
	err = f.step("EnsureAccount", func() error { ref, err = f.Directory.EnsureAccount(ctx, a); return err })
	return ref, err
}

func (f *faultyDirectory) DisableAccount(ctx context.Context, dn string) error {
	return f.step("DisableAccount", func() error { return f.Directory.DisableAccount(ctx, dn) })
}

func (f *faultyDirectory) DisableAccounts(ctx context.Context, dns []string) (errs []error) {
	err := f.step("DisableAccounts", func() error {
		errs = f.Directory.DisableAccounts(ctx, dns)
		return errors.Join(errs...)
	})
	if errs == nil {
		errs = make([]error, len(dns))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

func (f *faultyDirectory) EnsureMember(ctx context.Context, group string, members ...string) error {
	return f.step("EnsureMember", func() error { return f.Directory.EnsureMember(ctx, group, members...) })
}

func (f *faultyDirectory) RemoveMember(ctx context.Context, group string, members ...string) error {
	return f.step("RemoveMember", func() error { return f.Directory.RemoveMember(ctx, group, members...) })
}

func (f *faultyDirectory) GroupsOf(ctx context.Context, member string) (groups []string, err error) {
	err = f.step("GroupsOf", func() error { groups, err = f.Directory.GroupsOf(ctx, member); return err })
	return groups, err
}

func (f *faultyDirectory) GroupsOfMembers(ctx context.Context, members []string) (groups map[string][]string, err error) {
	err = f.step("GroupsOfMembers", func() error { groups, err = f.Directory.GroupsOfMembers(ctx, members); return err })
	return groups, err
}

// runJob runs a job body as River would: a panic is the job's failure, not the test's.
func runJob(body func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return body()
}

// assertAgreement checks that the directory and the database tell the same story about the
// person: a grant is active exactly when the account is in its group, the account is
// recorded active exactly when the entry is enabled, and nothing is enabled without an
// active grant.
func assertAgreement(t *testing.T, app *testapp.App, personID string) (groups []string, enabled bool) {
	t.Helper()
	p, err := app.Service.Person(ctx, app.Actors["it-handler"], personID)
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	holding := false // a grant that keeps the account: active, or a manual one IT has yet to remove
	for _, g := range p.Grants {
		if g.State == "active" && g.Group != "" && !isManual(t, app, g.ID) {
			active = append(active, g.Group)
		}
		holding = holding || g.State == "active" || g.State == "removal_pending"
	}
	slices.Sort(active)
	active = slices.Compact(active)
	if len(p.Accounts) == 0 {
		if len(active) > 0 {
			t.Fatalf("grants %v active without an account", active)
		}
		return nil, false
	}
	acct := p.Accounts[0]
	ref, err := app.Directory.LookupAccount(ctx, acct.Username)
	exists := err == nil
	if exists {
		groups, err = app.Directory.GroupsOf(ctx, ref.DN)
		if err != nil {
			t.Fatal(err)
		}
	}
	enabled = exists && !ref.Disabled
	if !slices.Equal(groups, active) {
		t.Fatalf("directory groups %v, database says active %v", groups, active)
	}
	if (acct.State == "active") != enabled {
		t.Fatalf("account %s recorded %s, directory entry exists=%v disabled=%v", acct.Username, acct.State, exists, ref.Disabled)
	}
	if enabled && !holding {
		t.Fatalf("account %s enabled without an active grant", acct.Username)
	}
	if exists && acct.DN != ref.DN {
		t.Fatalf("recorded DN %q, directory %q", acct.DN, ref.DN)
	}
	return groups, enabled
}

func isManual(t *testing.T, app *testapp.App, grantID string) bool {
	t.Helper()
	var manual bool
	if err := app.Pool.QueryRow(ctx, "SELECT manual FROM grants WHERE id = $1", grantID).Scan(&manual); err != nil {
		t.Fatal(err)
	}
	return manual
}

// A process killed at any directory call of a provisioning or a revocation (before the call,
// in it, or after the directory did it but before the database recorded it), followed by a
// retry, a termination or a revocation, ends with the directory and the database in
// agreement: no access left behind that revocation cannot see, none recorded that is not
// there. This is the crash of the review (kill -9 between the LDAP write and the commit,
// then a termination that left the account enabled and in the group).
func TestCrashAtEveryDirectoryCall(t *testing.T) {
	var faulty *faultyDirectory
	app := testapp.New(t, testapp.Options{NoJobs: true, Directory: func(d connectors.Directory) connectors.Directory {
		faulty = &faultyDirectory{Directory: d}
		return faulty
	}})
	numbers := testNumbers(200)
	next := 0
	newPerson := func(t *testing.T) (pnr, personID string, grants []string) {
		pnr = numbers[next]
		next++
		sub := submitApproved(t, app, grantInput(pnr, "Krasch", fmt.Sprintf("Test%d", next)))
		r, err := app.Service.Request(ctx, app.Actors["it-handler"], sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		return pnr, r.Person.ID, grantIDs(t, app, sub.ID)
	}
	converge := func(grantID string) error { return app.Service.ConvergeGrant(ctx, grantID) }
	wantGranted := []string{"meddix", "timecare-pool-5110-medarbetare"}

	// Learn the directory calls of each phase from a run without faults.
	pnr, personID, grants := newPerson(t)
	faulty.arm(0, "", nil)
	if err := converge(grants[0]); err != nil {
		t.Fatal(err)
	}
	provisionCalls := faulty.callNames()
	terminate(t, app, pnr)
	faulty.arm(0, "", nil)
	if err := converge(grants[0]); err != nil {
		t.Fatal(err)
	}
	revokeCalls := faulty.callNames()
	assertAgreement(t, app, personID)
	t.Logf("provisioning makes %d directory calls %v; revocation %d %v", len(provisionCalls), provisionCalls,
		len(revokeCalls), revokeCalls)

	for n, call := range provisionCalls {
		for _, mode := range []string{"error", "panic", "crash"} {
			for _, then := range []string{"retry", "terminate"} {
				t.Run(fmt.Sprintf("provision/%d-%s/%s/%s", n+1, call, mode, then), func(t *testing.T) {
					pnr, personID, grants := newPerson(t)
					jobCtx, cancel := context.WithCancel(ctx)
					defer cancel()
					faulty.arm(n+1, mode, cancel)
					if err := runJob(func() error { return app.Service.ConvergeGrant(jobCtx, grants[0]) }); err == nil {
						t.Fatal("the job reported success although it died")
					}
					faulty.arm(0, "", nil)
					if then == "terminate" {
						terminate(t, app, pnr)
					}
					if err := converge(grants[1]); err != nil {
						t.Fatal(err)
					}
					groups, enabled := assertAgreement(t, app, personID)
					switch then {
					case "retry":
						if !slices.Equal(groups, wantGranted) || !enabled {
							t.Fatalf("after the retry: groups %v, enabled %v; want %v, enabled", groups, enabled, wantGranted)
						}
					case "terminate":
						if len(groups) != 0 || enabled {
							t.Fatalf("after the termination: groups %v, enabled %v; want none, disabled", groups, enabled)
						}
					}
				})
			}
		}
	}
	for n, call := range revokeCalls {
		for _, mode := range []string{"error", "panic", "crash"} {
			t.Run(fmt.Sprintf("revoke/%d-%s/%s/retry", n+1, call, mode), func(t *testing.T) {
				pnr, personID, grants := newPerson(t)
				if err := converge(grants[0]); err != nil {
					t.Fatal(err)
				}
				term := terminate(t, app, pnr)
				jobCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				faulty.arm(n+1, mode, cancel)
				if err := runJob(func() error { return app.Service.ConvergeGrant(jobCtx, grants[0]) }); err == nil {
					t.Fatal("the job reported success although it died")
				}
				faulty.arm(0, "", nil)
				if r, _ := app.Service.Request(ctx, app.Actors["it-handler"], term.ID); r.Status == provisioning.StatusCompleted {
					t.Fatal("the termination is completed although its revocation died")
				}
				if err := converge(grants[1]); err != nil {
					t.Fatal(err)
				}
				if groups, enabled := assertAgreement(t, app, personID); len(groups) != 0 || enabled {
					t.Fatalf("after the retry: groups %v, enabled %v", groups, enabled)
				}
				if r, _ := app.Service.Request(ctx, app.Actors["it-handler"], term.ID); r.Status != provisioning.StatusCompleted {
					t.Fatalf("termination %s after the retry", r.Status)
				}
			})
		}
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

// batchPersons makes n approved persons for a batch: their personnummer, ids and grants.
type batchPersonsMaker struct {
	app     *testapp.App
	numbers []string
	next    int
}

func (m *batchPersonsMaker) make(t *testing.T, n int, surname string) (pnrs, persons, grants []string) {
	t.Helper()
	for range n {
		pnr := m.numbers[m.next]
		m.next++
		sub := submitApproved(t, m.app, grantInput(pnr, "Sats", fmt.Sprintf("%s%d", surname, m.next)))
		r, err := m.app.Service.Request(ctx, m.app.Actors["it-handler"], sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		pnrs, persons, grants = append(pnrs, pnr), append(persons, r.Person.ID), append(grants, grantIDs(t, m.app, sub.ID)...)
	}
	return pnrs, persons, grants
}

// runBatch runs a batch of jobs as the job runner does; a panic that escapes fails them all.
func runBatch(app *testapp.App, jobCtx context.Context, grants []string) (errs []error) {
	errs = make([]error, len(grants))
	err := runJob(func() error { errs = app.Service.ConvergeGrants(jobCtx, grants); return nil })
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// succeeded tells which persons' jobs all reported success (two grants a person, in order).
func succeeded(errs []error) []bool {
	ok := make([]bool, len(errs)/2)
	for i := range ok {
		ok[i] = errs[2*i] == nil && errs[2*i+1] == nil
	}
	return ok
}

// A process killed at any directory call of a batch (before the call, in it, or after the
// directory did it but before the database recorded it), followed by a retry or a
// termination, ends with the directory and the database in agreement for every person of the
// batch. No person's job reports success unless their access is there (or gone) in the
// directory and recorded: a batch may recover from a failed group change member by member,
// but it never records what it did not do.
func TestCrashAtEveryDirectoryCallOfABatch(t *testing.T) {
	var faulty *faultyDirectory
	app := testapp.New(t, testapp.Options{NoJobs: true, Directory: func(d connectors.Directory) connectors.Directory {
		faulty = &faultyDirectory{Directory: d}
		return faulty
	}})
	m := &batchPersonsMaker{app: app, numbers: testNumbers(400)}
	const n = 3
	wantGranted := []string{"meddix", "timecare-pool-5110-medarbetare"}
	checkGranted := func(t *testing.T, persons []string, which []bool) {
		t.Helper()
		for i, id := range persons {
			if which != nil && !which[i] {
				continue
			}
			if groups, enabled := assertAgreement(t, app, id); !slices.Equal(groups, wantGranted) || !enabled {
				t.Fatalf("person %d: groups %v, enabled %v; want %v, enabled", i, groups, enabled, wantGranted)
			}
		}
	}
	checkRevoked := func(t *testing.T, persons, terms []string, which []bool) {
		t.Helper()
		for i, id := range persons {
			if which != nil && !which[i] {
				continue
			}
			if groups, enabled := assertAgreement(t, app, id); len(groups) != 0 || enabled {
				t.Fatalf("person %d: groups %v, enabled %v; want none, disabled", i, groups, enabled)
			}
			if r, _ := app.Service.Request(ctx, app.Actors["it-handler"], terms[i]); r.Status != provisioning.StatusCompleted {
				t.Fatalf("person %d: termination %s although the revocation reported success", i, r.Status)
			}
		}
	}
	terminateAll := func(t *testing.T, pnrs []string) (terms []string) {
		for _, pnr := range pnrs {
			terms = append(terms, terminate(t, app, pnr).ID)
		}
		return terms
	}

	pnrs, persons, grants := m.make(t, n, "Lär")
	faulty.arm(0, "", nil)
	if errs := runBatch(app, ctx, grants); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatal(errs)
	}
	provisionCalls := faulty.callNames()
	checkGranted(t, persons, nil)
	terms := terminateAll(t, pnrs)
	faulty.arm(0, "", nil)
	if errs := runBatch(app, ctx, grants); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatal(errs)
	}
	revokeCalls := faulty.callNames()
	checkRevoked(t, persons, terms, nil)
	t.Logf("a batch of %d provisionings makes %d directory calls %v; of revocations %d %v", n, len(provisionCalls),
		provisionCalls, len(revokeCalls), revokeCalls)

	for c, call := range provisionCalls {
		for _, mode := range []string{"error", "panic", "crash"} {
			for _, then := range []string{"retry", "terminate"} {
				t.Run(fmt.Sprintf("provision/%d-%s/%s/%s", c+1, call, mode, then), func(t *testing.T) {
					pnrs, persons, grants := m.make(t, n, "Krasch")
					jobCtx, cancel := context.WithCancel(ctx)
					defer cancel()
					faulty.arm(c+1, mode, cancel)
					ok := succeeded(runBatch(app, jobCtx, grants))
					faulty.arm(0, "", nil)
					checkGranted(t, persons, ok) // who reported success has it
					var terms []string
					if then == "terminate" {
						terms = terminateAll(t, pnrs)
					}
					if errs := runBatch(app, ctx, grants); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
						t.Fatal(errs)
					}
					if then == "retry" {
						checkGranted(t, persons, nil)
					} else {
						checkRevoked(t, persons, terms, nil)
					}
				})
			}
		}
	}
	for c, call := range revokeCalls {
		for _, mode := range []string{"error", "panic", "crash"} {
			t.Run(fmt.Sprintf("revoke/%d-%s/%s/retry", c+1, call, mode), func(t *testing.T) {
				pnrs, persons, grants := m.make(t, n, "Krasch")
				if errs := runBatch(app, ctx, grants); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
					t.Fatal(errs)
				}
				terms := terminateAll(t, pnrs)
				jobCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				faulty.arm(c+1, mode, cancel)
				ok := succeeded(runBatch(app, jobCtx, grants))
				faulty.arm(0, "", nil)
				checkRevoked(t, persons, terms, ok)
				for i, done := range ok {
					if r, _ := app.Service.Request(ctx, app.Actors["it-handler"], terms[i]); !done && r.Status == provisioning.StatusCompleted {
						t.Fatalf("person %d: the termination is completed although its revocation failed", i)
					}
				}
				if errs := runBatch(app, ctx, grants); slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
					t.Fatal(errs)
				}
				checkRevoked(t, persons, terms, nil)
			})
		}
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

// brokenFor fails the directory for one person only: adding their entry panics once, and
// every group change that includes them fails until it is mended.
type brokenFor struct {
	connectors.Directory
	surname  string
	mu       sync.Mutex
	panicked bool
	mended   bool
}

func (d *brokenFor) CreateAccounts(ctx context.Context, accounts []connectors.Account) []connectors.Created {
	d.mu.Lock()
	hit := slices.ContainsFunc(accounts, func(a connectors.Account) bool { return a.Surname == d.surname }) && !d.panicked
	d.panicked = d.panicked || hit
	d.mu.Unlock()
	if hit {
		panic("a bug that only this person's entry meets (injected)")
	}
	return d.Directory.CreateAccounts(ctx, accounts)
}

func (d *brokenFor) EnsureMember(ctx context.Context, group string, members ...string) error {
	d.mu.Lock()
	mended := d.mended
	d.mu.Unlock()
	if !mended && slices.ContainsFunc(members, func(m string) bool { return strings.Contains(m, strings.ToLower(d.surname)) }) {
		return fmt.Errorf("add to %s: constraint violation (injected)", group)
	}
	return d.Directory.EnsureMember(ctx, group, members...)
}

// One person's failure in a batch is theirs alone: a panic while adding one person's entry,
// and a group change that the directory refuses because of one member, fail that person's
// jobs, while everyone else in the batch is provisioned and recorded. The failed person's
// retry then succeeds.
func TestOnePersonFailsAloneInABatch(t *testing.T) {
	for _, broken := range []string{"panic", "group"} {
		t.Run(broken, func(t *testing.T) {
			var dir *brokenFor
			app := testapp.New(t, testapp.Options{NoJobs: true, Directory: func(d connectors.Directory) connectors.Directory {
				dir = &brokenFor{Directory: d, surname: "Trasig"}
				return dir
			}})
			if broken == "group" {
				dir.panicked = true // only the group change fails
			}
			var grants, persons []string
			for i, pnr := range testNumbers(5) {
				surname := fmt.Sprintf("Hel%c", 'a'+i)
				if i == 2 {
					surname = "Trasig"
				}
				sub := submitApproved(t, app, grantInput(pnr, "Sats", surname))
				grants = append(grants, grantIDs(t, app, sub.ID)...)
				persons = append(persons, personOf(t, app, sub.ID).ID)
			}
			errs := app.Service.ConvergeGrants(ctx, grants)
			for i, ok := range succeeded(errs) {
				if ok == (i == 2) {
					t.Fatalf("person %d: errors %v", i, errs[2*i:2*i+2])
				}
				if ok {
					if groups, enabled := assertAgreement(t, app, persons[i]); len(groups) != 2 || !enabled {
						t.Fatalf("person %d: groups %v, enabled %v", i, groups, enabled)
					}
				}
			}
			t.Logf("the broken person's jobs: %v", errs[4])
			dir.mu.Lock()
			dir.mended = true
			dir.mu.Unlock()
			if err := app.Service.ConvergeGrant(ctx, grants[4]); err != nil {
				t.Fatal(err)
			}
			if groups, enabled := assertAgreement(t, app, persons[2]); len(groups) != 2 || !enabled {
				t.Fatalf("after the retry: groups %v, enabled %v", groups, enabled)
			}
		})
	}
}

// When a temporary grant ends, the person stays in a group that another, permanent grant
// still maps to; only the group no grant wants any more is left.
func TestOverlappingGrantsKeepTheGroup(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	permanent := submitApproved(t, app, grantInput("19850113-9995", "Olga", "Ek", provisioning.ItemInput{System: "meddix"}))
	app.WaitStatus(t, permanent.ID, provisioning.StatusCompleted)
	loc, _ := time.LoadLocation("Europe/Stockholm")
	temporary := grantInput("19850113-9995", "Olga", "Ek", provisioning.ItemInput{System: "meddix"},
		provisioning.ItemInput{System: "timecare-pool", Role: "medarbetare"})
	temporary.ValidTo = app.Clock.Now().In(loc).Format(time.DateOnly)
	temp := submitApproved(t, app, temporary)
	app.WaitStatus(t, temp.ID, provisioning.StatusCompleted)
	p := personOf(t, app, temp.ID)

	app.Clock.Advance(25 * time.Hour) // past the end of the temporary grant
	waitFor(t, "the temporary grants to end", func() bool {
		for _, g := range personOf(t, app, temp.ID).Grants {
			if g.RequestID == temp.ID && g.State != "revoked" {
				return false
			}
		}
		return true
	})
	groups, enabled := assertAgreement(t, app, p.ID)
	if !slices.Equal(groups, []string{"meddix"}) || !enabled {
		t.Fatalf("after the temporary grant ended: groups %v, enabled %v; want [meddix], enabled", groups, enabled)
	}
}

// A requester who names an existing directory account (one behorig did not create) as the
// username of a made-up person gets nothing onto it: the approver sees the username and that
// it is someone's account, the approval leaves the account untouched until IT confirms the
// link, and terminating the made-up person does not lock the real account.
func TestExistingAccountIsNeverTakenOver(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	boss := existingEntry(t, app, "kommundirektor", "Karin", "Direktör")
	in := grantInput("19850113-9995", "Mallory", "Made-Up", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "kommundirektor"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	var view provisioning.RequestView
	if code := app.Call(t, "manager", "GET", "/api/v1/requests/"+sub.ID, nil, &view); code != 200 {
		t.Fatalf("approver reads the request: %d", code)
	}
	if d := view.PersonDetails; d == nil || d.Username != "kommundirektor" || d.UsernameCheck != provisioning.UsernameExists {
		t.Fatalf("the approver does not see the existing account: %+v", d)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	personID := view.Person.ID
	waitLinkRequired(t, app, personID, "kommundirektor")
	if groups, _ := app.Directory.GroupsOf(ctx, boss.DN); len(groups) != 0 {
		t.Fatalf("the existing account got %v without IT's confirmation", groups)
	}
	if p, _ := app.Service.Person(ctx, app.Actors["it-handler"], personID); len(p.Accounts) != 0 {
		t.Fatalf("the made-up person holds %+v", p.Accounts)
	}

	term, err := app.Service.Submit(ctx, app.Actors["manager"], provisioning.SubmitInput{Kind: provisioning.KindTerminate,
		Person: provisioning.PersonInput{ID: personID}, Unit: "5110", Approver: "manager"})
	if err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)
	if ref, err := app.Directory.LookupAccount(ctx, "kommundirektor"); err != nil || ref.Disabled {
		t.Fatalf("terminating the made-up person touched the real account: %+v, %v", ref, err)
	}
}

// IT's confirmation on the person page links an existing account, audited, and the access
// follows; only IT may confirm.
func TestITLinksAnExistingAccount(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	existing := existingEntry(t, app, "anna.b", "Anna", "Berg")
	in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "anna.b"
	sub := submitApproved(t, app, in)
	personID := personOf(t, app, sub.ID).ID
	waitLinkRequired(t, app, personID, "anna.b")
	if err := app.Service.LinkAccount(ctx, app.Actors["manager"], personID, "anna.b"); err == nil {
		t.Fatal("a manager linked a directory account")
	}
	if err := app.Service.LinkAccount(ctx, app.Actors["it-handler"], personID, "anna.b"); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if groups, _ := app.Directory.GroupsOf(ctx, existing.DN); !slices.Equal(groups, []string{"meddix"}) {
		t.Fatalf("linked account's groups %v", groups)
	}
	p := personOf(t, app, sub.ID)
	if len(p.Accounts) != 1 || p.Accounts[0].Origin != "linked" || p.Accounts[0].LinkedBy != "it:it-handler" || p.LinkRequired != "" {
		t.Fatalf("account after the link: %+v, link required %q", p.Accounts, p.LinkRequired)
	}
	var audited int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'account.linked' AND actor = 'it-handler'").Scan(&audited)
	if audited != 1 {
		t.Fatalf("%d audit events of the link", audited)
	}
}

// With an identity attribute configured, an existing entry that carries the person's
// personnummer is linked at once, and one that carries another person's is refused at
// submission with a field error.
func TestIdentityAttributeDecidesTheLink(t *testing.T) {
	app := testapp.New(t, testapp.Options{IdentityAttribute: "employeeNumber"})
	for _, a := range []connectors.Account{
		{Username: "anna.b", GivenName: "Anna", Surname: "Berg", Identity: "195001182046"},
		{Username: "someone", GivenName: "Some", Surname: "One", Identity: "198501139995"},
	} {
		if _, err := app.Directory.EnsureAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "anna.b"
	sub := submitApproved(t, app, in)
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if p := personOf(t, app, sub.ID); p.Accounts[0].Origin != "linked" || p.Accounts[0].LinkedBy != "identity_attribute" {
		t.Fatalf("account %+v, want linked by the identity attribute", p.Accounts[0])
	}

	in = grantInput("20010101-2383", "Mallory", "Other", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "someone"
	_, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if fe := fieldErrors(err); !strings.Contains(fe["person.username"], "another person's account") {
		t.Fatalf("another person's entry as username: %v", err)
	}

	// behorig writes the personnummer on the entries it creates.
	sub = submitApproved(t, app, grantInput("19850113-9995", "Nils", "Ny", provisioning.ItemInput{System: "meddix"}))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if e := app.Search(t, app.Slapd.PeopleDN, "(uid=nils.ny)", "employeeNumber"); len(e) != 1 ||
		e[0].GetAttributeValue("employeeNumber") != "198501139995" {
		t.Fatalf("identity attribute of a new account: %+v", e)
	}
}

// A request changes nothing about its person until approved: a rejected request that named
// the requester's own e-mail and account leaves the person's e-mail and username empty, and
// the manager's later request mails the terms link to the address the manager gave.
func TestRejectedRequestChangesNobody(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	existingEntry(t, app, "rolf", "Rolf", "Requester")
	hostile := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	hostile.Person.Email, hostile.Person.Mobile, hostile.Person.Username = "rolf@evil.example", "+46701234567", "rolf"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], hostile)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Service.Reject(ctx, app.Actors["manager"], sub.ID, "Känner inte personen"); err != nil {
		t.Fatal(err)
	}
	var email, mobile, username string
	if err := app.Pool.QueryRow(ctx, "SELECT p.email, p.mobile, p.requested_username FROM persons p JOIN requests r ON r.person_id = p.id WHERE r.id = $1",
		sub.ID).Scan(&email, &mobile, &username); err != nil {
		t.Fatal(err)
	}
	if email != "" || mobile != "" || username != "" {
		t.Fatalf("a rejected request changed the person: email %q mobile %q username %q", email, mobile, username)
	}

	legit := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	legit.Person.Email = "anna.berg@example.org"
	legit.Approver = "manager"
	own, err := app.Service.Submit(ctx, app.Actors["manager"], legit)
	if err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, own.ID, provisioning.StatusAwaitingUser)
	var to string
	if err := app.Pool.QueryRow(ctx, "SELECT email FROM terms_links WHERE request_id = $1", own.ID).Scan(&to); err != nil {
		t.Fatal(err)
	}
	if to != "anna.berg@example.org" {
		t.Fatalf("the terms link goes to %q", to)
	}
	if _, err := app.Service.RecordPaperTerms(ctx, app.Actors["it-handler"], own.ID, "signed on paper"); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, own.ID, provisioning.StatusCompleted)
	if p := personOf(t, app, own.ID); p.Accounts[0].Username != "anna.berg" {
		t.Fatalf("the access went onto %s", p.Accounts[0].Username)
	}
	if ref, _ := app.Directory.LookupAccount(ctx, "rolf"); ref.DN != "" {
		if groups, _ := app.Directory.GroupsOf(ctx, ref.DN); len(groups) != 0 {
			t.Fatalf("the requester's own account got %v", groups)
		}
	}
}

func fieldErrors(err error) map[string]string {
	out := map[string]string{}
	if ve, ok := err.(*provisioning.ValidationError); ok {
		for _, e := range ve.Errors {
			out[e.Field] = e.Message
		}
	}
	return out
}

// Reconciliation finds the drift a hand edit in the directory made (a member nobody granted,
// a granted membership removed, an ended person's account enabled again, an active person's
// account disabled), changes nothing in a dry run, repairs each difference with an audit
// event, and finds nothing the next time.
func TestReconcileRepairsDrift(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	ada := submitApproved(t, app, grantInput("19850113-9995", "Ada", "Ek"))
	bo := submitApproved(t, app, grantInput("20010101-2383", "Bo", "Ek", provisioning.ItemInput{System: "meddix"}))
	cea := submitApproved(t, app, grantInput("19500118-2046", "Cea", "Ek", provisioning.ItemInput{System: "meddix"}))
	for _, sub := range []provisioning.Submitted{ada, bo, cea} {
		app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	}
	app.WaitStatus(t, terminate(t, app, "20010101-2383").ID, provisioning.StatusCompleted)
	dn := func(sub provisioning.Submitted) string { return personOf(t, app, sub.ID).Accounts[0].DN }

	stranger := existingEntry(t, app, "stranger", "Some", "Stranger")
	for _, edit := range []error{
		app.Directory.EnsureMember(ctx, "meddix", stranger.DN),                     // member_not_granted (no account of behorig)
		app.Directory.EnsureMember(ctx, "timecare-pool-5110-medarbetare", dn(cea)), // member_not_granted (Cea has no such grant)
		app.Directory.RemoveMember(ctx, "timecare-pool-5110-medarbetare", dn(ada)), // membership_missing
		func() error {
			_, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: "bo.ek", Surname: "Ek"})
			return err
		}(), // enabled_without_grant
		app.Directory.DisableAccount(ctx, dn(cea)), // disabled_with_grant
	} {
		if edit != nil {
			t.Fatal(edit)
		}
	}
	want := map[string]int{provisioning.DiffUngrantedMember: 2, provisioning.DiffMissingMember: 1,
		provisioning.DiffEnabledWithoutGrant: 1, provisioning.DiffDisabledWithGrant: 1}

	dry, err := app.Service.Reconcile(ctx, true, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if got := dry.Counts(); !maps.Equal(got, want) || dry.Repaired != 0 {
		t.Fatalf("dry run found %v (repaired %d), want %v; %+v", got, dry.Repaired, want, dry.Differences)
	}
	if groups, _ := app.Directory.GroupsOf(ctx, stranger.DN); len(groups) != 1 {
		t.Fatal("the dry run changed the directory")
	}

	run, err := app.Service.Reconcile(ctx, false, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if got := run.Counts(); !maps.Equal(got, want) || run.Repaired != 5 || len(run.Problems) != 0 {
		t.Fatalf("run found %v, repaired %d, problems %v", got, run.Repaired, run.Problems)
	}
	if groups, _ := app.Directory.GroupsOf(ctx, stranger.DN); len(groups) != 0 {
		t.Fatalf("the stranger is still in %v", groups)
	}
	for _, sub := range []provisioning.Submitted{ada, bo, cea} {
		assertAgreement(t, app, personOf(t, app, sub.ID).ID)
	}
	if groups, enabled := assertAgreement(t, app, personOf(t, app, ada.ID).ID); len(groups) != 2 || !enabled {
		t.Fatalf("Ada after the repair: %v, enabled %v", groups, enabled)
	}
	if _, enabled := assertAgreement(t, app, personOf(t, app, bo.ID).ID); enabled {
		t.Fatal("Bo's account is enabled after the repair")
	}
	var audited int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'reconcile.repaired' AND data->>'run' = $1", run.ID).Scan(&audited)
	if audited != 5 {
		t.Fatalf("%d repairs audited, want 5", audited)
	}

	again, err := app.Service.Reconcile(ctx, false, "periodic")
	if err != nil || len(again.Differences) != 0 {
		t.Fatalf("a second run found %+v, %v", again.Differences, err)
	}
	last, found, err := app.Service.LastReconcile(ctx, app.Actors["it-handler"])
	if err != nil || !found || last.ID != again.ID || last.Persons != 3 {
		t.Fatalf("last run %+v, %v, %v", last, found, err)
	}
	if _, _, err := app.Service.LastReconcile(ctx, app.Actors["requester"]); err == nil {
		t.Fatal("a requester read the reconciliation")
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

// hangingDirectory hangs every account look-up until released, as a stopped directory does.
type hangingDirectory struct {
	connectors.Directory
	release chan struct{}
}

func (h *hangingDirectory) LookupAccount(ctx context.Context, username string) (connectors.AccountRef, error) {
	<-h.release
	return h.Directory.LookupAccount(ctx, username)
}

// A directory that hangs does not hold up a submission: the requested username is marked as
// unchecked, and the provisioning job checks it before anything is written, so an existing
// account still waits for IT.
func TestSubmissionDoesNotWaitForAHungDirectory(t *testing.T) {
	hung := &hangingDirectory{release: make(chan struct{})}
	app := testapp.New(t, testapp.Options{Directory: func(d connectors.Directory) connectors.Directory {
		hung.Directory = d
		return hung
	}})
	existingEntry(t, app, "anna.b", "Anna", "Berg")
	in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "anna.b"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	close(hung.release) // only now: a submission that waited for the directory never gets here
	if err != nil {
		t.Fatal(err)
	}
	r, err := app.Service.Request(ctx, app.Actors["manager"], sub.ID)
	if err != nil || r.PersonDetails.UsernameCheck != provisioning.UsernameUnchecked {
		t.Fatalf("username check %+v, %v; want unchecked", r.PersonDetails, err)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	waitLinkRequired(t, app, r.Person.ID, "anna.b")
}

// An identity attribute that no longer names the person (an HR sync, a typo) stops behorig
// from giving the entry anything, never from taking away what it gave: the termination
// completes and the account ends disabled and out of its groups.
func TestIdentityChangeDoesNotBlockRevocation(t *testing.T) {
	app := testapp.New(t, testapp.Options{IdentityAttribute: "employeeNumber"})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg"))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	p := personOf(t, app, sub.ID)
	conn, err := app.Slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := goldap.NewModifyRequest(p.Accounts[0].DN, nil)
	m.Replace("employeeNumber", []string{"E-4711"})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, terminate(t, app, "19500118-2046").ID, provisioning.StatusCompleted)
	if groups, enabled := assertAgreement(t, app, p.ID); len(groups) != 0 || enabled {
		t.Fatalf("after the termination: groups %v, enabled %v", groups, enabled)
	}
}

// A manual system's access keeps the account as long as IT has not removed it by hand, also
// after a termination: the account is not disabled and enabled again on the way.
func TestManualGrantKeepsTheAccountUntilRemoved(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET manual = true WHERE id = 'panorama-ros'"); err != nil {
		t.Fatal(err)
	}
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"},
		provisioning.ItemInput{System: "panorama-ros"}))
	var manual string
	app.Pool.QueryRow(ctx, "SELECT id::text FROM grants WHERE request_id = $1 AND manual", sub.ID).Scan(&manual)
	waitFor(t, "the connected grant", func() bool { return len(personOf(t, app, sub.ID).Accounts) == 1 })
	if err := app.Service.CompleteManualGrant(ctx, app.Actors["it-handler"], manual, "given"); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	term := terminate(t, app, "19500118-2046")
	p := personOf(t, app, sub.ID)
	waitFor(t, "the manual grant to wait for IT", func() bool {
		for _, g := range personOf(t, app, sub.ID).Grants {
			if g.ID == manual && g.State == "removal_pending" {
				return true
			}
		}
		return false
	})
	if groups, enabled := assertAgreement(t, app, p.ID); len(groups) != 0 || !enabled {
		t.Fatalf("while IT's removal is pending: groups %v, enabled %v; want none, enabled", groups, enabled)
	}
	if err := app.Service.CompleteManualRemoval(ctx, app.Actors["it-handler"], manual, "removed"); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)
	if _, enabled := assertAgreement(t, app, p.ID); enabled {
		t.Fatal("the account is enabled after the last access was removed")
	}
	var toggles int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'account.enabled' AND person_id = $1", p.ID).Scan(&toggles)
	if toggles != 0 {
		t.Fatalf("the account was enabled again %d times on the way", toggles)
	}
}

// behorig enables and disables only the accounts it created: linking an account in use ahead
// of a grant's valid-from does not lock it, and neither does the end of the grant; the
// groups come and go.
func TestLinkedAccountIsNeverLocked(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	existing := existingEntry(t, app, "anna.b", "Anna", "Berg")
	loc, _ := time.LoadLocation("Europe/Stockholm")
	in := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "anna.b"
	in.ValidFrom = app.Clock.Now().In(loc).AddDate(0, 0, 1).Format(time.DateOnly)
	in.ValidTo = in.ValidFrom
	sub := submitApproved(t, app, in)
	personID := personOf(t, app, sub.ID).ID
	if err := app.Service.LinkAccount(ctx, app.Actors["it-handler"], personID, "anna.b"); err != nil {
		t.Fatal(err)
	}
	enabledNow := func() bool {
		ref, err := app.Directory.LookupAccount(ctx, "anna.b")
		return err == nil && !ref.Disabled
	}
	time.Sleep(200 * time.Millisecond) // let the converge job the link scheduled run
	waitFor(t, "the link's run", func() bool {
		var running int
		app.Pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'converge' AND state NOT IN ('completed', 'cancelled', 'discarded')").Scan(&running)
		return running == 0
	})
	if !enabledNow() {
		t.Fatal("linking the account ahead of the valid-from locked it")
	}
	app.Clock.Advance(25 * time.Hour)
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if groups, _ := app.Directory.GroupsOf(ctx, existing.DN); !slices.Equal(groups, []string{"meddix"}) {
		t.Fatalf("groups at valid-from: %v", groups)
	}
	app.Clock.Advance(25 * time.Hour)
	waitFor(t, "the grant to end", func() bool { return personOf(t, app, sub.ID).Grants[0].State == "revoked" })
	if groups, _ := app.Directory.GroupsOf(ctx, existing.DN); len(groups) != 0 || !enabledNow() {
		t.Fatalf("after the end: groups %v, enabled %v; want none, still enabled", groups, enabledNow())
	}
}

// A rejected request decides nothing about a person first met in it: the first approved
// request decides the name, employment and username the account is made from.
func TestFirstApprovalDecidesANewPerson(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	hostile := grantInput("19500118-2046", "Kommun", "Direktor", provisioning.ItemInput{System: "meddix"})
	hostile.Person.EmployeeType, hostile.ValidTo = "consultant", "2100-12-31"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], hostile)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Service.Reject(ctx, app.Actors["manager"], sub.ID, "Fel person"); err != nil {
		t.Fatal(err)
	}
	legit := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"}))
	app.WaitStatus(t, legit.ID, provisioning.StatusCompleted)
	e := app.Search(t, app.Slapd.PeopleDN, "(objectClass=inetOrgPerson)", "uid", "cn", "employeeType")
	if len(e) != 1 || e[0].GetAttributeValue("uid") != "anna.berg" || e[0].GetAttributeValue("cn") != "Anna Berg" ||
		e[0].GetAttributeValue("employeeType") != "employee" {
		t.Fatalf("the account was made from the rejected request: %+v", e[0])
	}
}

// When an earlier approval decided a person's e-mail and username, a later approver sees the
// values that their request will not change, before deciding.
func TestLaterApproverSeesWhatIsKept(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	first := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	first.Unit, first.Approver, first.ValidFrom = "5220", "requester-manager", "2100-01-01"
	first.Person.Email, first.Person.Username = "lena@evil.example", "lena.anna"
	if _, err := app.Service.Submit(ctx, app.Actors["requester-manager"], first); err != nil {
		t.Fatal(err)
	}
	second := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	second.Person.Email = "anna.berg@example.org"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := app.Service.Request(ctx, app.Actors["manager"], sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]string{}
	for _, k := range r.PersonDetails.Kept {
		kept[k.Field] = k.Value
	}
	if kept["email"] != "lena@evil.example" || kept["username"] != "lena.anna" {
		t.Fatalf("the approver is not told what is kept: %+v", r.PersonDetails.Kept)
	}
}

// IT may decide that the existing entry a request named is not the person's: the person then
// gets a new account made from the name, and the existing entry is left alone.
func TestITChoosesANewAccountInstead(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	boss := existingEntry(t, app, "kommundirektor", "Karin", "Direktör")
	in := grantInput("19850113-9995", "Mallory", "Made-Up", provisioning.ItemInput{System: "meddix"})
	in.Person.Username = "kommundirektor"
	sub := submitApproved(t, app, in)
	personID := personOf(t, app, sub.ID).ID
	waitLinkRequired(t, app, personID, "kommundirektor")
	if err := app.Service.UseNewAccount(ctx, app.Actors["requester"], personID); err == nil {
		t.Fatal("a requester decided on the account")
	}
	if err := app.Service.UseNewAccount(ctx, app.Actors["it-handler"], personID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if p := personOf(t, app, sub.ID); p.Accounts[0].Username != "mallory.made-up" || p.LinkRequired != "" {
		t.Fatalf("account %+v, link required %q", p.Accounts, p.LinkRequired)
	}
	if groups, _ := app.Directory.GroupsOf(ctx, boss.DN); len(groups) != 0 {
		t.Fatalf("the existing entry got %v", groups)
	}
}

// An entry someone else makes under a username behorig reserved (after a failed first try)
// is not taken over: the person waits for IT, who may give them a new account instead.
func TestReservedUsernameIsNotTakenFromAStranger(t *testing.T) {
	var faulty *faultyDirectory
	app := testapp.New(t, testapp.Options{NoJobs: true, Directory: func(d connectors.Directory) connectors.Directory {
		faulty = &faultyDirectory{Directory: d}
		return faulty
	}})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"}))
	grant := grantIDs(t, app, sub.ID)[0]
	faulty.arm(3, "error", nil) // usernameFree's look-up, the account's look-up, then EnsureAccount fails
	if err := app.Service.ConvergeGrant(ctx, grant); err == nil {
		t.Fatal("the first try succeeded")
	}
	faulty.arm(0, "", nil)
	// Another administrator makes uid=anna.berg for someone else.
	conn, err := app.Slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	add := goldap.NewAddRequest("uid=anna.berg,"+app.Slapd.PeopleDN, []goldap.Control{
		goldap.NewControlString("1.3.6.1.4.1.4203.666.5.12", true, "")}) // relax: the test sets who created it
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"anna.berg"})
	add.Attribute("cn", []string{"Anna Berg"})
	add.Attribute("sn", []string{"Berg"})
	add.Attribute("creatorsName", []string{"cn=another-admin," + app.Slapd.BaseDN})
	add.Attribute("createTimestamp", []string{time.Now().UTC().Format("20060102150405Z")})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.ConvergeGrant(ctx, grant); !errors.Is(err, provisioning.ErrLinkRequired) {
		t.Fatalf("the retry: %v, want ErrLinkRequired", err)
	}
	stranger := "uid=anna.berg," + app.Slapd.PeopleDN
	if groups, _ := app.Directory.GroupsOf(ctx, stranger); len(groups) != 0 {
		t.Fatalf("the stranger's entry got %v", groups)
	}
	personID := personOf(t, app, sub.ID).ID
	if p, _ := app.Service.Person(ctx, app.Actors["it-handler"], personID); p.LinkRequired != "anna.berg" {
		t.Fatalf("IT is not asked: link required %q", p.LinkRequired)
	}
	if err := app.Service.UseNewAccount(ctx, app.Actors["it-handler"], personID); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.ConvergeGrant(ctx, grant); err != nil {
		t.Fatal(err)
	}
	if p := personOf(t, app, sub.ID); p.Accounts[0].Username != "anna.berg2" {
		t.Fatalf("accounts %+v, want a new anna.berg2", p.Accounts)
	}
	if groups, _ := app.Directory.GroupsOf(ctx, stranger); len(groups) != 0 {
		t.Fatalf("the stranger's entry got %v", groups)
	}
}

// An account renamed in the directory (a new uid after a change of name) is still found by
// its entry's id, so a termination takes its access and disables it, and leaves alone a new
// entry someone else made under the old username.
func TestRenamedAccountLosesItsAccess(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg"))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	p := personOf(t, app, sub.ID)
	conn, err := app.Slapd.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.ModifyDN(goldap.NewModifyDNRequest(p.Accounts[0].DN, "uid=anna.lind", true, "")); err != nil {
		t.Fatal(err)
	}
	stranger := existingEntry(t, app, "anna.berg", "Anna", "Berg") // someone else, under the old name
	app.WaitStatus(t, terminate(t, app, "19500118-2046").ID, provisioning.StatusCompleted)
	if ref, err := app.Directory.LookupAccount(ctx, "anna.berg"); err != nil || ref.Disabled || ref.DN != stranger.DN {
		t.Fatalf("the termination touched the stranger under the old name: %+v, %v", ref, err)
	}
	ref, err := app.Directory.LookupAccount(ctx, "anna.lind")
	if err != nil || !ref.Disabled {
		t.Fatalf("the renamed account after the termination: %+v, %v", ref, err)
	}
	if groups, _ := app.Directory.GroupsOf(ctx, ref.DN); len(groups) != 0 {
		t.Fatalf("the renamed account is still in %v", groups)
	}
}

// existingEntry makes an account in the directory as someone else than behorig would.
func existingEntry(t *testing.T, app *testapp.App, username, given, surname string) connectors.AccountRef {
	t.Helper()
	ref, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: username, GivenName: given, Surname: surname})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// waitLinkRequired waits until IT is asked to confirm that the entry is the person's.
func waitLinkRequired(t *testing.T, app *testapp.App, personID, username string) {
	t.Helper()
	waitFor(t, "IT to be asked to confirm the link", func() bool {
		p, _ := app.Service.Person(ctx, app.Actors["it-handler"], personID)
		return p.LinkRequired == username
	})
}

// Two approved requests for two persons that name the same new username: the first to be
// provisioned gets it, the other waits for IT instead of failing for days.
func TestOneUsernameForTwoPersons(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	first := grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"})
	first.Person.Username = "delad"
	second := grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"})
	second.Person.Username = "delad"
	a, b := submitApproved(t, app, first), submitApproved(t, app, second)
	if err := app.Service.ConvergeGrant(ctx, grantIDs(t, app, a.ID)[0]); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.ConvergeGrant(ctx, grantIDs(t, app, b.ID)[0]); !errors.Is(err, provisioning.ErrLinkRequired) {
		t.Fatalf("the second person: %v, want ErrLinkRequired", err)
	}
	bo := personOf(t, app, b.ID)
	if bo.LinkRequired != "delad" || len(bo.Accounts) != 0 {
		t.Fatalf("the second person: link required %q, accounts %+v", bo.LinkRequired, bo.Accounts)
	}
	if err := app.Service.UseNewAccount(ctx, app.Actors["it-handler"], bo.ID); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.ConvergeGrant(ctx, grantIDs(t, app, b.ID)[0]); err != nil {
		t.Fatal(err)
	}
	if got := personOf(t, app, b.ID).Accounts[0].Username; got != "bo.ek" {
		t.Fatalf("the second person's account: %s", got)
	}
}

// Group keys the migration lower-cased in SQL are made Go's at start, so that a group with
// non-ASCII capitals stays managed whatever the database's collation.
func TestNormalizeGroupKeys(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"}))
	grant := grantIDs(t, app, sub.ID)[0]
	if _, err := app.Pool.Exec(ctx, "UPDATE grants SET group_name = 'VÅRD-ÖST', group_key = 'vÅrd-Öst' WHERE id = $1", grant); err != nil {
		t.Fatal(err)
	}
	if err := app.Service.NormalizeGroupKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var key string
	app.Pool.QueryRow(ctx, "SELECT group_key FROM grants WHERE id = $1", grant).Scan(&key)
	if key != "vård-öst" {
		t.Fatalf("group key %q, want vård-öst", key)
	}
}
