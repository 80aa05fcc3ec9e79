package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/metrics"
)

// A BankID call is timed under party "bankid"; an order BankID has forgotten is its answer,
// not a failure, while BankID not answering is.
func TestBankIDCallsAreTimedAndTheirFailuresCounted(t *testing.T) {
	sim, err := bankid.StartSimulator("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cert, err := sim.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	client, err := bankid.New(bankid.Config{BaseURL: sim.URL, Certificate: cert, CA: sim.CA(), Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	port := metrics.BankID{Inner: client, Metrics: m}
	ctx := context.Background()
	if _, err := port.Sign(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7", Visible: "Villkor"}); err != nil {
		t.Fatal(err)
	}
	if _, err := port.Collect(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("collect of an unknown order: %v", err)
	}
	sim.Hang()
	if err := port.Cancel(ctx, "00000000-0000-4000-8000-000000000001"); err == nil {
		t.Fatal("cancel at a hung BankID succeeded")
	}
	sim.Resume()

	server := httptest.NewServer(m.Handler())
	defer server.Close()
	s := scrape(t, server.URL)
	is := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	s.want(t, "behorig_outside_call_duration_seconds_count", is(1), "1", "party", "bankid", "op", "sign")
	s.want(t, "behorig_outside_call_duration_seconds_count", is(1), "1", "party", "bankid", "op", "collect")
	s.want(t, "behorig_outside_call_errors_total", is(1), "1 (the hung cancel)", "party", "bankid", "op", "cancel")
	if v, _ := s.get("behorig_outside_call_errors_total", "party", "bankid", "op", "collect"); v != 0 {
		t.Errorf("an order BankID forgot counted as %v failed collects", v)
	}
}
