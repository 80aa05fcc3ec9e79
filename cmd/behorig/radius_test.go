package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/testenv"
)

// `behorig serve` with remote_access.radius answers the configured gateway on the
// configured UDP port, signed (Message-Authenticator first), drops what BlastRADIUS forbids,
// and shows the RADIUS server's own database pool in /metrics.
func TestServeAnswersGateways(t *testing.T) {
	slapd := testenv.LDAP(t)
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	radiusAddr := udp.LocalAddr().String()
	udp.Close()
	const gatewaySecret = "a-gateway-secret-of-some-length"
	cfg := &config.Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), DatabaseURL: testenv.PostgreSQL(t), SecretKey: secret.NewKey(),
		Directory: config.Directory{URL: slapd.URL(), BindDN: slapd.AdminDN, BindPassword: slapd.AdminPassword, BaseDN: slapd.BaseDN},
		Mail:      config.Mail{Outbox: true},
		RemoteAccess: config.RemoteAccess{RADIUS: config.RADIUS{Listen: radiusAddr,
			Clients: []config.RADIUSClient{{Name: "citrix", Address: "127.0.0.0/8", Secret: gatewaySecret}}}}}
	file := filepath.Join(t.TempDir(), "behorig.yaml")
	writeYAML(t, file, cfg)
	if cfg, err = config.Load(file); err != nil {
		t.Fatal(err)
	}
	startBehorig(t, file, cfg.BaseURL)

	reply := testenv.Radclient(t, radiusAddr, gatewaySecret, 5*time.Second, `User-Name = "nobody"`, `User-Password = "x"`,
		"Message-Authenticator = 0x00")
	if reply.Code != "Access-Reject" || reply.Attributes[0].Name != "Message-Authenticator" {
		t.Fatalf("an unknown user: want a signed Access-Reject:\n%s", reply.Output)
	}
	if reply := testenv.Radclient(t, radiusAddr, gatewaySecret, time.Second, `User-Name = "nobody"`, `User-Password = "x"`); reply.Code != "" {
		t.Fatalf("without Message-Authenticator: want no answer:\n%s", reply.Output)
	}
	resp, err := http.Get(cfg.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `behorig_db_pool_connections{pool="radius"`) {
		t.Error("/metrics shows no radius pool")
	}
}
