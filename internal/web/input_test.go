package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Every value of every form is checked before a handler acts: NUL, invalid UTF-8, control,
// bidi and zero-width characters get a 400 page naming the field, and nothing is stored.
func TestFormsRefuseBadText(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	for _, c := range []struct {
		name, field, value, label string
	}{
		{"NUL", "givenName", "An\x00na", "Förnamn"},
		{"invalid UTF-8", "surname", "Berg\xff", "Efternamn"},
		{"a lone UTF-8 lead byte", "jobTitle", "Undersk\xc3", "Tjänstetitel"},
		{"RLO", "surname", "Berg\u202egnp", "Efternamn"},
		{"zero-width space", "email", "asa\u200b@example.org", "E-post"},
		{"escape", "approver", "maria\x1b", "Godkänns av"},
		{"newline in a single-line field", "personnummer", "19500118-2046\n", "Personnummer"},
		{"NUL in a system's role", "sys.treserva.role", "utforare\x00", "Roll/Behörighet"},
		{"NUL in a reason", "reason", "Ny\x00", "Anledning till ansökan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := validForm()
			form.Set(c.field, c.value)
			for how, post := range map[string]func() *http.Response{
				"urlencoded": func() *http.Response { return rolf.post(t, "/requests/new", form) },
				"multipart":  func() *http.Response { return rolf.postMultipart(t, "/requests/new", form, nil) },
			} {
				resp := post()
				page := body(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "<li>"+c.label+": ") {
					t.Errorf("%s: %d, want 400 naming %s:\n%s", how, resp.StatusCode, c.label, page)
				}
			}
		})
	}
	t.Run("a file's name", func(t *testing.T) {
		resp := rolf.postMultipart(t, "/requests/new", validForm(), map[string][]byte{"intyg\u202efdp.exe": pdf})
		if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "<li>Bifoga fil: innehåller U&#43;202E") {
			t.Errorf("an RLO in a file name: %d\n%s", resp.StatusCode, page)
		}
	})
	if n := s.count(t, "SELECT count(*) FROM requests") + s.count(t, "SELECT count(*) FROM persons"); n != 0 {
		t.Fatalf("%d requests and persons stored from refused forms", n)
	}
	form := validForm()
	form.Set("reason", "Nyanställd\r\nbörjar måndag\tkl. 7")
	if resp := rolf.post(t, "/requests/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("line breaks in a reason: %d %s", resp.StatusCode, body(t, resp))
	}

	ivar := s.as(t, "ivar.admin")
	resp := ivar.post(t, "/admin/units", url.Values{"name": {"Hemtjänst\u200bVäst"}, "ansvarskod": {"5130"}, "parent": {"5000"}})
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "<li>Enhetens namn: ") {
		t.Errorf("a zero-width space in a unit's name: %d\n%s", resp.StatusCode, page)
	}
	if n := s.count(t, "SELECT count(*) FROM units WHERE ansvarskod = '5130'"); n != 0 {
		t.Error("the unit was saved")
	}
	resp = rolf.get(t, "/units/search?q=%00")
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "<li>q: ") {
		t.Errorf("NUL in a search: %d\n%s", resp.StatusCode, page)
	}
	// The same in English for someone who chose English.
	rolf.get(t, "/lang?to=en&return=/")
	form = validForm()
	form.Set("givenName", "An\x00na")
	if page := body(t, rolf.post(t, "/requests/new", form)); !strings.Contains(page, "<li>Given name: contains U&#43;0000, an invisible or control character") {
		t.Errorf("the refusal is not in English:\n%s", page)
	}
}

var submitTokenField = regexp.MustCompile(`<input type="hidden" name="submitToken" value="([^"]+)">`)

// The form sent twice (a double click, back and send again) makes one request, and the
// second sending leads to it.
func TestNewRequestFormSentTwiceMakesOneRequest(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	m := submitTokenField.FindStringSubmatch(body(t, rolf.get(t, "/requests/new")))
	if m == nil {
		t.Fatal("the form carries no token")
	}
	form := validForm()
	form.Set("submitToken", m[1])
	first := rolf.post(t, "/requests/new", form)
	again := rolf.postMultipart(t, "/requests/new", form, map[string][]byte{"intyg.pdf": pdf})
	if first.StatusCode != http.StatusSeeOther || again.StatusCode != http.StatusSeeOther ||
		first.Header.Get("Location") != again.Header.Get("Location") {
		t.Fatalf("first %d %s, again %d %s; want both to lead to the one request", first.StatusCode, first.Header.Get("Location"),
			again.StatusCode, again.Header.Get("Location"))
	}
	if n := s.count(t, "SELECT count(*) FROM requests"); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if n := s.count(t, "SELECT count(*) FROM attachments"); n != 0 {
		t.Fatal("the second sending stored its file")
	}
	// A new form is a new request.
	m2 := submitTokenField.FindStringSubmatch(body(t, rolf.get(t, "/requests/new")))
	if m2 == nil || m2[1] == m[1] {
		t.Fatal("a new form has the old token")
	}
	form.Set("submitToken", m2[1])
	if resp := rolf.post(t, "/requests/new", form); resp.StatusCode != http.StatusSeeOther || s.count(t, "SELECT count(*) FROM requests") != 2 {
		t.Fatalf("a new form: %d", resp.StatusCode)
	}
}

// An admin form is checked whole before anything is saved: a bad price keeps the new name
// out too, and every error shows at once.
func TestAdminFormsSaveNothingOnAnyError(t *testing.T) {
	s := newSite(t, siteOptions{})
	ivar := s.as(t, "ivar.admin")
	form := url.Values{"existing": {"1"}, "id": {"meddix"}, "name": {"Meddix NY"}, "groupTemplate": {"meddix"}, "monthlyPriceSek": {"gratis"}}
	resp := ivar.post(t, "/admin/catalog", form)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#monthlyPriceSek">`) {
		t.Fatalf("a price that is not a number: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM systems WHERE id = 'meddix' AND name = 'Meddix'"); n != 1 {
		t.Fatal("the name was saved although the price was refused")
	}
	form.Set("groupTemplate", "meddix-{enhet}")
	page := body(t, ivar.post(t, "/admin/catalog", form))
	if !strings.Contains(page, `<a href="#monthlyPriceSek">`) || !strings.Contains(page, `<a href="#groupTemplate">`) {
		t.Fatalf("not every error at once:\n%s", page)
	}
	newSystem := url.Values{"id": {"lifecare"}, "name": {"Lifecare"}, "groupTemplate": {"lifecare-{unit}"}, "monthlyPriceSek": {"12,50"}}
	if resp := ivar.post(t, "/admin/catalog", newSystem); resp.StatusCode != http.StatusBadRequest ||
		s.count(t, "SELECT count(*) FROM systems WHERE id = 'lifecare'") != 0 {
		t.Fatalf("a new system with a bad price: %d", resp.StatusCode)
	}

	var id string
	s.app.Pool.QueryRow(t.Context(), "SELECT id::text FROM units WHERE ansvarskod = '5110'").Scan(&id)
	unit := url.Values{"id": {id}, "name": {"Hemtjänst Nord"}, "ansvarskod": {"5110"}, "parent": {"5000"},
		"managers": {"maria.chef@example.org\nokand@example.org"}}
	if resp := ivar.post(t, "/admin/units", unit); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unknown manager: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM units WHERE ansvarskod = '5110' AND name = 'Hemtjänst Norr'"); n != 1 {
		t.Fatal("the unit's new name was saved although a manager was refused")
	}
}
