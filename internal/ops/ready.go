// Package ops is what an operator and a load balancer see of a running behorig: liveness and
// readiness (/healthz, /readyz) from probes that run in the background, and a request id on
// every log line of a request. The metrics are in internal/metrics.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Probe checks one dependency. Check must return within its context's deadline if it can;
// one that does not is reported down when the deadline passes and is not started again
// until it has returned, so a hung dependency never piles up probes.
type Probe struct {
	Name string
	// Decides says that the instance cannot serve without this dependency: /readyz answers
	// 503 while it is down. Only the database decides: without the directory, SMTP or BankID
	// behorig still serves pages, sign-ins and requests, and their work waits in the queues,
	// so a load balancer must not take every replica out because one of them is away.
	Decides bool
	Check   func(context.Context) error
}

// The states of a dependency.
const (
	StateUnknown = "unknown" // not probed yet
	StateUp      = "up"
	StateDown    = "down"
)

// Result is the last outcome of a probe.
type Result struct {
	State   string    `json:"state"`
	Decides bool      `json:"decides,omitempty"`
	Error   string    `json:"error,omitempty"`
	Checked time.Time `json:"checkedAt,omitzero"`
	// Since is when the dependency entered its state, so that "down for 3 minutes" shows.
	Since     time.Time `json:"since,omitzero"`
	LatencyMS float64   `json:"latencyMs"`
}

// Readiness probes every dependency in the background and answers /readyz from the last
// results at once: a probe never runs inside a request, so /readyz stays fast whatever hangs.
type Readiness struct {
	probes   []Probe
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu      sync.Mutex
	results map[string]Result
	// Observe, when set, is told each probe's outcome (for metrics).
	observe func(name string, up bool, took time.Duration)
}

// ReadinessOptions tune the probes. Zero values get the defaults.
type ReadinessOptions struct {
	Interval time.Duration // between probes of a dependency; default 5 s
	Timeout  time.Duration // a probe slower than this is down; default 2 s
	// Observe is told each probe's outcome, e.g. to count it in metrics.
	Observe func(name string, up bool, took time.Duration)
}

// NewReadiness returns the readiness of the probes; Run starts probing.
func NewReadiness(probes []Probe, o ReadinessOptions) *Readiness {
	r := &Readiness{probes: probes, interval: o.Interval, timeout: o.Timeout, now: time.Now,
		results: map[string]Result{}, observe: o.Observe}
	if r.interval <= 0 {
		r.interval = 5 * time.Second
	}
	if r.timeout <= 0 {
		r.timeout = 2 * time.Second
	}
	for _, p := range probes {
		r.results[p.Name] = Result{State: StateUnknown, Decides: p.Decides}
	}
	return r
}

// Run probes every dependency now and then every interval, each on its own, until ctx ends.
func (r *Readiness) Run(ctx context.Context) {
	for _, p := range r.probes {
		go r.loop(ctx, p)
	}
}

func (r *Readiness) loop(ctx context.Context, p Probe) {
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		r.probe(ctx, p)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe runs one check, waiting at most the timeout for it. A check that outlives the
// timeout is left to finish on its own while the dependency is reported down; the loop
// waits for it before the next, so at most one check per dependency runs.
func (r *Readiness) probe(ctx context.Context, p Probe) {
	start := r.now()
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Check(cctx) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		r.set(p, start, fmt.Errorf("no answer within %s", r.timeout))
		<-done // the next probe only once this one has returned; it stays down till then
		return
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", r.timeout)
	}
	r.set(p, start, err)
}

func (r *Readiness) set(p Probe, start time.Time, err error) {
	now := r.now()
	res := Result{State: StateUp, Decides: p.Decides, Checked: now, LatencyMS: float64(now.Sub(start).Microseconds()) / 1000}
	if err != nil {
		res.State, res.Error = StateDown, err.Error()
	}
	r.mu.Lock()
	prev := r.results[p.Name]
	res.Since = prev.Since
	if prev.State != res.State {
		res.Since = now
	}
	r.results[p.Name] = res
	r.mu.Unlock()
	if r.observe != nil {
		r.observe(p.Name, err == nil, now.Sub(start))
	}
}

// Results are the last results by dependency name.
func (r *Readiness) Results() map[string]Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Result, len(r.results))
	for k, v := range r.results {
		out[k] = v
	}
	return out
}

// Ready tells whether every deciding dependency was up at its last probe.
func (r *Readiness) Ready() bool {
	for _, res := range r.Results() {
		if res.Decides && res.State != StateUp {
			return false
		}
	}
	return true
}

// ServeHTTP answers /readyz: 200 while every deciding dependency (the database) is up, else
// 503, with every dependency's last state in the JSON body.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	ready := r.Ready()
	body := struct {
		Status       string            `json:"status"`
		Dependencies map[string]Result `json:"dependencies"`
	}{Status: "ready", Dependencies: r.Results()}
	code := http.StatusOK
	if !ready {
		body.Status, code = "unavailable", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}
