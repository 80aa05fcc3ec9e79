package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/behorig/behorig/connectors"
)

// RoutesOptions are what Routes puts beside the app.
type RoutesOptions struct {
	Ready *Readiness
	// Metrics serves /metrics; none when nil.
	Metrics http.Handler
	// Instrument wraps the routing to measure each request (metrics.Metrics.Instrument).
	Instrument func(http.Handler) http.Handler
	Logger     *slog.Logger
}

// Routes puts /healthz, /readyz and /metrics beside the app, and gives every request an id
// (RequestID), a log line when it ends, and metrics.
func Routes(app http.Handler, o RoutesOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if o.Ready != nil {
		mux.Handle("GET /readyz", o.Ready)
	}
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	var h http.Handler = mux
	if o.Instrument != nil {
		h = o.Instrument(h)
	}
	if o.Logger != nil {
		h = accessLog(h, o.Logger)
	}
	return RequestID(h)
}

// accessLog writes one line per request when it ends: method, route, status and time, with
// the request id (LogHandler). Probes and scrapes are logged at debug level only.
func accessLog(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		switch r.Pattern {
		case "GET /healthz", "GET /readyz", "GET /metrics":
			level = slog.LevelDebug
		}
		logger.Log(r.Context(), level, "http request", "method", r.Method, "route", r.Pattern, "status", sw.code,
			"took", time.Since(start).Round(time.Microsecond))
	})
}

type codeWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (w *codeWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// DirectoryCheck probes a directory by looking up an account that does not exist: "not
// found" is an answer, so the directory is up.
func DirectoryCheck(dir connectors.Directory) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := dir.LookupAccount(ctx, "behorig-readiness-probe")
		if err == nil || errors.Is(err, connectors.ErrNotFound) {
			return nil
		}
		return err
	}
}
