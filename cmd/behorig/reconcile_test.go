package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/internal/devenv"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

// `behorig reconcile -dry-run` reports a member nobody granted and changes nothing;
// `behorig reconcile` removes it and says so; a second run finds nothing.
func TestReconcileCommand(t *testing.T) {
	ctx := context.Background()
	slapd := testenv.LDAP(t)
	t.Setenv("BEHORIG_CONFIG", "")
	t.Setenv("BEHORIG_DATABASE_URL", testenv.PostgreSQL(t))
	t.Setenv("BEHORIG_SECRET_KEY", secret.NewKey())
	t.Setenv("BEHORIG_LDAP_URL", slapd.URL())
	t.Setenv("BEHORIG_LDAP_BASE_DN", slapd.BaseDN)
	t.Setenv("BEHORIG_LDAP_BIND_DN", slapd.AdminDN)
	t.Setenv("BEHORIG_LDAP_BIND_PASSWORD", slapd.AdminPassword)
	t.Setenv("BEHORIG_SMTP_ADDR", "127.0.0.1:1")
	t.Setenv("BEHORIG_MAIL_FROM", "behorig@kommun.example")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	st, maria := demoStack(t, cfg)
	sub, err := st.service.Submit(ctx, maria, provisioning.SubmitInput{Unit: "5110", Approver: "manager",
		Person: provisioning.PersonInput{Personnummer: "19500118-2046", GivenName: "Anna", Surname: "Berg", EmployeeType: "employee"},
		Items:  []provisioning.ItemInput{{System: "meddix"}}})
	if err != nil {
		t.Fatal(err)
	}
	var personID string
	st.pool.QueryRow(ctx, "SELECT person_id::text FROM requests WHERE id = $1", sub.ID).Scan(&personID)
	if _, err := st.service.Converge(ctx, personID, false); err != nil {
		t.Fatal(err)
	}
	stranger, err := st.dir.EnsureAccount(ctx, connectors.Account{Username: "stranger", GivenName: "Some", Surname: "Stranger"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.dir.EnsureMember(ctx, "meddix", stranger.DN); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"reconcile", "-dry-run"}, &out, logger); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dry run: nothing changed", "1 persons and 1 groups compared, 1 differences, 0 repaired",
		"member_not_granted     1", `dn="` + stranger.DN + `"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
	if members, _ := st.dir.GroupMembers(ctx, "meddix"); len(members) != 2 {
		t.Fatalf("the dry run changed the group: %v", members)
	}
	out.Reset()
	if err := run(ctx, []string{"reconcile"}, &out, logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 differences, 1 repaired") {
		t.Errorf("output:\n%s", out.String())
	}
	if members, _ := st.dir.GroupMembers(ctx, "meddix"); len(members) != 1 {
		t.Fatalf("meddix after the repair: %v", members)
	}
	out.Reset()
	if err := run(ctx, []string{"reconcile"}, &out, logger); err != nil || !strings.Contains(out.String(), "0 differences") {
		t.Fatalf("a second run: %v\n%s", err, out.String())
	}
}

// demoStack opens the stack on the config with the demo organisation loaded and returns it
// with Maria, the manager of 5110 (subject "manager").
func demoStack(t *testing.T, cfg *config.Config) (*stack, provisioning.Actor) {
	t.Helper()
	ctx := context.Background()
	st, err := openStack(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	if err := devenv.LoadDemo(ctx, st.pool); err != nil {
		t.Fatal(err)
	}
	maria, err := st.service.RegisterPrincipal(ctx, provisioning.Principal{Subject: "manager", Name: "Maria Chef",
		Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5110", Manages: []string{"5110"}})
	if err != nil {
		t.Fatal(err)
	}
	return st, maria
}

// `behorig dev` writes its config under .dev and BEHORIG_CONFIG into .dev/env, so the CLI
// commands that take a config work against the dev stack as the README shows.
func TestCLIAgainstTheDevStack(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Not t.TempDir: its parent is private to root, and PostgreSQL runs as postgres.
	dir, err := os.MkdirTemp("", "behorig-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env, err := devenv.Up(ctx, dir, "127.0.0.1:0", logger)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	if err := seedDemo(ctx, env, logger); err != nil {
		t.Fatal(err)
	}
	if err := env.WriteEnvFile(env.Config.BaseURL); err != nil {
		t.Fatal(err)
	}
	vars, err := os.ReadFile(filepath.Join(env.Dir, "env"))
	if err != nil || !strings.Contains(string(vars), "export BEHORIG_CONFIG="+env.ConfigFile()) &&
		!strings.Contains(string(vars), "export BEHORIG_CONFIG='"+env.ConfigFile()+"'") {
		t.Fatalf(".dev/env does not name the config: %v\n%s", err, vars)
	}
	t.Setenv("BEHORIG_CONFIG", env.ConfigFile())
	var out bytes.Buffer
	if err := run(ctx, []string{"reconcile", "-dry-run"}, &out, logger); err != nil {
		t.Fatalf("reconcile against the dev stack: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"audit", "verify"}, &out, logger); err != nil {
		t.Fatalf("audit verify against the dev stack: %v\n%s", err, out.String())
	}
}
