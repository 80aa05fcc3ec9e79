package provisioning_test

import (
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// A manual system's grant counts for the account from its valid-from (desiredAt): approved
// for a person whose account a termination disabled, something must bring the directory to
// it, as a connected grant's provision job does. Without a job, a converge that records the
// person while the approval commits (FOR NO KEY UPDATE lets the grant's insert pass the
// person's lock) leaves the account disabled as well.
func TestManualGrantApprovedForADisabledAccountIsApplied(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET manual = true WHERE id = 'panorama-ros'"); err != nil {
		t.Fatal(err)
	}
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "meddix"}))
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	p := personOf(t, app, sub.ID)
	app.WaitStatus(t, terminate(t, app, "19500118-2046").ID, provisioning.StatusCompleted)
	if _, enabled := assertAgreement(t, app, p.ID); enabled {
		t.Fatal("the account is enabled after the termination")
	}
	again := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "panorama-ros"}))
	app.WaitStatus(t, again.ID, provisioning.StatusInProgress)
	waitFor(t, "the directory to agree with the manual grant", func() bool {
		diffs, err := app.Service.Converge(ctx, p.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) > 0 {
			t.Logf("differences: %+v", diffs)
		}
		return len(diffs) == 0
	})
}

// A manual-only grant for a new person: its provision job converges the person, who needs
// no account for it, and so gets none, and the job ends without an error.
func TestManualOnlyGrantsJobMakesNoAccount(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET manual = true WHERE id = 'panorama-ros'"); err != nil {
		t.Fatal(err)
	}
	sub := submitApproved(t, app, grantInput("19500118-2046", "Anna", "Berg", provisioning.ItemInput{System: "panorama-ros"}))
	app.WaitStatus(t, sub.ID, provisioning.StatusInProgress)
	waitFor(t, "the provision job", func() bool {
		var state string
		app.Pool.QueryRow(ctx, "SELECT state FROM river_job WHERE kind = 'provision' ORDER BY id DESC LIMIT 1").Scan(&state)
		if state == "retryable" || state == "discarded" {
			t.Fatalf("the manual grant's provision job is %s", state)
		}
		return state == "completed"
	})
	if p := personOf(t, app, sub.ID); len(p.Accounts) != 0 {
		t.Fatalf("accounts %+v for a manual grant alone", p.Accounts)
	}
}
