package radiusserver_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// A reviewer's attacks on the login that the tests do not make.

// exchange sends one Access-Request with username, password (hidden as User-Password) and
// the NAS-Identifier, and returns the answer. The bytes go as given: a gateway relays what
// was typed.
func exchange(t *testing.T, addr, username, pw, nas string) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	p.Add(80, make([]byte, 16))
	p.Add(rfc2865.UserName_Type, radius.Attribute(username))
	if err := rfc2865.UserPassword_SetString(p, pw); err != nil {
		t.Fatal(err)
	}
	if nas != "" {
		p.Add(rfc2865.NASIdentifier_Type, radius.Attribute(nas))
	}
	req, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(md5.New, []byte(secret))
	mac.Write(req)
	copy(req[22:38], mac.Sum(nil))
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(replyWait))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if !radius.IsAuthenticResponse(buf[:n], req, []byte(secret)) {
		t.Fatal("the answer is not authentic")
	}
	answer, err := radius.Parse(buf[:n], []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// What a person types at the gateway's login page reaches us as it was typed: a NUL or bytes
// that are no UTF-8 in the username or the gateway's NAS-Identifier are refused like any
// unknown user, and audited, rather than failing in the database with nothing audited.
func TestBadBytesAreRefusedAndAudited(t *testing.T) {
	e := newEnv(t)
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)

	for _, username := range []string{asa.username + "\x00", "\xff\xfe" + asa.username, "nobody\x00"} {
		answer := exchange(t, e.addr, username, password, "")
		if answer.Code != radius.CodeAccessReject {
			t.Errorf("username %q: %v", username, answer.Code)
		}
	}
	var audited int
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'remote_access.login'
		AND data->>'reason' = 'unknown_user'`).Scan(&audited); err != nil || audited != 3 {
		t.Errorf("%d of 3 logins with bad bytes audited (%v)", audited, err)
	}

	answer := exchange(t, e.addr, asa.username, password, "citrix\x00\xff")
	if answer.Code != radius.CodeAccessChallenge {
		t.Errorf("a NAS-Identifier with bad bytes: %v", answer.Code)
	}
	if got := e.lastLogin(t, asa.id); got["result"] != "challenge" || got["nas"] == nil {
		t.Errorf("audited %v", got)
	}
}

// gatedDirectory is the real directory whose password checks wait at a gate, so that a test
// sees how many checks a burst of logins gets into the directory at once.
type gatedDirectory struct {
	connectors.Directory
	entered atomic.Int64
	open    chan struct{}
}

func (g *gatedDirectory) CheckPassword(ctx context.Context, dn, pw string) (bool, error) {
	g.entered.Add(1)
	select {
	case <-g.open:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return g.Directory.CheckPassword(ctx, dn, pw)
}

// A burst of wrong passwords sent at once must not try more passwords than the lockout
// allows: each attempt is counted before its password is checked, so that the attempts in
// flight cannot all read "not locked" and each reach the directory.
func TestBurstOfGuessesStopsAtTheLockout(t *testing.T) {
	gate := &gatedDirectory{open: make(chan struct{})}
	e := newEnv(t, func(c *remoteaccess.Config) { gate.Directory, c.Directory = c.Directory, gate })
	close(gate.open) // the order's own steps pass freely
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	gate.open = make(chan struct{})
	gate.entered.Store(0)

	const guesses = 4 * maxFailures
	var wg sync.WaitGroup
	var returned atomic.Int64
	results := make(chan string, guesses)
	for i := range guesses {
		wg.Go(func() {
			defer returned.Add(1)
			res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: asa.username,
				Password: "guess-" + string(rune('a'+i))})
			if err != nil {
				t.Error(err)
			}
			results <- res.Outcome
		})
	}
	// Every guess is either refused at once or waiting in the directory.
	for deadline := time.Now().Add(replyWait); returned.Load()+gate.entered.Load() < guesses; {
		if time.Now().After(deadline) {
			t.Fatalf("%d guesses answered, %d in the directory", returned.Load(), gate.entered.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := gate.entered.Load(); n > maxFailures {
		t.Errorf("%d guesses of %d reached the directory at once; the lockout allows %d", n, guesses, maxFailures)
	}
	close(gate.open)
	wg.Wait()
	close(results)
	for outcome := range results {
		if outcome != remoteaccess.LoginRejected {
			t.Errorf("a wrong password got %s", outcome)
		}
	}
	expect(t, "the right password after the burst", e.login(t, asa.username, password), "Access-Reject")
	if got := e.lastLogin(t, asa.id); got["reason"] != "factor_locked" {
		t.Errorf("audited %v", got)
	}
}

// The same for a YubiKey, whose try is counted in the statement that accepts its OTP: a burst
// of wrong passwords, each with a fresh OTP of the key, reaches the directory no more often
// than the lockout allows, and leaves the factor locked for the right password and OTP.
func TestBurstOfYubiKeyGuessesStopsAtTheLockout(t *testing.T) {
	gate := &gatedDirectory{open: make(chan struct{})}
	e := newEnv(t, func(c *remoteaccess.Config) { gate.Directory, c.Directory = c.Directory, gate })
	close(gate.open)
	bo := e.order(t, "19500118-2046", "Bo", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &bo)
	gate.open = make(chan struct{})
	gate.entered.Store(0)

	const guesses = 4 * maxFailures
	otps := make([]string, guesses)
	for i := range otps {
		otps[i] = bo.key.press(t)
	}
	var wg sync.WaitGroup
	var returned atomic.Int64
	results := make(chan string, guesses)
	for i := range guesses {
		wg.Go(func() {
			defer returned.Add(1)
			res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: bo.username,
				Password: "guess-" + string(rune('a'+i)) + otps[i]})
			if err != nil {
				t.Error(err)
			}
			results <- res.Outcome
		})
	}
	for deadline := time.Now().Add(replyWait); returned.Load()+gate.entered.Load() < guesses; {
		if time.Now().After(deadline) {
			t.Fatalf("%d guesses answered, %d in the directory", returned.Load(), gate.entered.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := gate.entered.Load(); n > maxFailures {
		t.Errorf("%d guesses of %d reached the directory at once; the lockout allows %d", n, guesses, maxFailures)
	}
	close(gate.open)
	wg.Wait()
	close(results)
	for outcome := range results {
		if outcome != remoteaccess.LoginRejected {
			t.Errorf("a wrong password got %s", outcome)
		}
	}
	expect(t, "the right password and OTP after the burst", e.login(t, bo.username, password+bo.key.press(t)), "Access-Reject")
	if got := e.lastLogin(t, bo.id); got["reason"] != "factor_locked" {
		t.Errorf("audited %v", got)
	}
}

// A State and its code that were accepted once are worth nothing in a new request (not a
// retransmission: a new authenticator); a State answered after the grant ended, or by a
// person whose account was disabled, is refused.
func TestStateReplayAndEndedAccess(t *testing.T) {
	e := newEnv(t)
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	state := e.challenge(t, asa)
	code := e.phone(t, asa.mobile)
	expect(t, "the code", e.login(t, asa.username, code, state), "Access-Accept")
	expect(t, "the same State and code again", e.login(t, asa.username, code, state), "Access-Reject")
	if got := e.lastLogin(t, asa.id); got["reason"] != "code_used" {
		t.Errorf("audited %v", got)
	}

	state = e.challenge(t, asa)
	if _, err := e.app.Pool.Exec(t.Context(), "UPDATE accounts SET state = 'disabled' WHERE person_id = $1", asa.id); err != nil {
		t.Fatal(err)
	}
	expect(t, "the code of a disabled account", e.login(t, asa.username, e.phone(t, asa.mobile), state), "Access-Reject")
	if got := e.lastLogin(t, asa.id); got["reason"] != "account_disabled" {
		t.Errorf("audited %v", got)
	}
	expect(t, "the password of a disabled account", e.login(t, asa.username, password), "Access-Reject")
	if binds := e.binds.checks.Load(); binds != 2 {
		t.Errorf("%d password checks; a disabled account's login must not reach the directory", binds)
	}
}

// slowDirectory is the real directory whose password check takes a while of the test's
// clock, as a slow bind takes the wall clock's.
type slowDirectory struct {
	connectors.Directory
	advance func()
}

func (d *slowDirectory) CheckPassword(ctx context.Context, dn, pw string) (bool, error) {
	d.advance()
	return d.Directory.CheckPassword(ctx, dn, pw)
}

// A grant that ends while the login is worked on (during the bind) gets no Accept: an
// Accept then would carry no Session-Timeout at all (the time left is not positive, or under
// a second, which rounds to none), and the gateway's session would have no end.
func TestGrantEndingDuringTheLoginIsNoAccept(t *testing.T) {
	slow := &slowDirectory{advance: func() {}}
	e := newEnv(t, func(c *remoteaccess.Config) { slow.Directory, c.Directory = c.Directory, slow })
	karin := e.order(t, "19850113-9995", "Karin", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &karin)
	for _, left := range []time.Duration{1500 * time.Millisecond, 500 * time.Millisecond} {
		if _, err := e.app.Pool.Exec(t.Context(), `UPDATE grants SET ends_at = $2 WHERE person_id = $1 AND system_id = 'fjarratkomst'`,
			karin.id, e.app.Clock.Now().Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		slow.advance = func() { e.app.Clock.Advance(2*time.Second - left) }
		reply := e.login(t, karin.username, password+karin.key.press(t))
		if reply.Code == "Access-Accept" {
			if timeout, ok := reply.Get("Session-Timeout"); !ok || atoi(timeout) < 1 || atoi(timeout) > int(left/time.Second)+1 {
				t.Errorf("%v left of the grant: Accept with Session-Timeout %q (%v)", left, timeout, ok)
			}
		}
	}
	slow.advance = func() { e.app.Clock.Advance(3 * time.Second) }
	if _, err := e.app.Pool.Exec(t.Context(), `UPDATE grants SET ends_at = $2 WHERE person_id = $1 AND system_id = 'fjarratkomst'`,
		karin.id, e.app.Clock.Now().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	expect(t, "the grant ended during the bind", e.login(t, karin.username, password+karin.key.press(t)), "Access-Reject")
	if got := e.lastLogin(t, karin.id); got["reason"] != "no_grant" {
		t.Errorf("audited %v", got)
	}
}

// behorig killed (kill -9) while it checked a password leaves that try counted and no answer
// recorded. When such tries fill the count up to MaxFailures, the factor must be locked as
// IT can see and unlock it, not refuse every login while the person page says it is open.
func TestTriesLeftByACrashLockTheFactorForIT(t *testing.T) {
	e := newEnv(t)
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	if _, err := e.app.Pool.Exec(t.Context(), `UPDATE authenticators SET failures = $2 WHERE person_id = $1 AND kind = 'sms'`,
		asa.id, maxFailures); err != nil {
		t.Fatal(err)
	}
	expect(t, "the right password", e.login(t, asa.username, password), "Access-Reject")
	it := e.app.Actors["it-handler"]
	factors, err := e.svc.Factors(t.Context(), it, asa.id)
	if err != nil || len(factors) != 1 || !factors[0].Locked {
		t.Fatalf("IT sees %+v (%v); want the factor locked", factors, err)
	}
	if _, err := e.svc.Unlock(t.Context(), it, factors[0].ID); err != nil {
		t.Fatal(err)
	}
	e.challenge(t, asa)
}

// Logins at the same time share their account reads and records (remoteaccess's group.go):
// a person's YubiKey logins, each with the key's next OTP, are all accepted while unknown
// usernames are refused in the same reads, and each attempt is audited once.
func TestConcurrentLoginsShareReadsAndRecords(t *testing.T) {
	e := newEnv(t)
	bo := e.order(t, "19500118-2046", "Bo", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &bo)
	const n = 20
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: bo.username,
				Password: password + bo.key.press(t)})
			if err != nil || res.Outcome != remoteaccess.LoginAccepted || res.SessionTimeout <= 0 {
				t.Errorf("Bo's login: %+v, %v", res, err)
			}
		}
	})
	for g := range 3 {
		wg.Go(func() {
			for i := range n {
				res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: fmt.Sprintf("nobody-%d-%d", g, i),
					Password: password})
				if err != nil || res.Outcome != remoteaccess.LoginRejected {
					t.Errorf("an unknown user's login: %+v, %v", res, err)
				}
			}
		})
	}
	wg.Wait()
	if got := e.logins(t, bo.id); len(got) != n || got[0] != "accept/" || got[n-1] != "accept/" {
		t.Errorf("Bo's logins audited: %v", got)
	}
	var unknown int
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = 'remote_access.login'
		AND data->>'reason' = 'unknown_user' AND data->>'username' LIKE 'nobody-%'`).Scan(&unknown); err != nil || unknown != 3*n {
		t.Errorf("%d unknown users' logins audited (%v); want %d", unknown, err, 3*n)
	}
}

