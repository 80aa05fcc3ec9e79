package web_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/provisioning"
)

// smsPasswordSite is a site without BankID where Anna Berg has an active account and the
// mobile 070-174 06 05 (a number PTS keeps for fiction), approved with her request; it
// returns the account's DN.
func smsPasswordSite(t *testing.T) (*site, string) {
	t.Helper()
	s := newSite(t, siteOptions{jobs: true})
	var sub submitted
	req := map[string]any{
		"person": map[string]any{"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg",
			"employeeType": "employee", "mobile": "0701740605"},
		"unit": "5110", "reason": "Ny medarbetare", "items": []map[string]any{meddix}, "approver": "manager",
	}
	if code := s.app.Call(t, "requester", "POST", "/api/v1/requests", req, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	if _, err := s.app.Service.Approve(context.Background(), s.app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	s.app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	entries := s.app.Search(t, s.app.Slapd.PeopleDN, "(uid=anna.berg)", "uid")
	if len(entries) != 1 {
		t.Fatalf("%d entries for anna.berg", len(entries))
	}
	return s, entries[0].DN
}

var smsCode = regexp.MustCompile(`^([0-9]{6}) är din kod för att sätta ditt lösenord`)

// phoneCode reads the code of the newest SMS to the number, as the person does.
func phoneCode(t *testing.T, s *site, to string) string {
	t.Helper()
	m, ok, err := sms.Outbox{DB: s.app.Pool}.Latest(context.Background(), to)
	if err != nil || !ok {
		t.Fatalf("no SMS to %s: %v", to, err)
	}
	match := smsCode.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("no code in the SMS %q", m.Text)
	}
	return match[1]
}

func (s *site) smsCount(t *testing.T) int {
	t.Helper()
	return s.count(t, "SELECT count(*) FROM sms_outbox")
}

func TestPasswordBySMSCodeWithoutBankID(t *testing.T) {
	s, dn := smsPasswordSite(t)
	anna := s.newBrowser()
	page := body(t, anna.get(t, "/password"))
	if !strings.Contains(page, `action="/password/sms"`) || strings.Contains(page, `action="/password/start"`) {
		t.Fatalf("without BankID the page should offer SMS only:\n%s", page)
	}
	resp := anna.post(t, "/password/sms", url.Values{"username": {" Anna.Berg "}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?msg=sms_sent" {
		t.Fatalf("send: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := phoneCode(t, s, "+46701740605")
	page = body(t, anna.get(t, "/password?msg=sms_sent"))
	if !strings.Contains(page, `action="/password/sms/code"`) || !strings.Contains(page, "har vi skickat en kod") {
		t.Fatalf("after sending, no field for the code:\n%s", page)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	resp = anna.post(t, "/password/sms/code", url.Values{"code": {wrong}})
	if page := body(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Koden stämmer inte") ||
		!strings.Contains(page, `href="#code"`) {
		t.Fatalf("a wrong code: %d\n%s", resp.StatusCode, page)
	}
	// Another browser with the code gets nowhere: the code is bound to Anna's browser.
	stranger := s.newBrowser()
	body(t, stranger.get(t, "/password"))
	if resp := stranger.post(t, "/password/sms/code", url.Values{"code": {code}}); resp.StatusCode == http.StatusSeeOther &&
		resp.Header.Get("Location") == "/password" {
		t.Fatal("another browser used Anna's code")
	}
	resp = anna.post(t, "/password/sms/code", url.Values{"code": {code}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password" {
		t.Fatalf("the right code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, anna.get(t, "/password"))
	ref := regexp.MustCompile(`name="order" value="([^"]+)"`).FindStringSubmatch(page)
	if ref == nil || !strings.Contains(page, "Hej Anna!") || !strings.Contains(page, "anna.berg") {
		t.Fatalf("after the code the page does not let Anna choose a password:\n%s", page)
	}
	good := "Kantarell-" + rand.Text()[:8]
	resp = anna.post(t, "/password", url.Values{"order": {ref[1]}, "password": {good}, "password2": {good}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?done=1" {
		t.Fatalf("set: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if err := ldapBind(t, s, dn, good); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	// The code was used once; the identification was audited as by SMS.
	if resp := anna.post(t, "/password/sms/code", url.Values{"code": {code}}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/password?msg=expired" {
		t.Errorf("the code again: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := s.count(t, "SELECT count(*) FROM audit_events WHERE action = 'password.identified_sms'"); n != 1 {
		t.Errorf("%d password.identified_sms events, want 1", n)
	}
}

// The form tells nobody who has an account or a number: an unknown username, or a person
// whose mobile nobody approved, gets the same answer as Anna, and no SMS goes out.
func TestPasswordBySMSAnswersAlikeWhenNoCodeIsSent(t *testing.T) {
	s, _ := smsPasswordSite(t)
	if _, err := s.app.Pool.Exec(context.Background(), "UPDATE persons SET details_approved = false"); err != nil {
		t.Fatal(err)
	}
	for _, username := range []string{"nobody.here", "anna.berg"} {
		b := s.newBrowser()
		body(t, b.get(t, "/password"))
		resp := b.post(t, "/password/sms", url.Values{"username": {username}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?msg=sms_sent" {
			t.Errorf("%s: %d %s", username, resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = b.post(t, "/password/sms/code", url.Values{"code": {"123456"}})
		if page := body(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Koden stämmer inte") {
			t.Errorf("%s: a code: %d", username, resp.StatusCode)
		}
	}
	if n := s.smsCount(t); n != 0 {
		t.Errorf("%d SMS sent to nobody's approved number", n)
	}
}

// A person with remote access gets the code on the number of their SMS factor, the one their
// remote-access order registered.
func TestPasswordBySMSGoesToTheRemoteAccessNumber(t *testing.T) {
	s, _ := smsPasswordSite(t)
	if _, err := s.app.Pool.Exec(context.Background(), `INSERT INTO authenticators (person_id, grant_id, kind, mobile)
		SELECT person_id, id, 'sms', '+46701740606' FROM grants LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	anna := s.newBrowser()
	body(t, anna.get(t, "/password"))
	anna.post(t, "/password/sms", url.Values{"username": {"anna.berg"}})
	code := phoneCode(t, s, "+46701740606")
	if resp := anna.post(t, "/password/sms/code", url.Values{"code": {code}}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/password" {
		t.Fatalf("the factor's code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := s.count(t, "SELECT count(*) FROM sms_outbox WHERE recipient = '+46701740605'"); n != 0 {
		t.Errorf("%d SMS to the person's other number", n)
	}
}

// The SMS way in a browser under axe: the form, the code's field, a wrong code, the right
// one, and the password set.
func TestBrowserPasswordBySMS(t *testing.T) {
	s, dn := smsPasswordSite(t)
	ctx := browser(t)
	do(t, ctx, "open the page", chromedp.Navigate(s.url+"/password"))
	visit(t, ctx, "password-sms", `form[action="/password/sms"] button`)
	do(t, ctx, "ask for a code", chromedp.SendKeys(`#username`, "anna.berg"), chromedp.Click(`form[action="/password/sms"] button`))
	visit(t, ctx, "password-sms-sent", `#code`)
	code := phoneCode(t, s, "+46701740605")
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	do(t, ctx, "a wrong code", chromedp.SendKeys(`#code`, wrong), chromedp.Click(`form[action="/password/sms/code"] button`))
	visit(t, ctx, "password-sms-wrong", `.error-summary`)
	if summary := text(t, ctx, ".error-summary"); !strings.Contains(summary, "Koden stämmer inte") {
		t.Fatalf("the wrong code's summary says %q", summary)
	}
	do(t, ctx, "the right code", chromedp.SendKeys(`#code`, code), chromedp.Click(`form[action="/password/sms/code"] button`))
	visit(t, ctx, "password-sms-form", `#password`)
	good := "Blabar-" + rand.Text()[:8]
	do(t, ctx, "a good password", chromedp.SendKeys(`#password`, good), chromedp.SendKeys(`#password2`, good),
		chromedp.Click(`form.password-form button`))
	visit(t, ctx, "password-sms-done", `main .notice`)
	if err := ldapBind(t, s, dn, good); err != nil {
		t.Fatalf("bind with the password set after an SMS code: %v", err)
	}
}
