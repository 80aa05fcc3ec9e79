package devenv_test

import (
	"context"
	"testing"

	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/remoteaccess"
)

// What `behorig dev` seeds for remote access works as the README says: the demo person's
// password binds, she has a live SMS factor and the demo key, and each press of the key on
// the dev page logs her in once with her password. Seeding again changes nothing.
func TestSeedRemoteAccess(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	for range 2 {
		if err := devenv.SeedRemoteAccess(ctx, app.Service, app.Remote, app.Directory); err != nil {
			t.Fatal(err)
		}
	}
	var personID, dn string
	if err := app.Pool.QueryRow(ctx, "SELECT person_id::text, dn FROM accounts WHERE username = $1", devenv.DemoRemotePerson.Username).
		Scan(&personID, &dn); err != nil {
		t.Fatal(err)
	}
	if ok, err := app.Directory.CheckPassword(ctx, dn, devenv.DemoRemotePerson.Password); err != nil || !ok {
		t.Fatalf("the demo password: %v, %v", ok, err)
	}
	var requests, sms, keys int
	if err := app.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM requests WHERE person_id = $1),
			(SELECT count(*) FROM authenticators WHERE person_id = $1 AND kind = 'sms' AND revoked_at IS NULL AND mobile = '+46701740610'),
			(SELECT count(*) FROM yubikeys WHERE person_id = $1 AND state = 'handed_out')`, personID).Scan(&requests, &sms, &keys); err != nil {
		t.Fatal(err)
	}
	if requests != 2 || sms != 1 || keys != 1 {
		t.Fatalf("%d orders, %d live sms factors, %d keys; want 2, 1, 1", requests, sms, keys)
	}
	first, last, err := devenv.PressYubiKey(ctx, app.Pool, [2]int{})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := devenv.PressYubiKey(ctx, app.Pool, last)
	if err != nil {
		t.Fatal(err)
	}
	login := func(otp string) string {
		t.Helper()
		res, err := app.Remote.Login(ctx, remoteaccess.LoginAttempt{Client: "dev", Username: devenv.DemoRemotePerson.Username,
			Password: devenv.DemoRemotePerson.Password + otp})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcome
	}
	for i, otp := range []string{first, second} {
		if got := login(otp); got != remoteaccess.LoginAccepted {
			t.Fatalf("press %d: %s", i+1, got)
		}
	}
	if got := login(second); got != remoteaccess.LoginRejected {
		t.Fatalf("a pressed OTP used twice: %s", got)
	}
}
