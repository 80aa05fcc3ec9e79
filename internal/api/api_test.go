package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type submitted struct {
	ID, Number, Status string
}

type problem struct {
	Status int
	Detail string
	Errors []provisioning.FieldError
}

func annaRequest() map[string]any {
	return map[string]any{
		"person": map[string]any{"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg",
			"email": "anna.berg@example.org", "mobile": "070-123 45 67", "employeeType": "employee"},
		"unit":   "5110",
		"reason": "Ny undersköterska i hemtjänsten",
		"items": []map[string]any{
			{"system": "treserva", "role": "utforare"},
			{"system": "meddix"},
			{"system": "tes", "role": "personal", "unit": "5210"},
		},
		"approver": "manager",
	}
}

// The whole path: request → attest → paper terms → account and groups in LDAP → terminate →
// out of every group and the account disabled.
func TestRequestToAccountAndBack(t *testing.T) {
	app := testapp.New(t, testapp.Options{})

	var sub submitted
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", annaRequest(), &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d %+v", code, sub)
	}
	if sub.Status != provisioning.StatusAwaitingApproval || !strings.HasPrefix(sub.Number, "BEH-") {
		t.Fatalf("submitted = %+v", sub)
	}

	var decided struct{ Status string }
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, &decided); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	if decided.Status != provisioning.StatusAwaitingUser {
		t.Fatalf("treserva needs signed terms, but the request went to %s", decided.Status)
	}
	if code := app.Call(t, "requester", "POST", "/api/v1/requests/"+sub.ID+"/terms/paper", nil, nil); code != http.StatusForbidden {
		t.Fatalf("a requester recorded paper terms: %d", code)
	}
	if code := app.Call(t, "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/terms/paper",
		map[string]string{"note": "Blankett kontrollerad"}, &decided); code != http.StatusOK {
		t.Fatalf("paper terms: %d", code)
	}
	view := app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)

	people := app.Search(t, app.Slapd.PeopleDN, "(uid=anna.berg)", "cn", "mail", "memberOf", "pwdAccountLockedTime")
	if len(people) != 1 {
		t.Fatalf("%d entries for uid=anna.berg, want 1", len(people))
	}
	dn := people[0].DN
	wantGroups := []string{"meddix", "tes-5210-personal", "treserva-5110-utforare"}
	if got := groupsOf(t, app, dn); !slices.Equal(got, wantGroups) {
		t.Fatalf("groups of %s = %v, want %v", dn, got, wantGroups)
	}
	if people[0].GetAttributeValue("mail") != "anna.berg@example.org" {
		t.Errorf("mail = %q", people[0].GetAttributeValue("mail"))
	}

	var got provisioning.RequestView
	if code := app.Call(t, "requester", "GET", "/api/v1/requests/"+sub.ID, nil, &got); code != http.StatusOK {
		t.Fatalf("get request: %d", code)
	}
	for _, it := range got.Items {
		if it.GrantState != "active" {
			t.Errorf("item %s grant is %q, want active", it.System, it.GrantState)
		}
	}
	if !got.ApprovedBySubmitter || !got.ApprovedByManager || got.DueDate == "" {
		t.Errorf("thumbs or due date missing: %+v", got)
	}
	if got.Person.Personnummer != "19500118-****" {
		t.Errorf("a requester saw personnummer %q, want it masked", got.Person.Personnummer)
	}
	actions := eventActions(view.Events)
	for _, want := range []string{"request.submitted", "request.approved", "terms.paper_verified", "grant.created",
		"account.created", "grant.provisioned"} {
		if !slices.Contains(actions, want) {
			t.Errorf("history lacks %s: %v", want, actions)
		}
	}

	var person provisioning.PersonView
	if code := app.Call(t, "it-handler", "GET", "/api/v1/persons/"+got.Person.ID, nil, &person); code != http.StatusOK {
		t.Fatalf("get person: %d", code)
	}
	if person.Personnummer != "19500118-2046" || len(person.Accounts) != 1 || person.Accounts[0].Username != "anna.berg" {
		t.Fatalf("person as IT = %+v", person)
	}

	var term submitted
	if code := app.Call(t, "manager", "POST", "/api/v1/requests", map[string]any{
		"kind": "terminate", "person": map[string]any{"id": got.Person.ID}, "unit": "5110",
		"reason": "Anställningen upphör", "approver": "manager"}, &term); code != http.StatusCreated {
		t.Fatalf("terminate: %d %+v", code, term)
	}
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)
	if got := groupsOf(t, app, dn); len(got) != 0 {
		t.Fatalf("after termination %s is still in %v", dn, got)
	}
	locked := app.Search(t, dn, "(objectClass=*)", "pwdAccountLockedTime")
	if len(locked) != 1 || locked[0].GetAttributeValue("pwdAccountLockedTime") == "" {
		t.Fatalf("account %s not disabled after its last grant ended", dn)
	}
	app.Call(t, "manager", "GET", "/api/v1/persons/"+got.Person.ID, nil, &person)
	if person.Accounts[0].State != "disabled" {
		t.Errorf("account state = %s, want disabled", person.Accounts[0].State)
	}
	for _, g := range person.Grants {
		if g.State != "revoked" {
			t.Errorf("grant %s is %s after termination", g.Group, g.State)
		}
	}
	if _, err := app.Audit.Seal(context.Background(), app.Pool); err != nil { // no sealer job runs in testapp
		t.Fatal(err)
	}
	if done, err := app.Audit.Verify(context.Background(), app.Pool, nil); err != nil || done.Events == 0 {
		t.Fatalf("audit verify after the whole path: %d events, %v", done.Events, err)
	}
}

