package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The form's categories, the training certificate and Annat system, in a browser with and
// without JavaScript, under axe; then, with JavaScript, IT verifying the certificate and
// asking, the requester's answer, and the categories admin page.
func TestBrowserCertificateCategoriesAndAnswer(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := map[bool]string{true: "with-js", false: "without-js"}[js]
		t.Run(name, func(t *testing.T) {
			s := newSite(t, siteOptions{})
			if _, err := s.app.Pool.Exec(t.Context(), `UPDATE systems SET needs_certificate = true,
				training_url = 'https://utbildning.example/is', category_id = 'e-post' WHERE id = 'meddix'`); err != nil {
				t.Fatal(err)
			}
			ctx := browser(t)
			if !js {
				ctx = withoutScripts(t, ctx)
			}
			do(t, ctx, "start the browser", chromedp.Navigate(s.url+"/login"))
			signInAs(t, ctx, "maria.chef")
			do(t, ctx, "open the form", chromedp.Click(`a[href="/requests/new"]`))
			visit(t, ctx, "certificate-form-"+name, `#otherSystem`)
			systems := text(t, ctx, "#systems")
			for _, want := range []string{"Vård och omsorg", "E-post och gemensamma kataloger", "kräver utbildningsintyg",
				"Länk till utbildningen för Meddix", "makuleras beställningen"} {
				if !strings.Contains(systems, want) {
					t.Errorf("the systems part lacks %q: %q", want, systems)
				}
			}
			do(t, ctx, "fill in the request",
				chromedp.SendKeys(`#givenName`, "Bo"),
				chromedp.SendKeys(`#surname`, "Ek"),
				chromedp.SendKeys(`#personnummer`, "19850113-9995"),
				chromedp.Click(`input[name=employeeType][value=employee]`),
				chromedp.Click(`input[name="sys.meddix.yes"]`),
				chromedp.SendKeys(`#otherSystem`, "Visma: attestant"),
				chromedp.Click(`input[name=selfApprove]`),
				chromedp.Click(`form.request-form button[type=submit]`))
			visit(t, ctx, "certificate-request-"+name, `.status-panel`)
			if status := text(t, ctx, ".status-panel"); !strings.Contains(status, "Väntar på intyg") || !strings.Contains(status, "makuleras ärendet") {
				t.Fatalf("the request does not wait for the certificate: %q", status)
			}
			if details := text(t, ctx, "dl.facts"); !strings.Contains(details, "Visma: attestant") {
				t.Fatalf("the details lack Annat system: %q", details)
			}
			if !js {
				// The rest are forms of one field each, the same with and without JavaScript;
				// the run with JavaScript covers them, keeping the package's time down.
				return
			}
			requestURL, _ := chromedp.Run(ctx, chromedp.Location())
			requestURL, _, _ = strings.Cut(requestURL, "?")
			id := requestURL[strings.LastIndex(requestURL, "/")+1:]
			if _, err := s.app.Service.AddAttachment(context.Background(), s.app.Actors["manager"], id, "intyg.pdf", pdf); err != nil {
				t.Fatal(err)
			}

			do(t, ctx, "Maria signs out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`.notice`))
			signInAs(t, ctx, "ingrid.it")
			do(t, ctx, "open the request", chromedp.Navigate(requestURL))
			visit(t, ctx, "certificate-it-"+name, `#certificate-attachment`)
			do(t, ctx, "verify the certificate", chromedp.Click(`form[action$="/certificate"] button`), arrived("done=certificate"))
			visit(t, ctx, "certificate-verified-"+name, `.notice`)
			if status := text(t, ctx, ".status-panel .status"); status != "Pågående" {
				t.Fatalf("after the certificate the status is %q", status)
			}
			do(t, ctx, "ask the requester", chromedp.SendKeys(`#question`, "Vilken roll i Visma?"),
				chromedp.Click(`form[action$="/ask"] button`), arrived("done=asked"))
			visit(t, ctx, "asked-"+name, `.notice`)
			if status := text(t, ctx, ".status-panel"); !strings.Contains(status, "Väntar på användare") || !strings.Contains(status, "Väntar på svar från beställaren") {
				t.Fatalf("after the question: %q", status)
			}

			do(t, ctx, "Ingrid signs out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`.notice`))
			signInAs(t, ctx, "maria.chef")
			do(t, ctx, "open the request", chromedp.Navigate(requestURL))
			visit(t, ctx, "question-"+name, `#comment`)
			do(t, ctx, "answer", chromedp.SendKeys(`#comment`, "Attestant"), chromedp.Click(`form[action$="/comments"] button`), arrived("done=commented"))
			visit(t, ctx, "answered-"+name, `.notice`)
			if status := text(t, ctx, ".status-panel .status"); status != "Besvarat av användaren" {
				t.Fatalf("after the answer the status is %q", status)
			}
			do(t, ctx, "open Mina ärenden", chromedp.Navigate(s.url+"/"))
			visit(t, ctx, "answered-mine-"+name, `table`)
			if mine := text(t, ctx, "table"); !strings.Contains(mine, "Besvarat av användaren") || !strings.Contains(mine, " 20") {
				t.Fatalf("Mina ärenden lacks the status or the due date: %q", mine)
			}

			do(t, ctx, "Maria signs out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible(`.notice`))
			signInAs(t, ctx, "ivar.admin")
			do(t, ctx, "open the categories", chromedp.Navigate(s.url+"/admin/categories"))
			visit(t, ctx, "admin-categories-"+name, `#category-1`)
			do(t, ctx, "rename the first", setValue(`#category-1`, "Allmänt och övrigt"), chromedp.Click(`form.request-form button[type=submit]`), arrived("done=saved"))
			visit(t, ctx, "admin-categories-saved-"+name, `.notice`)
			do(t, ctx, "open meddix", chromedp.Navigate(s.url+"/admin/catalog/meddix"))
			visit(t, ctx, "admin-system-training-"+name, `#trainingUrl`)
		})
	}
}
