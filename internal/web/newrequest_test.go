package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

func validForm() url.Values {
	return url.Values{
		"givenName": {"Åsa-Märta"}, "surname": {`O'Brien (*)\,=+<>#;"`}, "personnummer": {"19500118-2046"},
		"mobile": {"070-123 45 67"}, "email": {"asa@example.org"}, "jobTitle": {"Undersköterska"}, "employeeType": {"employee"},
		"unit": {"5110"}, "reason": {"Nyanställd"}, "description": {"Börjar måndag"},
		"sys.treserva.role": {"utforare"}, "sys.treserva.units": {"5110, 5210"},
		"sys.meddix.yes": {"ja"}, "approver": {"maria.chef@example.org"},
	}
}

func TestNewRequestFormSubmits(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	page := body(t, rolf.get(t, "/requests/new"))
	for _, want := range []string{"<h1>Behörighetsansökan</h1>", `name="unit" value="5110"`, "Treserva", "Utförare", "Meddix",
		`<label for="personnummer">Personnummer`, `<option value="maria.chef@example.org">Maria Chef</option>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	// Rolf attests nothing: he is not offered to attest, nor the approval overview, and the
	// picker offers the managers of his unit only.
	for _, unwanted := range []string{"Jag är chef och har attesträtt", `href="/approvals"`, "Sven Söderchef"} {
		if strings.Contains(page, unwanted) {
			t.Errorf("Rolf's form offers %q", unwanted)
		}
	}
	if page := body(t, s.as(t, "maria.chef").get(t, "/requests/new")); !strings.Contains(page, "Jag är chef och har attesträtt för följande beställning") ||
		!strings.Contains(page, `href="/approvals"`) {
		t.Error("Maria, who attests, is not offered to attest or the approval overview")
	}
	var soder []provisioning.Approver
	if err := json.NewDecoder(rolf.get(t, "/approvers/search?unit=Hemtj%C3%A4nst+S%C3%B6der").Body).Decode(&soder); err != nil ||
		len(soder) != 1 || soder[0].Name != "Sven Söderchef" {
		t.Errorf("the picker for Hemtjänst Söder offers %+v, %v; want Sven", soder, err)
	}
	resp := rolf.post(t, "/requests/new", validForm())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", resp.StatusCode, body(t, resp))
	}
	page = body(t, rolf.get(t, resp.Header.Get("Location")))
	for _, want := range []string{"Ansökan är inskickad.", "Åsa-Märta O&#39;Brien", "Särskilt boende Ekbacken (5210)", "Meddix",
		"Börjar måndag", "Väntar på att Maria Chef godkänner."} {
		if !strings.Contains(page, want) {
			t.Errorf("the new request's page lacks %q", want)
		}
	}
	if n := s.count(t, "SELECT count(*) FROM request_items"); n != 3 {
		t.Fatalf("%d items, want treserva×2 and meddix", n)
	}
	if n := s.count(t, "SELECT count(*) FROM requests WHERE person_job_title = 'Undersköterska'"); n != 1 {
		t.Fatal("the job title was not kept")
	}
}

// A system's units are named as the guides ask ("Observera att det är enhetsnamn"): names
// with spaces, as the unit search puts them in, or ansvarskoder, separated by commas.
func TestNewRequestNamesSystemUnitsByName(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	form := validForm()
	form.Set("sys.treserva.units", "Hemtjänst Norr , Särskilt boende Ekbacken (5210)")
	resp := rolf.post(t, "/requests/new", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", resp.StatusCode, body(t, resp))
	}
	got := s.count(t, `SELECT count(*) FROM request_items i JOIN units u ON u.id = i.unit_id
		WHERE i.system_id = 'treserva' AND u.ansvarskod IN ('5110', '5210')`)
	if got != 2 {
		t.Fatalf("%d Treserva items for Hemtjänst Norr and Ekbacken, want 2", got)
	}

	form.Set("sys.treserva.units", "Hemtjänst Nowhere")
	form.Set("submitToken", "another")
	resp = rolf.post(t, "/requests/new", form)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Hemtjänst Nowhere") {
		t.Fatalf("an unknown unit name: %d\n%s", resp.StatusCode, page)
	}
}

func TestNewRequestSelfApproval(t *testing.T) {
	s := newSite(t, siteOptions{})
	maria := s.as(t, "maria.chef")
	form := validForm()
	form.Del("approver")
	form.Set("selfApprove", "ja")
	resp := maria.post(t, "/requests/new", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", resp.StatusCode, body(t, resp))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/requests/"), "?done=submitted")
	if st := s.status(t, id); st != provisioning.StatusAwaitingUser {
		t.Fatalf("a manager approving her own unit's request in one step: %s", st)
	}
}

func TestNewRequestBadInputKeepsTheFormAndSavesNothing(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	form := validForm()
	form.Set("givenName", "")
	form.Set("personnummer", "19120211-9151")
	form.Set("employeeType", "consultant")
	form.Set("validFrom", "2099-06-01")
	form.Set("validTo", "2099-05-01")
	form.Set("sys.treserva.role", "")
	form.Set("sys.tes.units", "5110")
	form.Set("unit", "Hemtjänst")
	form.Set("approver", "nobody@example.org")
	resp := rolf.post(t, "/requests/new", form)
	page := body(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad form: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<a href="#givenName">Förnamn: måste fyllas i</a>`,
		`<a href="#personnummer">Personnummer: kontrollsiffran stämmer inte</a>`,
		`<a href="#validTo">T.o.m.: 2099-05-01 är före fr.o.m.-datumet 2099-06-01</a>`,
		`<a href="#sys-treserva">Treserva: välj en roll i treserva</a>`,
		`<a href="#sys-tes">TES: välj en roll i tes</a>`,
		`<a href="#unit">Enhet: ingen enhet har namnet eller ansvarskoden &#34;Hemtjänst&#34;</a>`,
		`<a href="#approver">Godkänns av: ingen användare &#34;nobody@example.org&#34; finns</a>`,
		`value="19120211-9151"`, `value="consultant" checked`, `name="sys.treserva.units" value="5110, 5210"`,
		`id="givenName" name="givenName" value="" autocomplete="given-name" required aria-invalid="true"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the refused form lacks %s", want)
		}
	}
	if n := s.count(t, "SELECT count(*) FROM requests"); n != 0 {
		t.Fatalf("%d requests saved from a bad form", n)
	}
	if n := s.count(t, "SELECT count(*) FROM persons"); n != 0 {
		t.Fatalf("%d persons saved from a bad form", n)
	}

	// The same errors in English for someone who chose English.
	rolf.get(t, "/lang?to=en&return=/")
	page = body(t, rolf.post(t, "/requests/new", form))
	if !strings.Contains(page, `<a href="#personnummer">Personnummer: the check digit does not match</a>`) ||
		!strings.Contains(page, `<a href="#givenName">Given name: is required</a>`) {
		t.Fatalf("the errors are not in English:\n%s", page)
	}
}

func TestNewRequestRefusesAnOversizedForm(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	form := validForm()
	form.Set("description", strings.Repeat("x", 70<<10))
	if resp := rolf.post(t, "/requests/new", form); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("an oversized form: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM requests"); n != 0 {
		t.Fatal("an oversized form was saved")
	}
}

func TestUnitSearch(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	search := func(q string, all bool) []provisioning.UnitRef {
		path := "/units/search?q=" + url.QueryEscape(q)
		if all {
			path += "&all=1"
		}
		var units []provisioning.UnitRef
		if err := json.NewDecoder(rolf.get(t, path).Body).Decode(&units); err != nil {
			t.Fatal(err)
		}
		return units
	}
	if got := search("51", false); len(got) != 2 || got[0].Ansvarskod != "5110" {
		t.Fatalf("search 51 = %v, want 5110 and 5120", got)
	}
	if got := search("hemtjänst", false); len(got) != 3 {
		t.Fatalf("search hemtjänst = %v, want Hemtjänst Norr, Söder and Omsorgsbolaget hemtjänst", got)
	}
	if got := search("", false); len(got) != 5 {
		t.Fatalf("an empty search shows %d, want 5", len(got))
	}
	if got := search("", true); len(got) != 7 {
		t.Fatalf("all = %d units, want 7", len(got))
	}
	if got := search("%", true); len(got) != 0 {
		t.Fatalf("a LIKE wildcard matched %d units", len(got))
	}
	anonymous := s.newBrowser()
	if resp := anonymous.get(t, "/units/search?q=51"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous unit search: %d", resp.StatusCode)
	}
}

// postMultipart sends the request form with files, as a browser does.
func (s *site) postMultipart(t *testing.T, path string, form url.Values, files map[string][]byte) *http.Response {
	t.Helper()
	return s.postFiles(t, path, form, "files", files)
}

// postFiles sends a multipart form: the fields and the files under one field name.
func (s *site) postFiles(t *testing.T, path string, form url.Values, field string, files map[string][]byte) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for name, content := range files {
		fw, _ := mw.CreateFormFile(field, name)
		fw.Write(content)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestNewRequestWithAttachments(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	form := validForm()
	form.Set("givenName", "")
	resp := rolf.postMultipart(t, "/requests/new", form, map[string][]byte{"intyg.pdf": pdf, "virus.exe": []byte("MZ\x90\x00")})
	page := body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#files">Bifoga fil: är inte en PDF-, PNG- eller JPEG-fil</a>`) ||
		!strings.Contains(page, `<a href="#givenName">`) {
		t.Fatalf("a bad file and a missing name: %d\n%s", resp.StatusCode, page)
	}
	if n := s.count(t, "SELECT count(*) FROM requests") + s.count(t, "SELECT count(*) FROM attachments"); n != 0 {
		t.Fatal("a refused form stored something")
	}
	resp = rolf.postMultipart(t, "/requests/new", validForm(), map[string][]byte{"intyg.pdf": pdf})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit with a file: %d %s", resp.StatusCode, body(t, resp))
	}
	if page := body(t, rolf.get(t, resp.Header.Get("Location"))); !strings.Contains(page, "intyg.pdf") {
		t.Fatal("the attachment is not on the new request")
	}
}

