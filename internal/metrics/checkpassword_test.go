package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/metrics"
)

// passwordChecker answers CheckPassword with what it is given; nothing else is called.
type passwordChecker struct {
	connectors.Directory
	ok  bool
	err error
}

func (p passwordChecker) CheckPassword(context.Context, string, string) (bool, error) {
	return p.ok, p.err
}

// A password check is timed under party "directory"; a wrong password is the directory
// answering, a directory that does not answer is a failure.
func TestPasswordChecksAreTimedAndWrongPasswordsAreNoFailure(t *testing.T) {
	m := metrics.New()
	ctx := context.Background()
	const dn = "uid=anna.berg,ou=people,dc=example,dc=org"
	if ok, err := (metrics.Directory{Inner: passwordChecker{ok: true}, Metrics: m}).CheckPassword(ctx, dn, "right"); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := (metrics.Directory{Inner: passwordChecker{}, Metrics: m}).CheckPassword(ctx, dn, "wrong"); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	down := errors.New("connect to ldap://127.0.0.1:1: connection refused")
	if _, err := (metrics.Directory{Inner: passwordChecker{err: down}, Metrics: m}).CheckPassword(ctx, dn, "any"); !errors.Is(err, down) {
		t.Fatalf("directory down: %v", err)
	}
	server := httptest.NewServer(m.Handler())
	defer server.Close()
	s := scrape(t, server.URL)
	is := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	s.want(t, "behorig_outside_call_duration_seconds_count", is(3), "3", "party", "directory", "op", "check_password")
	s.want(t, "behorig_outside_call_errors_total", is(1), "1 (the directory down)", "party", "directory", "op", "check_password")
}
