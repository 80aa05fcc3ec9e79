package bankid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SimulatedMarker is in every signature and OCSP response the simulator makes, so that
// simulated evidence can never pass for real.
const SimulatedMarker = "SIMULATED-BANKID-NOT-VALID-EVIDENCE"

// TestPerson is someone the simulator's app can sign as: Skatteverket's test numbers only.
type TestPerson struct {
	PersonalNumber, GivenName, Surname string
}

// TestPersons are the identities of the simulator's app.
var TestPersons = []TestPerson{
	{"195001182046", "Anna", "Berg"},
	{"191202119150", "Olle", "Omsorgschef"},
	{"198501139995", "Tova", "Testsson"},
	{"200101012383", "Sara", "Svensson"},
}

// Simulator plays BankID's side of the RP API over HTTPS with mutual TLS, with certificates
// it makes at start, and the BankID app's side through its methods.
type Simulator struct {
	// URL is the base URL of the RP API (…/rp/v6.0).
	URL string
	// Now is the simulator's clock; tests move it past the start timeout and the lifetime.
	Now func() time.Time
	// StartTimeout is how long an order waits for the app (startFailed after). Default 30 s.
	StartTimeout time.Duration
	// Lifetime is how long an order lives (expiredTransaction after). Default 3 min.
	Lifetime time.Duration
	// IgnoreRequirement lets anyone sign an order that requires a personal number, which
	// real BankID never does: tests use it to check that the RP compares the signer itself.
	IgnoreRequirement bool

	mu       sync.Mutex
	orders   map[string]*order
	failNext []injected
	// collects are when each order was collected (wall clock, failed answers included), so
	// that a test can check BankID's rule of two seconds between collects.
	collects map[string][]time.Time
	// cancelled are the orders the RP cancelled.
	cancelled map[string]bool
	// hang, while not nil, holds every call until it is closed (Resume).
	hang chan struct{}

	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
	serverCert tls.Certificate
	clientCA   *x509.CertPool
	listener   net.Listener
	server     *http.Server
}

type injected struct {
	path string
	code string
}

type order struct {
	ref, kind                   string
	endUserIP                   string
	requirement                 Requirement
	visible, nonVisible         string
	autoStartToken              string
	qrStartToken, qrStartSecret string
	answered                    time.Time
	status, hint                string
	autostarted                 bool
	user                        *TestPerson
	completion                  *CompletionData
	finishedAt                  time.Time
}

// StartSimulator listens on addr (e.g. "127.0.0.1:0") with a fresh CA, server certificate
// and client CA.
func StartSimulator(addr string) (*Simulator, error) {
	s := &Simulator{orders: map[string]*order{}, collects: map[string][]time.Time{}, cancelled: map[string]bool{}, Now: time.Now,
		StartTimeout: 30 * time.Second, Lifetime: 3 * time.Minute}
	if err := s.makeCertificates(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bankid simulator: listen on %s: %w", addr, err)
	}
	s.listener = ln
	s.URL = "https://" + ln.Addr().String() + "/rp/v6.0"
	s.server = &http.Server{Handler: http.HandlerFunc(s.serveRP), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{s.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: s.clientCA, MinVersion: tls.VersionTLS12}}
	go s.server.ServeTLS(ln, "", "")
	return s, nil
}

// Close stops the simulator.
func (s *Simulator) Close() error { return s.server.Close() }

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func (s *Simulator) makeCertificates() error {
	key, err := newKey()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Simulated BankID CA (behorig)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("bankid simulator: make CA: %w", err)
	}
	s.ca, _ = x509.ParseCertificate(der)
	s.caKey = key
	s.clientCA = x509.NewCertPool()
	s.clientCA.AddCert(s.ca)
	s.serverCert, err = s.issue("localhost", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	return err
}

// issue makes a certificate signed by the simulator's CA.
func (s *Simulator) issue(name string, usage x509.ExtKeyUsage, ips []net.IP) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{name}, IPAddresses: ips}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bankid simulator: issue %s: %w", name, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ClientCertificate issues an RP certificate the simulator accepts.
func (s *Simulator) ClientCertificate() (tls.Certificate, error) {
	return s.issue("behorig RP (simulated)", x509.ExtKeyUsageClientAuth, nil)
}

// CACertificate is the simulator's CA, to write where a config expects BankID's CA file.
func (s *Simulator) CACertificate() *x509.Certificate { return s.ca }