func groupsOf(t *testing.T, app *testapp.App, dn string) []string {
	t.Helper()
	groups, err := app.Directory.GroupsOf(context.Background(), dn)
	if err != nil {
		t.Fatal(err)
	}
	// Cross-check with the raw directory: memberOf on the entry, kept by slapd's overlay.
	entries := app.Search(t, dn, "(objectClass=*)", "memberOf")
	if len(entries) == 1 && len(entries[0].GetAttributeValues("memberOf")) != len(groups) {
		t.Fatalf("GroupsOf says %v but memberOf says %v", groups, entries[0].GetAttributeValues("memberOf"))
	}
	return groups
}

func eventActions(events []provisioning.EventView) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

// Every kind of bad input gets 400 naming the field, and leaves no row and no entry behind.
func TestBadInputChangesNothing(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	with := func(change func(r map[string]any)) map[string]any {
		r := annaRequest()
		change(r)
		return r
	}
	person := func(r map[string]any) map[string]any { return r["person"].(map[string]any) }
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"malformed personnummer", with(func(r map[string]any) { person(r)["personnummer"] = "19500118-2047" }), 400, "person.personnummer"},
		{"impossible date", with(func(r map[string]any) { person(r)["personnummer"] = "19500230-2049" }), 400, "person.personnummer"},
		{"validTo before validFrom", with(func(r map[string]any) { r["validFrom"] = "2099-05-01"; r["validTo"] = "2099-04-30" }), 400, "validTo"},
		{"not a date", with(func(r map[string]any) { r["validFrom"] = "1 maj" }), 400, "validFrom"},
		{"consultant without end", with(func(r map[string]any) { person(r)["employeeType"] = "consultant" }), 400, "validTo"},
		{"unknown system", with(func(r map[string]any) { r["items"] = []map[string]any{{"system": "cosmic"}} }), 400, "items[0].system"},
		{"unknown role", with(func(r map[string]any) { r["items"] = []map[string]any{{"system": "treserva", "role": "root"}} }), 400, "items[0].role"},
		{"role on yes/no system", with(func(r map[string]any) { r["items"] = []map[string]any{{"system": "meddix", "role": "x"}} }), 400, "items[0].role"},
		{"approver cannot attest unit", with(func(r map[string]any) { r["approver"] = "manager-soder" }), 400, "approver"},
		{"unknown unit", with(func(r map[string]any) { r["unit"] = "9999" }), 400, "unit"},
		{"unknown JSON field", with(func(r map[string]any) { r["admin"] = true }), 400, "admin"},
		{"wrong JSON type", with(func(r map[string]any) { r["items"] = "treserva" }), 400, "items"},
		{"oversized body", with(func(r map[string]any) { r["reason"] = strings.Repeat("x", 70<<10) }), 413, ""},
		{"not JSON", "{", 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p problem
			code := app.Call(t, "requester", "POST", "/api/v1/requests", c.body, &p)
			if code != c.status {
				t.Fatalf("status %d, want %d: %+v", code, c.status, p)
			}
			if c.field != "" && !slices.ContainsFunc(p.Errors, func(e provisioning.FieldError) bool { return e.Field == c.field }) {
				t.Fatalf("errors %+v do not name %s", p.Errors, c.field)
			}
		})
	}
	t.Run("every error at once", func(t *testing.T) {
		var p problem
		app.Call(t, "requester", "POST", "/api/v1/requests", map[string]any{"person": map[string]any{}, "items": []any{}}, &p)
		fields := map[string]bool{}
		for _, e := range p.Errors {
			fields[e.Field] = true
		}
		for _, want := range []string{"unit", "person.personnummer", "person.givenName", "person.surname", "person.employeeType", "items", "approver"} {
			if !fields[want] {
				t.Errorf("no error for %s in %+v", want, p.Errors)
			}
		}
	})
	assertEmpty(t, app)
}

