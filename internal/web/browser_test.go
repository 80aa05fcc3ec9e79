package web_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's package; scripts/deps.sh installs it and axe-core.
const (
	chromium = "/usr/bin/chromium"
	axePath  = "../../.cache/axe/node_modules/axe-core/axe.min.js"
)

// browser starts headless Chromium for the test, in Swedish.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("headless Chromium is missing: run `bash scripts/deps.sh` as root (%v)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("accept-lang", "sv-SE,sv"), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	// The first action starts the browser and binds it to its context; the steps' shorter
	// timeouts must not be that context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// screenshot keeps a picture of the page as a test artefact under .artifacts (not committed).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "..", ".artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// scripts turns the page's JavaScript on or off, for the runs without JavaScript.
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return chromedp.Void{}, err
	}
}

// noScripts marks a browser context whose pages run without JavaScript.
type noScripts struct{}

// withoutScripts turns the page's JavaScript off for the rest of the test.
func withoutScripts(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	do(t, ctx, "turn JavaScript off", scripts(false))
	return context.WithValue(ctx, noScripts{}, true)
}

// setValue sets a field's value as a user would by selecting or clearing it.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change")); return true })()`, sel, value)
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return chromedp.Void{}, err
	}
}

// axe runs axe-core's WCAG 2.1 A and AA rules on the page as it is and fails the test on any
// violation. On pages shown without JavaScript it turns scripts on just for the check: the
// page's own scripts have not run and do not run then.
func axe(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("axe-core is missing: run `bash scripts/deps.sh` (%v)", err)
	}
	if ctx.Value(noScripts{}) != nil {
		do(t, ctx, "allow axe to run", scripts(true))
		defer do(t, ctx, "turn JavaScript off again", scripts(false))
	}
	check := chromedp.Evaluate[[]string](string(src)+`;
		axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
			.then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.nodes.map(n => n.target.join(" ")).join(", ")))`,
		chromedp.EvalAwaitPromise)
	violations, err := chromedp.Run(ctx, check)
	// The page went away under the check: a click's navigation that began after the page it
	// left showed what the test waited for. The check runs again on the page that came.
	if err != nil && strings.Contains(err.Error(), "navigated or closed") {
		if _, err = chromedp.Run(ctx, chromedp.WaitReady("body")); err == nil {
			violations, err = chromedp.Run(ctx, check)
		}
	}
	if err != nil {
		t.Fatalf("run axe on %s: %v", page, err)
	}
	for _, v := range violations {
		t.Errorf("axe on %s: %s", page, v)
	}
}

// visit waits for the page, checks it with axe and keeps a screenshot.
func visit(t *testing.T, ctx context.Context, name, ready string) {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(wait, chromedp.WaitVisible(ready)); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
		t.Fatalf("%s: waiting for %s at %s: %v\n%s", name, ready, loc, err, html)
	}
	axe(t, ctx, name)
	screenshot(t, ctx, name)
}

