package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// childEnv makes the test binary run behorig's main instead of the tests (see TestMain), so
// that a test can start behorig as a process of its own and kill it.
const childEnv = "BEHORIG_TEST_RUN_MAIN"

// A real `kill -9` of behorig while a revocation waits on a hung directory: after the
// directory comes back and behorig starts again, the job of the dead process is rescued
// within jobs.rescue_after, the account ends disabled and out of its groups, and the
// termination is completed only then.
func TestKilledProcessLeavesNoAccessBehind(t *testing.T) {
	ctx := context.Background()
	slapd := testenv.LDAP(t)
	token := rand.Text()
	sum := sha256.Sum256([]byte(token))
	port, err := localserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Listen: fmt.Sprintf("127.0.0.1:%d", port), DatabaseURL: testenv.PostgreSQL(t), SecretKey: secret.NewKey(),
		Directory: config.Directory{URL: slapd.URL(), BindDN: slapd.AdminDN, BindPassword: slapd.AdminPassword, BaseDN: slapd.BaseDN,
			Timeout: 30 * time.Second},
		Mail:   config.Mail{Outbox: true},
		Jobs:   config.Jobs{Timeout: 2 * time.Second, RescueAfter: 4 * time.Second, ReconcileInterval: time.Hour},
		Tokens: []config.Token{{Subject: "manager", Name: "Maria Chef", Role: "requester", SHA256: hex.EncodeToString(sum[:])}}}
	file := filepath.Join(t.TempDir(), "behorig.yaml")
	writeYAML(t, file, cfg)
	if cfg, err = config.Load(file); err != nil {
		t.Fatal(err)
	}
	st, _ := demoStack(t, cfg)
	behorig := startBehorig(t, file, cfg.BaseURL)
	post := func(body string) string {
		req, _ := http.NewRequest("POST", cfg.BaseURL+"/api/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("submit: %d %v", resp.StatusCode, err)
		}
		return out.ID
	}
	status := func(id string) string {
		var s string
		st.pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", id).Scan(&s)
		return s
	}
	grant := post(`{"person": {"personnummer": "19500118-2046", "givenName": "Anna", "surname": "Berg", "employeeType": "employee"},
		"unit": "5110", "items": [{"system": "meddix"}, {"system": "timecare-pool", "role": "medarbetare"}], "approver": "manager"}`)
	waitUntil(t, "the grant to be provisioned", func() bool { return status(grant) == provisioning.StatusCompleted })

	if err := slapd.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	term := post(`{"kind": "terminate", "person": {"personnummer": "19500118-2046"}, "unit": "5110", "approver": "manager"}`)
	var attempted time.Time
	waitUntil(t, "the revocation to be running", func() bool {
		return st.pool.QueryRow(ctx, "SELECT attempted_at FROM river_job WHERE kind = 'revoke' AND state = 'running' LIMIT 1").Scan(&attempted) == nil
	})
	behorig.Process.Kill() // kill -9, halfway through the revocation
	behorig.Wait()
	if err := slapd.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if s := status(term); s == provisioning.StatusCompleted {
		t.Fatal("the termination is completed although its revocation was killed")
	}

	// The rescuer runs when the new process starts; by then the dead job must look stuck.
	time.Sleep(time.Until(attempted.Add(cfg.Jobs.RescueAfter + time.Second)))
	startBehorig(t, file, cfg.BaseURL)
	waitUntil(t, "the termination to complete after the restart", func() bool { return status(term) == provisioning.StatusCompleted })
	ref, err := st.dir.LookupAccount(ctx, "anna.berg")
	if err != nil || !ref.Disabled {
		t.Fatalf("anna.berg after the termination: %+v, %v", ref, err)
	}
	if groups, _ := st.dir.GroupsOf(ctx, ref.DN); len(groups) != 0 {
		t.Fatalf("anna.berg is still in %v", groups)
	}
}

func writeYAML(t *testing.T, path string, cfg *config.Config) {
	t.Helper()
	data, err := yamlMarshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startBehorig runs `behorig serve` as a process of its own and waits until it answers.
func startBehorig(t *testing.T, configFile, baseURL string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "-config", configFile)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitUntil(t, "behorig to answer", func() bool {
		resp, err := http.Get(baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return cmd
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func yamlMarshal(v any) ([]byte, error) { return yaml.Marshal(v) }
