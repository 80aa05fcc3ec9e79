package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// StallProxy is a TCP proxy in front of a real server that a test can make hang: while
// stalled it accepts connections and never sends or forwards a byte, as a server that is
// up but stuck does (a hung mail relay, a full disk). Released, it closes what it held and
// forwards new connections to the server.
type StallProxy struct {
	Addr   string
	target string

	mu      sync.Mutex
	stalled bool
	held    []net.Conn
}

// NewStallProxy starts a proxy to target for the test, closed when it ends.
func NewStallProxy(t testing.TB, target string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{Addr: ln.Addr().String(), target: target}
	t.Cleanup(func() {
		ln.Close()
		p.Release()
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.handle(conn)
		}
	}()
	return p
}

// Stall makes the proxy hang every connection from now on.
func (p *StallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Release ends the stall: the held connections are closed and new ones are forwarded.
func (p *StallProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

func (p *StallProxy) handle(conn net.Conn) {
	p.mu.Lock()
	if p.stalled {
		p.held = append(p.held, conn)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	go func() {
		defer conn.Close()
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			return
		}
		defer server.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(server, conn); done <- struct{}{} }()
		go func() { io.Copy(conn, server); done <- struct{}{} }()
		<-done
	}()
}
