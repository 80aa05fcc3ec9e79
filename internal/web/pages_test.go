package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/devidp"
	"github.com/behorig/behorig/provisioning"
)

type submitted struct{ ID, Number, Status string }

// submit files a grant request through the API as the token principal.
func (s *site) submit(t *testing.T, subject, pnr, given, surname, unit string, items ...map[string]any) submitted {
	t.Helper()
	var sub submitted
	body := map[string]any{
		"person": map[string]any{"personnummer": pnr, "givenName": given, "surname": surname, "employeeType": "employee"},
		"unit":   unit, "reason": "Ny medarbetare", "items": items, "approver": "manager",
	}
	if unit == "5120" {
		body["approver"] = "manager-soder"
	}
	if code := s.app.Call(t, subject, "POST", "/api/v1/requests", body, &sub); code != http.StatusCreated {
		t.Fatalf("submit as %s: %d", subject, code)
	}
	return sub
}

func (s *site) post(t testing.TB, path string, form url.Values) *http.Response {
	t.Helper()
	resp, err := s.client.PostForm(s.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (s *site) status(t *testing.T, id string) string {
	t.Helper()
	var status string
	if err := s.app.Pool.QueryRow(context.Background(), "SELECT status FROM requests WHERE id = $1", id).Scan(&status); err != nil {
		t.Fatal(err)
	}
	return status
}

// newBrowser is another browser on the same site, signed in as nobody.
func (s *site) newBrowser() *site {
	return &site{app: s.app, idp: s.idp, url: s.url, client: newClient()}
}

// as signs a fresh browser in through the dev AD IdP.
func (s *site) as(t testing.TB, user string) *site {
	t.Helper()
	b := s.newBrowser()
	if resp := b.signIn(t, "ad", user); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d %s", user, resp.StatusCode, body(t, resp))
	}
	return b
}

// withSouthManager adds Sven, who manages 5120 only, as a user of the dev IdP.
func (s *site) withSouthManager(t *testing.T) *site {
	t.Helper()
	s.idp.AD.Users = append(s.idp.AD.Users, devidp.User{Subject: "sven", Name: "Sven Söderchef"})
	if _, err := s.app.Service.RegisterPrincipal(context.Background(), provisioning.Principal{Subject: "manager-soder",
		Name: "Sven Söderchef", Roles: []provisioning.Role{provisioning.RoleRequester}, IdP: "ad", IdPSubject: "sven"}); err != nil {
		t.Fatal(err)
	}
	return s.as(t, "sven")
}

var meddix = map[string]any{"system": "meddix"}

func TestMyRequestsShowsOwnRequestsOpenAndClosed(t *testing.T) {
	s := newSite(t, siteOptions{})
	open := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	other := s.submit(t, "manager", "19850113-9995", "Bo", "Ek", "5210", meddix)
	rolf := s.as(t, "rolf.bestallare")
	page := body(t, rolf.get(t, "/"))
	for _, want := range []string{open.Number, "Anna Berg", "Väntar på godkännande", "Inte godkänd av ansvarig chef ännu"} {
		if !strings.Contains(page, want) {
			t.Errorf("my requests lacks %q", want)
		}
	}
	if strings.Contains(page, other.Number) {
		t.Error("my requests lists a request someone else submitted")
	}
	if page := body(t, rolf.get(t, "/?status=closed")); strings.Contains(page, open.Number) || !strings.Contains(page, "Du har inga stängda ärenden.") {
		t.Error("the closed filter shows an open request")
	}

	maria := s.as(t, "maria.chef")
	maria.post(t, "/requests/"+open.ID+"/reject", url.Values{"reason": {"Fel enhet"}})
	page = body(t, rolf.get(t, "/?status=closed"))
	if !strings.Contains(page, open.Number) || !strings.Contains(page, "Avslagen") {
		t.Error("a rejected request is not under closed")
	}
	if page := body(t, rolf.get(t, "/")); strings.Contains(page, open.Number) {
		t.Error("a rejected request is still under open")
	}
}

func TestRequestPageAndDecision(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110",
		map[string]any{"system": "treserva", "role": "utforare"}, meddix)
	maria := s.as(t, "maria.chef")
	page := body(t, maria.get(t, "/requests/"+sub.ID))
	for _, want := range []string{sub.Number, "Anna Berg", "19500118-****", "Treserva", "Utförare", "Meddix",
		"Väntar på att Maria Chef godkänner.", `action="/requests/` + sub.ID + `/approve"`, "skickade in ärendet", "Rolf Beställare"} {
		if !strings.Contains(page, want) {
			t.Errorf("request page lacks %q", want)
		}
	}

	// Rejecting without a reason: the error at the top links to the field; nothing changes.
	resp := maria.post(t, "/requests/"+sub.ID+"/reject", url.Values{"reason": {"  "}})
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#reason">`) ||
		!strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, "Skriv en motivering.") {
		t.Fatalf("reject without reason: %d\n%s", resp.StatusCode, page)
	}
	if st := s.status(t, sub.ID); st != provisioning.StatusAwaitingApproval {
		t.Fatalf("a refused rejection changed the status to %s", st)
	}

	resp = maria.post(t, "/requests/"+sub.ID+"/approve", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=approved") {
		t.Fatalf("approve: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, maria.get(t, resp.Header.Get("Location")))
	if !strings.Contains(page, "Ärendet är godkänt.") || !strings.Contains(page, "Väntar på användare") ||
		!strings.Contains(page, "Väntar på att Anna Berg godkänner villkoren") {
		t.Fatalf("after approving:\n%s", page)
	}
	if strings.Contains(page, "/approve\"") {
		t.Error("the approve button is still offered")
	}
	if resp := maria.post(t, "/requests/"+sub.ID+"/approve", nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("approving twice: %d, want 409", resp.StatusCode)
	}

	// IT records the paper form; the requester sees it move on.
	ingrid := s.as(t, "ingrid.it")
	page = body(t, ingrid.get(t, "/requests/"+sub.ID))
	if !strings.Contains(page, "19500118-2046") || !strings.Contains(page, "/terms/paper") {
		t.Fatal("IT does not see the full personnummer and the paper-terms form")
	}
	if resp := ingrid.post(t, "/requests/"+sub.ID+"/terms/paper", url.Values{"note": {"Blankett mottagen 30/11"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("paper terms: %d", resp.StatusCode)
	}
	if st := s.status(t, sub.ID); st == provisioning.StatusAwaitingUser {
		t.Fatal("paper terms did not move the request on")
	}
}

func TestRequestPageAuthorisation(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	rolf := s.as(t, "rolf.bestallare")
	page := body(t, rolf.get(t, "/requests/"+sub.ID))
	if !strings.Contains(page, sub.Number) || strings.Contains(page, "/approve") {
		t.Fatal("the requester should see the request but not the approve button")
	}
	if resp := rolf.post(t, "/requests/"+sub.ID+"/approve", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the requester approving: %d, want 403", resp.StatusCode)
	}
	sven := s.withSouthManager(t)
	for _, path := range []string{"/requests/" + sub.ID, "/requests/00000000-0000-0000-0000-000000000000", "/requests/not-a-uuid"} {
		resp := sven.get(t, path)
		if page := body(t, resp); resp.StatusCode != http.StatusNotFound || strings.Contains(page, "Anna") {
			t.Errorf("another unit's manager GET %s: %d", path, resp.StatusCode)
		}
	}
	if resp := sven.post(t, "/requests/"+sub.ID+"/approve", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another unit's manager approving: %d, want 404", resp.StatusCode)
	}
	if st := s.status(t, sub.ID); st != provisioning.StatusAwaitingApproval {
		t.Fatalf("refused decisions changed the status to %s", st)
	}
	anonymous := s.newBrowser()
	resp := anonymous.get(t, "/requests/"+sub.ID)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?return=%2Frequests%2F"+sub.ID {
		t.Fatalf("anonymous: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// After signing in, the user lands on the page they asked for.
	login := body(t, anonymous.get(t, resp.Header.Get("Location")))
	link := `/login/ad?return=%2frequests%2f` + sub.ID
	if !strings.Contains(login, `href="`+link+`"`) {
		t.Fatalf("the sign-in page does not carry the return path:\n%s", login)
	}
	callback := anonymous.toCallbackFrom(t, link, "maria.chef")
	if back := anonymous.get(t, callback); back.Header.Get("Location") != "/requests/"+sub.ID {
		t.Fatalf("after sign-in: to %q", back.Header.Get("Location"))
	}
}

func TestApprovalOverviewDecidesSeveral(t *testing.T) {
	s := newSite(t, siteOptions{})
	a := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	b := s.submit(t, "requester", "19850113-9995", "Bo", "Ek", "5210", meddix)
	c := s.submit(t, "requester", "20010101-2383", "Cia", "Ek", "5110", meddix)
	south := s.submit(t, "requester", "19120211-9150", "Sune", "Syd", "5120", meddix)
	maria := s.as(t, "maria.chef")
	page := body(t, maria.get(t, "/approvals"))
	for _, r := range []submitted{a, b, c} {
		if !strings.Contains(page, r.Number) {
			t.Errorf("the overview lacks %s", r.Number)
		}
	}
	if strings.Contains(page, south.Number) {
		t.Error("the overview lists another unit's request")
	}

	resp := maria.post(t, "/approvals", url.Values{"id": {a.ID, b.ID}, "decision": {"reject"}})
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#reason">`) || !strings.Contains(page, `value="`+a.ID+`" id="pick-`+a.ID+`" checked`) {
		t.Fatalf("bulk reject without reason: %d\n%s", resp.StatusCode, page)
	}
	if resp := maria.post(t, "/approvals", url.Values{"decision": {"approve"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("approving nothing: %d", resp.StatusCode)
	}
	for _, r := range []submitted{a, b, c} {
		if st := s.status(t, r.ID); st != provisioning.StatusAwaitingApproval {
			t.Fatalf("a refused bulk decision changed %s to %s", r.Number, st)
		}
	}

	resp = maria.post(t, "/approvals", url.Values{"id": {a.ID, b.ID}, "decision": {"approve"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk approve: %d %s", resp.StatusCode, body(t, resp))
	}
	if page := body(t, maria.get(t, resp.Header.Get("Location"))); !strings.Contains(page, "2 ärenden godkända.") || strings.Contains(page, a.Number) {
		t.Fatal("the overview does not confirm or still lists the approved requests")
	}
	maria.post(t, "/approvals", url.Values{"id": {c.ID}, "decision": {"reject"}, "reason": {"Dubblett"}})
	if st := s.status(t, c.ID); st != provisioning.StatusRejected {
		t.Fatalf("bulk reject with a reason: %s", st)
	}
	// A request of another unit smuggled into the form is not decided.
	resp = maria.post(t, "/approvals", url.Values{"id": {south.ID}, "decision": {"approve"}})
	if resp.StatusCode != http.StatusConflict || s.status(t, south.ID) != provisioning.StatusAwaitingApproval {
		t.Fatalf("approving another unit's request through the overview: %d", resp.StatusCode)
	}
}

// "Ursprunglig förfrågan": the request as it was sent, printable, and kept so by the
// database whatever happens to the request later.
func TestOriginalRequestIsKeptAndPrintable(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", map[string]any{"system": "treserva", "role": "utforare"})
	rolf := s.as(t, "rolf.bestallare")
	if page := body(t, rolf.get(t, "/requests/"+sub.ID)); !strings.Contains(page, `href="/requests/`+sub.ID+`/original"`) {
		t.Fatal("the request page does not link the original request")
	}
	page := body(t, rolf.get(t, "/requests/"+sub.ID+"/original"))
	for _, want := range []string{"Ursprunglig förfrågan " + sub.Number, "Anna Berg", "19500118-****", "Hemtjänst Norr (5110)",
		"Treserva", "Utförare", "Rolf Beställare"} {
		if !strings.Contains(page, want) {
			t.Errorf("the original request lacks %q", want)
		}
	}
	if resp := s.withSouthManager(t).get(t, "/requests/"+sub.ID+"/original"); resp.StatusCode == http.StatusOK {
		t.Error("another unit's manager reads the original request")
	}
	for _, change := range []string{
		"UPDATE requests SET person_surname = 'Falk' WHERE id = $1",
		"UPDATE requests SET unit_id = (SELECT id FROM units WHERE ansvarskod = '5120') WHERE id = $1",
		"UPDATE request_items SET role_id = 'las' WHERE request_id = $1",
		"DELETE FROM request_items WHERE request_id = $1",
	} {
		if _, err := s.app.Pool.Exec(t.Context(), change, sub.ID); err == nil {
			t.Errorf("the database let %q change the request as sent", change)
		}
	}
	if _, err := s.app.Pool.Exec(t.Context(), "UPDATE requests SET status = 'in_progress' WHERE id = $1", sub.ID); err != nil {
		t.Errorf("the status no longer changes: %v", err)
	}
}