// CA is the pool to pin for the simulator's server certificate.
func (s *Simulator) CA() *x509.CertPool { return s.clientCA }

// Hang makes BankID stop answering: calls are accepted and held until Resume (or until the
// client gives up on them).
func (s *Simulator) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang == nil {
		s.hang = make(chan struct{})
	}
}

// Resume ends a Hang: the held calls are answered, and new ones are.
func (s *Simulator) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hang != nil {
		close(s.hang)
		s.hang = nil
	}
}

// Collects returns when the order was collected, oldest first, failed answers included.
func (s *Simulator) Collects(orderRef string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.collects[orderRef])
}

// CancelledByRP tells whether the relying party cancelled the order.
func (s *Simulator) CancelledByRP(orderRef string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled[orderRef]
}

// FailNext makes the next call to path ("/collect", …) answer with the error code.
func (s *Simulator) FailNext(path, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, injected{path, code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code, details string) {
	writeJSON(w, ErrorStatus[code], Error{Code: code, Details: details})
}

func (s *Simulator) serveRP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang != nil {
		// Hung: the connection is accepted and the request read, but no answer comes until the
		// test resumes BankID (or the client gives up).
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/rp/v6.0")
	if !ok || !map[string]bool{"/auth": true, "/sign": true, "/collect": true, "/cancel": true}[path] {
		writeError(w, ErrNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, ErrMethodNotAllowed, "use POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, ErrUnsupportedMediaType, "use application/json")
		return
	}
	var body map[string]json.RawMessage
	bodyErr := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body)
	if path == "/collect" {
		s.mu.Lock()
		s.collects[orderRef(body)] = append(s.collects[orderRef(body)], time.Now())
		s.mu.Unlock()
	}
	if code := s.injectedFailure(path); code != "" {
		writeError(w, code, "injected by the test")
		return
	}
	if bodyErr != nil {
		writeError(w, ErrInvalidParameters, "body is not a JSON object")
		return
	}
	switch path {
	case "/auth", "/sign":
		s.newOrder(w, strings.TrimPrefix(path, "/"), body)
	case "/collect":
		s.collect(w, body)
	case "/cancel":
		s.cancel(w, body)
	}
}

func (s *Simulator) injectedFailure(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failNext {
		if f.path == path {
			s.failNext = append(s.failNext[:i], s.failNext[i+1:]...)
			return f.code
		}
	}
	return ""
}

var twelveDigits = regexp.MustCompile(`^\d{12}$`)

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Simulator) newOrder(w http.ResponseWriter, kind string, body map[string]json.RawMessage) {
	var req OrderRequest
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, ErrInvalidParameters, "fields of the wrong type")
		return
	}
	if net.ParseIP(req.EndUserIP) == nil {
		writeError(w, ErrInvalidParameters, "endUserIp is required and must be an IP address")
		return
	}
	visible, err := base64.StdEncoding.DecodeString(req.UserVisibleData)
	if err != nil || (kind == "sign" && req.UserVisibleData == "") {
		writeError(w, ErrInvalidParameters, "userVisibleData must be base64 and is required for sign")
		return
	}
	nonVisible, err := base64.StdEncoding.DecodeString(req.UserNonVisibleData)
	if err != nil {
		writeError(w, ErrInvalidParameters, "userNonVisibleData must be base64")
		return
	}
	var requirement Requirement
	if req.Requirement != nil {
		requirement = *req.Requirement
	}
	if requirement.PersonalNumber != "" && !twelveDigits.MatchString(requirement.PersonalNumber) {
		writeError(w, ErrInvalidParameters, "requirement.personalNumber must be 12 digits")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	if pnr := requirement.PersonalNumber; pnr != "" {
		// One order per person: the running one is cancelled and the new one refused.
		for _, o := range s.orders {
			if s.settle(o, now); o.status == StatusPending && o.requirement.PersonalNumber == pnr {
				o.status, o.hint, o.finishedAt = StatusFailed, HintCancelled, now
				writeError(w, ErrAlreadyInProgress, "an order for this personal number is in progress")
				return
			}
		}
	}
	o := &order{ref: uuid(), kind: kind, endUserIP: req.EndUserIP, requirement: requirement, visible: string(visible),
		nonVisible: string(nonVisible), autoStartToken: uuid(), qrStartToken: uuid(), qrStartSecret: uuid(), answered: now,
		status: StatusPending, hint: HintOutstandingTransaction}
	s.orders[o.ref] = o
	writeJSON(w, http.StatusOK, OrderResponse{OrderRef: o.ref, AutoStartToken: o.autoStartToken, QRStartToken: o.qrStartToken,
		QRStartSecret: o.qrStartSecret})
}

