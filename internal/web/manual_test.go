package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/provisioning"
)

// A system without a connector becomes IT's task: given by hand, and at the end removed by
// hand, with the termination and the account waiting for it.
func TestManualSystems(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	if _, err := s.app.Pool.Exec(t.Context(), "UPDATE systems SET manual = true WHERE id = 'panorama-ros'"); err != nil {
		t.Fatal(err)
	}
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix, map[string]any{"system": "panorama-ros"})
	maria, ingrid, rolf := s.as(t, "maria.chef"), s.as(t, "ingrid.it"), s.as(t, "rolf.bestallare")
	maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	var manualGrant string
	s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM grants WHERE system_id = 'panorama-ros'").Scan(&manualGrant)
	// The connected system is provisioned; the request waits for IT's manual step.
	s.waitGrant(t, "meddix", "active")
	if st := s.status(t, sub.ID); st != provisioning.StatusInProgress {
		t.Fatalf("with a manual item left the request is %s", st)
	}
	page := body(t, ingrid.get(t, "/requests/"+sub.ID))
	if !strings.Contains(page, `action="/grants/`+manualGrant+`/done"`) || !strings.Contains(page, "manuell") {
		t.Fatalf("IT is not offered the manual step:\n%s", page)
	}
	if strings.Contains(body(t, rolf.get(t, "/requests/"+sub.ID)), "/done\"") {
		t.Error("the requester is offered IT's manual step")
	}
	if resp := rolf.post(t, "/grants/"+manualGrant+"/done", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a requester completing a manual grant: %d", resp.StatusCode)
	}
	resp := ingrid.post(t, "/grants/"+manualGrant+"/done", url.Values{"note": {"Konto upplagt i Panorama"}, "return": {"/requests/" + sub.ID}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/requests/"+sub.ID+"?done=manual_done" {
		t.Fatalf("manual done: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if st := s.status(t, sub.ID); st != provisioning.StatusCompleted {
		t.Fatalf("after the manual step the request is %s", st)
	}
	if resp := ingrid.post(t, "/grants/"+manualGrant+"/done", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("completing a manual grant twice: %d", resp.StatusCode)
	}

	// Termination: meddix goes by itself, Panorama waits for IT, and so do the account and
	// the termination.
	var personID string
	s.app.Pool.QueryRow(t.Context(), "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)
	resp = maria.post(t, "/terminate", url.Values{"person": {personID}, "unit": {"5110"}, "selfApprove": {"ja"}})
	term := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), "?done=submitted")
	s.waitGrant(t, "panorama-ros", "removal_pending")
	s.waitGrant(t, "meddix", "revoked")
	if st := s.status(t, term); st == provisioning.StatusCompleted {
		t.Fatal("the termination completed with a manual removal left")
	}
	if ref, err := s.app.Directory.LookupAccount(t.Context(), "anna.berg"); err != nil || ref.Disabled {
		t.Fatalf("the account was disabled while a manual access remains: %+v %v", ref, err)
	}
	page = body(t, ingrid.get(t, "/queue"))
	if !strings.Contains(page, "Manuella borttag") || !strings.Contains(page, `action="/grants/`+manualGrant+`/removed"`) {
		t.Fatalf("the queue does not list the manual removal:\n%s", page)
	}
	ingrid.post(t, "/grants/"+manualGrant+"/removed", url.Values{"note": {"Borttagen i Panorama"}, "return": {"/queue"}})
	s.waitStatus(t, term, provisioning.StatusCompleted)
	if ref, err := s.app.Directory.LookupAccount(t.Context(), "anna.berg"); err != nil || !ref.Disabled {
		t.Fatalf("the account is not disabled after the last removal: %+v %v", ref, err)
	}
	if page := body(t, ingrid.get(t, "/queue")); strings.Contains(page, "Manuella borttag") {
		t.Fatal("the removal is still listed")
	}
}

func (s *site) waitGrant(t *testing.T, system, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got string
		s.app.Pool.QueryRow(t.Context(), "SELECT state FROM grants WHERE system_id = $1 ORDER BY starts_at DESC LIMIT 1", system).Scan(&got)
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant of %s is %s, want %s", system, got, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