func assertEmpty(t *testing.T, app *testapp.App) {
	t.Helper()
	for _, table := range []string{"persons", "requests", "request_items", "grants", "accounts", "audit_events", "river_job"} {
		var n int
		if err := app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("bad input left %d rows in %s", n, table)
		}
	}
	if entries := app.Search(t, app.Slapd.PeopleDN, "(objectClass=inetOrgPerson)"); len(entries) != 0 {
		t.Errorf("bad input left %d LDAP entries", len(entries))
	}
}

func TestAuthorisation(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	var sub submitted
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", annaRequest(), &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	approve := "/api/v1/requests/" + sub.ID + "/approve"
	cases := []struct {
		subject string
		want    int
	}{
		{"", http.StatusUnauthorized},
		{"requester", http.StatusForbidden},    // may see it, may not attest it
		{"manager-soder", http.StatusNotFound}, // another unit's manager does not even see it
		{"it-handler", http.StatusForbidden},   // IT handles, managers attest
	}
	for _, c := range cases {
		if code := app.Call(t, c.subject, "POST", approve, nil, nil); code != c.want {
			t.Errorf("%q approving: %d, want %d", c.subject, code, c.want)
		}
	}
	if code := app.Call(t, "manager-soder", "GET", "/api/v1/requests/"+sub.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("another unit's manager read the request: %d", code)
	}
	var v provisioning.RequestView
	app.Call(t, "it-handler", "GET", "/api/v1/requests/"+sub.ID, nil, &v)
	if v.Status != provisioning.StatusAwaitingApproval {
		t.Fatalf("refused approvals changed the status to %s", v.Status)
	}
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/reject", map[string]string{"reason": ""}, nil); code != http.StatusBadRequest {
		t.Errorf("a rejection without reason: %d", code)
	}
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/reject", map[string]string{"reason": "Fel enhet"}, nil); code != http.StatusOK {
		t.Fatalf("reject: %d", code)
	}
	if code := app.Call(t, "manager", "POST", approve, nil, nil); code != http.StatusConflict {
		t.Errorf("approving a rejected request: %d, want 409", code)
	}
	var persons struct{ Persons []provisioning.PersonView }
	app.Call(t, "manager-soder", "GET", "/api/v1/persons?personnummer=195001182046", nil, &persons)
	if len(persons.Persons) != 0 {
		t.Errorf("another unit's manager found the person: %+v", persons)
	}
	// A rejected request shows nobody: a person becomes visible through an approved one.
	app.Call(t, "manager", "GET", "/api/v1/persons?personnummer=500118-2046", nil, &persons)
	if len(persons.Persons) != 0 {
		t.Errorf("the person of a rejected request is visible: %+v", persons)
	}
	var again submitted
	app.Call(t, "requester", "POST", "/api/v1/requests", annaRequest(), &again)
	app.Call(t, "manager", "POST", "/api/v1/requests/"+again.ID+"/approve", nil, nil)
	app.Call(t, "manager", "GET", "/api/v1/persons?personnummer=500118-2046", nil, &persons)
	if len(persons.Persons) != 1 || persons.Persons[0].Personnummer != "19500118-****" {
		t.Errorf("manager's look-up = %+v, want one masked match", persons)
	}
	var p problem
	if code := app.Call(t, "manager", "GET", "/api/v1/persons?personnummer=19500118-2047", nil, &p); code != http.StatusBadRequest {
		t.Errorf("a malformed personnummer look-up: %d", code)
	}
}

