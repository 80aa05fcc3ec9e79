package bankid

import (
	"testing"
	"time"
)

// The vector of the RP API documentation, as in ../shared/specs/bankid-rp-v6.md.
func TestQRDataMatchesTheVector(t *testing.T) {
	const token, secret = "67df3917-fa0d-44e5-b327-edcc928297f8", "d28db9a7-4cde-429e-a983-359be676944c"
	for qrTime, code := range []string{
		"dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8",
		"949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2",
		"a9e5ec59cb4eee4ef4117150abc58fad7a85439a6a96ccbecc3668b41795b3f3",
	} {
		want := "bankid." + token + "." + string(rune('0'+qrTime)) + "." + code
		if got := QRData(token, secret, qrTime); got != want {
			t.Errorf("qrTime %d: %s, want %s", qrTime, got, want)
		}
	}
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if QRTime(start, start.Add(2999*time.Millisecond)) != 2 || QRTime(start, start.Add(-time.Second)) != 0 {
		t.Error("QRTime does not count whole seconds from the answer")
	}
}
