package bankid

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/behorig/behorig/connectors"
)

// Base URLs of BankID's environments.
const (
	TestURL       = "https://appapi2.test.bankid.com/rp/v6.0"
	ProductionURL = "https://appapi2.bankid.com/rp/v6.0"
)

// Config is how the client reaches BankID.
type Config struct {
	BaseURL string
	// Certificate is the RP certificate and key for mutual TLS.
	Certificate tls.Certificate
	// CA is BankID's CA for the environment, pinned: the system's roots are not trusted.
	CA *x509.CertPool
	// Timeout bounds each call. Default 10 s.
	Timeout time.Duration
	// Attempts is how many times a cancel is made when BankID answers that it could not
	// handle it (maintenance, internalError, requestTimeout) or does not answer, and a new
	// order when BankID is in maintenance. A collect is made once: its retry is the caller's
	// next round. Default 3.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles. Default 500 ms.
	Backoff time.Duration
}

// LoadPEM reads the RP certificate and key from PEM files.
func LoadPEM(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bankid: RP certificate %s: %w", certFile, err)
	}
	return cert, nil
}

// LoadPKCS12 reads the RP certificate and key from a PKCS#12 file, as BankID's banks issue it.
func LoadPKCS12(file, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bankid: RP certificate: %w", err)
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bankid: RP certificate %s: %w", file, err)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: cert, Certificate: [][]byte{cert.Raw}}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// LoadCA reads BankID's CA certificates (PEM) to pin.
func LoadCA(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bankid: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("bankid: CA %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Client calls the RP API. It is the connectors.BankID port.
type Client struct {
	cfg  Config
	http *http.Client

	mu    sync.Mutex
	slots map[string]*collectSlot // per order ref, while collects of it are recent or running
}

// collectSlot spaces the collects of one order: turn is held while a collect runs, done is
// when the previous one ended.
type collectSlot struct {
	turn    chan struct{}
	done    time.Time
	waiters int // guarded by Client.mu; a slot is forgotten only when nobody holds or awaits it
}

var _ connectors.BankID = (*Client)(nil)

// New checks the config and returns a client.
func New(cfg Config) (*Client, error) {
	var errs []error
	if !strings.HasPrefix(cfg.BaseURL, "https://") {
		errs = append(errs, fmt.Errorf("bankid: base URL %q must be https", cfg.BaseURL))
	}
	if len(cfg.Certificate.Certificate) == 0 {
		errs = append(errs, errors.New("bankid: an RP certificate is required"))
	}
	if cfg.CA == nil {
		errs = append(errs, errors.New("bankid: BankID's CA certificate is required (it is pinned)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cfg.Certificate}, RootCAs: cfg.CA,
			MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: cfg.Timeout,
		IdleConnTimeout:     time.Minute,
	}
	return &Client{cfg: cfg, http: &http.Client{Transport: transport, Timeout: cfg.Timeout}, slots: map[string]*collectSlot{}}, nil
}

// Auth starts an identification order.
func (c *Client) Auth(ctx context.Context, req connectors.BankIDRequest) (connectors.BankIDOrder, error) {
	return c.order(ctx, "/auth", req)
}

// Sign starts a signing order. req.Visible is the text shown in the app (simpleMarkdownV1)
// and req.NonVisible what ends up inside the signature only; both are encoded here.
func (c *Client) Sign(ctx context.Context, req connectors.BankIDRequest) (connectors.BankIDOrder, error) {
	if req.Visible == "" {
		return connectors.BankIDOrder{}, errors.New("bankid /sign: the text to sign is empty")
	}
	return c.order(ctx, "/sign", req)
}

func (c *Client) order(ctx context.Context, path string, req connectors.BankIDRequest) (connectors.BankIDOrder, error) {
	body := OrderRequest{EndUserIP: req.EndUserIP}
	if req.PersonalNumber != "" {
		body.Requirement = &Requirement{PersonalNumber: req.PersonalNumber}
	}
	if req.Visible != "" {
		body.UserVisibleData = base64.StdEncoding.EncodeToString([]byte(req.Visible))
		body.UserVisibleDataFormat = "simpleMarkdownV1"
	}
	if req.NonVisible != "" {
		body.UserNonVisibleData = base64.StdEncoding.EncodeToString([]byte(req.NonVisible))
	}
	out, err := c.startOrder(ctx, path, body)
	if err != nil {
		return connectors.BankIDOrder{}, err
	}
	return connectors.BankIDOrder{OrderRef: out.OrderRef, AutoStartToken: out.AutoStartToken, QRStartToken: out.QRStartToken,
		QRStartSecret: out.QRStartSecret, AnsweredAt: time.Now()}, nil
}

// startOrder posts an order as it goes on the wire; the tests use it for requirements the
// port does not offer (yet).
func (c *Client) startOrder(ctx context.Context, path string, body OrderRequest) (OrderResponse, error) {
	var out OrderResponse
	return out, c.call(ctx, path, body, &out, retryOrder)
}

// Collect asks once how an order stands, no sooner than connectors.BankIDCollectInterval
// after this client's previous collect of the order ended: it waits out the rest (or until
// ctx ends). A collect is never retried inside the call: after a 5xx or no answer, the
// caller's next round is the retry, and it too waits for its turn. The interval counts from
// the end of the previous call, so BankID never sees two collects of an order closer than
// that, whoever calls and however they retry.
func (c *Client) Collect(ctx context.Context, orderRef string) (connectors.BankIDResult, error) {
	release, err := c.collectTurn(ctx, orderRef)
	if err != nil {
		return connectors.BankIDResult{}, fmt.Errorf("bankid /collect %s: %w", orderRef, err)
	}
	var resp CollectResponse
	err = c.call(ctx, "/collect", map[string]string{"orderRef": orderRef}, &resp, retryNever)
	release()
	var e *Error
	if errors.As(err, &e) && e.Code == ErrInvalidParameters {
		return connectors.BankIDResult{}, fmt.Errorf("bankid /collect %s: %w: %w", orderRef, connectors.ErrNotFound, err)
	}
	if err != nil {
		return connectors.BankIDResult{}, err
	}
	res := connectors.BankIDResult{Status: resp.Status, Hint: resp.HintCode}
	if resp.Status == StatusComplete {
		res.Hint, res.Evidence = "", &connectors.BankIDEvidence{}
		if cd := resp.CompletionData; cd != nil {
			// Undecodable evidence stays empty, and the domain refuses empty evidence.
			signature, _ := base64.StdEncoding.DecodeString(cd.Signature)
			ocsp, _ := base64.StdEncoding.DecodeString(cd.OCSPResponse)
			res.Evidence = &connectors.BankIDEvidence{PersonalNumber: cd.User.PersonalNumber, Name: cd.User.Name,
				Signature: signature, OCSPResponse: ocsp, DeviceIP: cd.Device.IPAddress, DeviceUHI: cd.Device.UHI,
				BankIDIssueDate: cd.BankIDIssueDate, Simulated: IsSimulated(signature)}
		}
	}
	return res, nil
}

// collectTurn waits until this client may collect the order: no other collect of it running,
// and the interval since the previous one's end passed. release ends the turn.
func (c *Client) collectTurn(ctx context.Context, orderRef string) (release func(), err error) {
	c.mu.Lock()
	now := time.Now()
	for ref, s := range c.slots {
		if s.waiters == 0 && now.Sub(s.done) > connectors.BankIDCollectInterval {
			delete(c.slots, ref) // nobody needs it: the next collect may go at once anyway
		}
	}
	slot := c.slots[orderRef]
	if slot == nil {
		slot = &collectSlot{turn: make(chan struct{}, 1)}
		c.slots[orderRef] = slot
	}
	slot.waiters++
	c.mu.Unlock()
	leave := func() {
		c.mu.Lock()
		slot.waiters--
		c.mu.Unlock()
	}
	select {
	case slot.turn <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	if wait := time.Until(slot.done.Add(connectors.BankIDCollectInterval)); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			<-slot.turn
			leave()
			return nil, ctx.Err()
		}
	}
	return func() {
		c.mu.Lock()
		slot.done = time.Now()
		slot.waiters--
		c.mu.Unlock()
		<-slot.turn
	}, nil
}

// Cancel ends an order. It is safe to repeat.
func (c *Client) Cancel(ctx context.Context, orderRef string) error {
	err := c.call(ctx, "/cancel", map[string]string{"orderRef": orderRef}, &struct{}{}, retryIdempotent)
	var e *Error
	if errors.As(err, &e) && e.Code == ErrInvalidParameters {
		return fmt.Errorf("bankid /cancel %s: %w: %w", orderRef, connectors.ErrNotFound, err)
	}
	return err
}

// retryPolicy says whether an attempt that failed with err may be made again.
type retryPolicy func(err error) bool

// retryOrder retries a new order only when BankID says it handled nothing (maintenance): an
// order that timed out may exist, and a second one would cancel both (alreadyInProgress).
func retryOrder(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == ErrMaintenance
}

// retryIdempotent retries cancel on any answer of BankID's own trouble and on transport
// errors.
func retryIdempotent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == ErrMaintenance || e.Code == ErrInternalError || e.Code == ErrRequestTimeout
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

// retryNever is collect's: its retry is the caller's next round, two seconds on.
func retryNever(error) bool { return false }

func (c *Client) call(ctx context.Context, path string, in, out any, retry retryPolicy) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("bankid %s: %w", path, err)
	}
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = c.once(ctx, path, body, out)
		if err == nil || attempt >= c.cfg.Attempts || !retry(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) once(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bankid %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bankid %s: %w: %w", path, connectors.ErrBankIDUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("bankid %s: read answer: %w: %w", path, connectors.ErrBankIDUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Details = ErrInternalError, fmt.Sprintf("HTTP %d without an error body", resp.StatusCode)
		}
		if _, known := ErrorStatus[e.Code]; !known {
			e.Details = e.Code + ": " + e.Details
			e.Code = ErrInternalError
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("bankid %s: answer is not the expected JSON: %w", path, err)
	}
	return nil
}

// Probe tells whether BankID answers this relying party: it makes a TLS connection with the
// RP certificate to the API's host and asks for the base URL. Any HTTP answer below 500 means
// the server is there and took our certificate (the RP API has no health endpoint, and a
// probe must never start or collect an order).
func (c *Client) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.cfg.BaseURL+"/", nil)
	if err != nil {
		return fmt.Errorf("bankid probe: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bankid probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("bankid probe: %s answered %s", c.cfg.BaseURL, resp.Status)
	}
	return nil
}
