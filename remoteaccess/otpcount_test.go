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
	e, k, person := keyInUse(t) // the service knows the key from now on
	ctx := context.Background()
	e.exec(t, `CREATE FUNCTION refuse_count() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the test refuses to count a try'; END $$`)
	e.exec(t, `CREATE TRIGGER refuse_count BEFORE UPDATE ON authenticators FOR EACH ROW
		WHEN (NEW.failures > OLD.failures) EXECUTE FUNCTION refuse_count()`)
	forged := *k
	forged.privateID[0] ^= 1
	res, err := e.service.Login(ctx, remoteaccess.LoginAttempt{Client: "vpn", Username: e.usernames[person],
		Password: keyPassword + forged.press(t)})
	if err == nil {
		t.Errorf("the try could not be counted: %s (%s), want an error", res.Outcome, e.lastReason(t, person))
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
