package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/provisioning"
)

// loadedSite is a site with the scale fixture loaded at a small size.
func loadedSite(t *testing.T, requests int) *site {
	t.Helper()
	s := newSite(t, siteOptions{})
	size := devenv.ScaleFor(requests)
	size.AuditEvents = 0
	if err := devenv.LoadScale(context.Background(), s.app.Pool, s.app.Box, s.app.Audit, size); err != nil {
		t.Fatal(err)
	}
	return s
}

var requestNumberRe = regexp.MustCompile(`>(BEH-\d{4}-\d{6})</a>`)

// numbersOn returns the request numbers a list page links to, in order.
func numbersOn(page string) []string {
	var out []string
	for _, m := range requestNumberRe.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func nextHref(t *testing.T, page string) string {
	t.Helper()
	m := nextLink.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func (s *site) statusOf(t *testing.T, number string) string {
	t.Helper()
	var status string
	if err := s.app.Pool.QueryRow(context.Background(), "SELECT status FROM requests WHERE number = $1", number).Scan(&status); err != nil {
		t.Fatal(err)
	}
	return status
}

func TestListPagesFilterSearchAndPage(t *testing.T) {
	s := loadedSite(t, 2400)
	rolf := s.as(t, "rolf.bestallare")

	// Mina ärenden: open requests, 50 a page, and the next page carries on without repeats.
	page := body(t, rolf.get(t, "/"))
	first := numbersOn(page)
	next := nextHref(t, page)
	if len(first) != provisioning.PageSize || !strings.Contains(page, "Nästa sida") || !strings.HasPrefix(next, "/?") {
		t.Fatalf("Mina ärenden: %d rows, next %q", len(first), next)
	}
	second := numbersOn(body(t, rolf.get(t, next)))
	if len(second) == 0 || slices.ContainsFunc(second, func(n string) bool { return slices.Contains(first, n) }) {
		t.Fatalf("the next page repeats or is empty: %v", second)
	}
	for _, n := range append(first, second...) {
		if !provisioning.IsOpen(s.statusOf(t, n)) {
			t.Fatalf("open requests list %s, %s", n, s.statusOf(t, n))
		}
	}
	// Sorted newest first by default, oldest first on request.
	if !slices.IsSortedFunc(first, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("Mina ärenden is not newest first: %v", first)
	}
	if oldest := numbersOn(body(t, rolf.get(t, "/?status=all&sort=number"))); !slices.IsSorted(oldest) {
		t.Errorf("sort=number is not oldest first: %v", oldest)
	}
	// Stängda ärenden, and one status.
	for _, n := range numbersOn(body(t, rolf.get(t, "/?status=closed"))) {
		if provisioning.IsOpen(s.statusOf(t, n)) {
			t.Fatalf("closed requests list %s", n)
		}
	}
	rejected := numbersOn(body(t, rolf.get(t, "/?status=rejected")))
	if len(rejected) == 0 {
		t.Fatal("no rejected requests listed")
	}
	for _, n := range rejected {
		if st := s.statusOf(t, n); st != provisioning.StatusRejected {
			t.Fatalf("status=rejected lists %s, %s", n, st)
		}
	}
	// Search by number.
	if got := numbersOn(body(t, rolf.get(t, "/?status=all&q="+url.QueryEscape(strings.ToLower(first[3]))))); !slices.Equal(got, first[3:4]) {
		t.Errorf("search for %s: %v", first[3], got)
	}
	// A search too short is said next to the field; nothing is listed.
	resp := rolf.get(t, "/?q=Bo")
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `<a href="#q">`) || !strings.Contains(page, `aria-invalid="true"`) ||
		!strings.Contains(page, "minst 3 tecken") || len(numbersOn(page)) != 0 {
		t.Fatalf("a short search: %d\n%s", resp.StatusCode, page)
	}
	if resp := rolf.get(t, "/?cursor=nonsense"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body(t, resp), "Nästa sida") {
		t.Fatalf("a bad cursor: %d", resp.StatusCode)
	}
	// English.
	rolf.get(t, "/lang?to=en&return=/")
	if page := body(t, rolf.get(t, "/")); !strings.Contains(page, "Next page") || !strings.Contains(page, "Newest first") {
		t.Error("the English list lacks its paging or sort words")
	}
}

func TestApprovalsSelectAllOnThePage(t *testing.T) {
	s := loadedSite(t, 2400)
	maria := s.as(t, "maria.chef")
	page := body(t, maria.get(t, "/approvals"))
	if strings.Count(page, `name="decision" value="approve"`) != 2 || strings.Count(page, `name="decision" value="reject"`) != 2 {
		t.Fatal("the approve and reject buttons are not both above and below the table")
	}
	if !strings.Contains(page, "Markera alla på sidan") || nextHref(t, page) == "" {
		t.Fatal("the approvals page lacks select all or its next page")
	}
	// The unit filter narrows to 5210; select all, without the script: every request the
	// page showed is approved, none other.
	page = body(t, maria.get(t, "/approvals?unit=5210"))
	onPage := regexp.MustCompile(`name="onpage" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(onPage) == 0 {
		t.Fatal("no requests of 5210 to approve")
	}
	form := url.Values{"decision": {"approve"}, "all": {"page"}}
	for _, m := range onPage {
		form.Add("onpage", m[1])
	}
	resp := maria.post(t, "/approvals", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "n="+strconv.Itoa(len(onPage))) {
		t.Fatalf("approve all on the page: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body(t, resp))
	}
	for _, m := range onPage {
		if st := s.status(t, m[1]); st == provisioning.StatusAwaitingApproval {
			t.Fatalf("%s was on the page and is still awaiting approval", m[1])
		}
	}
	if left := s.count(t, "SELECT count(*) FROM requests r JOIN units u ON u.id = r.unit_id WHERE r.status = 'awaiting_approval' AND u.ansvarskod = '5110'"); left == 0 {
		t.Fatal("approving a page of 5210 approved requests of 5110 too")
	}
	// Nothing picked: an error, nothing decided.
	if resp := maria.post(t, "/approvals", url.Values{"decision": {"approve"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("approve nothing: %d", resp.StatusCode)
	}
	// More than a page can show: a forged form, refused whole before any decision (each id
	// would cost a transaction, and a form may carry a quarter of a million).
	real := regexp.MustCompile(`name="onpage" value="([^"]+)"`).FindStringSubmatch(body(t, maria.get(t, "/approvals")))
	if real == nil {
		t.Fatal("no request left to approve")
	}
	form = url.Values{"decision": {"approve"}, "id": {real[1]}}
	for i := range provisioning.PageSize {
		form.Add("onpage", fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	form.Set("all", "page")
	if resp := maria.post(t, "/approvals", form); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("approve %d requests at once: %d", provisioning.PageSize+1, resp.StatusCode)
	}
	if st := s.status(t, real[1]); st != provisioning.StatusAwaitingApproval {
		t.Fatalf("a refused form of too many requests decided %s: %s", real[1], st)
	}
}

func TestQueueFindsClosedRequestsAndPersons(t *testing.T) {
	s := loadedSite(t, 600)
	ingrid := s.as(t, "ingrid.it")
	queue := numbersOn(body(t, ingrid.get(t, "/queue")))
	for _, n := range queue {
		if !slices.Contains(provisioning.QueueStatuses, s.statusOf(t, n)) {
			t.Fatalf("the queue lists %s, %s", n, s.statusOf(t, n))
		}
	}
	page := body(t, ingrid.get(t, "/queue?status=closed"))
	closed := numbersOn(page)
	if len(closed) == 0 || !strings.Contains(page, "Alla ärenden, även stängda") {
		t.Fatal("Stängda ärenden lists nothing")
	}
	for _, n := range closed {
		if provisioning.IsOpen(s.statusOf(t, n)) {
			t.Fatalf("Stängda ärenden lists %s", n)
		}
	}
	// IT finds a completed request by its number among all.
	var done string
	s.app.Pool.QueryRow(context.Background(), "SELECT number FROM requests WHERE status = 'completed' ORDER BY number LIMIT 1").Scan(&done)
	if got := numbersOn(body(t, ingrid.get(t, "/queue?status=all&q="+done))); !slices.Equal(got, []string{done}) {
		t.Fatalf("searching all for %s: %v", done, got)
	}
	if resp := ingrid.get(t, "/queue?status=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unknown status: %d", resp.StatusCode)
	}

	// The persons list: IT only, in IT's menu, searched by personnummer and by name.
	rolf := s.as(t, "rolf.bestallare")
	if resp := rolf.get(t, "/persons"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a requester opening the persons list: %d", resp.StatusCode)
	}
	if strings.Contains(body(t, rolf.get(t, "/")), `href="/persons"`) {
		t.Error("the requester's menu offers the persons list")
	}
	page = body(t, ingrid.get(t, "/persons"))
	if !strings.Contains(page, `href="/persons" aria-current="page"`) || nextHref(t, page) == "" {
		t.Fatal("the persons list is not in IT's menu or has no next page")
	}
	pnr := devenv.PersonnummerOf(7)
	page = body(t, ingrid.get(t, "/persons?q="+pnr))
	if strings.Count(page, `href="/persons/`) != 1 || !strings.Contains(page, pnr) {
		t.Fatalf("persons by personnummer:\n%s", page)
	}
	var surname string
	s.app.Pool.QueryRow(context.Background(), "SELECT surname FROM persons ORDER BY id LIMIT 1").Scan(&surname)
	page = body(t, ingrid.get(t, "/persons?q="+url.QueryEscape(strings.ToLower(surname))))
	if !strings.Contains(page, surname+",") {
		t.Fatalf("persons by name %s:\n%s", surname, page)
	}
}
