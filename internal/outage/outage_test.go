// Package outage_test proves that an outside party that hangs delays only its own work: the
// whole service (web pages, sign-in through the dev IdP, the API, jobs) runs against real
// PostgreSQL, slapd and a real SMTP server while one of them hangs. A package of its own,
// so that its minutes of waiting run beside the other packages' tests, not after them.
package outage_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/internal/ops"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// Outside parties that hang delay only their own work. These tests stop one for
// stallFor while people use behorig, time every call (printed, never asserted) and assert
// that every call succeeded, that /readyz kept the instance in service while naming the
// party down, that nothing was recorded as done while the party hung, and that all of it
// is done once the party is back.

// stallFor is how long an outside party hangs: the two minutes.
const stallFor = 2 * time.Minute

// testPnr is the i-th of a series of valid personnummer (Luhn), distinct for i < 250,000.
func testPnr(i int) string {
	d := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/500)
	nine := d.Format("060102") + fmt.Sprintf("%03d", 200+i%500)
	sum := 0
	for k := range 9 {
		v := int(nine[k]-'0') * (2 - k%2)
		sum += v/10 + v%10
	}
	return d.Format("20060102") + "-" + nine[6:] + fmt.Sprint((10-sum%10)%10)
}

func TestMain(m *testing.M) { testenv.Main(m) }

var meddix = map[string]any{"system": "meddix"}

// site is the whole service for one test, served over HTTP as serve does.
type site struct {
	app *testapp.App
	url string
}

type siteOptions struct {
	mailer connectors.Mailer
	probes []ops.Probe
}

func newSite(t *testing.T, opts siteOptions) *site {
	t.Helper()
	ln, base := testapp.Listen(t)
	app := testapp.New(t, testapp.Options{BaseURL: base, Mailer: opts.mailer, Probes: opts.probes})
	app.ServeWeb(t, ln, base)
	return &site{app: app, url: base}
}

// browser keeps cookies and does not follow redirects.
type browser struct{ client *http.Client }

func newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *site) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// traffic is people using behorig while something hangs: sign-ins, page views, new
// requests through the API and /readyz, each timed, each checked.
type traffic struct {
	s     *site
	pages map[string]*browser // signed-in browsers by the page they read
	next  atomic.Int64        // the next personnummer for a new request

	mu     sync.Mutex
	took   map[string][]time.Duration
	errs   []string
	readyz []readyBody
}

type readyBody struct {
	Status       string                `json:"status"`
	Dependencies map[string]ops.Result `json:"dependencies"`
}

func newTraffic(t *testing.T, s *site, firstPnr int) *traffic {
	tr := &traffic{s: s, took: map[string][]time.Duration{}}
	tr.next.Store(int64(firstPnr))
	maria, ingrid := newBrowser(), newBrowser()
	for b, user := range map[*browser]string{maria: "maria.chef", ingrid: "ingrid.it"} {
		if err := tr.signIn(b, user, "10.0.0.1"); err != nil {
			t.Fatalf("sign in %s: %v", user, err)
		}
	}
	tr.pages = map[string]*browser{"/": maria, "/approvals": maria, "/queue": ingrid}
	return tr
}

// call times f under what and records its error.
func (tr *traffic) call(what string, f func() error) {
	start := time.Now()
	err := f()
	took := time.Since(start)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.took[what] = append(tr.took[what], took)
	if err != nil {
		tr.errs = append(tr.errs, fmt.Sprintf("%s after %s: %v", what, took.Round(time.Millisecond), err))
	}
}

// run sends the traffic until ctx ends; wait for it with the returned function.
func (tr *traffic) run(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	loop := func(every time.Duration, f func()) {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		})
	}
	var signIns atomic.Int64
	loop(300*time.Millisecond, func() {
		// Each from its own address, as people are: the sign-in limit is per client.
		n := signIns.Add(1)
		tr.call("sign-in", func() error {
			return tr.signIn(newBrowser(), "rolf.bestallare", fmt.Sprintf("10.1.%d.%d", n/250, n%250+1))
		})
	})
	for path, b := range tr.pages {
		loop(200*time.Millisecond, func() { tr.call("GET "+path, func() error { return tr.page(b, path) }) })
	}
	loop(500*time.Millisecond, func() { tr.call("POST /api/v1/requests", tr.submit) })
	loop(100*time.Millisecond, func() { tr.call("GET /readyz", tr.ready) })
	return wg.Wait
}

