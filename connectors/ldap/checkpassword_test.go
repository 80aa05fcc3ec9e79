package ldap

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/testenv"
)

// CheckPassword answers as a bind as the person would: true for the password, false for a
// wrong or empty one and for a disabled account, however many ask at once; never an error
// for a wrong password.
func TestCheckPassword(t *testing.T) {
	s := testenv.LDAP(t)
	good := "Sommar-Regn-" + strings.Repeat("7", 3)
	d, ref := withAnna(t, s, s.URL(), good)
	// Right and wrong interleaved from many goroutines: the idle connections are bound as
	// someone after each check and must never answer for the next.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Go(func() {
			pw, want := good, true
			if i%2 == 1 {
				pw, want = good+"x", false
			}
			if ok, err := d.CheckPassword(ctx, ref.DN, pw); ok != want || err != nil {
				errs <- "check " + pw + ": " + strings.TrimSpace(fmtBoolErr(ok, err))
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if ok, err := d.CheckPassword(ctx, ref.DN, ""); ok || err != nil {
		t.Errorf("empty password: %v, %v; want false (an unauthenticated bind is no password check)", ok, err)
	}
	if _, err := d.CheckPassword(ctx, "not a dn", good); err == nil {
		t.Error("a malformed DN was bound with")
	}
	// The shared connection is still the service account's: it can disable the account,
	// and then the right password is refused.
	if err := d.DisableAccount(ctx, ref.DN); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.CheckPassword(ctx, ref.DN, good); ok || err != nil {
		t.Errorf("disabled account: %v, %v; want false", ok, err)
	}
}

// withAnna opens the directory at url (slapd s, or a proxy to it) as behorig's service
// account, with anna's account and its password set.
func withAnna(t *testing.T, s *localserver.Slapd, url, password string) (*Directory, connectors.AccountRef) {
	t.Helper()
	d, err := Config{URL: url, BindDN: s.ServiceDN, BindPassword: s.ServicePassword, BaseDN: s.BaseDN,
		Timeout: 5 * time.Second}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ref, err := d.EnsureAccount(ctx, anna)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(ctx, ref.DN, password); err != nil {
		t.Fatalf("set %s's password: %v", ref.DN, err)
	}
	return d, ref
}

func fmtBoolErr(ok bool, err error) string {
	if err != nil {
		return err.Error()
	}
	if ok {
		return "true"
	}
	return "false"
}

// A directory that accepts the connection and never answers makes CheckPassword fail with
// an error once the timeout or the caller's context is over, not hang.
func TestCheckPasswordTimesOut(t *testing.T) {
	s := testenv.LDAP(t)
	proxy := testenv.NewStallProxy(t, strings.TrimPrefix(s.URL(), "ldap://"))
	proxy.Stall()
	d, err := Config{URL: "ldap://" + proxy.Addr, BaseDN: s.BaseDN, Timeout: 500 * time.Millisecond}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	dn := "uid=anna.berg," + s.PeopleDN
	if ok, err := d.CheckPassword(ctx, dn, "whatever"); ok || err == nil {
		t.Errorf("stalled directory (configured timeout): %v, %v; want an error", ok, err)
	}
	d.cfg.Timeout = time.Hour
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if ok, err := d.CheckPassword(cctx, dn, "whatever"); ok || err == nil {
		t.Errorf("stalled directory (caller's deadline): %v, %v; want an error", ok, err)
	}
}

// A burst of logins larger than the pool while the directory hangs: every check fails once
// its time is over (those waiting for a connection too), no connection is left counted as
// open, and once the directory answers again the checks work, on connections the pool keeps
// for the next (at most maxBindConns).
func TestCheckPasswordPoolAfterAStall(t *testing.T) {
	s := testenv.LDAP(t)
	proxy := testenv.NewStallProxy(t, strings.TrimPrefix(s.URL(), "ldap://"))
	const good = "Höst-Regn-4242"
	d, ref := withAnna(t, s, "ldap://"+proxy.Addr, good)
	burst := func(want bool) (failed int) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 2 * maxBindConns {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				defer cancel()
				ok, err := d.CheckPassword(cctx, ref.DN, good)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || ok != want {
					failed++
				}
			})
		}
		wg.Wait()
		return failed
	}
	proxy.Stall()
	if failed := burst(false); failed != 2*maxBindConns {
		t.Errorf("stalled: %d of %d checks failed, want all", failed, 2*maxBindConns)
	}
	if open := len(d.binds.slots); open != 0 {
		t.Errorf("%d connections counted as open after the stall", open)
	}
	proxy.Release()
	if failed := burst(true); failed != 0 {
		t.Errorf("after the stall: %d of %d checks failed", failed, 2*maxBindConns)
	}
	if open, idle := len(d.binds.slots), len(d.binds.idle); open == 0 || open != idle || open > maxBindConns {
		t.Errorf("after a burst: %d connections open, %d idle; want them all kept, at most %d", open, idle, maxBindConns)
	}
}
