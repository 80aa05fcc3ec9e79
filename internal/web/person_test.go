package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/provisioning"
)

// waitStatus waits for the job runner to move a request.
func (s *site) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.status(t, id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s, want %s", id, s.status(t, id), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPersonPageAndTermination(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	maria := s.as(t, "maria.chef")
	maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	var personID string
	s.app.Pool.QueryRow(t.Context(), "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)

	page := body(t, maria.get(t, "/persons/"+personID))
	for _, want := range []string{"<h1>Anna Berg</h1>", "19500118-****", "anna.berg", "Aktivt", "<td>Meddix</td>", "Aktiv", sub.Number,
		`<th scope="col">Användarnamn</th>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the manager's person page lacks %q", want)
		}
	}
	if strings.Contains(page, "<td>meddix</td>") {
		t.Error("the person page shows the system's id instead of its name")
	}
	if strings.Contains(page, "uid=anna.berg") {
		t.Error("a manager sees the DN")
	}
	if page := body(t, s.as(t, "ingrid.it").get(t, "/persons/"+personID)); !strings.Contains(page, "19500118-2046") || !strings.Contains(page, "uid=anna.berg") {
		t.Error("IT does not see the full personnummer and the DN")
	}
	sven := s.withSouthManager(t)
	if resp := sven.get(t, "/persons/"+personID); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another unit's manager sees the person: %d", resp.StatusCode)
	}

	// Termination: find the person, see what goes, send it with one-step attestation.
	if page := body(t, maria.get(t, "/terminate?personnummer=19500118-2047")); !strings.Contains(page, "kontrollsiffran stämmer inte") {
		t.Error("a bad personnummer is not explained")
	}
	if page := body(t, maria.get(t, "/terminate?personnummer=19850113-9995")); !strings.Contains(page, "Ingen person med behörigheter") {
		t.Error("an unknown person is not explained")
	}
	page = body(t, maria.get(t, "/terminate?personnummer=19500118-2046"))
	if !strings.Contains(page, "Anna Berg") || !strings.Contains(page, "<li>Meddix, ") || !strings.Contains(page, "<code>meddix</code>") {
		t.Fatalf("the termination page does not show what will be removed:\n%s", page)
	}
	resp := maria.post(t, "/terminate", url.Values{"person": {personID}, "unit": {"5110"}, "effectiveDate": {"2001-01-01"}, "selfApprove": {"ja"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body(t, resp), `<a href="#effectiveDate">`) {
		t.Fatalf("a termination in the past: %d", resp.StatusCode)
	}
	// A termination later on says when the access ends, not when it starts.
	later := time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	resp = maria.post(t, "/terminate", url.Values{"person": {personID}, "unit": {"5110"}, "effectiveDate": {later}, "reason": {"Slutar"}, "selfApprove": {"ja"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("termination later: %d %s", resp.StatusCode, body(t, resp))
	}
	scheduled := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), "?done=submitted")
	s.waitStatus(t, scheduled, provisioning.StatusScheduled)
	page = body(t, maria.get(t, "/requests/"+scheduled))
	if !strings.Contains(page, "Behörigheten upphör") || strings.Contains(page, "gälla .") {
		t.Errorf("a scheduled termination does not say when the access ends:\n%s", page)
	}
	resp = maria.post(t, "/terminate", url.Values{"person": {personID}, "unit": {"5110"}, "reason": {"Slutar"}, "selfApprove": {"ja"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("termination: %d %s", resp.StatusCode, body(t, resp))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), "?done=submitted")
	s.waitStatus(t, id, provisioning.StatusCompleted)
	page = body(t, maria.get(t, "/persons/"+personID))
	if !strings.Contains(page, "Borttagen") || !strings.Contains(page, "Inaktiverat") {
		t.Fatalf("after the termination the person page says:\n%s", page)
	}
}
