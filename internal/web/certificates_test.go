package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/provisioning"
)

var attachmentOption = regexp.MustCompile(`<option value="([0-9a-f-]{36})">intyg\.pdf`)

// The form groups the systems by category, marks the one that needs a training certificate
// and links its training; the request waits for the certificate, which IT verifies on the
// request page. "Annat system" reaches the approver as typed.
func TestFormCategoriesCertificateAndOtherSystem(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	if _, err := s.app.Pool.Exec(ctx, `UPDATE systems SET needs_certificate = true, training_url = 'https://utbildning.example/is',
		category_id = 'e-post' WHERE id = 'meddix'`); err != nil {
		t.Fatal(err)
	}
	rolf := s.as(t, "rolf.bestallare")
	page := body(t, rolf.get(t, "/requests/new"))
	for _, want := range []string{"<legend>Vård och omsorg</legend>", "<legend>E-post och gemensamma kataloger</legend>",
		"(kräver utbildningsintyg)", `href="https://utbildning.example/is"`, "Länk till utbildningen för Meddix",
		"inom 1 vecka makuleras beställningen", `<label for="otherSystem">Annat system</label>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	if strings.Index(page, "E-post och gemensamma kataloger") > strings.Index(page, "<legend>Vård och omsorg</legend>") {
		t.Error("the categories are not in their order")
	}
	form := validForm()
	form.Set("otherSystem", "Visma: attestant <b>5110</b>")
	resp := rolf.postMultipart(t, "/requests/new", form, map[string][]byte{"intyg.pdf": pdf})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", resp.StatusCode, body(t, resp))
	}
	id := strings.TrimPrefix(strings.Split(resp.Header.Get("Location"), "?")[0], "/requests/")
	maria := s.as(t, "maria.chef")
	if page := body(t, maria.get(t, "/requests/"+id)); !strings.Contains(page, "Annat system (hanteras för hand av IT)") ||
		!strings.Contains(page, "Visma: attestant &lt;b&gt;5110&lt;/b&gt;") {
		t.Fatal("the approver does not read the other system")
	}
	if _, err := s.app.Service.Approve(ctx, s.app.Actors["manager"], id); err != nil {
		t.Fatal(err)
	}
	// Treserva's terms first, on paper; then the certificate.
	if _, err := s.app.Service.RecordPaperTerms(ctx, s.app.Actors["it-handler"], id, ""); err != nil {
		t.Fatal(err)
	}
	if got := s.status(t, id); got != provisioning.StatusAwaitingCertificate {
		t.Fatalf("status %s, want awaiting_certificate", got)
	}
	if page := body(t, rolf.get(t, "/requests/"+id)); !strings.Contains(page, "Väntar på intyg") ||
		!strings.Contains(page, "Väntar på att IT har kontrollerat intyget") || strings.Contains(page, `action="/requests/`+id+`/certificate"`) {
		t.Fatal("the requester does not see the wait for the certificate, or sees IT's button")
	}
	ingrid := s.as(t, "ingrid.it")
	page = body(t, ingrid.get(t, "/requests/"+id))
	m := attachmentOption.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "Markera intyget som kontrollerat") || strings.Contains(page, `action="/requests/`+id+`/status"`) {
		t.Fatalf("IT's page lacks the verification, or offers a status past it:\n%s", page)
	}
	if resp := ingrid.post(t, "/requests/"+id+"/certificate", url.Values{"attachment": {"00000000-0000-0000-0000-000000000000"}}); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body(t, resp), `<a href="#certificate-attachment">`) {
		t.Fatalf("a certificate that is not the request's: %d", resp.StatusCode)
	}
	if resp := ingrid.post(t, "/requests/"+id+"/certificate", url.Values{"attachment": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify: %d %s", resp.StatusCode, body(t, resp))
	}
	page = body(t, ingrid.get(t, "/requests/"+id+"?done=certificate"))
	if !strings.Contains(page, "Intyget är markerat som kontrollerat.") || !strings.Contains(page, "intyg kontrollerat") ||
		s.status(t, id) != provisioning.StatusInProgress || !strings.Contains(page, "Markera annat system som klart") {
		t.Fatalf("after verification: %s", s.status(t, id))
	}
	if resp := ingrid.post(t, "/requests/"+id+"/other-system", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("other system done: %d", resp.StatusCode)
	}
	if page := body(t, ingrid.get(t, "/requests/"+id)); !strings.Contains(page, "hanterat av IT") {
		t.Fatal("the other system is not shown as handled")
	}
}

// IT asks for more information; the requester's answer makes the request "Besvarat av
// användaren" on their page and in Mina ärenden, where the due date is shown too.
func TestAskAndAnswerAndTheDueDate(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", map[string]any{"system": "treserva", "role": "utforare"})
	if _, err := s.app.Service.Approve(ctx, s.app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	rolf, ingrid := s.as(t, "rolf.bestallare"), s.as(t, "ingrid.it")
	view, err := s.app.Service.Request(ctx, s.app.Actors["it-handler"], sub.ID)
	if err != nil || view.DueDate == "" {
		t.Fatalf("no due date once approved: %v", err)
	}
	for who, path := range map[*site]string{rolf: "/", ingrid: "/queue"} {
		if page := body(t, who.get(t, path)); !strings.Contains(page, sub.Number) || !strings.Contains(page, swedishDate(view.DueDate)) {
			t.Errorf("%s does not show the due date %s", path, view.DueDate)
		}
	}
	// Waiting for the terms, IT cannot ask; on paper the request goes on, and then IT can.
	if page := body(t, ingrid.get(t, "/requests/"+sub.ID)); strings.Contains(page, `action="/requests/`+sub.ID+`/ask"`) {
		t.Fatal("IT is offered a question while the terms are awaited")
	}
	ingrid.post(t, "/requests/"+sub.ID+"/terms/paper", url.Values{})
	if resp := ingrid.post(t, "/requests/"+sub.ID+"/ask", url.Values{"question": {" "}}); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body(t, resp), `<a href="#question">`) {
		t.Fatalf("an empty question: %d", resp.StatusCode)
	}
	if resp := ingrid.post(t, "/requests/"+sub.ID+"/ask", url.Values{"question": {"Vilken arbetsplats?"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ask: %d %s", resp.StatusCode, body(t, resp))
	}
	page := body(t, rolf.get(t, "/requests/"+sub.ID))
	if !strings.Contains(page, "Vilken arbetsplats?") || !strings.Contains(page, "Väntar på svar från beställaren") {
		t.Fatal("the requester does not see the question")
	}
	rolf.post(t, "/requests/"+sub.ID+"/comments", url.Values{"comment": {"Ekbacken"}})
	for _, path := range []string{"/requests/" + sub.ID, "/"} {
		if page := body(t, rolf.get(t, path)); !strings.Contains(page, "Besvarat av användaren") {
			t.Errorf("%s does not show Besvarat av användaren", path)
		}
	}
	if page := body(t, ingrid.get(t, "/queue")); !strings.Contains(page, "Besvarat av användaren") {
		t.Error("the queue does not show Besvarat av användaren")
	}
}

// swedishDate is how the pages write a YYYY-MM-DD date: "16 februari 2023".
func swedishDate(d string) string {
	months := []string{"januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"}
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return fmt.Sprintf("%d %s %d", t.Day(), months[t.Month()-1], t.Year())
}
