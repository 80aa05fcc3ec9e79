package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

func remoteForm() url.Values {
	return url.Values{"description": {"Dokumentation i Treserva hemifrån under jourveckor"}, "givenName": {"Karin"},
		"surname": {"Ek"}, "personnummer": {"19850113-9995"}, "mobile": {"070-123 45 67"}, "employeeType": {"employee"},
		"remoteFactor": {"sms"}, "unit": {"5110"}, "approver": {"maria.chef@example.org"}}
}

// The order form speaks Norrköping's words and shows the price; bad input comes back with
// each field named in Swedish and nothing stored; a good order becomes a request that says
// its factor. Once provisioned and locked by failed logins, IT sees the factor on the person
// page and unlocks it; a requester cannot.
func TestRemoteAccessOrderFormAndUnlock(t *testing.T) {
	s := newSite(t, siteOptions{jobs: true})
	ctx := context.Background()
	rolf := s.as(t, "rolf.bestallare")
	page := body(t, rolf.get(t, "/remote-access/new"))
	for _, want := range []string{"Beställning Fjärråtkomst", "Mobilnummer (för OTP)", "Anställd/Konsult", "Typ av fjärråtkomst",
		"SMS-kod", "YubiKey", "debiteras för närvarande 130 kr/månad och användare", `<label for="unit">Ansvarskod`,
		`href="https://utbildning.example/informationssakerhet"`, "inom 1 vecka makuleras beställningen", `<label for="description">Beskrivning`} {
		if !strings.Contains(page, want) {
			t.Errorf("the order form lacks %q", want)
		}
	}
	if strings.Contains(body(t, rolf.get(t, "/requests/new")), "Fjärråtkomst</label>") {
		t.Error("the request form offers remote access")
	}

	bad := remoteForm()
	bad.Set("description", "")
	bad.Set("mobile", "08-123 456 78")
	bad.Del("remoteFactor")
	resp := rolf.postMultipart(t, "/remote-access/new", bad, nil)
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bad order: %d", resp.StatusCode)
	}
	for _, want := range []string{`<a href="#description">`, `<a href="#mobile">`, `<a href="#remoteFactor">`,
		"är inget svenskt mobilnummer", "beskriv arbetsuppgifterna", "måste väljas (SMS-kod eller YubiKey)", `value="Karin"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	if n := s.count(t, "SELECT count(*) FROM requests"); n != 0 {
		t.Fatalf("%d requests stored from a refused form", n)
	}

	resp = rolf.postMultipart(t, "/remote-access/new", remoteForm(), map[string][]byte{"intyg.pdf": pdf})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", resp.StatusCode, body(t, resp))
	}
	id := strings.TrimPrefix(strings.Split(resp.Header.Get("Location"), "?")[0], "/requests/")
	page = body(t, rolf.get(t, "/requests/"+id))
	if !strings.Contains(page, "Beställning fjärråtkomst") || !strings.Contains(page, "<dd>SMS-kod</dd>") || !strings.Contains(page, "<dt>Mobilnummer (för OTP)</dt><dd>&#43;46701234567</dd>") {
		t.Fatalf("the request page does not show the order:\n%s", page)
	}
	if _, err := s.app.Service.Approve(ctx, s.app.Actors["manager"], id); err != nil {
		t.Fatal(err)
	}
	v := s.app.WaitStatus(t, id, provisioning.StatusAwaitingCertificate)
	if _, err := s.app.Service.VerifyCertificate(ctx, s.app.Actors["it-handler"], id, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	s.app.WaitStatus(t, id, provisioning.StatusCompleted)
	if _, err := s.app.Pool.Exec(ctx, "UPDATE authenticators SET failures = 10, locked_at = now() WHERE person_id = $1", v.Person.ID); err != nil {
		t.Fatal(err)
	}
	var factorID string
	if err := s.app.Pool.QueryRow(ctx, "SELECT id::text FROM authenticators WHERE person_id = $1", v.Person.ID).Scan(&factorID); err != nil {
		t.Fatal(err)
	}

	ingrid := s.as(t, "ingrid.it")
	page = body(t, ingrid.get(t, "/persons/"+v.Person.ID))
	for _, want := range []string{"Fjärråtkomst: andra faktorer", "46 70 *** ** 67", "låst sedan", `action="/factors/` + factorID + `/unlock"`, "Lås upp"} {
		if !strings.Contains(page, want) {
			t.Errorf("IT's person page lacks %q", want)
		}
	}
	if i := strings.Index(page, "Fjärråtkomst: andra faktorer"); i < 0 || strings.Contains(page[i:], "46701234567") {
		t.Error("the factors show the whole number")
	}
	if resp := rolf.post(t, "/factors/"+factorID+"/unlock", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the requester's unlock: %d", resp.StatusCode)
	}
	resp = ingrid.post(t, "/factors/"+factorID+"/unlock", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/persons/"+v.Person.ID+"?done=unlocked") {
		t.Fatalf("unlock: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, ingrid.get(t, resp.Header.Get("Location")))
	if !strings.Contains(page, "Faktorn är upplåst") || strings.Contains(page, "låst sedan") || !strings.Contains(page, "aktiv") {
		t.Fatalf("after the unlock:\n%s", page)
	}
	if resp := ingrid.post(t, "/factors/"+factorID+"/unlock", url.Values{}); resp.StatusCode != http.StatusConflict {
		t.Errorf("unlocking again: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'remote_access.factor_unlocked' AND actor = 'it-handler'"); n != 1 {
		t.Errorf("%d unlock events", n)
	}
}
