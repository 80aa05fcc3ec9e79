package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

// Olle, the manager of the external provider Omsorgsbolaget AB, signs in with BankID: the
// unit search, the approver list and the form (and the API) know only his organisation.
func TestAnExternalProvidersManagerPicksOnlyTheirOrganisation(t *testing.T) {
	s := newSite(t, siteOptions{})
	olle := s.newBrowser()
	if resp := olle.signIn(t, "bankid", "bid-7f3a9c"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Olle's sign-in: %d %s", resp.StatusCode, body(t, resp))
	}
	search := func(b *site, q string) []string {
		var units []provisioning.UnitRef
		if err := json.NewDecoder(b.get(t, "/units/search?all=1&q="+url.QueryEscape(q)).Body).Decode(&units); err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, u := range units {
			codes = append(codes, u.Ansvarskod)
		}
		slices.Sort(codes)
		return codes
	}
	if got := search(olle, "51"); len(got) != 0 {
		t.Errorf("Olle's search for 51 = %v; want nothing", got)
	}
	if got := search(olle, ""); !slices.Equal(got, []string{"9100", "9110"}) {
		t.Errorf("Olle's units = %v; want 9100 and 9110", got)
	}
	if got := search(s.as(t, "rolf.bestallare"), ""); len(got) != 7 {
		t.Errorf("Rolf's units = %v; want both organisations' seven", got)
	}
	page := body(t, olle.get(t, "/requests/new"))
	if strings.Contains(page, "maria.chef@example.org") || !strings.Contains(page, `<option value="omsorgsbolaget-chef">`) {
		t.Errorf("Olle's approver list offers another organisation's manager or lacks his own:\n%s", page)
	}

	// Another organisation's unit (by ansvarskod or by name) and manager are refused as if
	// they did not exist.
	form := validForm()
	form.Set("unit", "Hemtjänst Norr")
	resp := olle.post(t, "/requests/new", form)
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Olle naming 5110 and Maria: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<a href="#unit">Enhet: ingen enhet har namnet eller ansvarskoden &#34;Hemtjänst Norr&#34;</a>`,
		`<a href="#sys-treserva">Treserva: ingen enhet har namnet eller ansvarskoden &#34;5110&#34;</a>`,
		`<a href="#approver">Godkänns av: ingen användare &#34;maria.chef@example.org&#34; finns</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the refused form lacks %s", want)
		}
	}
	var p struct{ Errors []provisioning.FieldError }
	req, _ := http.NewRequest(http.MethodPost, s.url+"/api/v1/requests", strings.NewReader(`{"person": {"personnummer": "19500118-2046",
		"givenName": "Anna", "surname": "Berg", "employeeType": "employee"}, "unit": "5110",
		"items": [{"system": "meddix"}], "approver": "manager"}`))
	req.Header.Set("Content-Type", "application/json")
	apiResp, err := olle.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer apiResp.Body.Close()
	json.NewDecoder(apiResp.Body).Decode(&p)
	var got []string
	for _, e := range p.Errors {
		got = append(got, e.Field+": "+e.Message)
	}
	want := []string{`unit: no unit has the id or ansvarskod "5110"`, `approver: no user "manager" is known`}
	if apiResp.StatusCode != http.StatusBadRequest || !slices.Equal(got, want) {
		t.Fatalf("Olle's API request for 5110 with Maria: %d %q; want %q", apiResp.StatusCode, got, want)
	}
	if n := s.count(t, "SELECT count(*) FROM requests"); n != 0 {
		t.Fatalf("%d requests stored", n)
	}

	// Within his organisation the form goes through.
	form = validForm()
	form.Set("unit", "Omsorgsbolaget hemtjänst")
	form.Set("sys.treserva.units", "9110")
	form.Set("approver", "omsorgsbolaget-chef")
	if resp := olle.post(t, "/requests/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Olle's request for his own unit: %d %s", resp.StatusCode, body(t, resp))
	}
}
