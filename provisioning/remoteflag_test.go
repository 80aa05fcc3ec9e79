package provisioning_test

import (
	"errors"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// waitForLockWait waits until some transaction of the test's database waits for a lock.
func waitForLockWait(t *testing.T, app *testapp.App) {
	t.Helper()
	waitFor(t, "a transaction to wait for a lock", func() bool {
		var n int
		if err := app.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
}

// A system's remote-access flag and a request for the system at the same moment: the
// submission read the flag before the administrator's transaction changed it, and would
// store an ordinary request for what is now remote access (no second factor ordered), the
// open request the administrator's check exists to refuse. The submission checks the flag
// again in its own transaction, under a lock the change waits for or holds.
func TestSubmissionDuringARemoteAccessFlagChange(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	// The administrator's transaction, past its check (nothing of meddix is open), holds the
	// system as SaveSystem does and has changed the flag.
	tx, err := app.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM systems WHERE id = 'meddix' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE systems SET remote_access = true WHERE id = 'meddix'"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := app.Service.Submit(ctx, app.Actors["requester"],
			grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "meddix"}))
		done <- err
	}()
	waitForLockWait(t, app)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ve *provisioning.ValidationError
	if err := <-done; !errors.As(err, &ve) {
		t.Fatalf("an ordinary request for meddix, remote access since: %v", err)
	}
	var n int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM request_items WHERE system_id = 'meddix'").Scan(&n)
	if n != 0 {
		t.Fatalf("%d items for meddix stored", n)
	}
}

// The other order: a submission not yet committed holds the system (its item's foreign key);
// the administrator's change waits for it, and then counts its request as open.
func TestRemoteAccessFlagChangeDuringASubmission(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	admin := provisioning.Actor{ID: app.Actors["it-handler"].ID, Subject: "it-handler",
		Roles: []provisioning.Role{provisioning.RoleITHandler, provisioning.RoleITAdmin}}
	systems, err := app.Service.Systems(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var meddix provisioning.SystemAdmin
	for _, s := range systems {
		if s.ID == "meddix" {
			meddix = s
		}
	}
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], grantInput("19500118-2046", "Åsa", "Lind",
		provisioning.ItemInput{System: "timecare-pool", Role: "medarbetare"}))
	if err != nil {
		t.Fatal(err)
	}
	// A submission's item for meddix, not yet committed.
	tx, err := app.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO request_items (request_id, position, system_id, unit_id)
		SELECT request_id, 99, 'meddix', unit_id FROM request_items WHERE request_id = $1`, sub.ID); err != nil {
		t.Fatal(err)
	}
	meddix.RemoteAccess = true
	done := make(chan error, 1)
	go func() { done <- app.Service.SaveSystem(ctx, admin, meddix, false) }()
	select {
	case err := <-done:
		t.Fatalf("the flag change did not wait for the submission: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var ve *provisioning.ValidationError
	if err := <-done; !errors.As(err, &ve) || ve.Errors[0].Field != "remoteAccess" {
		t.Fatalf("flag changed under a request submitted meanwhile: %v", err)
	}
	var remote bool
	app.Pool.QueryRow(ctx, "SELECT remote_access FROM systems WHERE id = 'meddix'").Scan(&remote)
	if remote {
		t.Fatal("meddix became remote access")
	}
}
