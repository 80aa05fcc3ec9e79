// Package radius is behorig's RADIUS server (RFC 2865, UDP) for the VPN and Citrix gateways
// that ask whether a person may work remotely. It speaks the protocol and nothing else: who
// the gateways are, that every packet is authentic, retransmissions, and the answer's
// encoding. What to answer is the Authenticator's business (remoteaccess), behind a small
// interface, so this package imports nothing of the domain.
//
// The BlastRADIUS rules (CVE-2024-3596) hold for every packet:
//   - an Access-Request without a valid Message-Authenticator is dropped without an answer,
//     unless its gateway is configured to be let off during a migration, and even then one
//     with Proxy-State but no Message-Authenticator is dropped;
//   - every answer carries Message-Authenticator as its first attribute, ahead of the
//     Proxy-State it echoes.
//
// A packet from a source no gateway is configured for is ignored and logged. A
// retransmission (same source, identifier and authenticator, RFC 5080 §2.2.2) gets the
// answer the first copy got, without asking the Authenticator again: no second password
// check, no second SMS, no second counted failure.
package radius

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// Client is a gateway allowed to ask: where its packets come from and the secret it shares.
type Client struct {
	Name string
	// Prefix holds the gateway's source addresses (a single address is a /32 or /128).
	Prefix netip.Prefix
	Secret []byte
	// AllowMissingMessageAuthenticator lets Access-Requests without Message-Authenticator
	// through, for an old gateway during a migration; those with Proxy-State are still
	// dropped.
	AllowMissingMessageAuthenticator bool
}

// Request is an Access-Request from a known gateway, authentic and decoded.
type Request struct {
	// Client is the gateway's configured name; Source where the packet came from.
	Client string
	Source netip.AddrPort
	// NASIdentifier and NASIPAddress are what the gateway says about itself, for the log.
	NASIdentifier string
	NASIPAddress  netip.Addr
	Username      string
	// Password is User-Password decrypted: a password, a password with a YubiKey OTP, or
	// the code that answers a challenge. It must never be logged.
	Password string
	// State is the State of the challenge this request answers; nil on a first request.
	State []byte
}

// Result is the kind of answer.
type Result int

// The answers an Authenticator gives.
const (
	Reject Result = iota
	Accept
	Challenge
)

func (r Result) code() radius.Code {
	switch r {
	case Accept:
		return radius.CodeAccessAccept
	case Challenge:
		return radius.CodeAccessChallenge
	}
	return radius.CodeAccessReject
}

func (r Result) String() string { return r.code().String() }

// Decision is the Authenticator's answer to a Request.
type Decision struct {
	Result Result
	// ReplyMessage is shown to the person (the challenge's prompt); at most 253 bytes.
	ReplyMessage string
	// State goes with a Challenge and comes back in the next Request; at most 253 bytes.
	State []byte
	// SessionTimeout, for an Accept, ends the session: the gateway disconnects the person
	// then. Zero sends none.
	SessionTimeout time.Duration
}

// Authenticator decides what a Request gets. An error is answered with Access-Reject, as
// any other failure: the gateway and the person learn nothing about the cause.
type Authenticator interface {
	Authenticate(ctx context.Context, r Request) (Decision, error)
}

// Config configures a Server.
type Config struct {
	Clients       []Client
	Authenticator Authenticator
	Logger        *slog.Logger
	// Timeout bounds the Authenticator's work on one request (a password check, an SMS).
	// Default 30s; gateways retransmit meanwhile and the retransmissions wait for the first.
	Timeout time.Duration
	// DuplicateWindow is how long an answer is kept for retransmissions. Default 30s.
	DuplicateWindow time.Duration
	// MaxInFlight bounds the requests worked on at once; more are dropped, and the gateways
	// retransmit them. Default 1024.
	MaxInFlight int
}

// Server answers RADIUS requests on a packet connection.
type Server struct {
	clients []Client // most specific prefix first
	auth    Authenticator
	log     *slog.Logger
	timeout time.Duration
	slots   chan struct{}
	answers *answerCache
	// dropLog keeps a flood of bad packets (spoofed, a wrong secret) from flooding the log.
	dropLog *limitedLog
}

