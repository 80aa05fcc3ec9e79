package testapp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/ops"
	"github.com/behorig/behorig/internal/web"
)

// Listen takes a port for a web site and returns the listener with the base URL behorig
// is reached at through it, for Options.BaseURL and ServeWeb.
func Listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
}

// ServeWeb serves the web pages and the API on ln as serve does (with /readyz, /metrics
// and request ids), people signing in through the dev OpenID Provider, and returns the
// provider. The app must have been made with Options.BaseURL from Listen.
func (a *App) ServeWeb(t testing.TB, ln net.Listener, base string) *devenv.IdP {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	idp, err := devenv.StartIdP("127.0.0.1", 0, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Server.Close() })
	rp := oidc.New(ctx, base, idp.Providers, idp.APIClients, oidc.Options{Logger: a.Logger})
	sessions, err := session.New(a.Pool, session.Config{Idle: 30 * time.Minute, Absolute: 10 * time.Hour, Now: a.Clock.Now, Box: a.Box})
	if err != nil {
		t.Fatal(err)
	}
	webServer, err := web.New(a.Service, rp, sessions, base,
		[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, a.Logger)
	if err != nil {
		t.Fatal(err)
	}
	webServer.UseRemoteAccess(a.Remote)
	apiServer, err := api.New(ctx, a.Service, api.Config{APIClients: idp.APIClients, AccessTokens: rp, Sessions: webServer, Logger: a.Logger,
		RemoteAccess: a.Remote})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: ops.Routes(webServer.Handler(checkedByOpenAPI(t, apiServer.Handler())), a.RoutesOptions())}}
	srv.Start()
	t.Cleanup(srv.Close)
	readyCtx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if err := rp.Ready(readyCtx); err != nil {
		t.Fatalf("dev IdP discovery: %v", err)
	}
	return idp
}
