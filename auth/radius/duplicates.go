package radius

import (
	"net/netip"
	"sync"
	"time"
)

// answerKey is what makes a retransmission the same request (RFC 5080 §2.2.2): the source
// address and port, the identifier and the request authenticator, which the gateway draws
// at random for each new request and keeps for its retransmissions.
type answerKey struct {
	source        netip.AddrPort
	id            byte
	authenticator [16]byte
}

// answer is the reply to one request; done is closed once bytes is set (nil: dropped).
type answer struct {
	done    chan struct{}
	bytes   []byte
	expires time.Time
}

// answerCache keeps each request's answer for a window, for its retransmissions. It is
// bounded: when full of live answers it stops remembering new ones, and a retransmission of
// those is worked on again, which costs a second check but never lets more in.
type answerCache struct {
	window time.Duration
	max    int

	mu        sync.Mutex
	answers   map[answerKey]*answer
	lastSweep time.Time
}

func newAnswerCache(window time.Duration, max int) *answerCache {
	return &answerCache{window: window, max: max, answers: map[answerKey]*answer{}}
}

// claim returns the answer for the key: first is true when nobody has asked before, and
// the caller must settle it; otherwise the caller waits on its done.
func (c *answerCache) claim(key answerKey) (first bool, a *answer) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// An answer still being worked on is never over: its window starts when it is settled,
	// however long the first copy takes (a slow bind, a slow SMS gateway).
	if a, ok := c.answers[key]; ok && (now.Before(a.expires) || !a.settled()) {
		return false, a
	}
	if now.Sub(c.lastSweep) > c.window || len(c.answers) >= c.max {
		for k, a := range c.answers {
			if !now.Before(a.expires) && a.settled() {
				delete(c.answers, k)
			}
		}
		c.lastSweep = now
	}
	a = &answer{done: make(chan struct{}), expires: now.Add(c.window)}
	if len(c.answers) < c.max {
		c.answers[key] = a
	}
	return true, a
}

// settled tells whether the answer is known; the caller holds c.mu or waits on done.
func (a *answer) settled() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// settle records the reply and wakes the retransmissions waiting for it. The window starts
// again from now: a slow first answer (an SMS) must still cover the retransmissions that
// came while it was worked on and the ones after.
func (c *answerCache) settle(a *answer, reply []byte) {
	c.mu.Lock()
	a.bytes = reply
	a.expires = time.Now().Add(c.window)
	c.mu.Unlock()
	close(a.done)
}
