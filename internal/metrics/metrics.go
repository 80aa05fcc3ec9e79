// Package metrics is what behorig tells Prometheus at /metrics: HTTP requests by route and
// status with their latency, jobs by kind and outcome, the depth of each queue and the age of
// its oldest due job, every call to an outside party (directory, SMTP, later BankID) with its
// latency and errors, the readiness probes, and the database pools.
//
// Everything is registered in one Registry made by New and passed to whoever records, never
// in Prometheus's global default registry: two behorigs in one test process (or one test
// after another) do not share counters, and nothing registers behind our back.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
)

// Metrics holds behorig's collectors and the registry they are in.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	calls        *prometheus.HistogramVec
	callErrors   *prometheus.CounterVec
	jobs         *prometheus.CounterVec
	jobDuration  *prometheus.HistogramVec
	jobWait      *prometheus.HistogramVec
	dependencyUp *prometheus.GaugeVec
}

// latencyBuckets reach from a fast page (5 ms) to a directory call that times out (10 s and
// more); the job buckets go on to the job timeout.
var (
	latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	jobBuckets     = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 120, 300}
)

// New makes the collectors in a new registry, with Go's runtime and the process beside them.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "behorig_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "behorig_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route pattern.", Buckets: latencyBuckets}, []string{"route"})
	m.calls = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "behorig_outside_call_duration_seconds",
		Help:    "Calls to outside parties (directory, smtp, bankid, sms:<gateway>), by party and operation, failed or not.",
		Buckets: latencyBuckets}, []string{"party", "op"})
	m.callErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "behorig_outside_call_errors_total",
		Help: "Calls to outside parties that failed, by party and operation (a directory's not-found is an answer, not an error)."},
		[]string{"party", "op"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "behorig_jobs_total",
		Help: "Job runs that ended, by kind and outcome (completed, failed, discarded, cancelled, snoozed)."},
		[]string{"kind", "outcome"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "behorig_job_run_duration_seconds",
		Help: "How long a job run took, by kind.", Buckets: jobBuckets}, []string{"kind"})
	m.jobWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "behorig_job_queue_wait_seconds",
		Help: "How long a job waited, due, before a worker took it, by kind.", Buckets: jobBuckets}, []string{"kind"})
	m.dependencyUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "behorig_dependency_up",
		Help: "1 when the dependency answered its last readiness probe, else 0."}, []string{"dependency"})
	m.Registry.MustRegister(m.httpRequests, m.httpDuration, m.calls, m.callErrors, m.jobs, m.jobDuration, m.jobWait,
		m.dependencyUp, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MaxScrapesInFlight is how many scrapes of /metrics run at once; more are answered 503 at
// once. A scrape reads the queues on the web's pool and /metrics needs no sign-in: a flood
// of scrapes (a proxy that does not refuse /metrics from outside) must not take the web's
// connections. Two leave room for a pair of Prometheus servers.
const MaxScrapesInFlight = 2

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, MaxRequestsInFlight: MaxScrapesInFlight})
}

// ObserveCall records one call to an outside party. err is the call's error, nil when it
// succeeded; an answer such as "not found" should be passed as nil.
func (m *Metrics) ObserveCall(party, op string, took time.Duration, err error) {
	m.calls.WithLabelValues(party, op).Observe(took.Seconds())
	if err != nil {
		m.callErrors.WithLabelValues(party, op).Inc()
	}
}

// ObserveProbe records a readiness probe's outcome (ops.ReadinessOptions.Observe).
func (m *Metrics) ObserveProbe(dependency string, up bool, _ time.Duration) {
	v := 0.0
	if up {
		v = 1
	}
	m.dependencyUp.WithLabelValues(dependency).Set(v)
}

// Instrument counts and times every request by the pattern of the route that answered it
// (GET /requests/{id}, never the path itself, so ids do not make new series). It must wrap
// the muxes without copying the request in between: a ServeMux records the pattern on the
// request it routes.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		m.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WatchJobs counts every job run that ends, from River's events, until the client stops or
// ctx ends. River drops events a slow reader misses; counting is fast, so none are.
func (m *Metrics) WatchJobs(ctx context.Context, client *river.Client[pgx.Tx]) {
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled,
		river.EventKindJobSnoozed)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				m.observeJob(ev)
			}
		}
	}()
}

