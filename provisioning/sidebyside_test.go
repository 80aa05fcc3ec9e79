package provisioning_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// heldWrites blocks every group removal and disabling while held, as a directory that
// stops answering halfway through a revocation does; it counts the calls stuck in it.
type heldWrites struct {
	connectors.Directory
	mu      sync.Mutex
	release chan struct{} // closed to let the held calls through; nil when not holding
	stuck   atomic.Int32
}

func (h *heldWrites) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release = make(chan struct{})
}

func (h *heldWrites) let() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release)
	h.release = nil
}

func (h *heldWrites) wait(ctx context.Context) error {
	h.mu.Lock()
	release := h.release
	h.mu.Unlock()
	if release == nil {
		return nil
	}
	h.stuck.Add(1)
	defer h.stuck.Add(-1)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *heldWrites) RemoveMember(ctx context.Context, group string, members ...string) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Directory.RemoveMember(ctx, group, members...)
}

func (h *heldWrites) DisableAccounts(ctx context.Context, dns []string) []error {
	if err := h.wait(ctx); err != nil {
		errs := make([]error, len(dns))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	return h.Directory.DisableAccounts(ctx, dns)
}

func (h *heldWrites) DisableAccount(ctx context.Context, dn string) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Directory.DisableAccount(ctx, dn)
}

// While a revocation's directory call hangs, two more terminations and a new request commit
// side by side: no transaction waits for the directory, and the audit log takes no lock that
// they would queue behind. Once the directory answers, every revocation is done.
func TestRevokesAndSubmissionCommitWhileTheDirectoryHangs(t *testing.T) {
	t.Parallel()
	dir := &heldWrites{}
	app := testapp.New(t, testapp.Options{Directory: func(real connectors.Directory) connectors.Directory {
		dir.Directory = real
		return dir
	}})
	pnrs := []string{"19500118-2046", "19850113-9995", "19120211-9150"}
	var subs []provisioning.Submitted
	for i, pnr := range pnrs {
		sub := submitApproved(t, app, grantInput(pnr, "Sida", []string{"Ett", "Tva", "Tre"}[i], provisioning.ItemInput{System: "meddix"}))
		subs = append(subs, sub)
	}
	for _, sub := range subs {
		app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	}

	dir.hold()
	first := terminate(t, app, pnrs[0])
	waitFor(t, "the first revocation to hang in the directory", func() bool { return dir.stuck.Load() > 0 })

	// Two terminations and a new request, at once, while that call hangs.
	var wg sync.WaitGroup
	results := make([]string, 3)
	for i, pnr := range pnrs[1:] {
		wg.Go(func() {
			sub, err := app.Service.Submit(ctx, app.Actors["manager"], provisioning.SubmitInput{Kind: provisioning.KindTerminate,
				Person: provisioning.PersonInput{Personnummer: pnr}, Unit: "5110", Approver: "manager"})
			if err != nil {
				results[i] = "terminate: " + err.Error()
				return
			}
			results[i] = sub.Status
		})
	}
	wg.Go(func() {
		var sub struct{ Status string }
		code := app.Call(t, "requester", "POST", "/api/v1/requests", map[string]any{
			"person": map[string]any{"personnummer": "19121212-1212", "givenName": "Ny", "surname": "Sida", "employeeType": "employee"},
			"unit":   "5110", "reason": "Ny", "items": []map[string]any{{"system": "meddix"}}, "approver": "manager"}, &sub)
		if code != http.StatusCreated {
			results[2] = "submit: " + http.StatusText(code)
			return
		}
		results[2] = sub.Status
	})
	wg.Wait()
	stuck := dir.stuck.Load()
	want := []string{provisioning.StatusInProgress, provisioning.StatusInProgress, provisioning.StatusAwaitingApproval}
	for i := range want {
		if results[i] != want[i] {
			t.Errorf("call %d while the directory hangs: %s, want %s", i, results[i], want[i])
		}
	}
	if stuck == 0 {
		t.Fatal("the directory call no longer hung when the others committed; the test proves nothing")
	}
	if n := countRevoked(t, app); n != 0 {
		t.Errorf("%d grants recorded revoked while the directory hangs", n)
	}

	dir.let()
	app.WaitStatus(t, first.ID, provisioning.StatusCompleted)
	waitFor(t, "every grant revoked", func() bool { return countRevoked(t, app) == len(pnrs) })
	if entries := app.Search(t, app.Slapd.PeopleDN, "(&(uid=sida.*)(pwdAccountLockedTime=*))"); len(entries) != len(pnrs) {
		t.Errorf("%d of %d accounts disabled in the directory", len(entries), len(pnrs))
	}
	if _, err := app.Audit.Verify(ctx, app.Pool, nil); err != nil {
		t.Fatal(err)
	}
}

func countRevoked(t *testing.T, app *testapp.App) int {
	t.Helper()
	var n int
	if err := app.Pool.QueryRow(ctx, "SELECT count(*) FROM grants WHERE state = 'revoked'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