// New checks the config and returns a Server.
func New(c Config) (*Server, error) {
	var errs []error
	if c.Authenticator == nil {
		errs = append(errs, errors.New("radius: Authenticator is required"))
	}
	if len(c.Clients) == 0 {
		errs = append(errs, errors.New("radius: no client (gateway) is configured"))
	}
	names := map[string]bool{}
	for i, cl := range c.Clients {
		if cl.Name == "" || names[cl.Name] {
			errs = append(errs, fmt.Errorf("radius: client %d: the name %q is empty or used twice", i, cl.Name))
		}
		names[cl.Name] = true
		if !cl.Prefix.IsValid() {
			errs = append(errs, fmt.Errorf("radius: client %q: no address", cl.Name))
		}
		if len(cl.Secret) == 0 {
			errs = append(errs, fmt.Errorf("radius: client %q: no secret", cl.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	clients := slices.Clone(c.Clients)
	for i := range clients {
		clients[i].Prefix = netip.PrefixFrom(clients[i].Prefix.Addr().Unmap(), clients[i].Prefix.Bits()).Masked()
	}
	// A gateway with its own address inside a network configured for others is itself.
	slices.SortStableFunc(clients, func(a, b Client) int { return cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()) })
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	window := cmp.Or(c.DuplicateWindow, 30*time.Second)
	return &Server{clients: clients, auth: c.Authenticator, log: logger, timeout: cmp.Or(c.Timeout, 30*time.Second),
		slots: make(chan struct{}, cmp.Or(c.MaxInFlight, 1024)), answers: newAnswerCache(window, 1<<16),
		dropLog: &limitedLog{log: logger, every: time.Second}}, nil
}

// Serve reads packets from conn until ctx ends, then closes conn and waits for the requests
// in flight.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("radius: read: %w", err)
			}
			s.log.Warn("radius: read", "err", err)
			continue
		}
		source, ok := addrPort(from)
		if !ok {
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.dropLog.warn("radius: too many requests in flight, dropped one", "source", source.String())
			continue
		}
		packet := slices.Clone(buf[:n])
		wg.Go(func() {
			defer func() { <-s.slots }()
			if reply := s.Handle(ctx, source, packet); reply != nil {
				if _, err := conn.WriteTo(reply, from); err != nil && ctx.Err() == nil {
					s.log.Warn("radius: send answer", "source", source.String(), "err", err)
				}
			}
		})
	}
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

// client returns the gateway the source belongs to.
func (s *Server) client(source netip.Addr) (*Client, bool) {
	for i := range s.clients {
		if s.clients[i].Prefix.Contains(source) {
			return &s.clients[i], true
		}
	}
	return nil, false
}

// Handle answers one packet from source: the encoded answer, or nil when the packet is
// dropped. It is what Serve does with each datagram; tests and the fuzzer call it directly.
func (s *Server) Handle(ctx context.Context, source netip.AddrPort, raw []byte) []byte {
	cl, ok := s.client(source.Addr())
	if !ok {
		s.dropLog.warn("radius: packet from an unknown client ignored", "source", source.String())
		return nil
	}
	drop := func(reason string) []byte {
		s.dropLog.warn("radius: packet dropped", "client", cl.Name, "source", source.String(), "reason", reason)
		return nil
	}
	found, valid, err := checkMessageAuthenticator(raw, cl.Secret)
	if err != nil {
		return drop("malformed")
	}
	p, err := radius.Parse(raw, cl.Secret)
	if err != nil {
		return drop("malformed")
	}
	switch {
	case found && !valid:
		// The one cause a configuration error shows as: a secret that differs between the
		// gateway and us.
		return drop("bad Message-Authenticator (is the shared secret the same on both sides?)")
	case !found && (p.Code == radius.CodeStatusServer || !cl.AllowMissingMessageAuthenticator):
		return drop("no Message-Authenticator")
	case !found && len(p.Get(typeProxyState)) > 0:
		return drop("Proxy-State without Message-Authenticator")
	}
	switch p.Code {
	case radius.CodeAccessRequest:
	case radius.CodeStatusServer:
		// RFC 5997: a gateway's or monitor's "are you there"; no work, no caching.
		return s.encode(p.Response(radius.CodeAccessAccept), p)
	default:
		return drop("not an Access-Request: " + p.Code.String())
	}
	key := answerKey{source: source, id: p.Identifier, authenticator: p.Authenticator}
	first, answer := s.answers.claim(key)
	if !first {
		// A retransmission: the same answer, once the first copy has one. A copy that
		// arrives while the first is worked on waits for it rather than being dropped, so
		// that the gateway gets its answer as soon as there is one.
		select {
		case <-answer.done:
			return answer.bytes
		case <-ctx.Done():
			return nil
		}
	}
	reply := s.access(ctx, cl, source, p)
	s.answers.settle(answer, reply)
	return reply
}

