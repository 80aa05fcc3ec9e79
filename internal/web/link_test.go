package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/provisioning"
)

// The approver sees that the requested username is someone's existing account; nothing is
// given to it until IT confirms the link on the person page; then the access follows.
func TestExistingAccountWaitsForIT(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	ctx := t.Context()
	existing, err := s.app.Directory.EnsureAccount(ctx, connectors.Account{Username: "anna.b", GivenName: "Anna", Surname: "Berg"})
	if err != nil {
		t.Fatal(err)
	}
	var sub submitted
	if code := s.app.Call(t, "requester", "POST", "/api/v1/requests", map[string]any{
		"person": map[string]any{"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg", "employeeType": "employee",
			"username": "anna.b", "email": "anna@example.org", "jobTitle": "Undersköterska"},
		"unit": "5110", "items": []any{meddix}, "approver": "manager"}, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	maria := s.as(t, "maria.chef")
	page := body(t, maria.get(t, "/requests/"+sub.ID))
	for _, want := range []string{"<code>anna.b</code>", "FINNS REDAN i katalogen", "anna@example.org", "Undersköterska"} {
		if !strings.Contains(page, want) {
			t.Errorf("the approver does not see %q", want)
		}
	}
	maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	var personID string
	s.app.Pool.QueryRow(ctx, "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)
	deadline := time.Now().Add(15 * time.Second)
	// The notice the job leaves, not the approval page's hint that the username exists.
	for !strings.Contains(body(t, maria.get(t, "/requests/"+sub.ID)), "Inga behörigheter ges förrän IT har bekräftat") {
		if time.Now().After(deadline) {
			t.Fatal("the request page does not say that the account waits for IT")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if groups, _ := s.app.Directory.GroupsOf(ctx, existing.DN); len(groups) != 0 {
		t.Fatalf("the existing account got %v before IT confirmed", groups)
	}
	if strings.Contains(body(t, maria.get(t, "/persons/"+personID)), `action="/persons/`+personID+`/link"`) {
		t.Error("a manager is offered to link the account")
	}
	if resp := maria.post(t, "/persons/"+personID+"/link", url.Values{"username": {"anna.b"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a manager linked the account: %d", resp.StatusCode)
	}

	ingrid := s.as(t, "ingrid.it")
	if page := body(t, ingrid.get(t, "/persons/"+personID)); !strings.Contains(page, "Koppla befintligt konto") {
		t.Fatal("IT is not offered to link the account")
	}
	resp := ingrid.post(t, "/persons/"+personID+"/link", url.Values{"username": {"nosuch"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "katalogen har inget konto nosuch") {
		t.Fatalf("linking a missing account: %d", resp.StatusCode)
	}
	resp = ingrid.post(t, "/persons/"+personID+"/link", url.Values{"username": {"anna.b"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("link: %d %s", resp.StatusCode, body(t, resp))
	}
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	if groups, _ := s.app.Directory.GroupsOf(ctx, existing.DN); !slices.Equal(groups, []string{"meddix"}) {
		t.Fatalf("the linked account's groups: %v", groups)
	}
}

// IT's queue shows the last reconciliation and each difference it found.
func TestQueueShowsTheLastReconciliation(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	ctx := t.Context()
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	s.as(t, "maria.chef").post(t, "/requests/"+sub.ID+"/approve", nil)
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	stranger, err := s.app.Directory.EnsureAccount(ctx, connectors.Account{Username: "stranger", GivenName: "Some", Surname: "Stranger"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.Directory.EnsureMember(ctx, "meddix", stranger.DN); err != nil {
		t.Fatal(err)
	}
	ingrid := s.as(t, "ingrid.it")
	if page := body(t, ingrid.get(t, "/queue")); strings.Contains(page, "Senaste avstämning") {
		t.Fatal("a reconciliation is shown before any ran")
	}
	if _, err := s.app.Service.Reconcile(ctx, false, "cli"); err != nil {
		t.Fatal(err)
	}
	page := body(t, ingrid.get(t, "/queue"))
	for _, want := range []string{"Senaste avstämning mot katalogen", "1 skillnader, 1 rättade", "Medlem utan behörighet", stranger.DN} {
		if !strings.Contains(page, want) {
			t.Errorf("the queue lacks %q", want)
		}
	}
}

// IT may answer that the existing account is not the person's: the person gets a new account.
func TestITGivesANewAccountInstead(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	ctx := t.Context()
	if _, err := s.app.Directory.EnsureAccount(ctx, connectors.Account{Username: "kommundirektor", GivenName: "Karin", Surname: "Direktör"}); err != nil {
		t.Fatal(err)
	}
	var sub submitted
	if code := s.app.Call(t, "manager", "POST", "/api/v1/requests", map[string]any{
		"person": map[string]any{"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg", "employeeType": "employee",
			"username": "kommundirektor"},
		"unit": "5110", "items": []any{meddix}, "approver": "manager"}, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	var personID string
	s.app.Pool.QueryRow(ctx, "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)
	ingrid := s.as(t, "ingrid.it")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(body(t, ingrid.get(t, "/persons/"+personID)), `action="/persons/`+personID+`/new-account"`) {
		if time.Now().After(deadline) {
			t.Fatal("IT is not offered a new account instead")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp := ingrid.post(t, "/persons/"+personID+"/new-account", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new account: %d", resp.StatusCode)
	}
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	if page := body(t, ingrid.get(t, "/persons/"+personID)); !strings.Contains(page, "<code>anna.berg</code>") {
		t.Fatal("the person page does not show the new account")
	}
}
