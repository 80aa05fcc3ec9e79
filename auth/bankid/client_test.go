package bankid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/behorig/behorig/connectors"
)

var ctx = context.Background()

// fakeClock is the simulator's clock, moved by the tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func simulator(t *testing.T) (*Simulator, *Client, *fakeClock) {
	t.Helper()
	sim, err := StartSimulator("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	clock := &fakeClock{now: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	sim.Now = clock.Now
	cert, err := sim.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	client, err := New(Config{BaseURL: sim.URL, Certificate: cert, CA: sim.CA(), Timeout: 5 * time.Second, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, client, clock
}

func collect(t *testing.T, c *Client, ref string) connectors.BankIDResult {
	t.Helper()
	r, err := c.Collect(ctx, ref)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return r
}

func expect(t *testing.T, r connectors.BankIDResult, status, hint string) {
	t.Helper()
	if r.Status != status || r.Hint != hint {
		t.Fatalf("collect = %s/%s, want %s/%s", r.Status, r.Hint, status, hint)
	}
}

func TestAuthWithQRThroughEveryStep(t *testing.T) {
	sim, c, clock := simulator(t)
	order, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{order.OrderRef, order.AutoStartToken, order.QRStartToken, order.QRStartSecret} {
		if len(v) != 36 {
			t.Fatalf("order answer %+v lacks a UUID", order)
		}
	}
	expect(t, collect(t, c, order.OrderRef), StatusPending, HintOutstandingTransaction)
	clock.Advance(3 * time.Second)
	if _, err := sim.ScanQR(QRData(order.QRStartToken, order.QRStartSecret, 3)); err != nil {
		t.Fatalf("scan: %v", err)
	}
	expect(t, collect(t, c, order.OrderRef), StatusPending, HintStarted)
	if _, err := sim.Show(order.OrderRef, "195001182046"); err != nil {
		t.Fatal(err)
	}
	expect(t, collect(t, c, order.OrderRef), StatusPending, HintUserSign)
	if err := sim.Approve(order.OrderRef); err != nil {
		t.Fatal(err)
	}
	done := collect(t, c, order.OrderRef)
	if done.Status != StatusComplete || done.Evidence == nil {
		t.Fatalf("collect after approval: %+v", done)
	}
	ev := done.Evidence
	if ev.PersonalNumber != "195001182046" || ev.Name != "Anna Berg" || ev.DeviceIP != "192.0.2.7" || !ev.Simulated ||
		!strings.Contains(string(ev.Signature), SimulatedMarker) || !strings.Contains(string(ev.OCSPResponse), SimulatedMarker) {
		t.Fatalf("evidence %+v", ev)
	}
}

func TestSignShowsTheTextToTheRequiredPersonOnly(t *testing.T) {
	sim, c, _ := simulator(t)
	order, err := c.Sign(ctx, connectors.BankIDRequest{EndUserIP: "2001:db8::7", PersonalNumber: "195001182046",
		Visible: "# Villkor\nJag godkänner villkoren för *Treserva*.", NonVisible: "sha256:abc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.OpenAutostart(order.AutoStartToken); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Show(order.OrderRef, "198501139995"); !errors.Is(err, ErrWrongPerson) {
		t.Fatalf("another person was shown the order: %v", err)
	}
	visible, err := sim.Show(order.OrderRef, "195001182046")
	if err != nil || visible != "# Villkor\nJag godkänner villkoren för *Treserva*." {
		t.Fatalf("the app shows %q, %v", visible, err)
	}
	sim.Approve(order.OrderRef)
	signature := collect(t, c, order.OrderRef).Evidence.Signature
	if !strings.Contains(string(signature), base64.StdEncoding.EncodeToString([]byte("sha256:abc"))) {
		t.Fatalf("the signature does not hold the non-visible data: %s", signature)
	}
}

func TestPendingAndFailedHints(t *testing.T) {
	sim, c, clock := simulator(t)
	start := func(req OrderRequest) OrderResponse {
		t.Helper()
		if req.EndUserIP == "" {
			req.EndUserIP = "192.0.2.7"
		}
		o, err := c.startOrder(ctx, "/auth", req)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	t.Run("noClient and userCallConfirm", func(t *testing.T) {
		o := start(OrderRequest{})
		for _, hint := range []string{HintNoClient, HintUserCallConfirm} {
			sim.SetHint(o.OrderRef, hint)
			expect(t, collect(t, c, o.OrderRef), StatusPending, hint)
		}
	})
	t.Run("userMrtd", func(t *testing.T) {
		o := start(OrderRequest{Requirement: &Requirement{Mrtd: true}})
		sim.OpenAutostart(o.AutoStartToken)
		sim.Show(o.OrderRef, "200101012383")
		expect(t, collect(t, c, o.OrderRef), StatusPending, HintUserMrtd)
	})
	for _, hint := range []string{HintUserCancel, HintCertificateErr, HintTransactionRiskBlocked, HintNotSupportedByUserApp} {
		t.Run(hint, func(t *testing.T) {
			o := start(OrderRequest{})
			sim.Fail(o.OrderRef, hint)
			expect(t, collect(t, c, o.OrderRef), StatusFailed, hint)
		})
	}
	t.Run("startFailed when nobody picks it up", func(t *testing.T) {
		o := start(OrderRequest{})
		clock.Advance(31 * time.Second)
		expect(t, collect(t, c, o.OrderRef), StatusFailed, HintStartFailed)
	})
	t.Run("startFailed on a stale QR code", func(t *testing.T) {
		o := start(OrderRequest{})
		clock.Advance(10 * time.Second)
		if _, err := sim.ScanQR(QRData(o.QRStartToken, o.QRStartSecret, 2)); !errors.Is(err, ErrStaleQR) {
			t.Fatalf("a QR code 8 s old was accepted: %v", err)
		}
		expect(t, collect(t, c, o.OrderRef), StatusFailed, HintStartFailed)
	})
	t.Run("startFailed on a forged QR code", func(t *testing.T) {
		o := start(OrderRequest{})
		if _, err := sim.ScanQR(QRData(o.QRStartToken, "not-the-secret", 0)); !errors.Is(err, ErrStaleQR) {
			t.Fatalf("a QR code with a wrong HMAC was accepted: %v", err)
		}
	})
	t.Run("expiredTransaction", func(t *testing.T) {
		o := start(OrderRequest{})
		sim.OpenAutostart(o.AutoStartToken)
		clock.Advance(3*time.Minute + time.Second)
		expect(t, collect(t, c, o.OrderRef), StatusFailed, HintExpiredTransaction)
	})
	t.Run("cancelled and alreadyInProgress", func(t *testing.T) {
		pnr := &Requirement{PersonalNumber: "191202119150"}
		first := start(OrderRequest{Requirement: pnr})
		_, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7", PersonalNumber: pnr.PersonalNumber})
		var e *Error
		if !errors.As(err, &e) || e.Code != ErrAlreadyInProgress || e.HTTPStatus != 400 || ErrorRFA(e.Code) != "RFA4" ||
			!errors.Is(err, connectors.ErrBankIDInProgress) || ErrorRFAOf(err) != "RFA4" {
			t.Fatalf("a second order for the same person: %v", err)
		}
		expect(t, collect(t, c, first.OrderRef), StatusFailed, HintCancelled)
	})
}

func TestErrorCodes(t *testing.T) {
	sim, c, _ := simulator(t)
	var e *Error
	_, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "not-an-ip"})
	if !errors.As(err, &e) || e.Code != ErrInvalidParameters || e.HTTPStatus != 400 {
		t.Fatalf("a bad endUserIp: %v", err)
	}
	_, err = c.Sign(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7", PersonalNumber: "19500118-2046", Visible: "x"})
	if !errors.As(err, &e) || e.Code != ErrInvalidParameters {
		t.Fatalf("a personal number that is not 12 digits: %v", err)
	}
	for _, code := range []string{ErrUnauthorized, ErrRequestTimeout, ErrInternalError, ErrMaintenance} {
		attempts := 1 // a new order is retried on maintenance only, three times in all
		if code == ErrMaintenance {
			attempts = 3
		}
		for range attempts {
			sim.FailNext("/auth", code)
		}
		_, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"})
		if !errors.As(err, &e) || e.Code != code || e.HTTPStatus != ErrorStatus[code] {
			t.Errorf("%s: got %v", code, err)
		}
		if unavailable := code != ErrUnauthorized; errors.Is(err, connectors.ErrBankIDUnavailable) != unavailable {
			t.Errorf("%s: unavailable is %v, want %v", code, !unavailable, unavailable)
		}
	}
	if _, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"}); err != nil {
		t.Fatalf("an injected failure was left over or retried too few times: %v", err)
	}
	// Wrong URL, method and media type, as a misconfigured client would send them.
	cert, _ := sim.ClientCertificate()
	raw := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: sim.CA()}}}
	for _, tc := range []struct {
		method, path, contentType, code string
	}{
		{"POST", "/identify", "application/json", ErrNotFound},
		{"GET", "/collect", "application/json", ErrMethodNotAllowed},
		{"POST", "/collect", "text/plain", ErrUnsupportedMediaType},
	} {
		req, _ := http.NewRequest(tc.method, sim.URL+tc.path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != ErrorStatus[tc.code] {
			t.Errorf("%s %s (%s): %d, want %d", tc.method, tc.path, tc.contentType, resp.StatusCode, ErrorStatus[tc.code])
		}
	}
}

