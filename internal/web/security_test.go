package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

// Found by review: a manager of another unit must not end, reveal or change a person he
// cannot see, nor grant access in a unit he does not attest for.
func TestAnotherUnitsManagerCannotReachAPerson(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	maria := s.as(t, "maria.chef")
	maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	s.waitStatus(t, sub.ID, provisioning.StatusCompleted)
	// Her contact details, as IT keeps them once she is known.
	s.app.Pool.Exec(t.Context(), "UPDATE persons SET email = 'anna@example.org', mobile = '0701234567'")
	var anna string
	s.app.Pool.QueryRow(t.Context(), "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&anna)
	sven := s.withSouthManager(t)

	// Terminating her by id through the form is refused as an unknown person.
	resp := sven.post(t, "/terminate", url.Values{"person": {anna}, "unit": {"5120"}, "selfApprove": {"ja"}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a manager of another unit terminated a person he cannot see")
	}
	s.waitGrant(t, "meddix", "active")

	// A request with her personnummer and a made-up name neither shows her name nor changes her.
	form := validForm()
	form.Set("givenName", "X")
	form.Set("surname", "Y")
	form.Set("email", "attacker@evil.example")
	form.Set("mobile", "0700000000")
	form.Set("unit", "5120")
	form.Set("sys.treserva.units", "")
	form.Set("sys.treserva.role", "")
	form.Del("approver")
	form.Set("selfApprove", "ja")
	resp = sven.post(t, "/requests/new", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", resp.StatusCode, body(t, resp))
	}
	page := body(t, sven.get(t, resp.Header.Get("Location")))
	if strings.Contains(page, "Anna") || !strings.Contains(page, "X Y") {
		t.Fatal("the request page shows the stored name of the personnummer")
	}
	var email, mobile string
	s.app.Pool.QueryRow(t.Context(), "SELECT email, mobile FROM persons WHERE id = $1", anna).Scan(&email, &mobile)
	if email != "anna@example.org" || mobile != "0701234567" {
		t.Fatalf("a request changed her contact details to %s, %s", email, mobile)
	}
	// Now that his own request is approved he sees her, but only his own grants.
	if page := body(t, sven.get(t, "/persons/"+anna)); strings.Contains(page, "Hemtjänst Norr") {
		t.Fatal("the person page shows grants of another unit's requests")
	}

	// An item for a unit he does not attest for makes him no approver.
	form = validForm()
	form.Set("unit", "5120")
	form.Set("sys.treserva.units", "")
	form.Set("sys.treserva.role", "")
	form.Set("sys.phoniro.role", "admin")
	form.Set("sys.phoniro.units", "5110")
	form.Del("approver")
	form.Set("selfApprove", "ja")
	form.Set("personnummer", "19850113-9995")
	resp = sven.post(t, "/requests/new", form)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#approver">`) {
		t.Fatalf("self-approving access in another unit: %d", resp.StatusCode)
	}
}

func TestITsInternalNotesStayWithIT(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", map[string]any{"system": "treserva", "role": "utforare"})
	s.as(t, "maria.chef").post(t, "/requests/"+sub.ID+"/approve", nil)
	ingrid := s.as(t, "ingrid.it")
	ingrid.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"intern fråga"}, "internal": {"ja"}})
	ingrid.post(t, "/requests/"+sub.ID+"/terms/paper", url.Values{"note": {"PAPPERSHEMLIGHET"}})
	page := body(t, s.as(t, "rolf.bestallare").get(t, "/requests/"+sub.ID))
	if strings.Contains(page, "PAPPERSHEMLIGHET") || strings.Contains(page, "kommenterade") {
		t.Fatal("the requester sees IT's paper note or that an internal comment was made")
	}
	if page := body(t, ingrid.get(t, "/requests/"+sub.ID)); !strings.Contains(page, "PAPPERSHEMLIGHET") {
		t.Fatal("IT does not see its own note")
	}
}
