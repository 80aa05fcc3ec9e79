package metrics_test

import (
	"bufio"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// series is a scrape: each sample line's name with labels, and its value.
type series map[string]float64

func scrape(t *testing.T, url string) series {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	s := series{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		s[line[:i]] = v
	}
	return s
}

// get sums the samples of name whose labels include every given name="value" pair; found
// says whether there was any.
func (s series) get(name string, labels ...string) (sum float64, found bool) {
	for key, v := range s {
		n, rest, _ := strings.Cut(key, "{")
		if n != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(rest, labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if match {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func (s series) want(t *testing.T, name string, cond func(float64) bool, what string, labels ...string) {
	t.Helper()
	v, found := s.get(name, labels...)
	if !found || !cond(v) {
		t.Errorf("%s%v = %v (found %v), want %s", name, labels, v, found, what)
	}
}

var uuidish = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)

// After a request goes from submission to its account in the directory (with the terms
// e-mail on the way) and a second is scheduled, /metrics shows the requests by route and
// code, the jobs by kind and outcome, the queues, the directory's and SMTP's calls, the
// probes and the pools.
func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	app := testapp.New(t, testapp.Options{})
	submit := func(pnr, given, validFrom string) string {
		body := map[string]any{
			"person": map[string]any{"personnummer": pnr, "givenName": given, "surname": "Mätare",
				"email": strings.ToLower(given) + "@example.org", "employeeType": "employee"},
			"unit": "5110", "reason": "Ny", "validFrom": validFrom,
			"items":    []map[string]any{{"system": "treserva", "role": "utforare"}, {"system": "meddix"}},
			"approver": "manager",
		}
		var sub struct{ ID string }
		if code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &sub); code != http.StatusCreated {
			t.Fatalf("submit: %d", code)
		}
		if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil); code != http.StatusOK {
			t.Fatalf("approve: %d", code)
		}
		if code := app.Call(t, "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/terms/paper",
			map[string]string{"note": "Blankett"}, nil); code != http.StatusOK {
			t.Fatalf("paper terms: %d", code)
		}
		return sub.ID
	}
	now := submit("19500118-2046", "Anna", "")
	app.WaitStatus(t, now, provisioning.StatusCompleted)
	later := submit("19850113-9995", "Bo", app.Clock.Now().AddDate(0, 0, 7).Format(time.DateOnly))
	app.WaitStatus(t, later, provisioning.StatusScheduled)
	if code := app.Call(t, "it-handler", "GET", "/api/v1/requests/"+now, nil, nil); code != http.StatusOK {
		t.Fatalf("get: %d", code)
	}
	app.Call(t, "it-handler", "GET", "/api/v1/requests/00000000-0000-0000-0000-000000000000", nil, nil)
	// The e-mails are sent by jobs of their own; wait for both to be counted.
	var s series
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s = scrape(t, app.URL)
		if v, _ := s.get("behorig_jobs_total", "kind", "terms_mail", "outcome", "completed"); v == 2 || time.Now().After(deadline) {
			break
		}
	}
	positive := func(v float64) bool { return v > 0 }
	is := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	s.want(t, "behorig_http_requests_total", is(2), "2", "route", "POST /api/v1/requests", "code", "201")
	s.want(t, "behorig_http_requests_total", is(1), "1", "route", "GET /api/v1/requests/{id}", "code", "200")
	s.want(t, "behorig_http_requests_total", is(1), "1", "route", "GET /api/v1/requests/{id}", "code", "404")
	s.want(t, "behorig_http_request_duration_seconds_count", is(2), "2", "route", "POST /api/v1/requests/{id}/approve")
	s.want(t, "behorig_http_request_duration_seconds_sum", positive, "> 0", "route", "POST /api/v1/requests")
	s.want(t, "behorig_jobs_total", is(2), "2 (one e-mail per request)", "kind", "terms_mail", "outcome", "completed")
	s.want(t, "behorig_jobs_total", positive, "> 0", "kind", "provision", "outcome", "completed")
	s.want(t, "behorig_job_run_duration_seconds_count", positive, "> 0", "kind", "provision")
	s.want(t, "behorig_queue_jobs", is(2), "2 (the second request's grants wait for their date)", "queue", "directory", "state", "scheduled")
	s.want(t, "behorig_queue_oldest_due_seconds", is(0), "0 (nothing is due)", "queue", "directory")
	s.want(t, "behorig_queue_scrape_ok", is(1), "1")
	// The two grants' jobs may converge the person at once (both idempotent), so at least.
	atLeast := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
	s.want(t, "behorig_outside_call_duration_seconds_count", atLeast(1), ">= 1", "party", "directory", "op", "create_accounts")
	s.want(t, "behorig_outside_call_duration_seconds_count", atLeast(2), ">= 2 (treserva and meddix)", "party", "directory", "op", "ensure_member")
	// Two terms e-mails, and the notifications (receipts, the approver's, the login details),
	// which their own jobs send meanwhile.
	s.want(t, "behorig_outside_call_duration_seconds_count", atLeast(2), ">= 2", "party", "smtp", "op", "send")
	if v, found := s.get("behorig_outside_call_errors_total"); found && v != 0 {
		t.Errorf("%v outside calls failed; none should", v)
	}
	s.want(t, "behorig_dependency_up", is(1), "1", "dependency", "database")
	s.want(t, "behorig_dependency_up", is(1), "1", "dependency", "directory")
	s.want(t, "behorig_db_pool_connections", is(16), "16", "pool", "web", "state", "max")
	s.want(t, "behorig_db_pool_connections", is(16), "16 (12 workers and River's 4)", "pool", "jobs", "state", "max")
	s.want(t, "behorig_db_pool_acquires_total", positive, "> 0", "pool", "jobs")
	for key := range s {
		if uuidish.MatchString(key) {
			t.Errorf("a series is labelled with an id, which makes a series per request: %s", key)
		}
	}
}