func TestRetries(t *testing.T) {
	sim, c, _ := simulator(t)
	o, _ := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"})
	// A new order is retried on maintenance only: after a 500 an order may exist.
	sim.FailNext("/auth", ErrMaintenance)
	if _, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.8"}); err != nil {
		t.Fatalf("auth after a 503: %v", err)
	}
	sim.FailNext("/sign", ErrInternalError)
	var e *Error
	if _, err := c.Sign(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.9", Visible: "x"}); !errors.As(err, &e) || e.Code != ErrInternalError {
		t.Fatalf("sign after a 500 was retried or succeeded: %v", err)
	}
	for range 3 {
		sim.FailNext("/cancel", ErrMaintenance)
	}
	if err := c.Cancel(ctx, o.OrderRef); !errors.As(err, &e) || e.Code != ErrMaintenance {
		t.Fatalf("cancel after three 503s: %v", err)
	}
}

// BankID's rule: at most one collect of an order every two seconds, retries after a 5xx
// included. A collect that fails is not retried inside the call, and the caller's retry, made
// at once as an impatient caller would, waits for its turn. The spacing is measured where it
// counts: at BankID, from the simulator's record of each collect.
func TestCollectsOfAnOrderAreTwoSecondsApart(t *testing.T) {
	sim, c, _ := simulator(t)
	o, _ := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"})
	other, _ := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.8"})
	sim.FailNext("/collect", ErrMaintenance)
	if _, err := c.Collect(ctx, o.OrderRef); !errors.Is(err, connectors.ErrBankIDUnavailable) {
		t.Fatalf("collect answered 503: %v", err)
	}
	if n := len(sim.Collects(o.OrderRef)); n != 1 {
		t.Fatalf("a collect answered 503 was made %d times in one call", n)
	}
	// Another order is not held up by this one's turn.
	expect(t, collect(t, c, other.OrderRef), StatusPending, HintOutstandingTransaction)
	sim.FailNext("/collect", ErrInternalError)
	if _, err := c.Collect(ctx, o.OrderRef); !errors.Is(err, connectors.ErrBankIDUnavailable) {
		t.Fatalf("collect answered 500: %v", err)
	}
	// Two callers at once (the page and the watch job) take turns.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.Collect(ctx, o.OrderRef); err != nil {
				t.Errorf("collect after the 5xx: %v", err)
			}
		})
	}
	wg.Wait()
	times := sim.Collects(o.OrderRef)
	if len(times) != 4 {
		t.Fatalf("%d collects reached BankID, want 4", len(times))
	}
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		t.Logf("collect %d came %s after the one before", i+1, gap)
		if gap < connectors.BankIDCollectInterval {
			t.Errorf("collect %d came %s after the one before: BankID allows one every %s", i+1, gap, connectors.BankIDCollectInterval)
		}
	}
}