func (m *Metrics) observeJob(ev *river.Event) {
	if ev.Job == nil {
		return
	}
	outcome := "completed"
	switch ev.Kind {
	case river.EventKindJobFailed:
		outcome = "failed" // retried later
		if ev.Job.State == "discarded" {
			outcome = "discarded" // out of attempts
		}
	case river.EventKindJobCancelled:
		outcome = "cancelled"
	case river.EventKindJobSnoozed:
		outcome = "snoozed"
	}
	m.jobs.WithLabelValues(ev.Job.Kind, outcome).Inc()
	if ev.JobStats != nil {
		m.jobDuration.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.RunDuration.Seconds())
		m.jobWait.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.QueueWaitDuration.Seconds())
	}
}

// RegisterQueues adds a collector that reads, at each scrape, how many jobs each queue holds
// by state and how long its oldest due job has waited: a queue whose oldest job ages is one
// whose outside party is away or whose workers are too few.
func (m *Metrics) RegisterQueues(db *pgxpool.Pool, logger *slog.Logger) {
	m.Registry.MustRegister(&queueCollector{db: db, log: logger})
}

var (
	queueDepthDesc = prometheus.NewDesc("behorig_queue_jobs", "Jobs in a queue, by state (available, running, retryable, scheduled).",
		[]string{"queue", "state"}, nil)
	queueAgeDesc = prometheus.NewDesc("behorig_queue_oldest_due_seconds",
		"How long the oldest job of the queue that is due (available, or retryable or scheduled with its time passed) has waited; 0 when none.",
		[]string{"queue"}, nil)
	queueUpDesc = prometheus.NewDesc("behorig_queue_scrape_ok", "1 when the queues could be read at this scrape.", nil, nil)
)

type queueCollector struct {
	db  *pgxpool.Pool
	log *slog.Logger
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
	ch <- queueUpDesc
}

// Collect reads river_job through its (state, queue, ...) index, within 2 seconds so that a
// slow database does not hang the scrape.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := c.collect(ctx, ch)
	ok := 1.0
	if err != nil {
		ok = 0
		if c.log != nil {
			c.log.Warn("metrics: read queues", "err", err)
		}
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, ok)
}

func (c *queueCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := c.db.Query(ctx, `SELECT queue, state::text, count(*),
			coalesce(extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE state <> 'running' AND scheduled_at <= now())), 0)
		FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled') GROUP BY queue, state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	oldest := map[string]float64{}
	for rows.Next() {
		var queue, state string
		var n int64
		var age float64
		if err := rows.Scan(&queue, &state, &n, &age); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), queue, state)
		oldest[queue] = max(oldest[queue], age)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for queue, age := range oldest {
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age, queue)
	}
	return nil
}

// RegisterPools adds a collector of the pools' use, by name: connections in use, idle and
// the maximum, and how often and how long an acquire had to wait because none was free.
func (m *Metrics) RegisterPools(pools map[string]*pgxpool.Pool) {
	m.Registry.MustRegister(&poolCollector{pools: pools})
}

var (
	poolConnsDesc = prometheus.NewDesc("behorig_db_pool_connections", "Connections of the pool by state (acquired, idle, max).",
		[]string{"pool", "state"}, nil)
	poolAcquiresDesc = prometheus.NewDesc("behorig_db_pool_acquires_total", "Connections acquired from the pool.",
		[]string{"pool"}, nil)
	poolWaitsDesc = prometheus.NewDesc("behorig_db_pool_empty_acquires_total",
		"Acquires that had to wait because every connection was in use.", []string{"pool"}, nil)
	poolWaitDesc = prometheus.NewDesc("behorig_db_pool_empty_acquire_wait_seconds_total",
		"Time spent waiting for a connection because every one was in use.", []string{"pool"}, nil)
)

type poolCollector struct{ pools map[string]*pgxpool.Pool }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolAcquiresDesc
	ch <- poolWaitsDesc
	ch <- poolWaitDesc
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, pool := range c.pools {
		s := pool.Stat()
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.AcquiredConns()), name, "acquired")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.IdleConns()), name, "idle")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.MaxConns()), name, "max")
		ch <- prometheus.MustNewConstMetric(poolAcquiresDesc, prometheus.CounterValue, float64(s.AcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(s.EmptyAcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds(), name)
	}
}

// isAnswer tells errors that are the outside party's answer (a directory's "no such entry")
// from failures to get one.
func isAnswer(err error, answers ...error) bool {
	for _, a := range answers {
		if errors.Is(err, a) {
			return true
		}
	}
	return false
}
