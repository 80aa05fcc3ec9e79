package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/metrics"
	"github.com/behorig/behorig/internal/testenv"
)

// The gateways configured are tried in their order, and /metrics names the one that failed:
// 46elks down, Twilio delivers, with Twilio's validity the codes' lifetime.
func TestSMSGatewaysFromConfigFailOverInOrder(t *testing.T) {
	elks, twilio := testenv.FortySixElks(t), testenv.Twilio(t)
	elks.Fail(http.StatusBadGateway)
	m := metrics.New()
	c := config.SMS{From: "Kommunen", Timeout: 5 * time.Second, Gateways: []config.SMSGateway{
		{Provider: "46elks", URL: elks.URL, Username: elks.Username, Password: elks.Password},
		{Provider: "twilio", URL: twilio.URL, Username: twilio.Username, Password: twilio.Password},
	}}
	sender := smsSender(c, 3*time.Minute, nil, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	receipt, err := sender.Send(context.Background(), connectors.SMS{ID: "sms-1", To: "+46701740605", Text: "123456 är din kod"})
	if err != nil {
		t.Fatal(err)
	}
	got := twilio.Messages()
	if receipt.Provider != "twilio" || len(got) != 1 || got[0].From != "Kommunen" || got[0].Form.Get("ValidityPeriod") != "180" {
		t.Fatalf("receipt %+v; Twilio got %+v", receipt, got)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `behorig_outside_call_errors_total{op="send",party="sms:46elks"} 1`) {
		t.Errorf("/metrics does not count 46elks' failure:\n%s", grepLines(rec.Body.String(), "sms:"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