// arrived waits until the browser is at an address containing part: after a form's button
// is clicked, the page it leaves may show what the next one is waited for by (a notice), and
// a check that runs as it goes reads a page that is gone.
// The address is read from Go, again and again: a script polling in the page would end with
// the page it polls.
func arrived(part string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		for {
			if loc, err := chromedp.Location()(ctx, target); err == nil && strings.Contains(loc, part) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for an address with %q: %w", part, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

func TestBrowserSignsInThroughTheDevIdP(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := browser(t)
	do(t, ctx, "open behorig", chromedp.Navigate(s.url+"/"))
	visit(t, ctx, "login", `a[href^="/login/ad"]`)
	do(t, ctx, "sign in", chromedp.Click(`a[href^="/login/ad"]`))
	visit(t, ctx, "dev-idp", `button[value="maria.chef"]`)
	do(t, ctx, "pick Maria", chromedp.Click(`button[value="maria.chef"]`))
	visit(t, ctx, "my-requests", `.who`)
	if heading, who := text(t, ctx, "main h1"), text(t, ctx, ".who"); heading != "Mina ärenden" || who != "Maria Chef" {
		t.Fatalf("after sign-in the page says %q and %q; want Maria's requests", heading, who)
	}
	do(t, ctx, "open the profile", chromedp.Click(`a.who`))
	visit(t, ctx, "profile", `dl.facts`)
	if facts := text(t, ctx, "dl.facts"); !strings.Contains(facts, "Särskilt boende Ekbacken (5210)") {
		t.Fatalf("the profile does not list Maria's units: %q", facts)
	}
	do(t, ctx, "sign out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`.notice`))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.url+"/login?signed_out=1" {
		t.Fatalf("after signing out at %q", loc)
	}
}

// The core flow in the browser: a manager signs in, fills in a care-systems request (with the
// unit search when there is JavaScript), attests it in the same step; IT records the signed
// terms and sees the access granted and the account made.
func TestBrowserRequestFlow(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := map[bool]string{true: "with-js", false: "without-js"}[js]
		t.Run(name, func(t *testing.T) {
			s := newSite(t, siteOptions{jobs: true})
			ctx := browser(t)
			if !js {
				ctx = withoutScripts(t, ctx)
			}
			// Meddix has no connector here: IT gives it by hand on the request page.
			if _, err := s.app.Pool.Exec(t.Context(), "UPDATE systems SET manual = true WHERE id = 'meddix'"); err != nil {
				t.Fatal(err)
			}
			waiting := s.submit(t, "requester", "19850113-9995", "Bo", "Ek", "5110", meddix)
			do(t, ctx, "start the browser", chromedp.Navigate(s.url+"/login"))
			signInAs(t, ctx, "maria.chef")
			do(t, ctx, "open the approval overview", chromedp.Click(`a[href="/approvals"]`))
			visit(t, ctx, "approvals-"+name, `input[name=id]`)
			if overview := text(t, ctx, "table"); !strings.Contains(overview, waiting.Number) {
				t.Fatalf("the overview lacks %s: %q", waiting.Number, overview)
			}
			do(t, ctx, "open the form", chromedp.Click(`a[href="/requests/new"]`))
			visit(t, ctx, "new-request-"+name, `#givenName`)
			do(t, ctx, "fill in the person",
				chromedp.SendKeys(`#givenName`, "Åsa-Märta"),
				chromedp.SendKeys(`#surname`, "Lind"),
				chromedp.SendKeys(`#personnummer`, "19500118-2046"),
				chromedp.SendKeys(`#email`, "asa.lind@example.org"),
				chromedp.Click(`input[name=employeeType][value=employee]`),
				setValue(`#unit`, ""),
			)
			if js {
				do(t, ctx, "search the unit", chromedp.SendKeys(`#unit`, "Ekback"), chromedp.WaitVisible(`.unit-hits button`))
				axe(t, ctx, "unit-search")
				if hit := text(t, ctx, ".unit-hits button"); hit != "Särskilt boende Ekbacken (5210)" {
					t.Fatalf("the unit search shows %q", hit)
				}
				if said := text(t, ctx, "[data-unit-search] [role=status]"); !strings.HasPrefix(said, "1 träff.") {
					t.Fatalf("a screen reader hears %q for one hit", said)
				}
				do(t, ctx, "pick the unit", chromedp.Click(`.unit-hits button`))
			} else {
				enhanced, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".unit-hits").length`))
				if err != nil || enhanced != 0 {
					t.Fatalf("the unit search script ran in the run without JavaScript (%d, %v)", enhanced, err)
				}
				do(t, ctx, "type the unit", chromedp.SendKeys(`#unit`, "Ekbacken"))
			}
			do(t, ctx, "choose the systems",
				setValue(`#sys-treserva-role`, "utforare"),
				chromedp.Click(`input[name="sys.meddix.yes"]`),
				chromedp.Click(`input[name=selfApprove]`),
			)
			screenshot(t, ctx, "new-request-filled-"+name)
			do(t, ctx, "send", chromedp.Click(`form.request-form button[type=submit]`))
			visit(t, ctx, "request-"+name, `.status-panel`)
			if status := text(t, ctx, ".status-panel .status"); status != "Väntar på användare" {
				t.Fatalf("after a one-step attestation the status is %q", status)
			}
			if details := text(t, ctx, "dl.facts"); !strings.Contains(details, "Särskilt boende Ekbacken (5210)") {
				t.Fatalf("the request is not for Ekbacken: %q", details)
			}
			requestURL, _ := chromedp.Run(ctx, chromedp.Location())
			requestURL, _, _ = strings.Cut(requestURL, "?")

			// Maria signs out and lands on the sign-in page, where Ingrid signs in.
			do(t, ctx, "Maria signs out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`.notice`))
			signInAs(t, ctx, "ingrid.it")
			do(t, ctx, "open the IT queue", chromedp.Click(`a[href="/queue"]`))
			visit(t, ctx, "queue-"+name, `table`)
			do(t, ctx, "take the request", chromedp.Click(`form[action$="/take"] button`), arrived("done=taken"))
			visit(t, ctx, "queue-taken-"+name, `.notice`)
			if queue := text(t, ctx, "table"); !strings.Contains(queue, "Ingrid IT-handläggare") {
				t.Fatalf("the queue does not show Ingrid as the handler: %q", queue)
			}
			do(t, ctx, "open the request", chromedp.Click(`table a[href^="/requests/"]`))
			visit(t, ctx, "request-it-"+name, `#note`)
			do(t, ctx, "record paper terms", chromedp.SendKeys(`#note`, "Blankett mottagen och kontrollerad"),
				chromedp.Click(`form[action$="/terms/paper"] button`), arrived("done=paper"))
			visit(t, ctx, "request-recorded-"+name, `.notice`)
			s.waitGrant(t, "treserva", "active")
			do(t, ctx, "reload", chromedp.Navigate(requestURL))
			visit(t, ctx, "request-manual-"+name, `form.manual-step`)
			do(t, ctx, "give Meddix by hand", chromedp.SendKeys(`form.manual-step input[name=note]`, "Upplagd i Meddix"),
				chromedp.Click(`form.manual-step button`), arrived("done=manual_done"))
			visit(t, ctx, "request-manual-done-"+name, `.notice`)
			waitForStatus(t, ctx, requestURL, "Klar")
			visit(t, ctx, "request-completed-"+name, `.status-panel`)
			if items := text(t, ctx, "table"); strings.Count(items, "Aktiv") != 2 {
				t.Fatalf("the grants are not active: %q", items)
			}
			ref, err := s.app.Directory.LookupAccount(context.Background(), "asa-marta.lind")
			if err != nil || ref.Disabled {
				t.Fatalf("no enabled account in LDAP: %+v, %v", ref, err)
			}
			do(t, ctx, "open the person", chromedp.Click(`dl.facts a[href^="/persons/"]`))
			visit(t, ctx, "person-"+name, `h1`)
			if accounts := text(t, ctx, "main"); !strings.Contains(accounts, "asa-marta.lind") || !strings.Contains(accounts, "Aktivt") {
				t.Fatalf("the person page does not show the account: %q", accounts)
			}
			do(t, ctx, "to the termination", chromedp.Click(`a[href^="/terminate?person="]`))
			visit(t, ctx, "terminate-"+name, `#effectiveDate`)
		})
	}
}

func signInAs(t *testing.T, ctx context.Context, user string) {
	t.Helper()
	do(t, ctx, "sign in as "+user, chromedp.WaitVisible(`a[href^="/login/ad"]`), chromedp.Click(`a[href^="/login/ad"]`),
		chromedp.WaitVisible(fmt.Sprintf(`button[value="%s"]`, user)), chromedp.Click(fmt.Sprintf(`button[value="%s"]`, user)),
		chromedp.WaitVisible(`.who`))
}

// waitForStatus reloads the request page until it shows the status; the job runner works
// in the background.
func waitForStatus(t *testing.T, ctx context.Context, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		do(t, ctx, "reload", chromedp.Navigate(url), chromedp.WaitVisible(`.status-panel`))
		if got := text(t, ctx, ".status-panel .status"); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("status %q, want %q", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBrowserAdminPages(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := browser(t)
	do(t, ctx, "open behorig", chromedp.Navigate(s.url+"/login"))
	signInAs(t, ctx, "ivar.admin")
	do(t, ctx, "open administration", chromedp.Click(`a[href="/admin/units"]`))
	visit(t, ctx, "admin-units", `table`)
	do(t, ctx, "edit a unit", chromedp.Click(`table a[href^="/admin/units/"]`))
	visit(t, ctx, "admin-unit", `#managers`)
	do(t, ctx, "open the catalog", chromedp.Click(`.sub-nav a[href="/admin/catalog"]`))
	visit(t, ctx, "admin-catalog", `table`)
	do(t, ctx, "edit a system", chromedp.Click(`table a[href="/admin/catalog/treserva"]`))
	visit(t, ctx, "admin-system", `#groupTemplate`)
	do(t, ctx, "break the template", setValue(`#groupTemplate`, "treserva-{enhet}"), chromedp.Click(`form.request-form button[type=submit]`))
	visit(t, ctx, "admin-system-errors", `.error-summary`)
}

// The pages work on a phone: the form and the request page at 320 px wide (WCAG 1.4.10
// reflow), under axe, with nothing wider than the screen.
func TestBrowserOnAPhone(t *testing.T) {
	s := newSite(t, siteOptions{})
	sub := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix)
	ctx := browser(t)
	do(t, ctx, "a phone's screen", chromedp.EmulateViewport(320, 640, chromedp.EmulateScale(2)), chromedp.Navigate(s.url+"/login"))
	signInAs(t, ctx, "maria.chef")
	for _, page := range []struct{ name, path, ready string }{
		{"phone-my-requests", "/", "main h1"},
		{"phone-new-request", "/requests/new", "#givenName"},
		{"phone-remote-access", "/remote-access/new", "#description"},
		{"phone-request", "/requests/" + sub.ID, ".status-panel"},
		{"phone-approvals", "/approvals", "table"},
	} {
		do(t, ctx, "open "+page.path, chromedp.Navigate(s.url+page.path))
		visit(t, ctx, page.name, page.ready)
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if err != nil || overflow {
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`))
			t.Errorf("%s is wider than a phone's screen (%v): %v", page.path, err, wide)
		}
	}
}

// The signing page in a browser: a QR code that changes every second, and "signed" once the
// BankID simulator's app has signed.
func TestBrowserSigningPage(t *testing.T) {
	s, sim, smtp := signingSite(t)
	_, link := linkFromMail(t, s, smtp)
	ctx := browser(t)
	do(t, ctx, "open the link", chromedp.Navigate(link))
	visit(t, ctx, "sign", `form[action$="/start"] button`)
	do(t, ctx, "start signing", chromedp.Click(`form[action$="/start"] button`))
	visit(t, ctx, "sign-qr", `img.qr`)
	src := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("img.qr").src`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := src()
	time.Sleep(1500 * time.Millisecond)
	if second := src(); second == first {
		t.Fatalf("the QR code did not change in 1.5 s: %s", first)
	}
	scanAndSign(t, s, sim, link, "195001182046")
	deadline := time.Now().Add(15 * time.Second)
	for {
		heading, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main h1") ? document.querySelector("main h1").textContent : ""`))
		if heading == "Tack! Villkoren är godkända" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never said signed; it says %q", heading)
		}
		time.Sleep(300 * time.Millisecond)
	}
	visit(t, ctx, "sign-done", `main h1`)
}

// The lists in the browser, with and without JavaScript, under axe: Mina ärenden filtered by
// status and paged, the approval overview searched, paged and all of a page selected, the IT
// queue showing closed requests, and the persons list searched. Maria and Ingrid each get
// their own browser, so that each stays within its time.
func TestBrowserLists(t *testing.T) {
	s := loadedSite(t, 1600)
	var surname string
	if err := s.app.Pool.QueryRow(t.Context(), `SELECT r.person_surname FROM requests r JOIN units u ON u.id = r.unit_id
		WHERE r.status = 'awaiting_approval' AND u.ansvarskod = '5110' ORDER BY r.number LIMIT 1`).Scan(&surname); err != nil {
		t.Fatal(err)
	}
	for _, js := range []bool{true, false} {
		name := map[bool]string{true: "with-js", false: "without-js"}[js]
		open := func(t *testing.T, user string) context.Context {
			ctx := browser(t)
			if !js {
				ctx = withoutScripts(t, ctx)
			}
			do(t, ctx, "start the browser", chromedp.Navigate(s.url+"/login"))
			signInAs(t, ctx, user)
			return ctx
		}
		t.Run(name+"/maria", func(t *testing.T) {
			ctx := open(t, "maria.chef")
			visit(t, ctx, "list-start-"+name, `#status`)
			do(t, ctx, "show all requests by due date", setValue(`#status`, "all"), setValue(`#sort`, "due"),
				chromedp.Click(`form.list-filter button[type=submit]`), arrived("sort=due"))
			visit(t, ctx, "list-start-all-"+name, `a[rel=next]`)
			do(t, ctx, "next page", chromedp.Click(`a[rel=next]`), arrived("cursor="))
			visit(t, ctx, "list-start-page2-"+name, `.pager a`)

			do(t, ctx, "open the approval overview", chromedp.Click(`a[href="/approvals"]`))
			visit(t, ctx, "list-approvals-"+name, `#all`)
			do(t, ctx, "select all on the page", chromedp.Click(`#all`))
			checked, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.querySelectorAll('input[name=id]:checked').length, document.querySelectorAll('input[name=id]').length]`))
			if err != nil {
				t.Fatal(err)
			}
			if js && checked[0] != checked[1] {
				t.Fatalf("with JavaScript select all ticked %d of %d", checked[0], checked[1])
			}
			if !js && checked[0] != 0 {
				t.Fatalf("without JavaScript select all ticked %d boxes", checked[0])
			}
			do(t, ctx, "next page of approvals", chromedp.Click(`a[rel=next]`), arrived("/approvals?"))
			visit(t, ctx, "list-approvals-page2-"+name, `table`)
			do(t, ctx, "search a name", chromedp.SendKeys(`#q`, surname), chromedp.Click(`form.list-filter button[type=submit]`),
				arrived("q="+url.QueryEscape(surname)))
			visit(t, ctx, "list-approvals-search-"+name, `table`)
			if rows := text(t, ctx, "table tbody"); !strings.Contains(rows, surname) {
				t.Fatalf("the search for %s shows %q", surname, rows)
			}
			do(t, ctx, "search too short", setValue(`#q`, "x"), chromedp.Click(`form.list-filter button[type=submit]`), arrived("q=x"))
			visit(t, ctx, "list-approvals-error-"+name, `.error-summary`)
		})
		if !js {
			continue // IT's pages run no script: the run with JavaScript shows them as they are
		}
		t.Run(name+"/ingrid", func(t *testing.T) {
			ctx := open(t, "ingrid.it")
			do(t, ctx, "open the IT queue", chromedp.Click(`a[href="/queue"]`), arrived("/queue"))
			visit(t, ctx, "list-queue-"+name, `table`)
			do(t, ctx, "show closed requests", setValue(`#status`, "closed"), chromedp.Click(`form.list-filter button[type=submit]`),
				arrived("status=closed"))
			visit(t, ctx, "list-queue-closed-"+name, `a[rel=next]`)
			if caption := text(t, ctx, "table caption"); caption != "Alla ärenden, även stängda" {
				t.Fatalf("closed requests under the caption %q", caption)
			}
			do(t, ctx, "next page of closed requests", chromedp.Click(`a[rel=next]`), arrived("cursor="))
			visit(t, ctx, "list-queue-closed-page2-"+name, `table`)
			do(t, ctx, "open the persons list", chromedp.Click(`a[href="/persons"]`), arrived("/persons"))
			visit(t, ctx, "list-persons-"+name, `a[rel=next]`)
			do(t, ctx, "search a person", chromedp.SendKeys(`#q`, surname), chromedp.Click(`form.list-filter button[type=submit]`),
				arrived("q="+url.QueryEscape(surname)))
			visit(t, ctx, "list-persons-search-"+name, `table`)
			if rows := text(t, ctx, "table tbody"); !strings.Contains(rows, surname) {
				t.Fatalf("the persons search for %s shows %q", surname, rows)
			}
		})
	}
}

// The approver picker offers the managers who can attest the unit chosen: Maria for Rolf's
// own unit, Sven once the unit is Hemtjänst Söder.
func TestBrowserApproverPicker(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := browser(t)
	do(t, ctx, "start the browser", chromedp.Navigate(s.url+"/login"))
	signInAs(t, ctx, "rolf.bestallare")
	do(t, ctx, "open the form", chromedp.Navigate(s.url+"/requests/new"))
	visit(t, ctx, "approver-picker", `#approver`)
	offered := func() []string {
		names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#approvers option")].map(o => o.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := offered(); !slices.Equal(got, []string{"Maria Chef"}) {
		t.Fatalf("for Hemtjänst Norr the picker offers %v", got)
	}
	do(t, ctx, "choose Hemtjänst Söder", setValue(`#unit`, "5120")) // setValue fires change, as leaving the field does
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(offered(), []string{"Sven Söderchef"}); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("for Hemtjänst Söder the picker offers %v", offered())
		}
	}
}