func TestCancel(t *testing.T) {
	sim, c, _ := simulator(t)
	o, _ := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"})
	if err := c.Cancel(ctx, o.OrderRef); err != nil {
		t.Fatal(err)
	}
	if !sim.CancelledByRP(o.OrderRef) {
		t.Fatal("the simulator did not see the cancel")
	}
	var e *Error
	if _, err := c.Collect(ctx, o.OrderRef); !errors.As(err, &e) || e.Code != ErrInvalidParameters || !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("collect after cancel: %v", err)
	}
	if err := c.Cancel(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("cancel of an unknown order: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accept and never answer
		}
	}()
	sim, _, _ := simulator(t)
	cert, _ := sim.ClientCertificate()
	c, _ := New(Config{BaseURL: "https://" + ln.Addr().String() + "/rp/v6.0", Certificate: cert, CA: sim.CA(),
		Timeout: 300 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
	start := time.Now()
	if _, err := c.Collect(ctx, "x"); !errors.Is(err, connectors.ErrBankIDUnavailable) {
		t.Fatalf("a server that never answers: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a collect of 300 ms took %s", took)
	}
}

func TestWrongClientCertificateIsRefused(t *testing.T) {
	sim, _, _ := simulator(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "impostor"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	c, err := New(Config{BaseURL: sim.URL, Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, CA: sim.CA(),
		Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"}); err == nil {
		t.Fatal("an RP certificate from another CA was accepted")
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if len(sim.orders) != 0 {
		t.Fatal("an order was made with a refused certificate")
	}
}

func TestClientConfigIsChecked(t *testing.T) {
	_, err := New(Config{BaseURL: "http://appapi2.test.bankid.com/rp/v6.0"})
	for _, want := range []string{"must be https", "RP certificate", "CA"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error does not say %q: %v", want, err)
		}
	}
}

func TestRFA(t *testing.T) {
	for _, tc := range [][4]string{
		{StatusPending, HintOutstandingTransaction, "", "RFA1"},
		{StatusPending, HintOutstandingTransaction, "auto", "RFA13"},
		{StatusPending, HintUserSign, "", "RFA9"},
		{StatusPending, "processing", "", "RFA21"},
		{StatusFailed, HintUserCancel, "", "RFA6"},
		{StatusFailed, HintExpiredTransaction, "", "RFA8"},
		{StatusFailed, HintCertificateErr, "", "RFA16"},
		{StatusFailed, HintCancelled, "", "RFA3"},
		{StatusFailed, "somethingNew", "", "RFA22"},
	} {
		if got := RFA(tc[0], tc[1], tc[2] == "auto"); got != tc[3] {
			t.Errorf("RFA(%s, %s) = %s, want %s", tc[0], tc[1], got, tc[3])
		}
	}
}

func TestRPCertificateFromPKCS12AndPEM(t *testing.T) {
	sim, _, _ := simulator(t)
	cert, _ := sim.ClientCertificate()
	dir := t.TempDir()
	p12, err := pkcs12.Modern.Encode(cert.PrivateKey, cert.Leaf, nil, "qwerty123")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rp.p12"), p12, 0o600)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	os.WriteFile(filepath.Join(dir, "rp.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), 0o600)
	os.WriteFile(filepath.Join(dir, "rp.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sim.ca.Raw}), 0o600)
	ca, err := LoadCA(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPKCS12(filepath.Join(dir, "rp.p12"), "wrong"); err == nil {
		t.Fatal("a wrong PKCS#12 password was accepted")
	}
	fromP12, err := LoadPKCS12(filepath.Join(dir, "rp.p12"), "qwerty123")
	if err != nil {
		t.Fatal(err)
	}
	fromPEM, err := LoadPEM(filepath.Join(dir, "rp.pem"), filepath.Join(dir, "rp.key"))
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]tls.Certificate{"PKCS#12": fromP12, "PEM": fromPEM} {
		c, err := New(Config{BaseURL: sim.URL, Certificate: cert, CA: ca})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Auth(ctx, connectors.BankIDRequest{EndUserIP: "192.0.2.7"}); err != nil {
			t.Errorf("auth with the %s certificate: %v", name, err)
		}
	}
}

func TestProbeSaysWhetherBankIDAnswersThisRP(t *testing.T) {
	sim, c, _ := simulator(t)
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("probe of a running BankID: %v", err)
	}
	sim.Hang()
	hung, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.Probe(hung); err == nil {
		t.Fatal("probe of a hung BankID said it answers")
	}
	sim.Resume()
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("probe after BankID answers again: %v", err)
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if len(sim.orders) != 0 || len(sim.collects) != 0 {
		t.Fatalf("a probe started or collected orders: %d orders, %d collected", len(sim.orders), len(sim.collects))
	}
}
