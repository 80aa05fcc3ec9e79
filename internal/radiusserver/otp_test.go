package radiusserver_test

import (
	"sync"
	"testing"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// A YubiKey's OTP through the login, as a gateway relays it after the password: accepted
// once, then a replay; an older OTP of the session too late; a new session (the key
// replugged) accepted; an OTP under the key's public id with another private id or AES key
// (forged, reprogrammed) refused as invalid; the key's OTP typed by someone else refused.
// Each refusal is audited with its reason. A second instance, which has not opened the key
// yet, refuses what the first accepted and accepts the next OTP: the rules hold in the
// database, not in a process.
func TestYubiKeyOTPRules(t *testing.T) {
	e := newEnv(t, func(c *remoteaccess.Config) { c.MaxFailures = 20 })
	karl := e.order(t, "19700102-0002", "Karl", "Nyckel", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &karl)
	login := func(svc *remoteaccess.Service, who person, otp string) (string, string) {
		t.Helper()
		res, err := svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: who.username, Password: password + otp})
		if err != nil {
			t.Fatal(err)
		}
		reason, _ := e.lastLogin(t, who.id)["reason"].(string)
		return res.Outcome, reason
	}
	want := func(what, outcome, reason, wantOutcome, wantReason string) {
		t.Helper()
		if outcome != wantOutcome || reason != wantReason {
			t.Errorf("%s: %s (%s), want %s (%s)", what, outcome, reason, wantOutcome, wantReason)
		}
	}
	k := karl.key
	first := k.press(t)
	o, r := login(e.svc, karl, first)
	want("the first OTP", o, r, remoteaccess.LoginAccepted, "")
	o, r = login(e.svc, karl, first)
	want("the same OTP again", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonReplayed)
	second, third := k.press(t), k.press(t)
	o, r = login(e.svc, karl, third)
	want("a later OTP", o, r, remoteaccess.LoginAccepted, "")
	o, r = login(e.svc, karl, second)
	want("an older OTP never used", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonReplayed)

	replugged := *k
	replugged.use = 0
	o, r = login(e.svc, karl, replugged.otp(t, 2, 1))
	want("a new session", o, r, remoteaccess.LoginAccepted, "")

	forged := replugged
	forged.privateID[0] ^= 1
	o, r = login(e.svc, karl, forged.otp(t, 2, 2))
	want("another private id", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonOTPInvalid)
	wrongKey := replugged
	wrongKey.aesKey = make([]byte, 16)
	o, r = login(e.svc, karl, wrongKey.otp(t, 2, 3))
	want("another AES key", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonOTPInvalid)

	// Another instance on the same database, which has not opened the key: what was accepted
	// stays spent, and the next OTP works there.
	other, err := remoteaccess.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, r = login(other, karl, replugged.otp(t, 2, 1))
	want("an accepted OTP at another instance", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonReplayed)
	o, r = login(other, karl, replugged.otp(t, 2, 4))
	want("the next OTP at another instance", o, r, remoteaccess.LoginAccepted, "")

	// Karl's key typed after Lena's password: not her key, so no OTP of hers.
	lena := e.order(t, "19700103-0001", "Lena", "Nyckel", provisioning.RemoteFactorYubiKey)
	e.handOut(t, &lena, &key{serial: 5550002, publicID: "vvcccccdhlbe", privateID: [6]byte{1, 2, 3, 4, 5, 6}, aesKey: []byte("another AES key!")})
	o, r = login(e.svc, lena, replugged.otp(t, 2, 5))
	want("someone else's key", o, r, remoteaccess.LoginRejected, remoteaccess.ReasonOTPMissing)
	o, r = login(e.svc, karl, replugged.otp(t, 2, 6))
	want("the key after all that", o, r, remoteaccess.LoginAccepted, "")
}

// otp types the key's OTP of session counter and use.
func (k *key) otp(t *testing.T, counter uint16, use uint8) string {
	t.Helper()
	otp, err := yubiotp.Encode(k.publicID, k.aesKey, yubiotp.Token{PrivateID: k.privateID, Counter: counter, Use: use, Timestamp: 0x2345, Random: 0xcafe})
	if err != nil {
		t.Fatal(err)
	}
	return otp
}

// Logins that claim one factor at once, in round after round, as a person pressing the key
// again while the gateway retries: each OTP is accepted at most once and a newer one wins
// over an older; every login is answered and audited (one read of subjects claims a
// factor once; the others run in the next).
func TestOneFactorClaimedByManyLoginsAtOnce(t *testing.T) {
	e := newEnv(t, func(c *remoteaccess.Config) { c.MaxFailures = 100 })
	ada := e.order(t, "19700104-0000", "Ada", "Tryck", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &ada)
	const rounds, callers = 5, 8
	total := 0
	for round := range rounds {
		otps := make([]string, callers)
		for i := range otps {
			otps[i] = ada.key.otp(t, uint16(3+round), uint8(1+i/2)) // pairs of copies of one OTP
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted := map[string]int{}
		start := make(chan struct{})
		for _, otp := range otps {
			wg.Go(func() {
				<-start
				res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: ada.username, Password: password + otp})
				if err != nil {
					t.Error(err)
					return
				}
				if res.Outcome == remoteaccess.LoginAccepted {
					mu.Lock()
					accepted[otp]++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		total += callers
		if len(accepted) == 0 {
			t.Errorf("round %d: no OTP accepted", round)
		}
		for _, n := range accepted {
			if n != 1 {
				t.Errorf("round %d: one OTP accepted %d times", round, n)
			}
		}
		// Whatever got in first, the round's newest OTP is above it.
		if accepted[otps[callers-1]] != 1 {
			t.Errorf("round %d: the newest OTP was refused (accepted %v)", round, accepted)
		}
	}
	if got := len(e.logins(t, ada.id)); got != total {
		t.Errorf("%d logins audited, want %d", got, total)
	}
}
