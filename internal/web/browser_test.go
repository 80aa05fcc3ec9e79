package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's package (scripts/deps.sh installs it).
const chromium = "/usr/bin/chromium"

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("headless Chromium is missing: run `bash scripts/deps.sh` as root (%v)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("accept-lang", "sv-SE,sv"), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
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

func TestBrowserSignsInThroughTheDevIdP(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(`a[href^="/login/ad"]`),
	)
	if err != nil {
		t.Fatalf("open the sign-in page: %v", err)
	}
	screenshot(t, ctx, "login")
	err = chromedp.Do(ctx,
		chromedp.Click(`a[href^="/login/ad"]`),
		chromedp.WaitVisible(`button[value="maria.chef"]`),
		chromedp.Click(`button[value="maria.chef"]`),
		chromedp.WaitVisible(`.who`),
	)
	if err != nil {
		t.Fatalf("sign in through the dev IdP: %v", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(`main h1`))
	if err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(`.who`))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "Mina ärenden" || who != "Maria Chef" {
		t.Fatalf("after sign-in the page says %q and %q; want Maria's requests", heading, who)
	}
	screenshot(t, ctx, "my-requests")
	if err := chromedp.Do(ctx, chromedp.Click(`a.who`), chromedp.WaitVisible(`dl.facts`)); err != nil {
		t.Fatalf("open the profile: %v", err)
	}
	facts, err := chromedp.Run(ctx, chromedp.Text(`dl.facts`))
	if err != nil || !strings.Contains(facts, "Särskilt boende Ekbacken (5210)") {
		t.Fatalf("the profile does not list Maria's units: %q, %v", facts, err)
	}
	screenshot(t, ctx, "profile")
	err = chromedp.Do(ctx,
		chromedp.Click(`form[action="/logout"] button`),
		chromedp.WaitVisible(`.notice`),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || location != s.url+"/login?signed_out=1" {
		t.Fatalf("sign out: at %q, %v", location, err)
	}
}