func TestNewRequestWithTooManyFilesStoresNothing(t *testing.T) {
	s := newSite(t, siteOptions{})
	rolf := s.as(t, "rolf.bestallare")
	files := map[string][]byte{}
	for i := range 21 {
		files[fmt.Sprintf("intyg-%02d.pdf", i)] = pdf
	}
	resp := rolf.postMultipart(t, "/requests/new", validForm(), files)
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#files">`) {
		t.Fatalf("21 files: %d", resp.StatusCode)
	}
	if n := s.count(t, "SELECT count(*) FROM requests") + s.count(t, "SELECT count(*) FROM attachments"); n != 0 {
		t.Fatal("a refused form stored something")
	}
}

func TestPostBodiesAreBounded(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	maria := s.as(t, "maria.chef")
	resp := maria.postMultipart(t, "/requests/"+sub.ID+"/reject", url.Values{"reason": {"x"}}, map[string][]byte{"big.pdf": make([]byte, 1<<20)})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a multipart body to reject: %d", resp.StatusCode)
	}
	resp = maria.post(t, "/requests/"+sub.ID+"/reject", url.Values{"reason": {strings.Repeat("x", 100<<10)}})
	if resp.StatusCode < 400 || s.status(t, sub.ID) != provisioning.StatusAwaitingApproval {
		t.Fatalf("a 100 KB reason: %d", resp.StatusCode)
	}
}