// settle moves an order on by the clock: not picked up within the start timeout, or not
// finished within its lifetime. Finished orders are purged after a while.
func (s *Simulator) settle(o *order, now time.Time) {
	if o.status != StatusPending {
		return
	}
	age := now.Sub(o.answered)
	switch {
	case age > s.Lifetime:
		o.status, o.hint, o.finishedAt = StatusFailed, HintExpiredTransaction, now
	case o.hint == HintOutstandingTransaction && age > s.StartTimeout:
		o.status, o.hint, o.finishedAt = StatusFailed, HintStartFailed, now
	}
}

func orderRef(body map[string]json.RawMessage) string {
	var ref string
	json.Unmarshal(body["orderRef"], &ref)
	return ref
}

func (s *Simulator) collect(w http.ResponseWriter, body map[string]json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderRef(body)]
	now := s.Now()
	if ok && o.status != StatusPending && now.Sub(o.finishedAt) > 3*time.Minute {
		delete(s.orders, o.ref)
		ok = false
	}
	if !ok {
		writeError(w, ErrInvalidParameters, "no such order")
		return
	}
	s.settle(o, now)
	resp := CollectResponse{OrderRef: o.ref, Status: o.status}
	if o.status == StatusComplete {
		resp.CompletionData = o.completion
	} else {
		resp.HintCode = o.hint
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Simulator) cancel(w http.ResponseWriter, body map[string]json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := orderRef(body)
	if _, ok := s.orders[ref]; !ok {
		writeError(w, ErrInvalidParameters, "no such order")
		return
	}
	delete(s.orders, ref) // BankID forgets a cancelled order: collect answers invalidParameters
	s.cancelled[ref] = true
	writeJSON(w, http.StatusOK, struct{}{})
}

// Errors of the app's side.
var (
	ErrNoOrder     = errors.New("bankid simulator: no pending order for that code")
	ErrStaleQR     = errors.New("bankid simulator: the QR code is too old or not this order's")
	ErrWrongPerson = errors.New("bankid simulator: the order requires another person")
)

// ScanQR is the app scanning a QR code: the order's token, a qrTime within two seconds of
// the time since the order was answered, and the HMAC made with its secret. A bad or stale
// code fails the order with startFailed, as the real app does.
func (s *Simulator) ScanQR(qrData string) (string, error) {
	parts := strings.Split(qrData, ".")
	if len(parts) != 4 || parts[0] != "bankid" {
		return "", ErrNoOrder
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	for _, o := range s.orders {
		if o.qrStartToken != parts[1] {
			continue
		}
		s.settle(o, now)
		if o.status != StatusPending {
			return "", ErrNoOrder
		}
		qrTime, err := strconv.Atoi(parts[2])
		elapsed := QRTime(o.answered, now)
		if err != nil || qrTime < elapsed-2 || qrTime > elapsed+2 || !hmac.Equal([]byte(QRData(o.qrStartToken, o.qrStartSecret, qrTime)), []byte(qrData)) {
			o.status, o.hint, o.finishedAt = StatusFailed, HintStartFailed, now
			return "", ErrStaleQR
		}
		o.hint = HintStarted
		return o.ref, nil
	}
	return "", ErrNoOrder
}

// OpenAutostart is the app opened on the same device with the order's autostart token.
func (s *Simulator) OpenAutostart(token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if o.autoStartToken == token {
			if s.settle(o, s.Now()); o.status != StatusPending {
				return "", ErrNoOrder
			}
			o.hint, o.autostarted = HintStarted, true
			return o.ref, nil
		}
	}
	return "", ErrNoOrder
}

// Show is the app showing the order to the person (pnr, 12 digits), who may then sign or
// cancel. An order that requires another person is not shown.
func (s *Simulator) Show(orderRef, pnr string) (visible string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.pending(orderRef)
	if err != nil {
		return "", err
	}
	var person *TestPerson
	for i := range TestPersons {
		if TestPersons[i].PersonalNumber == pnr {
			person = &TestPersons[i]
		}
	}
	if person == nil {
		return "", fmt.Errorf("bankid simulator: %s is not one of the test persons", pnr)
	}
	if o.requirement.PersonalNumber != "" && o.requirement.PersonalNumber != pnr && !s.IgnoreRequirement {
		return "", ErrWrongPerson
	}
	// The same person's older pending order is cancelled when they pick up a new one.
	for _, other := range s.orders {
		if other != o && other.status == StatusPending && other.user != nil && other.user.PersonalNumber == pnr {
			other.status, other.hint, other.finishedAt = StatusFailed, HintCancelled, s.Now()
		}
	}
	o.user = person
	o.hint = HintUserSign
	if o.requirement.Mrtd {
		o.hint = HintUserMrtd
	}
	return o.visible, nil
}

