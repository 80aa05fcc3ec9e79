package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/behorig/behorig/provisioning"
)

func TestITQueue(t *testing.T) {
	s := newSite(t, siteOptions{})
	treserva := map[string]any{"system": "treserva", "role": "utforare"}
	waiting := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", treserva)
	notYet := s.submit(t, "requester", "19850113-9995", "Bo", "Ek", "5110", treserva)
	maria := s.as(t, "maria.chef")
	maria.post(t, "/requests/"+waiting.ID+"/approve", nil)

	// Only IT has a queue; the menu does not offer it to others.
	rolf := s.as(t, "rolf.bestallare")
	if resp := rolf.get(t, "/queue"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a requester opening the IT queue: %d", resp.StatusCode)
	}
	if strings.Contains(body(t, rolf.get(t, "/")), `href="/queue"`) {
		t.Error("the requester's menu offers the IT queue")
	}
	if resp := rolf.post(t, "/requests/"+waiting.ID+"/take", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a requester taking a request: %d", resp.StatusCode)
	}

	ingrid := s.as(t, "ingrid.it")
	page := body(t, ingrid.get(t, "/queue"))
	if !strings.Contains(page, waiting.Number) || strings.Contains(page, notYet.Number) {
		t.Fatal("the queue should hold the approved request and not the one awaiting its manager")
	}
	if !strings.Contains(page, "Väntar på användare") || !strings.Contains(page, "Ta ärendet") {
		t.Fatalf("the queue lacks the status or the take button:\n%s", page)
	}
	// Two people of the same name are told apart by birth date and systems.
	if !strings.Contains(page, "född 18 januari 1950") || !strings.Contains(page, "<td>Treserva</td>") {
		t.Errorf("the queue does not show the birth date and the systems:\n%s", page)
	}
	if page := body(t, ingrid.get(t, "/queue?status=waiting_third_party")); strings.Contains(page, waiting.Number) {
		t.Fatal("the status filter lets another status through")
	}

	resp := ingrid.post(t, "/requests/"+waiting.ID+"/take", url.Values{"return": {"/queue"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/queue?done=taken" {
		t.Fatalf("take: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, ingrid.get(t, resp.Header.Get("Location")))
	if !strings.Contains(page, "Du har tagit ärendet.") || !strings.Contains(page, "Ingrid IT-handläggare") {
		t.Fatalf("the queue does not show Ingrid as the handler:\n%s", page)
	}

	// Terms on paper, then IT sets the status by hand and explains.
	ingrid.post(t, "/requests/"+waiting.ID+"/terms/paper", url.Values{"note": {"ok"}})
	// The status list does not pretend the request has a status it lacks: in a status IT
	// cannot choose (here scheduled: it waits for its start date), nothing is chosen.
	statusList := func() string {
		page := body(t, ingrid.get(t, "/requests/"+waiting.ID))
		sel := regexp.MustCompile(`(?s)<select id="new-status".*?</select>`).FindString(page)
		if !strings.HasPrefix(sel, `<select id="new-status" name="status"><option value="">Välj status</option>`) {
			t.Fatalf("the status list does not start with a choice to make: %q", sel)
		}
		return sel
	}
	if sel := statusList(); !strings.Contains(sel, `value="in_progress" selected`) {
		t.Errorf("in progress, the list does not show it: %s", sel)
	}
	s.app.Pool.Exec(t.Context(), "UPDATE requests SET status = 'scheduled' WHERE id = $1", waiting.ID)
	if sel := statusList(); strings.Contains(sel, " selected") {
		t.Errorf("scheduled, the list preselects a status: %s", sel)
	}
	s.app.Pool.Exec(t.Context(), "UPDATE requests SET status = 'in_progress' WHERE id = $1", waiting.ID)
	if resp := ingrid.post(t, "/requests/"+waiting.ID+"/status", url.Values{"status": {"completed"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("setting a status IT may not set: %d", resp.StatusCode)
	}
	resp = ingrid.post(t, "/requests/"+waiting.ID+"/status", url.Values{"status": {"waiting_third_party"}, "note": {"Väntar på Treserva-licens"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set status: %d %s", resp.StatusCode, body(t, resp))
	}
	if st := s.status(t, waiting.ID); st != provisioning.StatusWaitingThirdParty {
		t.Fatalf("status %s, want waiting_third_party", st)
	}
	page = body(t, rolf.get(t, "/requests/"+waiting.ID))
	for _, want := range []string{"Väntar på tredjepart", "Väntar på Treserva-licens", "tog ärendet"} {
		if !strings.Contains(page, want) {
			t.Errorf("the requester's view lacks %q", want)
		}
	}
	if strings.Contains(page, "/status\"") {
		t.Error("the requester is offered IT's status form")
	}
	// The queue says how many working days are left.
	if page := body(t, ingrid.get(t, "/queue")); !strings.Contains(page, "arbetsdag") && !strings.Contains(page, "i dag") {
		t.Fatalf("the queue does not count working days:\n%s", page)
	}
}
