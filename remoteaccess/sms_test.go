package remoteaccess_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/remoteaccess"
)

// A number PTS reserves for fiction: never a real person's.
const mobile = "+46701740605"

// smsSetup is a running behorig, a person, and the remote-access service sending through
// sender (the SMS outbox when nil).
type smsSetup struct {
	app    *testapp.App
	svc    *remoteaccess.Service
	outbox sms.Outbox
	person string
}

func newSMSSetup(t *testing.T, sender connectors.SMSSender, tune func(*remoteaccess.Config)) *smsSetup {
	t.Helper()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &smsSetup{app: app, outbox: sms.Outbox{DB: app.Pool}}
	if sender == nil {
		sender = s.outbox
	}
	cfg := remoteaccess.Config{DB: app.Pool, Box: app.Box, Audit: app.Audit, Directory: app.Directory, SMS: sender,
		Clock: app.Clock, Logger: quiet}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := remoteaccess.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.svc = svc
	s.person = s.newPerson(t)
	return s
}

func (s *smsSetup) newPerson(t *testing.T) string {
	t.Helper()
	var id string
	if err := s.app.Pool.QueryRow(context.Background(), `INSERT INTO persons (personnummer_enc, personnummer_index, birth_date,
			given_name, surname, mobile, employee_type)
		VALUES (sha256(random()::text::bytea), sha256(random()::text::bytea), '1980-01-01', 'Fia', 'Fjärr', $1, 'employee')
		RETURNING id`, mobile).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

var codeInText = regexp.MustCompile(`^([0-9]{6}) är din kod`)

// phone returns the code of the newest SMS to the mobile, as the person reads it.
func (s *smsSetup) phone(t *testing.T) string {
	t.Helper()
	m, ok, err := s.outbox.Latest(context.Background(), mobile)
	if err != nil || !ok {
		t.Fatalf("no SMS to %s: %v", mobile, err)
	}
	return codeFrom(t, m.Text)
}

func codeFrom(t *testing.T, text string) string {
	t.Helper()
	match := codeInText.FindStringSubmatch(text)
	if match == nil {
		t.Fatalf("no code in the SMS %q", text)
	}
	return match[1]
}

// wrong is a code that is not code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestSMSCodeWorksOnceForItsGatewayOnly(t *testing.T) {
	s := newSMSSetup(t, nil, nil)
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	if who, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "citrix", code); err != nil || ok || who != "" || reason != remoteaccess.ReasonUnknownChallenge {
		t.Errorf("another gateway's check: person %q ok %v reason %q err %v; want unknown_challenge", who, ok, reason, err)
	}
	if _, ok, reason, _ := s.svc.CheckCode(ctx, state, remoteaccess.PurposePassword, "vpn", code); ok || reason != remoteaccess.ReasonUnknownChallenge {
		t.Errorf("the password page's check: ok %v reason %q; want unknown_challenge", ok, reason)
	}
	who, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", code)
	if err != nil || !ok || who != s.person {
		t.Fatalf("the right code: person %q ok %v reason %q err %v", who, ok, reason, err)
	}
	if _, ok, reason, _ := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", code); ok || reason != remoteaccess.ReasonCodeUsed {
		t.Errorf("the code again: ok %v reason %q; want code_used", ok, reason)
	}
}

func TestSMSCodeIsKeptOnlyAsAnHMAC(t *testing.T) {
	s := newSMSSetup(t, nil, nil)
	state, err := s.svc.SendCode(context.Background(), s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	if found := s.app.InClear(t, "sms_challenges", code, string(state)); len(found) > 0 {
		t.Errorf("sms_challenges holds in clear: %v", found)
	}
}

func TestSMSCodeExpires(t *testing.T) {
	s := newSMSSetup(t, nil, func(c *remoteaccess.Config) { c.CodeTTL = 2 * time.Minute })
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	if m, _, _ := s.outbox.Latest(ctx, mobile); !regexp.MustCompile(`gäller i 2 minuter`).MatchString(m.Text) {
		t.Errorf("the SMS %q does not say how long the code works", m.Text)
	}
	s.app.Clock.Advance(2*time.Minute + time.Second)
	who, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", code)
	if err != nil || ok || reason != remoteaccess.ReasonCodeExpired || who != s.person {
		t.Errorf("an expired code: person %q ok %v reason %q err %v; want code_expired", who, ok, reason, err)
	}
}

func TestSMSCodeHasThreeTries(t *testing.T) {
	s := newSMSSetup(t, nil, nil)
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	for i := range 3 {
		who, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", wrong(code))
		if err != nil || ok || reason != remoteaccess.ReasonWrongCode || who != s.person {
			t.Fatalf("wrong code %d: person %q ok %v reason %q err %v", i+1, who, ok, reason, err)
		}
	}
	if _, ok, reason, _ := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", code); ok || reason != remoteaccess.ReasonTooManyTries {
		t.Errorf("the right code after three wrong: ok %v reason %q; want too_many_tries", ok, reason)
	}
}

