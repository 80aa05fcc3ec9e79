package sms_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A number PTS reserves for fiction: never a real person's.
const mobile = "+46701740605"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func message(text string) connectors.SMS {
	return connectors.SMS{ID: "sms-test-1", To: mobile, Text: text}
}

func elks(g *testenv.SMSGateway) sms.FortySixElks {
	return sms.FortySixElks{URL: g.URL, Username: g.Username, Password: g.Password, From: "Kommunen"}
}

func twilio(g *testenv.SMSGateway) sms.Twilio {
	return sms.Twilio{URL: g.URL, AccountSID: g.Username, AuthToken: g.Password, From: "Kommunen", ValidityPeriod: 5 * time.Minute}
}

func TestFortySixElksSendsTheFormAndKeepsNoCopy(t *testing.T) {
	g := testenv.FortySixElks(t)
	receipt, err := elks(g).Send(context.Background(), message("123456 är din kod"))
	if err != nil {
		t.Fatal(err)
	}
	got := g.Messages()
	if len(got) != 1 {
		t.Fatalf("46elks got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.To != mobile || m.From != "Kommunen" || m.Text != "123456 är din kod" {
		t.Errorf("46elks got to=%q from=%q text=%q", m.To, m.From, m.Text)
	}
	if m.Form.Get("dontlog") != "message" {
		t.Errorf("dontlog = %q: 46elks keeps the code in its history", m.Form.Get("dontlog"))
	}
	if receipt.Provider != "46elks" || receipt.MessageID != m.ID || !strings.HasPrefix(receipt.MessageID, "s") {
		t.Errorf("receipt %+v, want 46elks and id %s", receipt, m.ID)
	}
}

func TestTwilioSendsTheFormWithAValidityWithinTheCode(t *testing.T) {
	g := testenv.Twilio(t)
	receipt, err := twilio(g).Send(context.Background(), message("654321 är din kod"))
	if err != nil {
		t.Fatal(err)
	}
	got := g.Messages()
	if len(got) != 1 {
		t.Fatalf("Twilio got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.To != mobile || m.From != "Kommunen" || m.Text != "654321 är din kod" || m.Form.Get("ValidityPeriod") != "300" {
		t.Errorf("Twilio got to=%q from=%q text=%q validity=%q", m.To, m.From, m.Text, m.Form.Get("ValidityPeriod"))
	}
	if receipt.Provider != "twilio" || receipt.MessageID != m.ID || !strings.HasPrefix(receipt.MessageID, "SM") {
		t.Errorf("receipt %+v, want twilio and sid %s", receipt, m.ID)
	}
}

func TestHTTPGatewaySendsIDToFromAndMessage(t *testing.T) {
	g := testenv.HTTPSMSGateway(t)
	sender := sms.HTTPGateway{URL: g.URL, Username: g.Username, Password: g.Password, From: "Kommunen"}
	receipt, err := sender.Send(context.Background(), message("111222 är din kod"))
	if err != nil {
		t.Fatal(err)
	}
	got := g.Messages()
	if len(got) != 1 || got[0].ID != "sms-test-1" || got[0].To != mobile || got[0].Text != "111222 är din kod" || got[0].From != "Kommunen" {
		t.Fatalf("gateway got %+v", got)
	}
	if receipt.Provider != "http" || receipt.MessageID != "sms-test-1" {
		t.Errorf("receipt %+v", receipt)
	}
}

func TestWrongCredentialsAreAFailureNotTheNumbers(t *testing.T) {
	e, tw, h := testenv.FortySixElks(t), testenv.Twilio(t), testenv.HTTPSMSGateway(t)
	wrongElks, wrongTwilio := elks(e), twilio(tw)
	wrongElks.Password, wrongTwilio.AuthToken = "wrong", "wrong"
	for name, sender := range map[string]connectors.SMSSender{"46elks": wrongElks, "twilio": wrongTwilio,
		"http": sms.HTTPGateway{URL: h.URL, Username: h.Username, Password: "wrong"}} {
		_, err := sender.Send(context.Background(), message("123456"))
		var ge *sms.GatewayError
		if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %v, want HTTP 401", name, err)
		}
		if errors.Is(err, connectors.ErrSMSRecipient) {
			t.Errorf("%s: a wrong password blamed on the number: %v", name, err)
		}
	}
	if n := len(e.Messages()) + len(tw.Messages()) + len(h.Messages()); n != 0 {
		t.Errorf("%d messages sent with wrong credentials", n)
	}
}

func TestFailoverSendsThroughTheNextWhenOneFails(t *testing.T) {
	first, second := testenv.FortySixElks(t), testenv.Twilio(t)
	first.Fail(http.StatusServiceUnavailable)
	f := sms.Failover{Gateways: []sms.Gateway{{Name: "elks", Sender: elks(first)}, {Name: "twilio", Sender: twilio(second)}}, Logger: quiet}
	receipt, err := f.Send(context.Background(), message("123456 är din kod"))
	if err != nil {
		t.Fatal(err)
	}
	if receipt.Provider != "twilio" {
		t.Errorf("taken by %q, want twilio", receipt.Provider)
	}
	if first.Attempts() != 1 || len(second.Messages()) != 1 || second.Messages()[0].Text != "123456 är din kod" {
		t.Errorf("46elks asked %d times, Twilio got %+v", first.Attempts(), second.Messages())
	}
}

func TestFailoverSendsThroughTheNextWhenOneHangs(t *testing.T) {
	first, second := testenv.FortySixElks(t), testenv.Twilio(t)
	first.Stall()
	hung := elks(first)
	hung.Timeout = 200 * time.Millisecond
	f := sms.Failover{Gateways: []sms.Gateway{{Name: "elks", Sender: hung}, {Name: "twilio", Sender: twilio(second)}}, Logger: quiet}
	receipt, err := f.Send(context.Background(), message("123456 är din kod"))
	if err != nil {
		t.Fatal(err)
	}
	if receipt.Provider != "twilio" || len(second.Messages()) != 1 || first.Attempts() != 1 {
		t.Errorf("receipt %+v; Twilio got %d; 46elks asked %d times", receipt, len(second.Messages()), first.Attempts())
	}
}

func TestFailoverWithEveryGatewayDownSaysSo(t *testing.T) {
	first, second := testenv.FortySixElks(t), testenv.Twilio(t)
	first.Fail(http.StatusInternalServerError)
	second.Fail(http.StatusServiceUnavailable)
	f := sms.Failover{Gateways: []sms.Gateway{{Name: "elks", Sender: elks(first)}, {Name: "twilio", Sender: twilio(second)}}, Logger: quiet}
	_, err := f.Send(context.Background(), message("987654 är din kod"))
	if !errors.Is(err, connectors.ErrSMSUnavailable) {
		t.Fatalf("err = %v, want ErrSMSUnavailable", err)
	}
	if first.Attempts() != 1 || second.Attempts() != 1 {
		t.Errorf("46elks asked %d times, Twilio %d, want once each", first.Attempts(), second.Attempts())
	}
	for _, secret := range []string{"987654", mobile} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q holds %q", err, secret)
		}
	}
}

