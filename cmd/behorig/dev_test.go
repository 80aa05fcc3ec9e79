package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/ops"
)

// The README's recipe for signing with the real BankID app: `behorig dev -bankid-url …
// -bankid-p12 … -bankid-ca …`, the PKCS#12 password in BEHORIG_BANKID_P12_PASSWORD. Here a
// second simulator plays BankID's test environment, with its own CA and an RP certificate
// that only it issued: the dev stack's /readyz reaches it with that certificate, pinning that
// CA, and an identification started on /password becomes an order there. With the wrong
// password, dev refuses to start and says why.
func TestDevSignsThroughAnExternalBankID(t *testing.T) {
	external, err := bankid.StartSimulator("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { external.Close() })
	dir := devWorkDir(t)
	cert, err := external.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	p12, err := pkcs12.Modern.Encode(cert.PrivateKey, cert.Leaf, nil, "test-rp-lösen")
	if err != nil {
		t.Fatal(err)
	}
	p12File, caFile := filepath.Join(dir, "test-rp.p12"), filepath.Join(dir, "test-ca.pem")
	if err := os.WriteFile(p12File, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: external.CACertificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-bankid-url", external.URL, "-bankid-p12", p12File, "-bankid-ca", caFile}

	t.Run("a flag missing", func(t *testing.T) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"dev", "-dir", filepath.Join(dir, "never"), "-bankid-url", external.URL,
			"-bankid-p12", p12File}, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || !strings.Contains(err.Error(), "-bankid-ca") {
			t.Fatalf("dev without -bankid-ca: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "never")); !os.IsNotExist(err) {
			t.Fatalf("dev started servers before refusing its flags: %v", err)
		}
	})

	t.Run("the wrong password", func(t *testing.T) {
		var stderr bytes.Buffer
		dev := startDev(t, filepath.Join(dir, "wrong"), "not-the-password", flags, &stderr)
		select {
		case <-dev.exited:
			if err := dev.err; err == nil || !strings.Contains(stderr.String(), "p12") || !strings.Contains(stderr.String(), "password") {
				t.Fatalf("dev with the wrong password: %v\n%s", err, stderr.String())
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("dev with the wrong PKCS#12 password still runs after 2 minutes")
		}
	})

	t.Run("orders go to the external server", func(t *testing.T) {
		dev := startDev(t, filepath.Join(dir, "dev"), "test-rp-lösen", flags, nil)
		baseURL := dev.baseURL
		waitUntil(t, "/readyz to name the external BankID up", func() bool {
			dev.mustRun(t)
			resp, err := http.Get(baseURL + "/readyz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var body struct{ Dependencies map[string]ops.Result }
			json.NewDecoder(resp.Body).Decode(&body)
			return body.Dependencies["bankid"].State == ops.StateUp
		})

		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp, err := browser.Get(baseURL + "/password")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if before := len(external.Pending()); before != 0 {
			t.Fatalf("the external server had %d orders before anyone identified", before)
		}
		resp, err = browser.PostForm(baseURL+"/password/start", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pending := external.Pending()
		if len(pending) != 1 || pending[0].Kind != "auth" {
			t.Fatalf("orders at the external server after starting an identification: %+v", pending)
		}
	})
}

// devWorkDir is a directory for dev's data that its PostgreSQL, which runs as postgres, can
// reach: not t.TempDir, whose parent is private to root.
func devWorkDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "behorig-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// devProcess is `behorig dev` running as a process of its own.
type devProcess struct {
	baseURL string
	exited  chan struct{} // closed when the process has ended, with err its end
	err     error
}

// mustRun fails the test when dev has stopped.
func (d *devProcess) mustRun(t *testing.T) {
	t.Helper()
	select {
	case <-d.exited:
		t.Fatalf("dev stopped: %v", d.err)
	default:
	}
}

// startDev runs `behorig dev` as a process of its own, as a developer would, on a free port
// with its data under dir and the PKCS#12 password in its environment. It returns once the
// process runs; the caller waits for what it needs. At the test's end dev is stopped as
// Ctrl-C would, so that it stops its PostgreSQL and slapd; killed only if it hangs.
func startDev(t *testing.T, dir, password string, flags []string, stderr io.Writer) *devProcess {
	t.Helper()
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(os.Args[0], append([]string{"dev", "-dir", dir, "-listen", listen}, flags...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "BEHORIG_BANKID_P12_PASSWORD="+password)
	cmd.Stdout = io.Discard
	switch {
	case stderr != nil:
		cmd.Stderr = stderr
	case testing.Verbose():
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dev := &devProcess{baseURL: "http://localhost:" + fmt.Sprint(port), exited: make(chan struct{})}
	go func() {
		dev.err = cmd.Wait()
		close(dev.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-dev.exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-dev.exited
		}
	})
	return dev
}
