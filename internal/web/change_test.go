package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

// grantOf finds the id of the person's grant of a system.
func (s *site) grantOf(t *testing.T, personID, system string) string {
	t.Helper()
	var id string
	if err := s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM grants WHERE person_id = $1 AND system_id = $2 AND state <> 'revoked'",
		personID, system).Scan(&id); err != nil {
		t.Fatalf("grant of %s: %v", system, err)
	}
	return id
}

// The change form without JavaScript: found by personnummer, it starts from the current
// grants; the review shows what is added, removed and kept and stores nothing; a refused
// review explains itself next to the field; the sent change is approved and done.
func TestChangeForm(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix,
		map[string]any{"system": "timecare-pool", "role": "medarbetare"})
	maria := s.as(t, "maria.chef")
	maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	var personID string
	s.app.Pool.QueryRow(t.Context(), "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)
	meddixID := s.grantOf(t, personID, "meddix")

	if page := body(t, maria.get(t, "/change?personnummer=19850113-9995")); !strings.Contains(page, "Ingen person med behörigheter") {
		t.Error("an unknown person is not explained")
	}
	page := body(t, maria.get(t, "/change?personnummer=19500118-2046"))
	for _, want := range []string{"Ny, ändrad eller borttagen behörighet", "Anna Berg", `name="end" value="` + meddixID + `"`,
		"Avsluta Meddix, Hemtjänst Norr (5110)", "Avsluta Time Care Pool – Medarbetare", `<option value="timecare-pool|chef">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the change form lacks %q", want)
		}
	}

	form := url.Values{"person": {personID}, "end": {meddixID}, "add0": {"timecare-pool|chef"}, "unit": {"5110"},
		"reason": {"Ny roll"}, "selfApprove": {"ja"}, "submitToken": {"t1"}, "step": {"review"}}
	requests := s.count(t, "SELECT count(*) FROM requests")
	resp := maria.post(t, "/change", form)
	page = body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review: %d\n%s", resp.StatusCode, page)
	}
	added, removed, kept := strings.Index(page, "Läggs till"), strings.Index(page, "Tas bort"), strings.Index(page, "Finns kvar")
	if added < 0 || removed < added || kept < removed {
		t.Fatalf("the review does not list added, removed and kept:\n%s", page)
	}
	if !strings.Contains(page[added:removed], "Time Care Pool – Chef") || !strings.Contains(page[removed:kept], "Meddix") ||
		!strings.Contains(page[kept:], "Time Care Pool – Medarbetare") {
		t.Errorf("the review puts things in the wrong list:\n%s", page[added:])
	}
	if !strings.Contains(page, `value="send"`) || s.count(t, "SELECT count(*) FROM requests") != requests {
		t.Fatal("the review cannot be sent, or stored a request")
	}

	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("add0", "meddix")
	bad.Del("end")
	resp = maria.post(t, "/change", bad)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "personen har redan Meddix") &&
		!strings.Contains(page, "personen har redan meddix") || !strings.Contains(page, `<a href="#add0">`) {
		t.Fatalf("adding what the person has: %d\n%s", resp.StatusCode, page)
	}

	form.Set("step", "send")
	resp = maria.post(t, "/change", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d %s", resp.StatusCode, body(t, resp))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), "?done=submitted")
	s.waitStatus(t, id, provisioning.StatusCompleted)
	page = body(t, maria.get(t, "/requests/"+id))
	for _, want := range []string{"Ändrad behörighet", "Behörigheter som avslutas", "Meddix", "Time Care Pool"} {
		if !strings.Contains(page, want) {
			t.Errorf("the change's page lacks %q", want)
		}
	}
	if again := maria.post(t, "/change", form); again.StatusCode != http.StatusSeeOther || !strings.Contains(again.Header.Get("Location"), id) {
		t.Errorf("sending the same form twice: %d %s", again.StatusCode, again.Header.Get("Location"))
	}
	var states []string
	rows, _ := s.app.Pool.Query(t.Context(), "SELECT system_id || '/' || coalesce(role_id, '') || '=' || state FROM grants WHERE person_id = $1 ORDER BY 1", personID)
	for rows.Next() {
		var v string
		rows.Scan(&v)
		states = append(states, v)
	}
	rows.Close()
	if got := strings.Join(states, " "); got != "meddix/=revoked timecare-pool/chef=active timecare-pool/medarbetare=active" {
		t.Errorf("grants after the change: %s", got)
	}
}
