package testenv

import (
	"testing"
	"time"

	"github.com/behorig/behorig/auth/bankid"
)

// BankID starts the BankID simulator (BankID's servers cannot run here) and returns it with
// an RP client of it, as `behorig serve` makes one. timeout bounds each call of the client;
// zero is the client's default.
func BankID(t testing.TB, timeout time.Duration) (*bankid.Simulator, *bankid.Client) {
	t.Helper()
	sim, err := bankid.StartSimulator("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Resume(); sim.Close() })
	cert, err := sim.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	client, err := bankid.New(bankid.Config{BaseURL: sim.URL, Certificate: cert, CA: sim.CA(), Timeout: timeout, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, client
}
