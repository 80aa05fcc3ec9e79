package radiusserver_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/radiusserver"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	secret   = "gateway-secret-of-thirty-two-chars"
	password = "Sommar-Regn-777"
	// maxFailures is low so that the lockout test is short.
	maxFailures = 3
	replyWait   = 5 * time.Second
	// dropWait is how long to wait for the answer that a dropped request never gets.
	dropWait = time.Second
)

// env is a running behorig with remote access and its RADIUS server on a free port of
// 127.0.0.1, where radclient is the gateway "vpn".
type env struct {
	app    *testapp.App
	svc    *remoteaccess.Service
	cfg    remoteaccess.Config // svc's, for another instance
	outbox sms.Outbox
	addr   string
	// typed is every User-Password sent, to be sure none reached the audit log.
	typed []string
	// binds counts the password checks that reached the directory.
	binds *countingDirectory
}

type countingDirectory struct {
	connectors.Directory
	checks atomic.Int64
}

func (c *countingDirectory) CheckPassword(ctx context.Context, dn, pw string) (bool, error) {
	c.checks.Add(1)
	return c.Directory.CheckPassword(ctx, dn, pw)
}

// errorLog fails the test when the server logs an error: an error is answered with the same
// Reject as a wrong password, so a test expecting a Reject would not see it otherwise.
type errorLog struct{ t *testing.T }

func (l errorLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "level=ERROR") {
		l.t.Errorf("the RADIUS server logged: %s", p)
	}
	return len(p), nil
}

