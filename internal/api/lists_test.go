package api_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

type requestPage struct {
	Requests []provisioning.QueueEntry
	Next     string
}

type personPage struct {
	Persons []provisioning.PersonSummary
	Next    string
}

func TestListsInTheAPI(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	size := devenv.ScaleFor(600)
	size.AuditEvents = 0
	if err := devenv.LoadScale(context.Background(), app.Pool, app.Box, app.Audit, size); err != nil {
		t.Fatal(err)
	}
	// The queue, page by page to its end: every row in the queue, none twice.
	seen := map[string]bool{}
	path := "/api/v1/requests?list=queue&sort=due"
	for pages := 0; ; pages++ {
		var page requestPage
		if code := app.Call(t, "it-handler", "GET", path, nil, &page); code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if len(page.Requests) > provisioning.PageSize {
			t.Fatalf("%d rows on a page", len(page.Requests))
		}
		for _, r := range page.Requests {
			if seen[r.Number] || !slices.Contains(provisioning.QueueStatuses, r.Status) {
				t.Fatalf("%s (%s) repeated or not in the queue", r.Number, r.Status)
			}
			seen[r.Number] = true
		}
		if page.Next == "" {
			break
		}
		path = "/api/v1/requests?list=queue&sort=due&cursor=" + url.QueryEscape(page.Next)
	}
	var inQueue int
	app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM requests WHERE status = ANY($1)", provisioning.QueueStatuses).Scan(&inQueue)
	if len(seen) != inQueue || inQueue <= provisioning.PageSize {
		t.Fatalf("paged %d of the queue's %d requests", len(seen), inQueue)
	}
	// Filter, unit and search together; the default list is the caller's own.
	var page requestPage
	if code := app.Call(t, "requester", "GET", "/api/v1/requests?status=closed&sort=number", nil, &page); code != http.StatusOK || len(page.Requests) == 0 {
		t.Fatalf("Rolf's closed requests: %d, %d rows", code, len(page.Requests))
	}
	for _, r := range page.Requests {
		if r.RequesterName != "Rolf Beställare" || provisioning.IsOpen(r.Status) {
			t.Fatalf("Rolf's closed requests list %s by %s, %s", r.Number, r.RequesterName, r.Status)
		}
	}
	pnr := devenv.PersonnummerOf(5)
	if code := app.Call(t, "it-handler", "GET", "/api/v1/requests?list=all&unit=5000&q="+pnr, nil, &page); code != http.StatusOK || len(page.Requests) == 0 {
		t.Fatalf("all of 5000 by personnummer: %d, %d rows", code, len(page.Requests))
	}
	// A manager: their approvals, and not IT's lists.
	if code := app.Call(t, "manager-soder", "GET", "/api/v1/requests?list=approvals", nil, &page); code != http.StatusOK {
		t.Fatalf("Sven's approvals: %d", code)
	}
	for _, r := range page.Requests {
		if r.Ansvarskod != "5120" {
			t.Fatalf("Sven's approvals list %s of %s", r.Number, r.Ansvarskod)
		}
	}
	for _, p := range []string{"/api/v1/requests?list=queue", "/api/v1/requests?list=all", "/api/v1/persons?q=berg", "/api/v1/persons"} {
		if code := app.Call(t, "manager", "GET", p, nil, nil); code != http.StatusForbidden {
			t.Errorf("a manager reading %s: %d", p, code)
		}
	}
	// Persons for IT, by name.
	var surname string
	app.Pool.QueryRow(context.Background(), "SELECT surname FROM persons ORDER BY id LIMIT 1").Scan(&surname)
	var persons personPage
	if code := app.Call(t, "it-handler", "GET", "/api/v1/persons?q="+url.QueryEscape(surname), nil, &persons); code != http.StatusOK || len(persons.Persons) == 0 {
		t.Fatalf("persons named %s: %d, %+v", surname, code, persons)
	}
	for _, p := range persons.Persons {
		// The search ignores case: "Berg" finds Dahlberg too.
		if !strings.Contains(strings.ToLower(p.GivenName+" "+p.Surname), strings.ToLower(surname)) || len(p.Personnummer) != 13 {
			t.Fatalf("persons named %s: %+v", surname, p)
		}
	}
}

// Bad list parameters are a 400 naming the parameter, for the list and the persons.
func TestListParametersRefused(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	for path, field := range map[string]string{
		"/api/v1/requests?sort=name":                               "sort",
		"/api/v1/requests?list=everything":                         "list",
		"/api/v1/requests?status=finished":                         "status",
		"/api/v1/requests?unit=4711":                               "unit",
		"/api/v1/requests?q=ab":                                    "q",
		"/api/v1/requests?cursor=%25%25":                           "cursor",
		"/api/v1/requests?cursor=eyJzIjoibnVtYmVyIiwiayI6WyJhIl19": "cursor", // a cursor of another sort
		"/api/v1/requests?page=2":                                  "page",
		"/api/v1/requests?status=open&status=closed":               "status",
		"/api/v1/requests?q=%00":                                   "q",
		"/api/v1/persons?cursor=nope":                              "cursor",
	} {
		code, p, _ := send(t, app, "it-handler", "GET", path, "", nil, nil)
		if code != http.StatusBadRequest || !slices.Contains(names(p), field) {
			t.Errorf("%s: %d, errors %v; want 400 naming %s", path, code, p.Errors, field)
		}
	}
}
