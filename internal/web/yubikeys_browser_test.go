package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// IT's YubiKey pages in the browser under axe: the person page's block with a refused
// hand-out, the receipt, and the list with a key to be returned.
func TestBrowserYubiKeyPages(t *testing.T) {
	s := newSite(t, siteOptions{})
	if _, err := s.remote.Importer().Import(context.Background(), "cli",
		strings.NewReader("13002245,vvccccdfhlbd,a09aa8bf3dd2,e2a2e4c88067a1e2efe238f8d2d3f76d,,2026-12-01T08:00:00,\n")); err != nil {
		t.Fatal(err)
	}
	person := s.remoteAccessPerson(t, "19700101-1233", "Karin", "Konsult")
	ctx := browser(t)
	do(t, ctx, "open behorig", chromedp.Navigate(s.url+"/login"))
	signInAs(t, ctx, "ingrid.it")
	do(t, ctx, "open the person", chromedp.Navigate(s.url+"/persons/"+person))
	visit(t, ctx, "yubikey-person", `#yubikey-serial`)
	do(t, ctx, "hand out an unknown key", chromedp.SendKeys(`#yubikey-serial`, "4711"), chromedp.Submit(`#yubikey-serial`))
	visit(t, ctx, "yubikey-person-error", `.error-summary`)
	do(t, ctx, "hand out the key", setValue(`#yubikey-serial`, "13002245"), chromedp.Submit(`#yubikey-serial`))
	visit(t, ctx, "yubikey-receipt", `.signature`)
	if got := text(t, ctx, "main"); !strings.Contains(got, "19700101-1233") || !strings.Contains(got, "13002245") {
		t.Errorf("the receipt shows:\n%s", got)
	}
	if _, err := s.app.Pool.Exec(context.Background(), `UPDATE yubikeys SET state = 'to_be_returned'`); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the keys", chromedp.Click(`a[href="/yubikeys"]`))
	visit(t, ctx, "yubikeys", `#to-return`)
	do(t, ctx, "record the return", chromedp.Click(`#to-return + .table-wrap button[type=submit]`), arrived("done=yubikey_returned"))
	visit(t, ctx, "yubikeys-returned", `.notice`)
}
