package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/behorig/behorig/provisioning"
)

// The change request in the browser, with and without JavaScript, under axe: Maria finds the
// person by personnummer, ends Meddix and adds a role from the current grants, reviews what
// is added, removed and kept, sends it attested in one step, and sees it done. On the way she
// opens the person from a request that waits for her approval.
func TestBrowserChangeRequest(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := map[bool]string{true: "with-js", false: "without-js"}[js]
		t.Run(name, func(t *testing.T) {
			s := newSite(t, siteOptions{jobs: true})
			first := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", meddix,
				map[string]any{"system": "timecare-pool", "role": "medarbetare"})
			maria := s.as(t, "maria.chef")
			maria.post(t, "/requests/"+first.ID+"/approve", nil)
			s.waitStatus(t, first.ID, provisioning.StatusCompleted)
			pending := s.submit(t, "requester", "19500118-2046", "Anna", "Berg", "5110", map[string]any{"system": "panorama-ros"})
			var personID string
			s.app.Pool.QueryRow(t.Context(), "SELECT person_id::text FROM requests WHERE id = $1", first.ID).Scan(&personID)
			meddixID := s.grantOf(t, personID, "meddix")

			ctx := browser(t)
			if !js {
				ctx = withoutScripts(t, ctx)
			}
			do(t, ctx, "start the browser", chromedp.Navigate(s.url+"/login"))
			signInAs(t, ctx, "maria.chef")
			do(t, ctx, "open the pending request", chromedp.Navigate(s.url+"/requests/"+pending.ID))
			visit(t, ctx, "change-pending-"+name, `dl.facts a[href^="/persons/"]`)
			do(t, ctx, "open its person", chromedp.Click(`dl.facts a[href^="/persons/"]`))
			visit(t, ctx, "change-person-"+name, `a[href^="/change?person="]`)
			if page := text(t, ctx, "main"); !strings.Contains(page, "Meddix") || !strings.Contains(page, "Time Care Pool") {
				t.Fatalf("the approver does not see the current access: %q", page)
			}

			do(t, ctx, "open the change form", chromedp.Click(`nav a[href="/change"]`))
			visit(t, ctx, "change-find-"+name, `#personnummer`)
			do(t, ctx, "find the person", chromedp.SendKeys(`#personnummer`, "19500118-2046"),
				chromedp.Click(`form[action="/change"] button[type=submit]`))
			visit(t, ctx, "change-form-"+name, `input[name=end]`)
			do(t, ctx, "end Meddix, add a role", chromedp.Click(`input[name=end][value="`+meddixID+`"]`),
				setValue(`#add0`, "timecare-pool|chef"), chromedp.SendKeys(`#reason`, "Blir chef"),
				chromedp.Click(`input[name=selfApprove]`), chromedp.Click(`button[value=review]`))
			visit(t, ctx, "change-review-"+name, `section.summary`)
			summary := text(t, ctx, "section.summary")
			added, removed, kept := strings.Index(summary, "Läggs till"), strings.Index(summary, "Tas bort"), strings.Index(summary, "Finns kvar")
			if added < 0 || removed < added || kept < removed || !strings.Contains(summary[added:removed], "Time Care Pool – Chef") ||
				!strings.Contains(summary[removed:kept], "Meddix") || !strings.Contains(summary[kept:], "Time Care Pool – Medarbetare") {
				t.Fatalf("the review says: %q", summary)
			}
			do(t, ctx, "send the change", chromedp.Click(`button[value=send]`))
			visit(t, ctx, "change-sent-"+name, `.notice`)
			requestURL, _ := chromedp.Run(ctx, chromedp.Location())
			requestURL, _, _ = strings.Cut(requestURL, "?")
			waitForStatus(t, ctx, requestURL, "Klar")
			visit(t, ctx, "change-done-"+name, `.status-panel`)
			if page := text(t, ctx, "main"); !strings.Contains(page, "Ändrad behörighet") || !strings.Contains(page, "Behörigheter som avslutas") {
				t.Fatalf("the change's page says: %q", page)
			}
			var state string
			s.app.Pool.QueryRow(t.Context(), "SELECT state FROM grants WHERE id = $1", meddixID).Scan(&state)
			if state != provisioning.GrantRevoked {
				t.Fatalf("Meddix is %s after the change", state)
			}
		})
	}
}
