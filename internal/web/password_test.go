package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// passwordSite is a site with jobs and the BankID simulator, where Anna Berg (a simulator
// test person) has an active account; it returns the account's DN.
func passwordSite(t *testing.T, logger *slog.Logger) (*site, *bankid.Simulator, string) {
	t.Helper()
	sim, client := testenv.BankID(t, 0)
	s := newSite(t, siteOptions{jobs: true, bankID: client, logger: logger})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	if _, err := s.app.Service.Approve(context.Background(), s.app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	s.app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	entries := s.app.Search(t, s.app.Slapd.PeopleDN, "(uid=anna.berg)", "uid")
	if len(entries) != 1 {
		t.Fatalf("%d entries for anna.berg", len(entries))
	}
	return s, sim, entries[0].DN
}

// identifyInApp plays the BankID app for the one pending order: scan, show to pnr, approve.
func identifyInApp(t *testing.T, sim *bankid.Simulator, pnr string) string {
	t.Helper()
	pending := sim.Pending()
	if len(pending) != 1 {
		t.Fatalf("%d orders wait at BankID, want 1", len(pending))
	}
	ref := pending[0].OrderRef
	if err := sim.ScanNow(ref); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Show(ref, pnr); err != nil {
		t.Fatal(err)
	}
	if err := sim.Approve(ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func ldapBind(t *testing.T, s *site, dn, password string) error {
	t.Helper()
	conn, err := goldap.DialURL(s.app.Slapd.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

// postFrom posts a form as a client at addr (behind the trusted proxy, loopback here).
func (s *site) postFrom(t *testing.T, addr, path string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The password page without JavaScript, as plain HTTP: identify, be refused by the
// directory's policy, set the password; another browser gets nowhere with the order; a
// client posting too often is stopped. Nothing the site logs holds a password.
func TestPasswordPage(t *testing.T) {
	logs := &syncBuffer{}
	s, sim, dn := passwordSite(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	anna := s.newBrowser()
	page := body(t, anna.get(t, "/password"))
	for _, want := range []string{"Lösenord via BankID", `action="/password/start"`, "Legitimera dig med BankID"} {
		if !strings.Contains(page, want) {
			t.Errorf("the password page lacks %q", want)
		}
	}
	if resp := anna.post(t, "/password/start", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password" {
		t.Fatalf("start: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, anna.get(t, "/password"))
	if !strings.Contains(page, `data-sign-status="/password/status"`) || !strings.Contains(page, `img class="qr"`) ||
		!strings.Contains(page, "bankid:///?autostarttoken=") {
		t.Fatalf("a pending identification shows no QR code or app link:\n%s", page)
	}
	if resp := anna.get(t, "/password/qr.png"); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stranger := s.newBrowser()
	if resp := stranger.get(t, "/password/qr.png"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another browser gets the QR code: %d", resp.StatusCode)
	}
	ref := identifyInApp(t, sim, "195001182046")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(body(t, anna.get(t, "/password/status")), `"state":"complete"`) {
		if time.Now().After(deadline) {
			t.Fatal("the identification never completed")
		}
		time.Sleep(300 * time.Millisecond)
	}
	page = body(t, anna.get(t, "/password"))
	for _, want := range []string{"Hej Anna!", "anna.berg", `name="order" value="` + ref + `"`, `autocomplete="new-password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the identified page lacks %q", want)
		}
	}

	good := "Kantarell-" + rand.Text()[:8]
	// Another browser knowing the order's ref sets nothing.
	body(t, stranger.get(t, "/password")) // its own cookie
	resp := stranger.post(t, "/password", url.Values{"order": {ref}, "password": {good}, "password2": {good}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?msg=expired" {
		t.Fatalf("a foreign browser's post: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ldapBind(t, s, dn, good) == nil {
		t.Fatal("a foreign browser set the password")
	}

	short := "k" + rand.Text()[:localserver.PasswordMinLength-2]
	resp = anna.post(t, "/password", url.Values{"order": {ref}, "password": {short}, "password2": {short}})
	page = body(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Kontokatalogen godtog inte lösenordet") ||
		!strings.Contains(page, "Password fails quality checking policy") || !strings.Contains(page, `href="#password"`) {
		t.Fatalf("a short password: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, short) {
		t.Error("the refused page shows the password")
	}
	resp = anna.post(t, "/password", url.Values{"order": {ref}, "password": {good}, "password2": {good + "x"}})
	if page := body(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "är inte samma som lösenordet") {
		t.Fatalf("two different passwords: %d\n%s", resp.StatusCode, page)
	}
	resp = anna.post(t, "/password", url.Values{"order": {ref}, "password": {good}, "password2": {good}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?done=1" {
		t.Fatalf("set: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if page := body(t, anna.get(t, "/password?done=1")); !strings.Contains(page, "Lösenordet för kontot anna.berg är sparat") {
		t.Fatalf("after setting:\n%s", page)
	}
	if err := ldapBind(t, s, dn, good); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	// The identification is used: a second post is sent back to identify again.
	resp = anna.post(t, "/password", url.Values{"order": {ref}, "password": {good}, "password2": {good}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password?msg=expired" {
		t.Fatalf("a second post: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if page := body(t, anna.get(t, "/password?msg=expired")); !strings.Contains(page, "Legitimeringen gäller inte längre") {
		t.Fatalf("the expired notice is missing:\n%s", page)
	}

	// One client posting passwords over and over is stopped at the door.
	var codes []int
	for range 12 {
		codes = append(codes, stranger.postFrom(t, "203.0.113.44", "/password", url.Values{"order": {ref}, "password": {"a"}, "password2": {"a"}}).StatusCode)
	}
	if codes[0] == http.StatusTooManyRequests || codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Fatalf("twelve posts from one client: %v", codes)
	}
	// Another client is not.
	if code := stranger.postFrom(t, "203.0.113.45", "/password", url.Values{"order": {ref}}).StatusCode; code == http.StatusTooManyRequests {
		t.Fatal("one client's limit stopped another")
	}

	if !strings.Contains(logs.String(), "level=") {
		t.Fatal("the site logged nothing at all: the log capture does not work")
	}
	for _, pw := range []string{good, short} {
		if strings.Contains(logs.String(), pw) {
			t.Error("the site's log holds a password")
		}
	}
}

// syncBuffer is a log destination that the test reads while the site writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A person BankID identifies who has no account here is told so; in English too.
func TestPasswordPageWithoutAccount(t *testing.T) {
	sim, client := testenv.BankID(t, 0)
	s := newSite(t, siteOptions{bankID: client})
	tova := s.newBrowser()
	body(t, tova.get(t, "/lang?to=en&return=/password"))
	if page := body(t, tova.get(t, "/password")); !strings.Contains(page, "Password with BankID") {
		t.Fatalf("the English page:\n%s", page)
	}
	tova.post(t, "/password/start", nil)
	identifyInApp(t, sim, "198501139995")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(body(t, tova.get(t, "/password/status")), `"state":"failed"`) {
		if time.Now().After(deadline) {
			t.Fatal("the identification never ended")
		}
		time.Sleep(300 * time.Millisecond)
	}
	page := body(t, tova.get(t, "/password"))
	if !strings.Contains(page, "We find no active account for you") || strings.Contains(page, `action="/password" `) {
		t.Fatalf("a person without an account:\n%s", page)
	}
}

// The password page in a browser, with and without JavaScript, under axe: the start, the QR
// code, the form, the directory's refusal and the end.
func TestBrowserPasswordPage(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := map[bool]string{true: "with-js", false: "without-js"}[js]
		t.Run(name, func(t *testing.T) {
			s, sim, dn := passwordSite(t, nil)
			ctx := browser(t)
			if !js {
				ctx = withoutScripts(t, ctx)
			}
			do(t, ctx, "open the page", chromedp.Navigate(s.url+"/login"))
			do(t, ctx, "follow the link", chromedp.Click(`a[href="/password"]`))
			visit(t, ctx, "password-"+name, `form[action="/password/start"] button`)
			do(t, ctx, "identify", chromedp.Click(`form[action="/password/start"] button`))
			visit(t, ctx, "password-qr-"+name, `img.qr`)
			identifyInApp(t, sim, "195001182046")
			if !js {
				// Without JavaScript the person says when they are done in the app.
				time.Sleep(2500 * time.Millisecond)
				do(t, ctx, "update", chromedp.Click(`.no-script a`))
			}
			visit(t, ctx, "password-form-"+name, `#password`)
			good := "Vitsippa-" + rand.Text()[:8]
			short := "v" + rand.Text()[:localserver.PasswordMinLength-2]
			do(t, ctx, "a short password", chromedp.SendKeys(`#password`, short), chromedp.SendKeys(`#password2`, short),
				chromedp.Click(`form.password-form button`))
			visit(t, ctx, "password-refused-"+name, `.error-summary`)
			if summary := text(t, ctx, ".error-summary"); !strings.Contains(summary, "Kontokatalogen godtog inte lösenordet") {
				t.Fatalf("the refusal says %q", summary)
			}
			do(t, ctx, "a good password", chromedp.SendKeys(`#password`, good), chromedp.SendKeys(`#password2`, good),
				chromedp.Click(`form.password-form button`))
			visit(t, ctx, "password-done-"+name, `main .notice`)
			if done := text(t, ctx, "main"); !strings.Contains(done, "anna.berg") {
				t.Fatalf("the end says %q", done)
			}
			if err := ldapBind(t, s, dn, good); err != nil {
				t.Fatalf("bind with the password set in the browser: %v", err)
			}
		})
	}
}