// A requester who attests for the unit gives both thumbs in one step.
func TestOneStepAttestation(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	r := annaRequest()
	r["unit"], r["approver"] = "5220", "requester-manager"
	r["items"] = []map[string]any{{"system": "meddix"}}
	var sub submitted
	if code := app.Call(t, "requester-manager", "POST", "/api/v1/requests", r, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	v := app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if !v.ApprovedBySubmitter || !v.ApprovedByManager {
		t.Fatalf("thumbs = %v/%v", v.ApprovedBySubmitter, v.ApprovedByManager)
	}
	if got := fmt.Sprint(eventActions(v.Events)); !strings.Contains(got, "request.approved") {
		t.Fatalf("no attestation in %s", got)
	}
}

func TestMeTellsRolesAndAttestedUnits(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	var me provisioning.MeView
	if code := app.Call(t, "manager", "GET", "/api/v1/me", nil, &me); code != http.StatusOK {
		t.Fatalf("/me: %d", code)
	}
	var attests []string
	for _, u := range me.Attests {
		attests = append(attests, u.Ansvarskod)
	}
	if me.Name != "Maria Chef" || me.Unit == nil || me.Unit.Ansvarskod != "5110" || strings.Join(attests, ",") != "5110,5210" {
		t.Fatalf("/me = %+v, attests %v", me, attests)
	}
	// IT handles requests but attests for no unit unless made a manager of one.
	var it provisioning.MeView
	app.Call(t, "it-handler", "GET", "/api/v1/me", nil, &it)
	if len(it.Roles) != 1 || it.Roles[0] != provisioning.RoleITHandler || len(it.Attests) != 0 {
		t.Fatalf("IT handler /me = %+v", it)
	}
	if code := app.Call(t, "", "GET", "/api/v1/me", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("/me without a token: %d", code)
	}
}

func TestBearerSchemeAndChallenges(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	call := func(method, path, authorization string) *http.Response {
		req, _ := http.NewRequest(method, app.URL+path, nil)
		req.Header.Set("Authorization", authorization)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := call("GET", "/api/v1/me", "bearer "+app.Tokens["manager"]); resp.StatusCode != http.StatusOK {
		t.Fatalf("the scheme is case-insensitive (RFC 9110), but lower-case bearer got %d", resp.StatusCode)
	}
	resp := call("GET", "/api/v1/me", "Bearer wrong")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("a wrong token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp = call("GET", "/api/v1/me", "Basic "+app.Tokens["manager"])
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(resp.Header.Get("WWW-Authenticate"), "error=") {
		t.Fatalf("another scheme: %d %q; want a plain challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	var sub submitted
	app.Call(t, "requester", "POST", "/api/v1/requests", annaRequest(), &sub)
	resp = call("POST", "/api/v1/requests/"+sub.ID+"/approve", "Bearer "+app.Tokens["requester"])
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("a requester approving: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