// access asks the Authenticator and encodes its decision.
func (s *Server) access(ctx context.Context, cl *Client, source netip.AddrPort, p *radius.Packet) []byte {
	req := Request{Client: cl.Name, Source: source, NASIdentifier: rfc2865.NASIdentifier_GetString(p)}
	if ip := rfc2865.NASIPAddress_Get(p); ip != nil {
		req.NASIPAddress, _ = netip.AddrFromSlice(ip)
		req.NASIPAddress = req.NASIPAddress.Unmap()
	}
	req.Username = rfc2865.UserName_GetString(p)
	var hasPassword bool
	req.Password, hasPassword = password(p)
	if state, ok := p.Lookup(rfc2865.State_Type); ok {
		req.State = state
	}
	var d Decision
	switch {
	case req.Username == "" || !hasPassword:
		// CHAP, EAP and the like: only PAP carries what a password check needs.
		s.log.Info("radius: rejected a request without User-Name and User-Password", "client", cl.Name,
			"source", source.String(), "nas", req.NASIdentifier)
	default:
		actx, cancel := context.WithTimeout(ctx, s.timeout)
		var err error
		d, err = s.auth.Authenticate(actx, req)
		cancel()
		if err != nil {
			s.log.Error("radius: authenticate", "client", cl.Name, "user", req.Username, "err", err)
			d = Decision{Result: Reject}
		}
	}
	resp := p.Response(d.Result.code())
	if d.ReplyMessage != "" {
		if err := rfc2865.ReplyMessage_SetString(resp, d.ReplyMessage); err != nil {
			s.log.Error("radius: reply message", "err", err)
		}
	}
	if d.Result == Challenge {
		if err := rfc2865.State_Set(resp, d.State); err != nil {
			s.log.Error("radius: state", "err", err)
			resp = p.Response(radius.CodeAccessReject)
		}
	}
	if d.Result == Accept && d.SessionTimeout > 0 {
		secs := max(int64(d.SessionTimeout/time.Second), 1)
		rfc2865.SessionTimeout_Set(resp, rfc2865.SessionTimeout(min(secs, 1<<32-1)))
	}
	return s.encode(resp, p)
}

// encode echoes the request's Proxy-State (in order, unchanged: RFC 2865 §5.33) and signs.
func (s *Server) encode(resp, req *radius.Packet) []byte {
	for _, avp := range req.Attributes {
		if avp.Type == typeProxyState {
			resp.Add(typeProxyState, avp.Attribute)
		}
	}
	b, err := encodeResponse(resp)
	if err != nil {
		// Only a request with so much Proxy-State that the answer exceeds 4096 bytes.
		s.log.Warn("radius: encode answer", "err", err)
		return nil
	}
	return b
}

// limitedLog writes at most one line per interval and counts the lines it held back, so
// that a flood of packets from a spoofed source or a misconfigured gateway is seen without
// filling the disk.
type limitedLog struct {
	log        *slog.Logger
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed atomic.Int64
}

func (l *limitedLog) warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.every {
		l.mu.Unlock()
		l.suppressed.Add(1)
		return
	}
	l.last = now
	l.mu.Unlock()
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "similar_lines_suppressed", n)
	}
	l.log.Warn(msg, args...)
}
