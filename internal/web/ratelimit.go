package web

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter bounds, per client address, the public actions that cost something elsewhere: a
// sign-in attempt (a row and a round trip to the IdP), a BankID order (BankID charges and
// cancels the person's other orders), an upload. It is per instance, a first line only.
type limiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	clients map[string]*clientLimit
}

type clientLimit struct {
	limiter *rate.Limiter
	seen    time.Time
}

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, clients: map[string]*clientLimit{}}
}

// allow takes one token of the client's bucket and forgets clients not seen for an hour.
func (l *limiter) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	c, ok := l.clients[client]
	if !ok {
		if len(l.clients) > 10000 {
			for k, v := range l.clients {
				if now.Sub(v.seen) > time.Hour {
					delete(l.clients, k)
				}
			}
		}
		c = &clientLimit{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.clients[client] = c
	}
	c.seen = now
	return c.limiter.Allow()
}

// limited answers 429 with Retry-After when the client is over its limit.
func (s *Server) limited(l *limiter, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(s.clientIP(r)) {
			w.Header().Set("Retry-After", "60")
			s.problemPage(w, r, http.StatusTooManyRequests, "limit")
			return
		}
		h(w, r)
	}
}
