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
	"time"

	"software.sslmate.com/src/go-pkcs12"
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
	// Attempts is how many times a call is made when BankID answers that it could not
	// handle it (maintenance, internalError, requestTimeout) or does not answer. Default 3.
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

// Client calls the RP API.
type Client struct {
	cfg  Config
	http *http.Client
}

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
	return &Client{cfg: cfg, http: &http.Client{Transport: transport, Timeout: cfg.Timeout}}, nil
}

// Auth starts an identification order.
func (c *Client) Auth(ctx context.Context, req OrderRequest) (OrderResponse, error) {
	var out OrderResponse
	return out, c.call(ctx, "/auth", req, &out, retryOrder)
}

// Sign starts a signing order. visible is the text shown in the app (simpleMarkdownV1) and
// nonVisible what ends up inside the signature only; both are encoded here.
func (c *Client) Sign(ctx context.Context, req OrderRequest, visible, nonVisible string) (OrderResponse, error) {
	req.UserVisibleData = base64.StdEncoding.EncodeToString([]byte(visible))
	req.UserVisibleDataFormat = "simpleMarkdownV1"
	if nonVisible != "" {
		req.UserNonVisibleData = base64.StdEncoding.EncodeToString([]byte(nonVisible))
	}
	var out OrderResponse
	return out, c.call(ctx, "/sign", req, &out, retryOrder)
}

// Collect asks how an order stands. It is safe to repeat.
func (c *Client) Collect(ctx context.Context, orderRef string) (CollectResponse, error) {
	var out CollectResponse
	return out, c.call(ctx, "/collect", map[string]string{"orderRef": orderRef}, &out, retryIdempotent)
}

// Cancel ends an order. It is safe to repeat.
func (c *Client) Cancel(ctx context.Context, orderRef string) error {
	return c.call(ctx, "/cancel", map[string]string{"orderRef": orderRef}, &struct{}{}, retryIdempotent)
}

// retryPolicy says whether an attempt that failed with err may be made again.
type retryPolicy func(err error) bool

// retryOrder retries a new order only when BankID says it handled nothing (maintenance): an
// order that timed out may exist, and a second one would cancel both (alreadyInProgress).
func retryOrder(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == ErrMaintenance
}

// retryIdempotent retries collect and cancel on any answer of BankID's own trouble and on
// transport errors.
func retryIdempotent(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == ErrMaintenance || e.Code == ErrInternalError || e.Code == ErrRequestTimeout
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

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
		return fmt.Errorf("bankid %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("bankid %s: read answer: %w", path, err)
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