// newEnv starts the env; tune, when given, changes remote access's config.
func newEnv(t *testing.T, tune ...func(*remoteaccess.Config)) *env {
	t.Helper()
	app := testapp.New(t, testapp.Options{})
	e := &env{app: app, outbox: sms.Outbox{DB: app.Pool}}
	cfg := remoteaccess.Config{DB: app.Pool, Box: app.Box, Audit: app.Audit, Directory: app.Directory,
		SMS: e.outbox, Clock: app.Clock, MaxFailures: maxFailures, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range tune {
		f(&cfg)
	}
	e.binds = &countingDirectory{Directory: cfg.Directory}
	cfg.Directory = e.binds
	svc, err := remoteaccess.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.cfg = svc, cfg
	server, err := radiusserver.New(config.RADIUS{Clients: []config.RADIUSClient{{Name: "vpn", Address: "127.0.0.1", Secret: secret}}},
		svc, slog.New(slog.NewTextHandler(errorLog{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("radius server: %v", err)
		}
	})
	e.addr = conn.LocalAddr().String()
	return e
}

// person is someone with an account in the directory and the password set.
type person struct {
	id, username, dn, mobile string
	key                      *key
}

// order submits Norrköping's remote-access order for a new person with the factor, has it
// approved, the certificate verified and provisioned, and sets the person's password.
func (e *env) order(t *testing.T, pnr, given, surname, factor string) person {
	t.Helper()
	ctx := t.Context()
	in := provisioning.SubmitInput{Kind: provisioning.KindRemoteAccess,
		Person: provisioning.PersonInput{Personnummer: pnr, GivenName: given, Surname: surname, EmployeeType: "employee",
			Mobile: "070-174 06 05"},
		Unit: "5110", Approver: "manager", RemoteFactor: factor, Description: "Journalföring hemifrån under jourveckor",
		Attachments: []provisioning.Upload{{Name: "intyg.pdf", Data: []byte("%PDF-1.4\n% intyg\n")}}}
	sub, err := e.app.Service.Submit(ctx, e.app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Service.Approve(ctx, e.app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	v := e.app.WaitStatus(t, sub.ID, provisioning.StatusAwaitingCertificate)
	if _, err := e.app.Service.VerifyCertificate(ctx, e.app.Actors["it-handler"], sub.ID, v.Attachments[0].ID); err != nil {
		t.Fatal(err)
	}
	e.app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	return e.withPassword(t, v.Person.ID)
}

func (e *env) withPassword(t *testing.T, personID string) person {
	t.Helper()
	p, err := e.app.Service.Person(t.Context(), e.app.Actors["it-handler"], personID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Accounts) != 1 || p.Accounts[0].DN == "" {
		t.Fatalf("accounts of %s: %+v", personID, p.Accounts)
	}
	if err := e.app.Directory.SetPassword(t.Context(), p.Accounts[0].DN, password); err != nil {
		t.Fatal(err)
	}
	return person{id: personID, username: p.Accounts[0].Username, dn: p.Accounts[0].DN, mobile: p.Mobile}
}

// key is a YubiKey as the personalization tool programmed it.
type key struct {
	serial    int64
	publicID  string
	privateID [6]byte
	aesKey    []byte
	use       uint8
}

// handOutKey imports a new key and IT hands it out to the person.
func (e *env) handOutKey(t *testing.T, p *person) {
	t.Helper()
	e.handOut(t, p, &key{serial: 5550001, publicID: "vvcccccdhlbd", privateID: [6]byte{0xa0, 0x9a, 0xa8, 0xbf, 0x3d, 0x01},
		aesKey: []byte("sixteen byte key")})
}

// handOut imports k and IT hands it out to the person.
func (e *env) handOut(t *testing.T, p *person, k *key) {
	t.Helper()
	line := fmt.Sprintf("%d,%s,%x,%x,,2026-12-01T08:00:00,\n", k.serial, k.publicID, k.privateID, k.aesKey)
	if _, err := e.svc.Importer().Import(t.Context(), "cli", strings.NewReader(line)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.HandOut(t.Context(), e.app.Actors["it-handler"], p.id, fmt.Sprint(k.serial), ""); err != nil {
		t.Fatal(err)
	}
	p.key = k
}

// press types the key's next OTP.
func (k *key) press(t *testing.T) string {
	t.Helper()
	k.use++
	otp, err := yubiotp.Encode(k.publicID, k.aesKey, yubiotp.Token{PrivateID: k.privateID, Counter: 1, Use: k.use, Timestamp: 0x1234, Random: 0xbeef})
	if err != nil {
		t.Fatal(err)
	}
	return otp
}

const withMA = "Message-Authenticator = 0x00"

// login sends username and password as the gateway does, with Message-Authenticator, and
// State when it answers a challenge.
func (e *env) login(t *testing.T, username, pw string, state ...string) testenv.RadiusReply {
	t.Helper()
	attrs := []string{fmt.Sprintf("User-Name = %q", username), fmt.Sprintf("User-Password = %q", pw), `NAS-Identifier = "citrix-1"`, withMA}
	for _, s := range state {
		attrs = append(attrs, "State = "+s)
	}
	e.typed = append(e.typed, pw)
	return testenv.Radclient(t, e.addr, secret, replyWait, attrs...)
}

// nothingTypedAudited fails when a password, OTP or code sent is anywhere in the audit log.
func (e *env) nothingTypedAudited(t *testing.T) {
	t.Helper()
	if found := e.app.InClear(t, "audit_events", e.typed...); len(found) > 0 {
		t.Errorf("what the person typed is in the audit log: %v", found)
	}
}

func expect(t *testing.T, what string, reply testenv.RadiusReply, code string) {
	t.Helper()
	if reply.Code != code {
		t.Fatalf("%s: got %q, want %s:\n%s", what, reply.Code, code, reply.Output)
	}
	if code != "" && (len(reply.Attributes) == 0 || reply.Attributes[0].Name != "Message-Authenticator") {
		t.Fatalf("%s: Message-Authenticator is not the first attribute:\n%s", what, reply.Output)
	}
}

var codeInText = regexp.MustCompile(`^([0-9]{6}) `)

// phone reads the newest code sent to the mobile from the SMS outbox, as the person reads
// their phone.
func (e *env) phone(t *testing.T, mobile string) string {
	t.Helper()
	m, ok, err := e.outbox.Latest(t.Context(), mobile)
	if err != nil || !ok {
		t.Fatalf("no SMS to %s: %v", mobile, err)
	}
	code := codeInText.FindStringSubmatch(m.Text)
	if code == nil {
		t.Fatalf("no code in the SMS %q", m.Text)
	}
	return code[1]
}

func (e *env) smsCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.app.Pool.QueryRow(t.Context(), "SELECT count(*) FROM sms_outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// challenge logs in with the password and returns the State of the SMS challenge.
func (e *env) challenge(t *testing.T, p person) string {
	t.Helper()
	reply := e.login(t, p.username, password)
	expect(t, "password of an SMS user", reply, "Access-Challenge")
	state, ok := reply.Get("State")
	if !ok {
		t.Fatalf("a challenge without State:\n%s", reply.Output)
	}
	if msg, _ := reply.Get("Reply-Message"); !strings.Contains(msg, "SMS") {
		t.Errorf("the challenge says %q", msg)
	}
	return state
}

// logins are the audit events of the person's logins, oldest first, as "result/reason".
func (e *env) logins(t *testing.T, personID string) []string {
	t.Helper()
	rows, err := e.app.Pool.Query(t.Context(), `SELECT data->>'result' || '/' || coalesce(data->>'reason', '')
		FROM audit_events WHERE action = 'remote_access.login' AND person_id = $1 ORDER BY id`, personID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// The RADIUS tests, with FreeRADIUS's radclient as the gateway against our server:
// PAP + YubiKey accepted, a replayed OTP rejected; the SMS challenge with the code from the
// outbox accepted, a wrong and an expired code rejected; requests without
// Message-Authenticator or under a wrong secret dropped; a locked factor, a person without a
// remote-access grant and one whose grant was ended rejected. One behorig for all of them:
// each step uses its own person or follows from the one before.
func TestRadclient(t *testing.T) {
	e := newEnv(t)
	karin := e.order(t, "19850113-9995", "Karin", "Ek", provisioning.RemoteFactorYubiKey)
	e.handOutKey(t, &karin)
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)

	t.Run("PAP and YubiKey accepted, replay rejected", func(t *testing.T) {
		otp := karin.key.press(t)
		reply := e.login(t, karin.username, password+otp)
		expect(t, "password and OTP", reply, "Access-Accept")
		timeout, _ := reply.Get("Session-Timeout")
		if timeout != fmt.Sprint(int((12 * time.Hour).Seconds())) {
			t.Errorf("Session-Timeout %q; an open-ended grant's session lasts a working day", timeout)
		}
		expect(t, "the same OTP again", e.login(t, karin.username, password+otp), "Access-Reject")
		expect(t, "the next OTP", e.login(t, karin.username, password+karin.key.press(t)), "Access-Accept")
		expect(t, "a wrong password with a fresh OTP", e.login(t, karin.username, "Vinter-Sol-888"+karin.key.press(t)), "Access-Reject")
		expect(t, "the password alone", e.login(t, karin.username, password), "Access-Reject")
		// An OTP that is not the key's never gets as far as the directory.
		binds := e.binds.checks.Load()
		forged := []byte(karin.key.press(t))
		forged[len(forged)-1] = "cbdefghijklnrtuv"[(strings.IndexByte("cbdefghijklnrtuv", forged[len(forged)-1])+1)%16]
		expect(t, "the password with a forged OTP", e.login(t, karin.username, password+string(forged)), "Access-Reject")
		if n := e.binds.checks.Load() - binds; n != 0 {
			t.Errorf("%d password checks for a forged OTP", n)
		}
		got := strings.Join(e.logins(t, karin.id), " ")
		if got != "accept/ reject/otp_replayed accept/ reject/wrong_password reject/otp_missing reject/otp_invalid" {
			t.Errorf("audited logins: %s", got)
		}
	})

	t.Run("SMS challenge, code from the outbox accepted", func(t *testing.T) {
		state := e.challenge(t, asa)
		if len(state) < 2+2*16 {
			t.Errorf("State %s is shorter than 16 bytes", state)
		}
		reply := e.login(t, asa.username, e.phone(t, asa.mobile), state)
		expect(t, "the code with its State", reply, "Access-Accept")
		if _, ok := reply.Get("Session-Timeout"); !ok {
			t.Errorf("an Accept without Session-Timeout:\n%s", reply.Output)
		}
		expect(t, "the code again", e.login(t, asa.username, e.phone(t, asa.mobile), state), "Access-Reject")
	})

	t.Run("wrong code", func(t *testing.T) {
		state := e.challenge(t, asa)
		code := e.phone(t, asa.mobile)
		wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
		expect(t, "a wrong code", e.login(t, asa.username, wrong, state), "Access-Reject")
		// The right code still works within its tries.
		expect(t, "then the right one", e.login(t, asa.username, code, state), "Access-Accept")
	})

	t.Run("expired code", func(t *testing.T) {
		state := e.challenge(t, asa)
		code := e.phone(t, asa.mobile)
		e.app.Clock.Advance(5*time.Minute + time.Second)
		expect(t, "the code after five minutes", e.login(t, asa.username, code, state), "Access-Reject")
	})

	t.Run("retransmission gets the same answer and no second SMS", func(t *testing.T) {
		before := e.smsCount(t)
		req := signedRequest(t, asa.username, password)
		first, again := exchangeTwice(t, e.addr, req)
		if first.Code != radius.CodeAccessChallenge || string(first.Get(rfc2865.State_Type)) != string(again.Get(rfc2865.State_Type)) ||
			again.Code != first.Code {
			t.Fatalf("answers %v and %v with States %x, %x", first.Code, again.Code, first.Get(rfc2865.State_Type), again.Get(rfc2865.State_Type))
		}
		if n := e.smsCount(t) - before; n != 1 {
			t.Errorf("%d SMS sent for one request and its retransmission", n)
		}
	})

	t.Run("no Message-Authenticator and wrong secret dropped", func(t *testing.T) {
		before := len(e.logins(t, karin.id))
		reply := testenv.Radclient(t, e.addr, secret, dropWait, fmt.Sprintf("User-Name = %q", karin.username),
			fmt.Sprintf("User-Password = %q", password+karin.key.press(t)))
		expect(t, "without Message-Authenticator", reply, "")
		reply = testenv.Radclient(t, e.addr, "another-gateway-secret-32-chars!", dropWait, fmt.Sprintf("User-Name = %q", karin.username),
			fmt.Sprintf("User-Password = %q", password+karin.key.press(t)), withMA)
		expect(t, "under another secret", reply, "")
		if after := len(e.logins(t, karin.id)); after != before {
			t.Errorf("dropped requests were decided: %d login events, before %d", after, before)
		}
	})

	t.Run("locked factor rejected until IT unlocks it", func(t *testing.T) {
		for i := range maxFailures {
			expect(t, fmt.Sprintf("wrong password %d", i+1), e.login(t, asa.username, "Vinter-Sol-888"), "Access-Reject")
		}
		sent := e.smsCount(t)
		expect(t, "the right password on a locked factor", e.login(t, asa.username, password), "Access-Reject")
		if e.smsCount(t) != sent {
			t.Error("a code was sent for a locked factor")
		}
		factors, err := e.svc.Factors(t.Context(), e.app.Actors["it-handler"], asa.id)
		if err != nil || len(factors) != 1 || !factors[0].Locked {
			t.Fatalf("factors %+v, %v; want the sms factor locked", factors, err)
		}
		logins := e.logins(t, asa.id)
		if got := logins[len(logins)-1]; got != "reject/factor_locked" {
			t.Errorf("the last login is audited as %s", got)
		}
		if _, err := e.svc.Unlock(t.Context(), e.app.Actors["it-handler"], factors[0].ID); err != nil {
			t.Fatal(err)
		}
		state := e.challenge(t, asa)
		expect(t, "after IT's unlock", e.login(t, asa.username, e.phone(t, asa.mobile), state), "Access-Accept")
	})

	t.Run("no remote-access grant rejected", func(t *testing.T) {
		sub, err := e.app.Service.Submit(t.Context(), e.app.Actors["requester"], provisioning.SubmitInput{
			Person: provisioning.PersonInput{Personnummer: "20010101-2383", GivenName: "Bo", Surname: "Berg", EmployeeType: "employee",
				Mobile: "070-174 06 05"},
			Unit: "5110", Items: []provisioning.ItemInput{{System: "meddix"}}, Approver: "manager"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Service.Approve(t.Context(), e.app.Actors["manager"], sub.ID); err != nil {
			t.Fatal(err)
		}
		v := e.app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
		bo := e.withPassword(t, v.Person.ID)
		// Even a factor (made by hand on his other grant) does not make up for the grant.
		if _, err := e.app.Pool.Exec(t.Context(), `INSERT INTO authenticators (person_id, grant_id, kind, mobile)
			SELECT person_id, id, 'sms', '+46701740605' FROM grants WHERE person_id = $1`, bo.id); err != nil {
			t.Fatal(err)
		}
		sent := e.smsCount(t)
		expect(t, "right password, no grant", e.login(t, bo.username, password), "Access-Reject")
		if e.smsCount(t) != sent {
			t.Error("a code was sent to a person without remote access")
		}
		if got := e.logins(t, bo.id); len(got) != 1 || got[0] != "reject/no_grant" {
			t.Errorf("audited logins: %v", got)
		}
	})

	t.Run("Session-Timeout no later than the grant's end", func(t *testing.T) {
		end := e.app.Clock.Now().Add(time.Hour)
		if _, err := e.app.Pool.Exec(t.Context(), `UPDATE grants SET ends_at = $2 WHERE person_id = $1 AND system_id = 'fjarratkomst'`,
			karin.id, end); err != nil {
			t.Fatal(err)
		}
		reply := e.login(t, karin.username, password+karin.key.press(t))
		expect(t, "password and OTP", reply, "Access-Accept")
		timeout, _ := reply.Get("Session-Timeout")
		if n := atoi(timeout); n > 3600 || n < 3500 {
			t.Errorf("Session-Timeout %q with the grant ending in an hour", timeout)
		}
	})

	t.Run("after revocation rejected", func(t *testing.T) {
		var grantID string
		if err := e.app.Pool.QueryRow(t.Context(), `SELECT id::text FROM grants WHERE person_id = $1 AND system_id = 'fjarratkomst'
			AND state = 'active'`, karin.id).Scan(&grantID); err != nil {
			t.Fatal(err)
		}
		end := provisioning.SubmitInput{Kind: provisioning.KindChange, Person: provisioning.PersonInput{Personnummer: "19850113-9995"},
			Unit: "5110", End: []provisioning.EndInput{{Grant: grantID}}, Approver: "manager"}
		sub, err := e.app.Service.Submit(t.Context(), e.app.Actors["requester"], end)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.app.Service.Approve(t.Context(), e.app.Actors["manager"], sub.ID); err != nil {
			t.Fatal(err)
		}
		// At once: the approval revoked the factor, whatever the directory's job does later.
		expect(t, "password and a fresh OTP after the end", e.login(t, karin.username, password+karin.key.press(t)), "Access-Reject")
	})

	e.nothingTypedAudited(t)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// signedRequest is an Access-Request as a gateway sends it, with Message-Authenticator.
func signedRequest(t *testing.T, username, pw string) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	p.Add(80, make([]byte, 16))
	rfc2865.UserName_SetString(p, username)
	rfc2865.UserPassword_SetString(p, pw)
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(md5.New, []byte(secret))
	mac.Write(raw)
	copy(raw[22:38], mac.Sum(nil))
	return raw
}

// exchangeTwice sends the request and then again from the same socket, as a gateway
// retransmits when the answer is slow, and returns both answers.
func exchangeTwice(t *testing.T, addr string, req []byte) (first, again *radius.Packet) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() *radius.Packet {
		conn.SetReadDeadline(time.Now().Add(replyWait))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if !radius.IsAuthenticResponse(buf[:n], req, []byte(secret)) {
			t.Fatal("the answer is not authentic")
		}
		p, err := radius.Parse(buf[:n], []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 2 {
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	return read(), read()
}

// flakyDirectory is the real directory whose password checks fail while down.
type flakyDirectory struct {
	connectors.Directory
	down atomic.Bool
}

func (f *flakyDirectory) CheckPassword(ctx context.Context, dn, pw string) (bool, error) {
	if f.down.Load() {
		return false, errors.New("ldap: connection refused")
	}
	return f.Directory.CheckPassword(ctx, dn, pw)
}

// flakySMS is the outbox, with every gateway failing while down.
type flakySMS struct {
	connectors.SMSSender
	down atomic.Bool
}

func (f *flakySMS) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	if f.down.Load() {
		return connectors.SMSReceipt{}, fmt.Errorf("46elks: 503: %w", connectors.ErrSMSUnavailable)
	}
	return f.SMSSender.Send(ctx, m)
}

// failures is the count on the person's live sms factor.
func (e *env) failures(t *testing.T, personID string) int {
	t.Helper()
	var n int
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT failures FROM authenticators WHERE person_id = $1 AND kind = 'sms'
		AND revoked_at IS NULL`, personID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) lastLogin(t *testing.T, personID string) map[string]any {
	t.Helper()
	var data map[string]any
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT data FROM audit_events WHERE action = 'remote_access.login' AND person_id = $1
		ORDER BY id DESC LIMIT 1`, personID).Scan(&data); err != nil {
		t.Fatal(err)
	}
	return data
}

// When the directory or every SMS gateway is down the login is refused (with every gateway
// down, the Reject says that the code could not be sent), the cause is audited, and no failure is counted against the person; wrong passwords count
// until a login succeeds; a State is worth nothing to another person; the SMS limit per
// hour holds.
func TestRadclientWhenOthersFail(t *testing.T) {
	dir := &flakyDirectory{}
	sender := &flakySMS{}
	e := newEnv(t, func(c *remoteaccess.Config) {
		dir.Directory, c.Directory = c.Directory, dir
		sender.SMSSender, c.SMS = c.SMS, sender
		c.SMSPerHour, c.MaxFailures = 3, 10
	})
	asa := e.order(t, "19500118-2046", "Åsa", "Lind", provisioning.RemoteFactorSMS)
	bo := e.order(t, "20010101-2383", "Bo", "Berg", provisioning.RemoteFactorSMS)

	dir.down.Store(true)
	expect(t, "directory down", e.login(t, asa.username, password), "Access-Reject")
	dir.down.Store(false)
	if got := e.lastLogin(t, asa.id); got["reason"] != "directory_unavailable" || got["client"] != "vpn" || got["nas"] != "citrix-1" ||
		got["factor"] != "sms" || got["username"] != asa.username {
		t.Errorf("audited %v", got)
	}

	sender.down.Store(true)
	down := e.login(t, asa.username, password)
	expect(t, "every SMS gateway down", down, "Access-Reject")
	sender.down.Store(false)
	if msg, _ := down.Get("Reply-Message"); !strings.Contains(msg, "kunde inte skickas med SMS") {
		t.Errorf("with every SMS gateway down the person reads %q", msg)
	}
	if got := e.lastLogin(t, asa.id); got["reason"] != "sms_unavailable" {
		t.Errorf("audited %v", got)
	}
	if n := e.smsCount(t); n != 0 {
		t.Errorf("%d SMS in the outbox while the gateways were down", n)
	}
	if n := e.failures(t, asa.id); n != 0 {
		t.Errorf("%d failures counted for others' outages", n)
	}

	for range 2 {
		wrong := e.login(t, asa.username, "Vinter-Sol-888")
		expect(t, "wrong password", wrong, "Access-Reject")
		if msg, _ := wrong.Get("Reply-Message"); strings.Contains(msg, "SMS") {
			t.Errorf("a wrong password reads %q: only the right one may learn that the SMS failed", msg)
		}
	}
	if n := e.failures(t, asa.id); n != 2 {
		t.Errorf("%d failures after two wrong passwords", n)
	}
	// The username as the person may type it at the gateway.
	state := e.challenge(t, person{username: strings.ToUpper(asa.username)})
	expect(t, "the code", e.login(t, asa.username, e.phone(t, asa.mobile), state), "Access-Accept")
	if n := e.failures(t, asa.id); n != 0 {
		t.Errorf("%d failures after a login succeeded", n)
	}

	state = e.challenge(t, asa)
	reply := e.login(t, bo.username, e.phone(t, asa.mobile), state)
	expect(t, "Åsa's State and code under Bo's username", reply, "Access-Reject")
	if got := e.lastLogin(t, bo.id); got["reason"] != "challenge_of_another_person" {
		t.Errorf("audited %v", got)
	}

	expect(t, "an unknown user", e.login(t, "nobody", password), "Access-Reject")
	var unknown string
	if err := e.app.Pool.QueryRow(t.Context(), `SELECT data->>'reason' FROM audit_events WHERE action = 'remote_access.login'
		AND data->>'username' = 'nobody' AND person_id IS NULL`).Scan(&unknown); err != nil || unknown != "unknown_user" {
		t.Errorf("the unknown user's login is audited as %q (%v)", unknown, err)
	}

	e.challenge(t, asa) // the third code this hour
	sent := e.smsCount(t)
	expect(t, "a fourth code within the hour", e.login(t, asa.username, password), "Access-Reject")
	if got := e.lastLogin(t, asa.id); got["reason"] != "too_many_codes" || e.smsCount(t) != sent {
		t.Errorf("audited %v, %d SMS sent", got, e.smsCount(t)-sent)
	}
	e.nothingTypedAudited(t)
}