// A factor revoked while the login's password is checked (the grant ended, or IT took the
// key back, during the bind): the login is refused and recorded as refused, though its
// password and OTP were right. The record reads the factor again, held until it commits;
// before, the gateway got an Accept with a session as long as the grant read at the start.
func TestFactorRevokedDuringTheLoginIsRefused(t *testing.T) {
	gate := &gatedDirectory{open: make(chan struct{})}
	e := newEnv(t, func(c *remoteaccess.Config) { gate.Directory, c.Directory = c.Directory, gate })
	close(gate.open)
	bo := e.order(t, "19500118-2046", "Bo", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &bo)
	gate.open = make(chan struct{})
	gate.entered.Store(0)

	result := make(chan remoteaccess.LoginResult, 1)
	go func() {
		res, err := e.svc.Login(t.Context(), remoteaccess.LoginAttempt{Client: "vpn", Username: bo.username,
			Password: password + bo.key.press(t)})
		if err != nil {
			t.Error(err)
		}
		result <- res
	}()
	for deadline := time.Now().Add(replyWait); gate.entered.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the login never reached the password check")
		}
	}
	if _, err := e.app.Pool.Exec(t.Context(), "UPDATE authenticators SET revoked_at = now() WHERE person_id = $1", bo.id); err != nil {
		t.Fatal(err)
	}
	close(gate.open)
	if res := <-result; res.Outcome != remoteaccess.LoginRejected || res.SessionTimeout != 0 {
		t.Fatalf("a login whose factor was revoked during the password check got %+v", res)
	}
	if got := e.lastLogin(t, bo.id); got["result"] != "reject" || got["reason"] != remoteaccess.ReasonNoFactor {
		t.Errorf("audited %v", got)
	}
}
