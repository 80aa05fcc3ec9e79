package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// A change through the API: the person's grants with their ids from GET /api/v1/persons/{id},
// one ended by id, one by {system, role, unit}, a role added; bad input answers 400 with a
// reason per field and stores nothing.
func TestChangeRequest(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	grant := map[string]any{
		"person": map[string]any{"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg",
			"employeeType": "employee"},
		"unit": "5110",
		"items": []map[string]any{
			{"system": "meddix"}, {"system": "timecare-pool", "role": "medarbetare"}, {"system": "panorama-ros"},
		},
		"approver": "manager",
	}
	var sub submitted
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", grant, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	view := app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)

	var person provisioning.PersonView
	if code := app.Call(t, "requester", "GET", "/api/v1/persons/"+view.Person.ID, nil, &person); code != http.StatusOK {
		t.Fatalf("person: %d", code)
	}
	if len(person.Grants) != 3 {
		t.Fatalf("grants = %+v", person.Grants)
	}
	var poolID string
	for _, g := range person.Grants {
		if g.ID == "" {
			t.Fatalf("a grant without its id: %+v", g)
		}
		if g.System == "timecare-pool" {
			poolID = g.ID
		}
	}

	var requests int
	countRequests := func() int {
		var n int
		app.Pool.QueryRow(t.Context(), "SELECT count(*) FROM requests").Scan(&n)
		return n
	}
	requests = countRequests()
	for _, c := range []struct {
		name  string
		body  map[string]any
		code  int
		field string
	}{
		{"a grant the person does not have", map[string]any{"end": []map[string]any{{"id": "00000000-0000-0000-0000-000000000000"}}},
			http.StatusBadRequest, "end[0].grant"},
		{"an unknown system", map[string]any{"end": []map[string]any{{"system": "nosuch"}}}, http.StatusBadRequest, "end[0].system"},
		{"a date the wrong way round", map[string]any{"end": []map[string]any{{"id": poolID, "effectiveDate": "2001-01-01"}}},
			http.StatusBadRequest, "end[0].effectiveDate"},
		{"a misspelt field", map[string]any{"end": []map[string]any{{"grant": poolID}}}, http.StatusBadRequest, ""},
		{"nothing", map[string]any{}, http.StatusBadRequest, "items"},
	} {
		body := map[string]any{"kind": "change", "person": map[string]any{"id": view.Person.ID}, "unit": "5110", "approver": "manager"}
		for k, v := range c.body {
			body[k] = v
		}
		var p problem
		if code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &p); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
			continue
		}
		if c.field != "" && !slices.ContainsFunc(p.Errors, func(fe provisioning.FieldError) bool { return fe.Field == c.field }) {
			t.Errorf("%s: errors %+v, want one on %s", c.name, p.Errors, c.field)
		}
	}
	if n := countRequests(); n != requests {
		t.Fatalf("bad change requests stored %d requests", n-requests)
	}

	change := map[string]any{"kind": "change", "person": map[string]any{"personnummer": "195001182046"}, "unit": "5110",
		"reason": "Byter roll", "approver": "manager",
		"items": []map[string]any{{"system": "timecare-pool", "role": "chef"}},
		"end":   []map[string]any{{"id": poolID}, {"system": "panorama-ros", "unit": "5110"}}}
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", change, &sub); code != http.StatusCreated {
		t.Fatalf("change: %d", code)
	}
	var pending provisioning.RequestView
	if code := app.Call(t, "manager", "GET", "/api/v1/requests/"+sub.ID, nil, &pending); code != http.StatusOK {
		t.Fatalf("read the change: %d", code)
	}
	if pending.Kind != "change" || len(pending.Ends) != 2 || pending.Ends[0].GrantID != poolID || len(pending.Items) != 1 {
		t.Fatalf("the change as the approver sees it: kind %s, ends %+v, items %+v", pending.Kind, pending.Ends, pending.Items)
	}
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve the change: %d", code)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	dn := app.Search(t, app.Slapd.PeopleDN, "(uid=anna.berg)")[0].DN
	if got, want := groupsOf(t, app, dn), []string{"meddix", "timecare-pool-5110-chef"}; !slices.Equal(got, want) {
		t.Fatalf("groups after the change = %v, want %v", got, want)
	}
	var after provisioning.PersonView
	app.Call(t, "it-handler", "GET", "/api/v1/persons/"+view.Person.ID, nil, &after)
	states := map[string]string{}
	for _, g := range after.Grants {
		states[g.System+"/"+g.Role] = g.State
	}
	want := map[string]string{"meddix/": "active", "timecare-pool/medarbetare": "revoked", "panorama-ros/": "revoked",
		"timecare-pool/chef": "active"}
	for k, v := range want {
		if states[k] != v {
			t.Errorf("grant %s is %q, want %s", k, states[k], v)
		}
	}
}
