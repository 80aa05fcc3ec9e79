package radiusserver_test

import (
	"sync"
	"testing"

	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// One OTP with the right password, sent at once many times to two services on one database
// (two instances, each with its own pool and group commit), is accepted once; every other
// copy is refused as a replay, each attempt audited once, and the failures the refusals
// count are the replays' (an OTP used again is a wrong secret).
func TestOneOTPAcceptedOnceAcrossTwoServices(t *testing.T) {
	e := newEnv(t)
	bo := e.order(t, "19500118-2046", "Bo", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &bo)
	other := e.svc.OnPool(e.app.JobsPool)
	otp := bo.key.press(t)
	const copies = 2 * maxFailures
	var wg sync.WaitGroup
	outcomes := make(chan string, copies)
	for i := range copies {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Go(func() {
			res, err := svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: bo.username, Password: password + otp})
			if err != nil {
				t.Error(err)
			}
			outcomes <- res.Outcome
		})
	}
	wg.Wait()
	close(outcomes)
	accepted := 0
	for o := range outcomes {
		if o == remoteaccess.LoginAccepted {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("one OTP accepted %d times", accepted)
	}
	var events, accepts int
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE data->>'result' = 'accept')
		FROM audit_events WHERE action = 'remote_access.login' AND person_id = $1`, bo.id).Scan(&events, &accepts); err != nil {
		t.Fatal(err)
	}
	if events != copies || accepts != accepted {
		t.Errorf("%d attempts audited as %d events, %d accepts (answered %d)", copies, events, accepts, accepted)
	}
}