// The number's own fault is not passed on: every gateway would refuse it, and each try costs.
func TestFailoverStopsWhenTheNumberIsRefused(t *testing.T) {
	first, second := testenv.Twilio(t), testenv.FortySixElks(t)
	f := sms.Failover{Gateways: []sms.Gateway{{Name: "twilio", Sender: twilio(first)}, {Name: "elks", Sender: elks(second)}}, Logger: quiet}
	_, err := f.Send(context.Background(), connectors.SMS{ID: "x", To: "+15005550009", Text: "123456"})
	if !errors.Is(err, connectors.ErrSMSRecipient) || !errors.Is(err, connectors.ErrSMSUnavailable) {
		t.Fatalf("err = %v, want ErrSMSRecipient, and ErrSMSUnavailable since no gateway took it", err)
	}
	var ge *sms.GatewayError
	if !errors.As(err, &ge) || ge.Code != 21614 {
		t.Errorf("err = %v, want Twilio's 21614", err)
	}
	if strings.Contains(err.Error(), "+15005550009") {
		t.Errorf("the error %q holds the whole number", err)
	}
	if second.Attempts() != 0 {
		t.Errorf("46elks was asked %d times after Twilio refused the number", second.Attempts())
	}
}

// A gateway that echoes the message in its error does not put the code in our errors (and so
// in our logs).
func TestAGatewaysErrorNeverCarriesTheText(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		http.Error(w, "cannot send "+r.PostForm.Get("message"), http.StatusBadRequest)
	}))
	t.Cleanup(echo.Close)
	_, err := sms.HTTPGateway{URL: echo.URL}.Send(context.Background(), message("246810 är din kod"))
	if err == nil || strings.Contains(err.Error(), "246810") {
		t.Errorf("err = %v, want a refusal without the code", err)
	}
}

func TestOutboxKeepsEachMessageOnce(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, quiet); err != nil {
		t.Fatal(err)
	}
	o := sms.Outbox{DB: pool}
	for range 2 { // a retry of the same message
		if _, err := o.Send(ctx, message("135790 är din kod")); err != nil {
			t.Fatal(err)
		}
	}
	list, err := o.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].To != mobile || list[0].Text != "135790 är din kod" {
		t.Errorf("outbox holds %+v", list)
	}
	latest, ok, err := o.Latest(ctx, mobile)
	if err != nil || !ok || latest.Text != "135790 är din kod" {
		t.Errorf("latest to %s: %+v %v %v", mobile, latest, ok, err)
	}
	if _, ok, _ := o.Latest(ctx, "+46701740606"); ok {
		t.Error("another number's phone shows this message")
	}
}
