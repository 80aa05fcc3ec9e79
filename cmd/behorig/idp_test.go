package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/ops"
)

// An IdP whose discovery fails at start (a typo in the issuer) is named on /readyz with the
// error, while the instance stays in service (200) and an IdP that answers is up.
func TestReadyzNamesAnIdPWhoseDiscoveryFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	good, err := devenv.StartIdP("127.0.0.1", 0, "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { good.Server.Close() })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	typo := "http://" + ln.Addr().String() + "/adfs-typo"
	ln.Close()
	idps := []config.IdentityProvider{good.Providers[0], {ID: "typo", Label: "Felstavad", Issuer: typo, ClientID: "behorig",
		ClientSecret: "x", Claims: config.Claims{Subject: "sub"}}}
	rp := oidc.New(ctx, "http://localhost", idps, nil, oidc.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	probes := append([]ops.Probe{{Name: "database", Decides: true, Check: func(context.Context) error { return nil }}}, idpProbes(rp)...)
	ready := ops.NewReadiness(probes, ops.ReadinessOptions{Interval: 20 * time.Millisecond})
	ready.Run(ctx)
	srv := httptest.NewServer(ready)
	t.Cleanup(srv.Close)

	var body struct {
		Status       string
		Dependencies map[string]ops.Result
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz %d: an IdP took the instance out of service", resp.StatusCode)
		}
		typoState, goodState := body.Dependencies["idp:typo"], body.Dependencies["idp:"+good.Providers[0].ID]
		if typoState.State == ops.StateDown && strings.Contains(typoState.Error, typo) && typoState.Error != "" &&
			strings.Contains(typoState.Error, "connection refused") && goodState.State == ops.StateUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after 5 s: %+v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body.Status != "ready" || body.Dependencies["idp:typo"].Decides {
		t.Fatalf("/readyz: %+v", body)
	}
}