// signIn signs the browser in as the dev IdP's user, as a person at ip would.
func (tr *traffic) signIn(b *browser, user, ip string) error {
	get := func(u string) (*http.Response, error) {
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	resp, err := get(tr.s.url + "/login/ad")
	if err != nil || resp.StatusCode != http.StatusFound {
		return fmt.Errorf("begin: %v %v", resp, err)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	form := authorize.Query()
	form.Set("user", user)
	authorize.RawQuery = ""
	picked, err := b.client.PostForm(authorize.String(), form)
	if err != nil {
		return err
	}
	picked.Body.Close()
	if picked.StatusCode != http.StatusFound {
		return fmt.Errorf("the IdP answered %d", picked.StatusCode)
	}
	resp, err = get(picked.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("callback: %v %v", resp, err)
	}
	return nil
}

func (tr *traffic) page(b *browser, path string) error {
	resp, err := b.client.Get(tr.s.url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// api sends a JSON request with the subject's token to the API (testapp's server: the same
// service and pools as the site's, with the static tokens) and decodes the answer into out.
func (tr *traffic) api(subject, method, path string, body, out any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, tr.s.app.URL+path, reader)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tr.s.app.Tokens[subject])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, answer)
		}
	}
	return resp.StatusCode, nil
}

func (tr *traffic) submit() error {
	pnr := testPnr(int(tr.next.Add(1)))
	body := map[string]any{
		"person": map[string]any{"personnummer": pnr, "givenName": "Ny", "surname": "Person", "employeeType": "employee"},
		"unit":   "5110", "reason": "Ny medarbetare", "items": []map[string]any{meddix}, "approver": "manager",
	}
	code, err := tr.api("requester", "POST", "/api/v1/requests", body, nil)
	if err == nil && code != http.StatusCreated {
		err = fmt.Errorf("status %d", code)
	}
	return err
}

func (tr *traffic) ready() error {
	resp, err := http.Get(tr.s.url + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body readyBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	tr.mu.Lock()
	tr.readyz = append(tr.readyz, body)
	tr.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %+v", resp.StatusCode, body)
	}
	return nil
}

// lastReady is the last /readyz answer.
func (tr *traffic) lastReady() readyBody {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.readyz) == 0 {
		return readyBody{}
	}
	return tr.readyz[len(tr.readyz)-1]
}

// report prints each kind of call's count and p50/p99/max, and fails on every call that
// did not succeed.
func (tr *traffic) report(t *testing.T, during string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, what := range slices.Sorted(func(yield func(string) bool) {
		for k := range tr.took {
			if !yield(k) {
				return
			}
		}
	}) {
		d := slices.Clone(tr.took[what])
		slices.Sort(d)
		at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Microsecond) }
		t.Logf("%s: %-28s %5d calls  p50 %-10s p99 %-10s max %s", during, what, len(d), at(0.5), at(0.99), d[len(d)-1].Round(time.Microsecond))
	}
	for i, e := range tr.errs {
		if i == 20 {
			t.Errorf("... and %d more failed calls", len(tr.errs)-20)
			break
		}
		t.Errorf("%s: a call failed: %s", during, e)
	}
}

// failFast stops the test at once when a call failed, with the first failure.
func (tr *traffic) failFast(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.errs) > 0 {
		t.Fatalf("%d calls failed, the first: %s", len(tr.errs), tr.errs[0])
	}
}

