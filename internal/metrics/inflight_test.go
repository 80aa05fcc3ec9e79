package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/behorig/behorig/internal/metrics"
)

// blockingCollector stands for the queue collector on a slow database: each scrape waits
// inside Collect until released.
type blockingCollector struct{ entered, release chan struct{} }

var blockingDesc = prometheus.NewDesc("test_blocking", "A collector that waits.", nil, nil)

func (c blockingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- blockingDesc }
func (c blockingCollector) Collect(ch chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
	ch <- prometheus.MustNewConstMetric(blockingDesc, prometheus.GaugeValue, 1)
}

// /metrics reads the queues on the web's pool at every scrape: a flood of scrapes (it needs
// no sign-in) must not take every connection of the web, so only a few run at once and the
// rest are refused at once.
func TestScrapesInFlightAreBounded(t *testing.T) {
	m := metrics.New()
	c := blockingCollector{entered: make(chan struct{}), release: make(chan struct{})}
	m.Registry.MustRegister(c)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	codes := make(chan int, metrics.MaxScrapesInFlight)
	for range metrics.MaxScrapesInFlight {
		go func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		<-c.entered
	}
	// One more: refused at once, or (the defect) let in to wait with the others.
	third := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			third <- 0
			return
		}
		resp.Body.Close()
		third <- resp.StatusCode
	}()
	select {
	case code := <-third:
		if code != http.StatusServiceUnavailable {
			t.Errorf("a scrape beyond %d running ones: %d, want 503", metrics.MaxScrapesInFlight, code)
		}
	case <-c.entered:
		t.Errorf("a scrape beyond %d running ones was let in", metrics.MaxScrapesInFlight)
		close(c.release)
		<-third
	}
	select {
	case <-c.release:
	default:
		close(c.release)
	}
	for range metrics.MaxScrapesInFlight {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a scrape within the bound: %d, want 200", code)
		}
	}
}
