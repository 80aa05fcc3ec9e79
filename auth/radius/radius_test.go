package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/behorig/behorig/internal/testenv"
)

// vectors are the RFC 2865 §7.1 example and the Message-Authenticator vectors computed from
// it in ../shared/specs/radius.md (secret xyzzy5461, user nemo, password arctangent), copied
// to testdata.
type vectors struct {
	Secret               string `json:"secret"`
	RequestAuthenticator string `json:"request_authenticator"`
	// User-Name, hidden User-Password, NAS-IP-Address, NAS-Port.
	RequestAttributes string `json:"request_attributes"`
	RequestPassword   string `json:"request_password"`
	RequestMA         string `json:"request_message_authenticator"`
	// The RFC's Access-Accept: Service-Type, Login-Service, Login-IP-Host.
	AcceptAttributes string `json:"accept_attributes"`
	AcceptMA         string `json:"accept_message_authenticator"`
	AcceptRA         string `json:"accept_response_authenticator"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc2865-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMessageAuthenticatorOfTheRFCRequest(t *testing.T) {
	v := loadVectors(t)
	vectorSecret := v.Secret
	raw := unhex(t, "01"+"00"+"004a"+v.RequestAuthenticator+"5012"+v.RequestMA+v.RequestAttributes)
	found, valid, err := checkMessageAuthenticator(raw, []byte(vectorSecret))
	if err != nil || !found || !valid {
		t.Fatalf("the spec's signed request: found %v, valid %v, err %v", found, valid, err)
	}
	p, err := radius.Parse(raw, []byte(vectorSecret))
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := password(p); !ok || pw != v.RequestPassword {
		t.Errorf("User-Password decrypts to %q, %v; want %s", pw, ok, v.RequestPassword)
	}
	for _, c := range []struct {
		name   string
		raw    []byte
		secret string
	}{
		{"another secret", raw, "xyzzy5462"},
		{"a changed attribute", bytes.Replace(raw, []byte("nemo"), []byte("nema"), 1), vectorSecret},
		{"a changed authenticator", append(append(append([]byte{}, raw[:4]...), 0xff), raw[5:]...), vectorSecret},
	} {
		found, valid, err := checkMessageAuthenticator(c.raw, []byte(c.secret))
		if err != nil || !found || valid {
			t.Errorf("%s: found %v, valid %v, err %v; want found and invalid", c.name, found, valid, err)
		}
	}
	// Padding after Length is not part of the packet (RFC 2865 §3).
	if _, valid, _ := checkMessageAuthenticator(append(raw, 0, 0, 0), []byte(vectorSecret)); !valid {
		t.Error("bytes after Length changed the verdict")
	}
}

func TestResponseSignedAsTheVector(t *testing.T) {
	v := loadVectors(t)
	request := unhex(t, "01000038"+v.RequestAuthenticator+v.RequestAttributes)
	req, err := radius.Parse(request, []byte(v.Secret))
	if err != nil {
		t.Fatal(err)
	}
	resp := req.Response(radius.CodeAccessAccept)
	attrs, err := radius.ParseAttributes(unhex(t, v.AcceptAttributes))
	if err != nil {
		t.Fatal(err)
	}
	resp.Attributes = attrs
	got, err := encodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "02000038"+v.AcceptRA+"5012"+v.AcceptMA+v.AcceptAttributes)
	if !bytes.Equal(got, want) {
		t.Fatalf("Access-Accept\n got %x\nwant %x", got, want)
	}
	if !radius.IsAuthenticResponse(got, request, []byte(v.Secret)) {
		t.Error("the Response Authenticator does not verify")
	}
}

// fakeAuthenticator answers with decide and remembers what it was asked.
type fakeAuthenticator struct {
	mu     sync.Mutex
	asked  []Request
	calls  atomic.Int64
	decide func(Request) (Decision, error)
}

func (f *fakeAuthenticator) Authenticate(ctx context.Context, r Request) (Decision, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.asked = append(f.asked, r)
	f.mu.Unlock()
	return f.decide(r)
}

func (f *fakeAuthenticator) last(t *testing.T) Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) == 0 {
		t.Fatal("the authenticator was never asked")
	}
	return f.asked[len(f.asked)-1]
}

const testSecret = "a-long-random-secret-for-tests"

// serve starts a Server on a free UDP port of 127.0.0.1 with the clients and returns its
// address and what it logged.
func serve(t *testing.T, auth Authenticator, clients ...Client) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if len(clients) == 0 {
		clients = []Client{{Name: "vpn", Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: []byte(testSecret)}}
	}
	s, err := New(Config{Clients: clients, Authenticator: auth, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn.LocalAddr().String(), logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const withMA = "Message-Authenticator = 0x00"

func TestRadclientGetsTheDecision(t *testing.T) {
	auth := &fakeAuthenticator{decide: func(r Request) (Decision, error) {
		if r.Password == "right, \"quoted\" password" {
			return Decision{Result: Accept, SessionTimeout: 90*time.Minute + 500*time.Millisecond}, nil
		}
		return Decision{Result: Reject, ReplyMessage: "Inloggningen misslyckades"}, nil
	}}
	addr, _ := serve(t, auth)

	reply := testenv.Radclient(t, addr, testSecret, 5*time.Second, `User-Name = "alice"`,
		`User-Password = "right, \"quoted\" password"`, `NAS-Identifier = "citrix-1"`, `NAS-IP-Address = 10.1.2.3`, withMA)
	if reply.Code != "Access-Accept" {
		t.Fatalf("want Access-Accept:\n%s", reply.Output)
	}
	if v, _ := reply.Get("Session-Timeout"); v != "5400" {
		t.Errorf("Session-Timeout %q, want 5400:\n%s", v, reply.Output)
	}
	if len(reply.Attributes) == 0 || reply.Attributes[0].Name != "Message-Authenticator" {
		t.Errorf("Message-Authenticator is not the first attribute:\n%s", reply.Output)
	}
	r := auth.last(t)
	if r.Client != "vpn" || r.Username != "alice" || r.NASIdentifier != "citrix-1" || r.NASIPAddress != netip.MustParseAddr("10.1.2.3") ||
		r.Source.Addr() != netip.MustParseAddr("127.0.0.1") || r.State != nil {
		t.Errorf("the authenticator was asked %+v", r)
	}

	reply = testenv.Radclient(t, addr, testSecret, 5*time.Second, `User-Name = "alice"`, `User-Password = "wrong"`, withMA)
	if reply.Code != "Access-Reject" {
		t.Fatalf("want Access-Reject:\n%s", reply.Output)
	}
	if v, _ := reply.Get("Reply-Message"); v != "Inloggningen misslyckades" || reply.Attributes[0].Name != "Message-Authenticator" {
		t.Errorf("Reject without the message or not signed first:\n%s", reply.Output)
	}
	if _, ok := reply.Get("Session-Timeout"); ok {
		t.Errorf("a Reject with Session-Timeout:\n%s", reply.Output)
	}

	// The health check the README gives: radclient exits 0 only on an Access-Accept.
	status := exec.Command("radclient", "-q", "-r", "1", "-t", "5", addr, "status", testSecret)
	status.Stdin = strings.NewReader("Message-Authenticator=0x00\n")
	if out, err := status.CombinedOutput(); err != nil {
		t.Errorf("radclient status: %v\n%s", err, out)
	}
}

func TestRadclientChallengeAndState(t *testing.T) {
	state := []byte("opaque-state-0123456789")
	auth := &fakeAuthenticator{decide: func(r Request) (Decision, error) {
		switch {
		case r.State == nil && r.Password == "pw":
			return Decision{Result: Challenge, State: state, ReplyMessage: "Ange koden från SMS:et"}, nil
		case bytes.Equal(r.State, state) && r.Password == "123456":
			return Decision{Result: Accept}, nil
		}
		return Decision{Result: Reject}, nil
	}}
	addr, _ := serve(t, auth)
	reply := testenv.Radclient(t, addr, testSecret, 5*time.Second, `User-Name = "carol"`, `User-Password = "pw"`, withMA)
	if reply.Code != "Access-Challenge" {
		t.Fatalf("want Access-Challenge:\n%s", reply.Output)
	}
	got, _ := reply.Get("State")
	if got != "0x"+hex.EncodeToString(state) {
		t.Fatalf("State %s, want 0x%x:\n%s", got, state, reply.Output)
	}
	if msg, _ := reply.Get("Reply-Message"); msg != "Ange koden från SMS:et" {
		t.Errorf("Reply-Message %q:\n%s", msg, reply.Output)
	}
	reply = testenv.Radclient(t, addr, testSecret, 5*time.Second, `User-Name = "carol"`, `User-Password = "123456"`, "State = "+got, withMA)
	if reply.Code != "Access-Accept" {
		t.Fatalf("the code with the State: want Access-Accept:\n%s", reply.Output)
	}
}

// BlastRADIUS: requests without a valid Message-Authenticator get no answer at all, and the
// authenticator is never asked; so do requests under another secret and from unknown
// sources (logged).
func TestRadclientDroppedRequests(t *testing.T) {
	auth := &fakeAuthenticator{decide: func(Request) (Decision, error) { return Decision{Result: Accept}, nil }}
	addr, logs := serve(t, auth)
	if reply := testenv.Radclient(t, addr, testSecret, time.Second, `User-Name = "alice"`, `User-Password = "pw"`); reply.Code != "" {
		t.Errorf("without Message-Authenticator: want no answer, got %s:\n%s", reply.Code, reply.Output)
	}
	if reply := testenv.Radclient(t, addr, "another-secret-of-some-length", time.Second, `User-Name = "alice"`, `User-Password = "pw"`, withMA); reply.Code != "" {
		t.Errorf("wrong shared secret: want no answer, got %s:\n%s", reply.Code, reply.Output)
	}
	if n := auth.calls.Load(); n != 0 {
		t.Errorf("the authenticator was asked %d times", n)
	}
	if !strings.Contains(logs.String(), "no Message-Authenticator") {
		t.Errorf("the drop is not logged:\n%s", logs)
	}

	other, logs := serve(t, auth, Client{Name: "far", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Secret: []byte(testSecret)})
	if reply := testenv.Radclient(t, other, testSecret, time.Second, `User-Name = "alice"`, `User-Password = "pw"`, withMA); reply.Code != "" {
		t.Errorf("unknown client: want no answer, got %s:\n%s", reply.Code, reply.Output)
	}
	if !strings.Contains(logs.String(), "unknown client") || !strings.Contains(logs.String(), "127.0.0.1") {
		t.Errorf("the unknown client is not logged with its address:\n%s", logs)
	}
	if n := auth.calls.Load(); n != 0 {
		t.Errorf("the authenticator was asked %d times", n)
	}
}

// request encodes an Access-Request under secret with User-Name, User-Password and extra
// attributes, signed with Message-Authenticator when sign is set.
func request(t testing.TB, secret string, sign bool, user, pw string, extra ...*radius.AVP) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	if sign {
		p.Add(typeMessageAuthenticator, make([]byte, 16))
	}
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, pw)
	for _, a := range extra {
		p.Add(a.Type, a.Attribute)
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if sign {
		mac := hmac.New(md5.New, []byte(secret))
		mac.Write(raw)
		copy(raw[22:38], mac.Sum(nil))
	}
	return raw
}

// checkAnswer parses an answer to req and checks what every answer must be: the same
// identifier, Message-Authenticator first and valid, a valid Response Authenticator.
func checkAnswer(t testing.TB, answer, req []byte, secret string) *radius.Packet {
	t.Helper()
	p, err := radius.Parse(answer, []byte(secret))
	if err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if p.Identifier != req[1] {
		t.Errorf("answer id %d to request %d", p.Identifier, req[1])
	}
	if len(p.Attributes) == 0 || p.Attributes[0].Type != typeMessageAuthenticator {
		t.Fatalf("Message-Authenticator is not first: %x", answer)
	}
	withReqAuth := bytes.Clone(answer)
	copy(withReqAuth[4:20], req[4:20])
	if _, valid, _ := checkMessageAuthenticator(withReqAuth, []byte(secret)); !valid {
		t.Errorf("the answer's Message-Authenticator does not verify")
	}
	if !radius.IsAuthenticResponse(answer, req, []byte(secret)) {
		t.Errorf("the answer's Response Authenticator does not verify")
	}
	return p
}

func newServer(t testing.TB, auth Authenticator, clients ...Client) *Server {
	t.Helper()
	if len(clients) == 0 {
		clients = []Client{{Name: "vpn", Prefix: netip.MustParsePrefix("192.0.2.0/24"), Secret: []byte(testSecret)}}
	}
	s, err := New(Config{Clients: clients, Authenticator: auth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var gateway = netip.MustParseAddrPort("192.0.2.10:40000")

// A retransmission gets the same answer, byte for byte, without asking again; one that
// arrives while the first is still worked on waits for it. Another request (a new
// authenticator) or the same from another port is asked again.
func TestRetransmissionGetsTheSameAnswer(t *testing.T) {
	release := make(chan struct{})
	auth := &fakeAuthenticator{decide: func(r Request) (Decision, error) {
		<-release
		return Decision{Result: Challenge, State: []byte("s1"), ReplyMessage: "Ange koden"}, nil
	}}
	s := newServer(t, auth)
	req := request(t, testSecret, true, "carol", "pw")
	ctx := context.Background()
	answers := make(chan []byte, 3)
	for range 3 {
		go func() { answers <- s.Handle(ctx, gateway, req) }()
	}
	for auth.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	first := <-answers
	checkAnswer(t, first, req, testSecret)
	for range 2 {
		if again := <-answers; !bytes.Equal(again, first) {
			t.Errorf("a retransmission while the first was worked on got\n%x, not\n%x", again, first)
		}
	}
	if again := s.Handle(ctx, gateway, req); !bytes.Equal(again, first) {
		t.Errorf("a late retransmission got\n%x, not\n%x", again, first)
	}
	if n := auth.calls.Load(); n != 1 {
		t.Errorf("the authenticator was asked %d times for one request", n)
	}
	s.Handle(ctx, netip.AddrPortFrom(gateway.Addr(), gateway.Port()+1), req)
	s.Handle(ctx, gateway, request(t, testSecret, true, "carol", "pw"))
	if n := auth.calls.Load(); n != 3 {
		t.Errorf("the authenticator was asked %d times for three requests", n)
	}
}

// Proxy-State comes back unchanged and in order, after Message-Authenticator. A gateway let
// off Message-Authenticator still has its Proxy-State requests dropped.
func TestProxyState(t *testing.T) {
	auth := &fakeAuthenticator{decide: func(Request) (Decision, error) { return Decision{Result: Reject}, nil }}
	s := newServer(t, auth, Client{Name: "old", Prefix: netip.MustParsePrefix("192.0.2.0/24"), Secret: []byte(testSecret),
		AllowMissingMessageAuthenticator: true})
	ctx := context.Background()
	ps := []*radius.AVP{{Type: typeProxyState, Attribute: []byte("first")}, {Type: typeProxyState, Attribute: []byte("second")}}
	req := request(t, testSecret, true, "alice", "pw", ps...)
	answer := checkAnswer(t, s.Handle(ctx, gateway, req), req, testSecret)
	var echoed []string
	for _, a := range answer.Attributes {
		if a.Type == typeProxyState {
			echoed = append(echoed, string(a.Attribute))
		}
	}
	if strings.Join(echoed, ",") != "first,second" {
		t.Errorf("Proxy-State echoed as %q", echoed)
	}
	if got := s.Handle(ctx, gateway, request(t, testSecret, false, "alice", "pw", ps...)); got != nil {
		t.Errorf("Proxy-State without Message-Authenticator was answered: %x", got)
	}
	unsigned := request(t, testSecret, false, "alice", "pw")
	checkAnswer(t, s.Handle(ctx, gateway, unsigned), unsigned, testSecret)
}

func TestMostSpecificClientAndStatusServer(t *testing.T) {
	auth := &fakeAuthenticator{decide: func(Request) (Decision, error) { return Decision{Result: Accept}, nil }}
	s := newServer(t, auth,
		Client{Name: "net", Prefix: netip.MustParsePrefix("192.0.2.0/24"), Secret: []byte("the network's secret, long enough")},
		Client{Name: "one", Prefix: netip.MustParsePrefix("192.0.2.10/32"), Secret: []byte(testSecret)})
	req := request(t, testSecret, true, "alice", "pw")
	checkAnswer(t, s.Handle(context.Background(), gateway, req), req, testSecret)
	if r := auth.last(t); r.Client != "one" {
		t.Errorf("asked as client %q, want one", r.Client)
	}

	status := radius.New(radius.CodeStatusServer, []byte(testSecret))
	status.Add(typeMessageAuthenticator, make([]byte, 16))
	raw, _ := status.Encode()
	mac := hmac.New(md5.New, []byte(testSecret))
	mac.Write(raw)
	copy(raw[22:38], mac.Sum(nil))
	if p := checkAnswer(t, s.Handle(context.Background(), gateway, raw), raw, testSecret); p.Code != radius.CodeAccessAccept {
		t.Errorf("Status-Server answered %v", p.Code)
	}
}

// An authenticator's error is an ordinary Reject to the gateway.
func TestAuthenticatorErrorIsAReject(t *testing.T) {
	auth := &fakeAuthenticator{decide: func(Request) (Decision, error) { return Decision{}, context.DeadlineExceeded }}
	s := newServer(t, auth)
	req := request(t, testSecret, true, "alice", "pw")
	if p := checkAnswer(t, s.Handle(context.Background(), gateway, req), req, testSecret); p.Code != radius.CodeAccessReject ||
		len(p.Attributes) != 1 {
		t.Errorf("got %v with %d attributes, want a bare Access-Reject", p.Code, len(p.Attributes))
	}
}

// FuzzHandle feeds the server arbitrary datagrams from a known gateway. Whatever comes in:
// no panic; an answer only to a packet with a valid Message-Authenticator; and every answer
// is signed, Message-Authenticator first, under the gateway's secret.
func FuzzHandle(f *testing.F) {
	f.Add(request(f, testSecret, true, "alice", "pw"))
	f.Add(request(f, testSecret, true, "carol", "pw", &radius.AVP{Type: typeProxyState, Attribute: []byte("ps")},
		&radius.AVP{Type: rfc2865.State_Type, Attribute: []byte("st")}))
	f.Add(request(f, testSecret, false, "alice", "pw"))
	f.Add(request(f, "another secret", true, "alice", "pw"))
	f.Add([]byte{1, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 80, 1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		auth := &fakeAuthenticator{decide: func(r Request) (Decision, error) {
			if r.State != nil {
				return Decision{Result: Accept, SessionTimeout: time.Hour}, nil
			}
			return Decision{Result: Challenge, State: []byte(r.Username), ReplyMessage: r.Password}, nil
		}}
		s := newServer(t, auth)
		answer := s.Handle(context.Background(), gateway, bytes.Clone(raw))
		if answer == nil {
			return
		}
		if _, valid, _ := checkMessageAuthenticator(raw, []byte(testSecret)); !valid {
			t.Fatalf("answered a packet without a valid Message-Authenticator: %x", raw)
		}
		req, _ := packetBytes(raw)
		checkAnswer(t, answer, req, testSecret)
	})
}

// A request worked on for longer than the duplicate window (a slow directory, a slow SMS
// gateway) still has its retransmissions wait for its answer: they must not be worked on
// again, which would check the password twice and send a second SMS.
func TestRetransmissionOfASlowRequestWaitsForIt(t *testing.T) {
	release := make(chan struct{})
	var auth *fakeAuthenticator
	auth = &fakeAuthenticator{decide: func(r Request) (Decision, error) {
		if auth.calls.Load() == 1 {
			<-release
		}
		return Decision{Result: Accept}, nil
	}}
	s, err := New(Config{Clients: []Client{{Name: "vpn", Prefix: netip.MustParsePrefix("192.0.2.0/24"), Secret: []byte(testSecret)}},
		Authenticator: auth, Logger: slog.New(slog.DiscardHandler), DuplicateWindow: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, testSecret, true, "carol", "pw")
	first := make(chan []byte, 1)
	go func() { first <- s.Handle(context.Background(), gateway, req) }()
	for auth.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // the window is over, the first is still worked on
	// The retransmission's own wait is over at once: it either waits for the first (and
	// gives up) or is worked on again.
	gaveUp, cancel := context.WithCancel(context.Background())
	cancel()
	s.Handle(gaveUp, gateway, req)
	close(release)
	checkAnswer(t, <-first, req, testSecret)
	if n := auth.calls.Load(); n != 1 {
		t.Errorf("the authenticator was asked %d times for one request", n)
	}
}
