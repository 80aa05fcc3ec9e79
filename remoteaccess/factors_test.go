package remoteaccess_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// withRemoteAccess runs the remote-access order for a new person through the whole flow
// (submitted, approved, certificate verified, provisioned) and returns the person's id.
func withRemoteAccess(t *testing.T, app *testapp.App, pnr, mobile string) string {
	t.Helper()
	ctx := t.Context()
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], provisioning.SubmitInput{Kind: provisioning.KindRemoteAccess,
		Person: provisioning.PersonInput{Personnummer: pnr, GivenName: "Karin", Surname: "Ek", EmployeeType: "employee", Mobile: mobile},
		Unit:   "5110", Approver: "manager", RemoteFactor: provisioning.RemoteFactorSMS, Description: "Journalföring hemifrån",
		Attachments: []provisioning.Upload{{Name: "intyg.pdf", Data: []byte("%PDF-1.4\n% intyg\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	v := app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	if _, err := app.Service.VerifyCertificate(ctx, app.Actors["it-handler"], sub.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	return v.Person.ID
}

// IT sees a person's factors with the number masked and the lockout state, and unlocks a
// locked factor: audited, the failures start from zero. Nobody else may do either, and a
// factor that is not locked cannot be "unlocked" again.
func TestFactorsAndUnlock(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	ra := app.Remote
	ctx := context.Background()
	personID := withRemoteAccess(t, app, "19850113-9995", "070-123 45 67")

	// Ten failed logins locked the factor (login.go does this at max_failures).
	if _, err := app.Pool.Exec(ctx, "UPDATE authenticators SET failures = 10, locked_at = now() WHERE person_id = $1", personID); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Factors(ctx, app.Actors["manager"], personID); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("a manager read the factors: %v", err)
	}
	factors, err := ra.Factors(ctx, app.Actors["it-handler"], personID)
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 1 {
		t.Fatalf("factors %+v, want the sms factor", factors)
	}
	f := factors[0]
	if f.Kind != remoteaccess.FactorSMS || f.Mobile != "+46 70 *** ** 67" || !f.Locked || f.Failures != 10 || f.RevokedAt != nil {
		t.Fatalf("factor %+v", f)
	}

	if _, err := ra.Unlock(ctx, app.Actors["requester"], f.ID); !errors.Is(err, remoteaccess.ErrForbidden) {
		t.Errorf("the requester unlocked: %v", err)
	}
	if _, err := ra.Unlock(ctx, app.Actors["it-handler"], "not-an-id"); !errors.Is(err, remoteaccess.ErrNotFound) {
		t.Errorf("unlock of a malformed id: %v", err)
	}
	if who, err := ra.Unlock(ctx, app.Actors["it-handler"], f.ID); err != nil || who != personID {
		t.Fatalf("unlock: %s, %v", who, err)
	}
	factors, err = ra.Factors(ctx, app.Actors["it-handler"], personID)
	if err != nil {
		t.Fatal(err)
	}
	if factors[0].Locked || factors[0].Failures != 0 {
		t.Fatalf("after unlock: %+v", factors[0])
	}
	if _, err := ra.Unlock(ctx, app.Actors["it-handler"], f.ID); !errors.Is(err, remoteaccess.ErrConflict) {
		t.Errorf("unlocking an unlocked factor: %v", err)
	}
	var actor, data string
	if err := app.Pool.QueryRow(ctx, `SELECT actor, data::text FROM audit_events WHERE action = 'remote_access.factor_unlocked'
		AND person_id = $1`, personID).Scan(&actor, &data); err != nil {
		t.Fatalf("no audit event of the unlock: %v", err)
	}
	if actor != "it-handler" || data == "" {
		t.Errorf("unlock audited as %s: %s", actor, data)
	}

	// Once the grant has ended the factor is revoked, and a revoked factor is not unlocked.
	if _, err := app.Pool.Exec(ctx, "UPDATE authenticators SET locked_at = $2, revoked_at = $2 WHERE id = $1", f.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Unlock(ctx, app.Actors["it-handler"], f.ID); !errors.Is(err, remoteaccess.ErrConflict) {
		t.Errorf("unlocking a revoked factor: %v", err)
	}
}
