package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// The start page tells each user what waits for them: the manager how many requests wait
// for their approval (linked to the overview), the requester nothing while nothing waits.
func TestStartPageTellsWhatWaits(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	s.submit(t, "requester", "19850113-9995", "Bo", "Ek", "5210", meddix)
	maria := s.as(t, "maria.chef")
	page := body(t, maria.get(t, "/"))
	if !strings.Contains(page, `<a href="/approvals">2 ärenden väntar på ditt godkännande</a>`) || !strings.Contains(page, "Väntar på dig") {
		t.Errorf("the manager's start page does not say two requests wait:\n%s", page)
	}
	if page := body(t, s.as(t, "rolf.bestallare").get(t, "/")); strings.Contains(page, "Väntar på dig") {
		t.Error("the requester is told something waits when nothing does")
	}
	maria.get(t, "/lang?to=en&return=/")
	if page := body(t, maria.get(t, "/")); !strings.Contains(page, "2 requests are waiting for your approval") {
		t.Error("the notice is not in English")
	}
}

// The language a user signs in or switches to is remembered for their e-mail.
func TestLanguageIsRememberedForEmail(t *testing.T) {
	s := newSite(t, siteOptions{})
	lang := func() string {
		var l string
		if err := s.app.Pool.QueryRow(t.Context(), "SELECT lang FROM principals WHERE subject = 'manager'").Scan(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	maria := s.as(t, "maria.chef")
	if l := lang(); l != "sv" {
		t.Fatalf("after a Swedish sign-in: %q", l)
	}
	if resp := maria.get(t, "/lang?to=en&return=/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch: %d", resp.StatusCode)
	}
	if l := lang(); l != "en" {
		t.Fatalf("after switching to English: %q", l)
	}
	// A new browser signing in with a Swedish Accept-Language: Swedish again.
	s.as(t, "maria.chef")
	if l := lang(); l != "sv" {
		t.Fatalf("after a Swedish sign-in again: %q", l)
	}
}