func (s *Simulator) pending(orderRef string) (*order, error) {
	o, ok := s.orders[orderRef]
	if !ok {
		return nil, ErrNoOrder
	}
	if s.settle(o, s.Now()); o.status != StatusPending {
		return nil, ErrNoOrder
	}
	return o, nil
}

// Approve is the person entering their security code: the order completes.
func (s *Simulator) Approve(orderRef string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.pending(orderRef)
	if err != nil {
		return err
	}
	if o.user == nil {
		return fmt.Errorf("bankid simulator: order %s has not been shown to anyone", orderRef)
	}
	now := s.Now()
	signed := fmt.Sprintf(`<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="%s"><!-- %s: order %s, %s signed by %s at %s --><usrVisibleData>%s</usrVisibleData><usrNonVisibleData>%s</usrNonVisibleData></Signature>`,
		SimulatedMarker, SimulatedMarker, o.ref, o.kind, o.user.PersonalNumber, now.UTC().Format(time.RFC3339),
		base64.StdEncoding.EncodeToString([]byte(o.visible)), base64.StdEncoding.EncodeToString([]byte(o.nonVisible)))
	o.completion = &CompletionData{
		User: User{PersonalNumber: o.user.PersonalNumber, Name: o.user.GivenName + " " + o.user.Surname,
			GivenName: o.user.GivenName, Surname: o.user.Surname},
		Device:          Device{IPAddress: o.endUserIP, UHI: "SIMULATED-" + o.user.PersonalNumber},
		BankIDIssueDate: now.AddDate(-1, 0, 0).Format(time.DateOnly),
		Signature:       base64.StdEncoding.EncodeToString([]byte(signed)),
		OCSPResponse:    base64.StdEncoding.EncodeToString([]byte(SimulatedMarker + " OCSP response for order " + o.ref)),
	}
	if o.requirement.Mrtd {
		o.completion.StepUp = &StepUp{Mrtd: true}
	}
	o.status, o.hint, o.finishedAt = StatusComplete, "", now
	return nil
}

// Fail ends a pending order with a failure hint, as the app or BankID would: userCancel,
// certificateErr, startFailed, …
func (s *Simulator) Fail(orderRef, hint string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.pending(orderRef)
	if err != nil {
		return err
	}
	o.status, o.hint, o.finishedAt = StatusFailed, hint, s.Now()
	return nil
}

// SetHint moves a pending order to another pending hint (noClient, userCallConfirm, …).
func (s *Simulator) SetHint(orderRef, hint string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.pending(orderRef)
	if err != nil {
		return err
	}
	o.hint = hint
	return nil
}

// PendingOrder is an order the simulator's app can pick up.
type PendingOrder struct {
	OrderRef, Kind, Hint, RequiredPersonalNumber, Visible, NonVisible string
	Answered                                                          time.Time
}

// Pending lists the orders waiting for the app, newest first.
func (s *Simulator) Pending() []PendingOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	var out []PendingOrder
	for _, o := range s.orders {
		if s.settle(o, now); o.status == StatusPending {
			out = append(out, PendingOrder{OrderRef: o.ref, Kind: o.kind, Hint: o.hint,
				RequiredPersonalNumber: o.requirement.PersonalNumber, Visible: o.visible, NonVisible: o.nonVisible,
				Answered: o.answered})
		}
	}
	slices.SortFunc(out, func(a, b PendingOrder) int { return b.Answered.Compare(a.Answered) })
	return out
}

// ScanNow is the app scanning the order's QR code as shown this second.
func (s *Simulator) ScanNow(orderRef string) error {
	s.mu.Lock()
	o, ok := s.orders[orderRef]
	var data string
	if ok {
		data = QRData(o.qrStartToken, o.qrStartSecret, QRTime(o.answered, s.Now()))
	}
	s.mu.Unlock()
	if !ok {
		return ErrNoOrder
	}
	_, err := s.ScanQR(data)
	return err
}
