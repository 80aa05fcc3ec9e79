package remoteaccess_test

import (
	"context"
	"testing"

	"github.com/behorig/behorig/remoteaccess"
)

// A login whose OTP is not the key's (here: another private id) counts its try like a wrong
// password. When that count fails in the database, the login fails with the error: it was
// answered as a Reject whose audit event said the factor was locked, which it was not (IT
// then looked for a lockout that never happened, and the error was never logged).
func TestAFailedCountOfAnInvalidOTPIsAnError(t *testing.T) {
	e := newKeyEnv(t)
	ctx := context.Background()
	k := newTestKey(1)
	person := e.handOut(t, k)
	// The key's first login opens it: the service knows it from now on.
	if ok, reason := check(t, e, person, k.press(t)); !ok {
		t.Fatal(reason)
	}
	e.exec(t, `CREATE FUNCTION refuse_count() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the test refuses to count a try'; END $$`)
	e.exec(t, `CREATE TRIGGER refuse_count BEFORE UPDATE ON authenticators FOR EACH ROW
		WHEN (NEW.failures > OLD.failures) EXECUTE FUNCTION refuse_count()`)
	forged := *k
	forged.privateID[0] ^= 1
	res, err := e.service.Login(ctx, remoteaccess.LoginAttempt{Client: "vpn", Username: e.usernames[person],
		Password: keyPassword + forged.press(t)})
	if err == nil {
		var reason string
		if err := e.pool.QueryRow(ctx, `SELECT coalesce(data->>'reason', '') FROM audit_events
			WHERE action = 'remote_access.login' AND person_id = $1 ORDER BY id DESC LIMIT 1`, person).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		t.Errorf("the try could not be counted: %s (%s), want an error", res.Outcome, reason)
	}
	var locked bool
	if err := e.pool.QueryRow(ctx, `SELECT locked_at IS NOT NULL FROM authenticators WHERE person_id = $1 AND revoked_at IS NULL`,
		person).Scan(&locked); err != nil {
		t.Fatal(err)
	}
	if locked {
		t.Error("the factor is locked")
	}
}