// waitUntil polls cond every 200 ms, failing with what after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// With the test's own slapd stopped (SIGSTOP) for two minutes while 200 revocations are
// due: sign-in, pages and new requests keep answering, /readyz answers 200 and names the
// directory down, no revocation is recorded while the directory cannot have done it, and
// after SIGCONT every revocation is done, in the directory and in the database.
func TestDirectoryHangsOnlyDirectoryWork(t *testing.T) {
	t.Parallel()
	const people = 200
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	for i := range people {
		sub, err := s.app.Service.Submit(ctx, s.app.Actors["requester"], provisioning.SubmitInput{
			Person: provisioning.PersonInput{Personnummer: testPnr(i), GivenName: "Stall", Surname: fmt.Sprintf("Person%03d", i),
				EmployeeType: "employee"},
			Unit: "5110", Items: []provisioning.ItemInput{{System: "meddix"}}, Approver: "manager"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.Service.Approve(ctx, s.app.Actors["manager"], sub.ID); err != nil {
			t.Fatal(err)
		}
	}
	took := waitUntil(t, 3*time.Minute, "200 accounts provisioned", func() bool {
		return s.count(t, "SELECT count(*) FROM grants WHERE state = 'active'") == people
	})
	t.Logf("provisioned %d accounts in %s", people, took.Round(time.Millisecond))
	tr := newTraffic(t, s, 10000)

	if err := s.app.Slapd.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.app.Slapd.Signal(syscall.SIGCONT) })
	stalled := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	wait := tr.run(loadCtx)
	// 200 terminations, effective today: their revocations are due at once.
	for i := range people {
		tr.call("POST /api/v1/requests (terminate)", func() error {
			var sub struct{ Status string }
			code, err := tr.api("manager", "POST", "/api/v1/requests", map[string]any{"kind": "terminate",
				"person": map[string]any{"personnummer": testPnr(i)}, "unit": "5110", "approver": "manager",
				"effectiveDate": s.app.Clock.Now().Format(time.DateOnly)}, &sub)
			if err == nil && code != http.StatusCreated {
				err = fmt.Errorf("status %d", code)
			}
			return err
		})
	}
	t.Logf("200 terminations submitted %s into the stall", time.Since(stalled).Round(time.Millisecond))
	for time.Since(stalled) < stallFor {
		time.Sleep(5 * time.Second)
		// The directory cannot have done any of it: nothing may say it is done.
		if n := s.count(t, "SELECT count(*) FROM grants WHERE state = 'revoked'"); n != 0 {
			t.Errorf("%d grants recorded revoked while the directory is stopped", n)
		}
		if n := s.count(t, "SELECT count(*) FROM accounts WHERE state = 'disabled'"); n != 0 {
			t.Errorf("%d accounts recorded disabled while the directory is stopped", n)
		}
		if n := s.count(t, "SELECT count(*) FROM requests WHERE kind = 'terminate' AND status = 'completed'"); n != 0 {
			t.Errorf("%d terminations completed while the directory is stopped", n)
		}
	}
	stopLoad()
	wait()
	ready := tr.lastReady()
	if err := s.app.Slapd.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	tr.report(t, "directory stopped")
	if d := ready.Dependencies["directory"]; ready.Status != "ready" || d.State != ops.StateDown || ready.Dependencies["database"].State != ops.StateUp {
		t.Errorf("/readyz at the end of the stall: %+v; want ready, the directory down and the database up", ready)
	}

	took = waitUntil(t, 4*time.Minute, "every termination completed after SIGCONT", func() bool {
		return s.count(t, "SELECT count(*) FROM requests WHERE kind = 'terminate' AND status = 'completed'") == people
	})
	t.Logf("every revocation done %s after SIGCONT", took.Round(time.Millisecond))
	if n := s.count(t, "SELECT count(*) FROM grants WHERE state = 'revoked' AND revoked_at >= $1", resumed); n != people {
		t.Errorf("%d of %d grants recorded revoked after SIGCONT", n, people)
	}
	dns := map[string]bool{}
	for _, e := range s.app.Search(t, s.app.Slapd.PeopleDN, "(&(uid=stall.*)(pwdAccountLockedTime=000001010000Z))") {
		dns[strings.ToLower(e.DN)] = true
	}
	if len(dns) != people {
		t.Errorf("%d of %d accounts disabled in the directory", len(dns), people)
	}
	for _, g := range s.app.Search(t, s.app.Slapd.GroupsDN, "(objectClass=groupOfNames)", "member") {
		for _, m := range g.GetAttributeValues("member") {
			if dns[strings.ToLower(m)] {
				t.Errorf("%s is still a member of %s", m, g.DN)
			}
		}
	}
}

