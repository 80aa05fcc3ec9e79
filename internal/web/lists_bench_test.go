package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/devenv"
)

// BenchmarkListPages times every list page and API list at the server, with the scale
// fixture loaded: 100,000 requests, 20,000 persons and 200,000 grants unless
// BEHORIG_BENCH_REQUESTS asks for another number of requests (the audit events are left
// out: no list reads them). Each page is read first and then through its "Nästa sida" link,
// as the signed-in demo users, over HTTP to the real handlers; p50 and p99 are over every
// read of the page in the run. The target is 100 ms at p99.
func BenchmarkListPages(b *testing.B) {
	requests := 100000
	if v := os.Getenv("BEHORIG_BENCH_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("BEHORIG_BENCH_REQUESTS=%q: give a number of requests, at least 100", v)
		}
		requests = n
	}
	s := newSite(b, siteOptions{})
	size := devenv.ScaleFor(requests)
	size.AuditEvents = 0
	start := time.Now()
	if err := devenv.LoadScale(context.Background(), s.app.Pool, s.app.Box, s.app.Audit, size); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d requests, %d persons, %d grants in %s", size.Requests, size.Persons, size.Grants, time.Since(start).Round(time.Millisecond))
	var surname string
	if err := s.app.Pool.QueryRow(context.Background(), "SELECT person_surname FROM requests ORDER BY number OFFSET $1 LIMIT 1",
		requests/2).Scan(&surname); err != nil {
		b.Fatal(err)
	}
	pnr := devenv.PersonnummerOf(42)
	rolf, maria, ingrid := s.as(b, "rolf.bestallare"), s.as(b, "maria.chef"), s.as(b, "ingrid.it")
	name := url.QueryEscape(surname)
	pages := []struct {
		name string
		who  *site
		path string
	}{
		{"start", rolf, "/"},
		{"start_all_due", rolf, "/?status=all&sort=due"},
		{"start_name", rolf, "/?status=all&q=" + name},
		{"approvals", maria, "/approvals"},
		{"approvals_name", maria, "/approvals?q=" + name},
		{"approvals_unit", maria, "/approvals?unit=5210&sort=-number"},
		{"queue", ingrid, "/queue"},
		{"queue_in_progress", ingrid, "/queue?status=in_progress"},
		{"queue_closed", ingrid, "/queue?status=closed"},
		{"queue_all_name", ingrid, "/queue?status=all&q=" + name},
		{"queue_all_pnr", ingrid, "/queue?status=all&q=" + pnr},
		{"persons", ingrid, "/persons"},
		{"persons_name", ingrid, "/persons?q=" + name},
		{"api_mine", rolf, "/api/v1/requests"},
		{"api_approvals", maria, "/api/v1/requests?list=approvals"},
		{"api_queue", ingrid, "/api/v1/requests?list=queue"},
		{"api_all_name", ingrid, "/api/v1/requests?list=all&q=" + name},
		{"api_all_unit_due", ingrid, "/api/v1/requests?list=all&unit=5110&sort=due"},
		{"api_persons_name", ingrid, "/api/v1/persons?q=" + name},
	}
	for _, p := range pages {
		paths := []string{p.path}
		if next := nextOf(b, p.who, p.path); next != "" {
			paths = append(paths, next)
		}
		for i, path := range paths {
			label := p.name
			if i == 1 {
				label += "_page2"
			}
			b.Run(label, func(b *testing.B) {
				var samples []time.Duration
				for range b.N {
					for range 20 {
						t0 := time.Now()
						resp := p.who.get(b, path)
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						samples = append(samples, time.Since(t0))
						if resp.StatusCode != http.StatusOK {
							b.Fatalf("%s: %d", path, resp.StatusCode)
						}
					}
				}
				slices.Sort(samples)
				b.ReportMetric(percentile(samples, 50), "p50_ms")
				b.ReportMetric(percentile(samples, 99), "p99_ms")
			})
		}
	}
}

var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// nextOf reads a list page or API list and returns the address of its next page, if any.
func nextOf(b *testing.B, who *site, path string) string {
	resp := who.get(b, path)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %s", path, resp.StatusCode, data)
	}
	var list struct{ Next string }
	if json.Unmarshal(data, &list) == nil {
		if list.Next == "" {
			return ""
		}
		u, _ := url.Parse(path)
		q := u.Query()
		q.Set("cursor", list.Next)
		u.RawQuery = q.Encode()
		return u.String()
	}
	if m := nextLink.FindSubmatch(data); m != nil {
		return html.UnescapeString(string(m[1]))
	}
	return ""
}

// percentile is the p-th percentile of sorted samples, in milliseconds.
func percentile(sorted []time.Duration, p int) float64 {
	i := (len(sorted)*p+99)/100 - 1
	return float64(sorted[max(0, i)].Microseconds()) / 1000
}
