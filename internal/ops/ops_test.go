package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/ops"
)

type readyz struct {
	Status       string                `json:"status"`
	Dependencies map[string]ops.Result `json:"dependencies"`
}

func getReadyz(t *testing.T, h http.Handler) (int, readyz) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var body readyz
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/readyz is not JSON: %v: %s", err, rec.Body)
	}
	return rec.Code, body
}

// waitFor polls the readiness until cond holds, failing after 5 s.
func waitFor(t *testing.T, h http.Handler, what string, cond func(int, readyz) bool) readyz {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := getReadyz(t, h)
		if cond(code, body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d %+v", what, code, body)
		}
	}
}

// /readyz answers at once from the last probes: a dependency that hangs is down after the
// probe's timeout and /readyz stays 200 as long as the database is up; a database that is
// down makes it 503. A hung probe is not started again until it returns.
func TestReadinessFromBackgroundProbes(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	var dbErr error
	dbDown := make(chan error, 1)
	var started atomic.Int32
	r := ops.NewReadiness([]ops.Probe{
		{Name: "database", Decides: true, Check: func(context.Context) error {
			select {
			case dbErr = <-dbDown:
			default:
			}
			return dbErr
		}},
		{Name: "directory", Check: func(context.Context) error { started.Add(1); <-hang; return nil }},
		{Name: "smtp", Check: func(context.Context) error { return nil }},
	}, ops.ReadinessOptions{Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond})
	code, body := getReadyz(t, r)
	if code != http.StatusServiceUnavailable || body.Dependencies["database"].State != ops.StateUnknown {
		t.Fatalf("before any probe: %d %+v; want 503 with the database unknown", code, body)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r.Run(ctx)
	body = waitFor(t, r, "directory down, database up", func(code int, b readyz) bool {
		return code == http.StatusOK && b.Dependencies["directory"].State == ops.StateDown && b.Dependencies["smtp"].State == ops.StateUp
	})
	if d := body.Dependencies["directory"]; !strings.Contains(d.Error, "no answer within") || d.Decides {
		t.Errorf("directory: %+v", d)
	}
	if !body.Dependencies["database"].Decides || body.Status != "ready" {
		t.Errorf("body %+v", body)
	}
	start := time.Now()
	getReadyz(t, r)
	t.Logf("/readyz answered in %s with the directory hanging", time.Since(start))
	time.Sleep(200 * time.Millisecond)
	if started.Load() != 1 {
		t.Errorf("the hung directory probe was started %d times; want once until it returns", started.Load())
	}
	dbDown <- errors.New("connection refused")
	body = waitFor(t, r, "database down", func(code int, b readyz) bool {
		return code == http.StatusServiceUnavailable && b.Dependencies["database"].State == ops.StateDown
	})
	if body.Status != "unavailable" || body.Dependencies["database"].Error != "connection refused" {
		t.Errorf("body %+v", body)
	}
}

// Every request gets an id, from X-Request-Id when it is a sane token and new otherwise; it
// is sent back and is on every line logged with the request's context.
func TestRequestIDOnEveryLogLine(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(ops.LogHandler(slog.NewJSONHandler(&logs, nil)))
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "inside the handler")
		logger.With("component", "x").WarnContext(r.Context(), "another line")
	})
	h := ops.Routes(app, ops.RoutesOptions{Logger: logger})
	for _, tc := range []struct{ sent, want string }{
		{"abc-123", "abc-123"},
		{"", ""},
		{"evil\nline", ""},
		{strings.Repeat("x", 65), ""},
	} {
		logs.Reset()
		req := httptest.NewRequest("GET", "/x", nil)
		if tc.sent != "" {
			req.Header["X-Request-Id"] = []string{tc.sent}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if tc.want != "" && id != tc.want || tc.want == "" && (len(id) != 16 || id == tc.sent) {
			t.Errorf("sent %q, answered X-Request-Id %q", tc.sent, id)
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d log lines, want 3 (two in the handler, the access line): %s", len(lines), logs.String())
		}
		for _, line := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["request_id"] != id {
				t.Errorf("log line without request_id %q: %s", id, line)
			}
		}
	}
}