func TestSMSCodeTypedWithSpacesIsAccepted(t *testing.T) {
	s := newSMSSetup(t, nil, nil)
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposePassword, "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	if _, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposePassword, "browser-1", code[:3]+" "+code[3:]); !ok {
		t.Errorf("the code as \"123 456\": reason %q err %v", reason, err)
	}
}

// Concurrent checks of the right code (two replicas, a gateway's retries): one wins.
func TestSMSCodeIsAcceptedOnceUnderConcurrentChecks(t *testing.T) {
	s := newSMSSetup(t, nil, func(c *remoteaccess.Config) { c.CodeTries = 10 })
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	code := s.phone(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 8 {
		wg.Go(func() {
			_, ok, _, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", code)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("the code was accepted %d times, want once", accepted)
	}
}

func TestSMSSendsArePerPersonRateLimited(t *testing.T) {
	s := newSMSSetup(t, nil, func(c *remoteaccess.Config) { c.SMSPerHour = 3 })
	ctx := context.Background()
	// Concurrent sends (two gateways, two replicas) cannot pass the limit together.
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, limited := 0, 0
	for range 6 {
		wg.Go(func() {
			_, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				sent++
			case errors.Is(err, remoteaccess.ErrTooManyCodes):
				limited++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	list, err := s.outbox.List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if sent != 3 || limited != 3 || len(list) != 3 {
		t.Errorf("%d sent, %d refused, %d in the outbox; want 3, 3, 3", sent, limited, len(list))
	}
	// Another person is not limited by this one.
	if _, err := s.svc.SendCode(ctx, s.newPerson(t), mobile, remoteaccess.PurposePassword, "browser-1"); err != nil {
		t.Errorf("another person's code: %v", err)
	}
	s.app.Clock.Advance(time.Hour)
	if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn"); err != nil {
		t.Errorf("an hour later: %v", err)
	}
	// A day on, a send clears the person's old challenges.
	s.app.Clock.Advance(24 * time.Hour)
	if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn"); err != nil {
		t.Fatal(err)
	}
	var kept int
	s.app.Pool.QueryRow(ctx, "SELECT count(*) FROM sms_challenges WHERE person_id = $1", s.person).Scan(&kept)
	if kept != 1 {
		t.Errorf("%d challenges kept a day on, want the new one only", kept)
	}
}

// The failover test: the first gateway (46elks' wire format) fails, the second
// (Twilio's) delivers, and the code from the phone is accepted.
func TestSMSCodeFailsOverFrom46elksToTwilio(t *testing.T) {
	elks, twilio := testenv.FortySixElks(t), testenv.Twilio(t)
	elks.Fail(http.StatusServiceUnavailable)
	s := newSMSSetup(t, failover(elks, twilio), nil)
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	got := twilio.Messages()
	if elks.Attempts() != 1 || len(got) != 1 || got[0].To != mobile {
		t.Fatalf("46elks asked %d times; Twilio got %+v", elks.Attempts(), got)
	}
	if who, ok, reason, err := s.svc.CheckCode(ctx, state, remoteaccess.PurposeRADIUS, "vpn", codeFrom(t, got[0].Text)); !ok || who != s.person {
		t.Errorf("the code Twilio delivered: ok %v reason %q err %v", ok, reason, err)
	}
	var provider string
	s.app.Pool.QueryRow(ctx, "SELECT provider FROM sms_challenges WHERE person_id = $1", s.person).Scan(&provider)
	if provider != "twilio" {
		t.Errorf("the challenge names provider %q, want twilio", provider)
	}
}

// The other failover test: both gateways down (one refusing, one hanging) → the send
// says so and no code is valid: the challenge is gone, and the code a gateway was asked to
// send matches nothing.
func TestSMSCodeWithEveryGatewayDownLeavesNoCodeValid(t *testing.T) {
	elks, twilio := testenv.FortySixElks(t), testenv.Twilio(t)
	elks.Fail(http.StatusInternalServerError)
	twilio.Stall()
	s := newSMSSetup(t, failover(elks, twilio), nil)
	ctx := context.Background()
	state, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn")
	if !errors.Is(err, connectors.ErrSMSUnavailable) || state != nil {
		t.Fatalf("SendCode with both gateways down: state %x, err %v; want ErrSMSUnavailable", state, err)
	}
	if elks.Attempts() != 1 || twilio.Attempts() != 1 {
		t.Errorf("46elks asked %d times, Twilio %d; want once each", elks.Attempts(), twilio.Attempts())
	}
	var left int
	s.app.Pool.QueryRow(ctx, "SELECT count(*) FROM sms_challenges WHERE person_id = $1", s.person).Scan(&left)
	if left != 0 {
		t.Errorf("%d challenges left behind", left)
	}
	// A failed send does not use up the person's codes: the next one goes out once a
	// gateway is back.
	elks.Fail(0)
	if _, err := s.svc.SendCode(ctx, s.person, mobile, remoteaccess.PurposeRADIUS, "vpn"); err != nil {
		t.Errorf("with 46elks back: %v", err)
	}
}

func TestSMSCodeTextIsOneGSM7Part(t *testing.T) {
	s := newSMSSetup(t, nil, func(c *remoteaccess.Config) { c.CodeTTL = 10 * time.Minute })
	ctx := context.Background()
	for _, purpose := range []string{remoteaccess.PurposeRADIUS, remoteaccess.PurposePassword} {
		if _, err := s.svc.SendCode(ctx, s.person, mobile, purpose, "c"); err != nil {
			t.Fatal(err)
		}
		m, _, _ := s.outbox.Latest(ctx, mobile)
		if n := len([]rune(m.Text)); n > 160 {
			t.Errorf("%s: %d characters: %q", purpose, n, m.Text)
		}
		for _, r := range m.Text {
			if !isGSM7(r) {
				t.Errorf("%s: %q is outside GSM-7 and makes the SMS UCS-2: %q", purpose, r, m.Text)
			}
		}
	}
}

// isGSM7 tells whether r is in the GSM 03.38 default alphabet (without the extension table).
func isGSM7(r rune) bool {
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	for _, b := range basic {
		if b == r {
			return true
		}
	}
	return false
}

func TestSMSSendRefusesWhatIsNotAMobile(t *testing.T) {
	s := newSMSSetup(t, nil, nil)
	for _, bad := range []string{"0701740605", "+46 70 174 06 05", "", "+4670174060x"} {
		if _, err := s.svc.SendCode(context.Background(), s.person, bad, remoteaccess.PurposeRADIUS, "vpn"); err == nil {
			t.Errorf("SendCode to %q: no error", bad)
		}
	}
	if list, _ := s.outbox.List(context.Background(), 10); len(list) != 0 {
		t.Errorf("sent %d SMS to numbers that are not E.164", len(list))
	}
}

func failover(first, second *testenv.SMSGateway) connectors.SMSSender {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return sms.Failover{Logger: quiet, Gateways: []sms.Gateway{
		{Name: "46elks", Sender: sms.FortySixElks{URL: first.URL, Username: first.Username, Password: first.Password,
			From: "Behorig", Timeout: 2 * time.Second}},
		{Name: "twilio", Sender: sms.Twilio{URL: second.URL, AccountSID: second.Username, AuthToken: second.Password,
			From: "Behorig", Timeout: 2 * time.Second}},
	}}
}

// A number the gateway refuses as such (Twilio's 21614, cannot receive SMS) is not tried
// elsewhere; the send says why, and no code is valid.
func TestSMSCodeToANumberThatCannotReceiveSMS(t *testing.T) {
	twilio, elks := testenv.Twilio(t), testenv.FortySixElks(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender := sms.Failover{Logger: quiet, Gateways: []sms.Gateway{
		{Name: "twilio", Sender: sms.Twilio{URL: twilio.URL, AccountSID: twilio.Username, AuthToken: twilio.Password, From: "Behorig"}},
		{Name: "46elks", Sender: sms.FortySixElks{URL: elks.URL, Username: elks.Username, Password: elks.Password, From: "Behorig"}},
	}}
	s := newSMSSetup(t, sender, nil)
	ctx := context.Background()
	_, err := s.svc.SendCode(ctx, s.person, "+15005550009", remoteaccess.PurposeRADIUS, "vpn")
	if !errors.Is(err, connectors.ErrSMSRecipient) || !errors.Is(err, connectors.ErrSMSUnavailable) {
		t.Fatalf("err = %v, want ErrSMSRecipient and ErrSMSUnavailable", err)
	}
	var left int
	s.app.Pool.QueryRow(ctx, "SELECT count(*) FROM sms_challenges WHERE person_id = $1", s.person).Scan(&left)
	if left != 0 || elks.Attempts() != 0 {
		t.Errorf("%d challenges left; 46elks asked %d times", left, elks.Attempts())
	}
}