// With the mail server hanging (it accepts and never answers) for two minutes while
// approvals send the terms e-mail: sign-in, pages and new requests keep answering, /readyz
// answers 200 and names SMTP down, no e-mail is recorded as sent, and once the server
// answers again every e-mail is sent, once.
func TestSMTPHangsOnlyMail(t *testing.T) {
	t.Parallel()
	const approvals = 40
	server := testenv.SMTP(t)
	proxy := testenv.NewStallProxy(t, server.Addr)
	smtp := mail.SMTP{Addr: proxy.Addr, From: "Behörig <behorig@kommun.example>", Username: server.User, Password: server.Password,
		TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: server.RootCAs}}
	s := newSite(t, siteOptions{mailer: smtp, probes: []ops.Probe{{Name: "smtp", Check: smtp.Probe}}})
	ctx := context.Background()
	var ids []string
	for i := range approvals {
		sub, err := s.app.Service.Submit(ctx, s.app.Actors["requester"], provisioning.SubmitInput{
			Person: provisioning.PersonInput{Personnummer: testPnr(i), GivenName: "Post", Surname: fmt.Sprintf("Person%03d", i),
				Email: fmt.Sprintf("post%03d@example.org", i), EmployeeType: "employee"},
			Unit: "5110", Items: []provisioning.ItemInput{{System: "treserva", Role: "utforare"}}, Approver: "manager"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	tr := newTraffic(t, s, 10000)

	proxy.Stall()
	stalled := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	wait := tr.run(loadCtx)
	for _, id := range ids {
		tr.call("POST /api/v1/requests/{id}/approve", func() error {
			code, err := tr.api("manager", "POST", "/api/v1/requests/"+id+"/approve", nil, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("status %d", code)
			}
			return err
		})
	}
	for time.Since(stalled) < stallFor {
		time.Sleep(5 * time.Second)
		if n := s.count(t, "SELECT count(*) FROM terms_links WHERE mailed_at IS NOT NULL"); n != 0 {
			t.Errorf("%d e-mails recorded sent while the mail server hangs", n)
		}
	}
	stopLoad()
	wait()
	ready := tr.lastReady()
	proxy.Release()
	tr.report(t, "smtp hanging")
	if d := ready.Dependencies["smtp"]; ready.Status != "ready" || d.State != ops.StateDown || ready.Dependencies["directory"].State != ops.StateUp {
		t.Errorf("/readyz at the end of the stall: %+v; want ready, smtp down, the directory up", ready)
	}
	if n := len(server.Messages()); n != 0 {
		t.Fatalf("%d e-mails arrived through a server that never answered", n)
	}
	took := waitUntil(t, 3*time.Minute, "every e-mail recorded sent", func() bool {
		return s.count(t, "SELECT count(*) FROM terms_links WHERE mailed_at IS NOT NULL") == approvals
	})
	t.Logf("every e-mail sent %s after the mail server answered again", took.Round(time.Millisecond))
	sentOnce(t, server, approvals)
}

// sentOnce checks that the server got want terms e-mails, each to its own address, none
// twice. (The notifications to the requester and the approver go through the same server.)
func sentOnce(t *testing.T, server *testenv.SMTPServer, want int) {
	t.Helper()
	time.Sleep(time.Second) // a duplicate would come now
	to := map[string]int{}
	for _, m := range server.Kind("terms-") {
		to[m.To[0]]++
	}
	if len(to) != want {
		t.Errorf("e-mails reached %d addresses, want %d", len(to), want)
	}
	for addr, n := range to {
		if n != 1 {
			t.Errorf("%s got %d e-mails, want 1", addr, n)
		}
	}
}

// The burst that froze the portal: many approvals that send the terms e-mail, from four
// API clients at once, while pages are read. Pages and approvals keep answering (p99 printed)
// and every e-mail is sent, once.
func TestApprovalBurstDoesNotFreezePages(t *testing.T) {
	t.Parallel()
	const approvals = 120
	server := testenv.SMTP(t)
	smtp := mail.SMTP{Addr: server.Addr, From: "Behörig <behorig@kommun.example>", Username: server.User, Password: server.Password,
		TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: server.RootCAs}}
	s := newSite(t, siteOptions{mailer: smtp})
	ctx := context.Background()
	ids := make(chan string, approvals)
	for i := range approvals {
		sub, err := s.app.Service.Submit(ctx, s.app.Actors["requester"], provisioning.SubmitInput{
			Person: provisioning.PersonInput{Personnummer: testPnr(i), GivenName: "Brådis", Surname: fmt.Sprintf("Person%03d", i),
				Email: fmt.Sprintf("burst%03d@example.org", i), EmployeeType: "employee"},
			Unit: "5110", Items: []provisioning.ItemInput{{System: "treserva", Role: "utforare"}}, Approver: "manager"})
		if err != nil {
			t.Fatal(err)
		}
		ids <- sub.ID
	}
	close(ids)
	tr := newTraffic(t, s, 10000)
	loadCtx, stopLoad := context.WithCancel(ctx)
	wait := tr.run(loadCtx)
	start := time.Now()
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for id := range ids {
				tr.call("POST /api/v1/requests/{id}/approve", func() error {
					code, err := tr.api("manager", "POST", "/api/v1/requests/"+id+"/approve", nil, nil)
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("status %d", code)
					}
					return err
				})
			}
		})
	}
	clients.Wait()
	t.Logf("%d approvals by 4 clients in %s", approvals, time.Since(start).Round(time.Millisecond))
	tr.failFast(t)
	waitUntil(t, 2*time.Minute, "every e-mail recorded sent", func() bool {
		return s.count(t, "SELECT count(*) FROM terms_links WHERE mailed_at IS NOT NULL") == approvals
	})
	t.Logf("every e-mail sent %s after the first approval", time.Since(start).Round(time.Millisecond))
	stopLoad()
	wait()
	tr.report(t, "approval burst")
	sentOnce(t, server, approvals)
	// The pages and sign-ins are in /metrics by their routes' patterns.
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	scrape, _ := io.ReadAll(resp.Body)
	for _, series := range []string{`behorig_http_requests_total{code="200",route="GET /approvals"}`,
		`behorig_http_requests_total{code="303",route="GET /auth/oidc/{idp}/callback"}`,
		`behorig_jobs_total{kind="terms_mail",outcome="completed"} 120`} {
		if !strings.Contains(string(scrape), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
