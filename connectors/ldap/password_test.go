package ldap

import (
	"errors"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/localserver"
	"github.com/behorig/behorig/internal/testenv"
)

// bindAs tries a simple bind as the entry, as the person signing in would.
func bindAs(t *testing.T, s *localserver.Slapd, dn, password string) error {
	t.Helper()
	conn, err := goldap.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

// The service account sets a password that the policy takes; the person can then bind with
// it, and a password shorter than the policy's minimum is refused by the directory with its
// reason, leaving the old one working.
func TestSetPasswordUnderThePolicy(t *testing.T) {
	s := testenv.LDAP(t)
	good := "Sommar-Regn-" + strings.Repeat("7", 3)
	d, ref := withAnna(t, s, s.URL(), good) // a password the policy takes
	if err := bindAs(t, s, ref.DN, good); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	// The directory keeps a hash, never the password.
	for _, e := range search(t, s, ref.DN, "(objectClass=*)", "userPassword") {
		for _, v := range e.GetAttributeValues("userPassword") {
			if strings.Contains(v, good) || !strings.HasPrefix(v, "{") {
				t.Errorf("userPassword is kept as %q, not hashed", v)
			}
		}
	}

	short := strings.Repeat("x", localserver.PasswordMinLength-1)
	err := d.SetPassword(ctx, ref.DN, short)
	var refused *connectors.PasswordRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("a %d-character password: %v, want the policy's refusal", len(short), err)
	}
	if !strings.Contains(refused.Reason, "quality") || strings.Contains(err.Error(), short) {
		t.Errorf("refusal %q: want the directory's reason, without the password", err)
	}
	if err := bindAs(t, s, ref.DN, short); err == nil {
		t.Error("the refused password works")
	}
	if err := bindAs(t, s, ref.DN, good); err != nil {
		t.Errorf("the password before the refusal stopped working: %v", err)
	}

	if err := d.SetPassword(ctx, "uid=nobody,"+s.PeopleDN, good); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("an entry that does not exist: %v, want ErrNotFound", err)
	}
	if err := d.SetPassword(ctx, ref.DN, ""); !errors.As(err, &refused) {
		t.Errorf("an empty password: %v, want a refusal (the server would make one up)", err)
	}
}

// The rootdn is above the policy; the test directory's service account is not, which is why
// behorig binds as it.
func TestRootDNIsAboveThePolicy(t *testing.T) {
	d, s := openDirectory(t, "uid")
	ref, err := d.EnsureAccount(ctx, anna)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(ctx, ref.DN, "kort"); err != nil {
		t.Fatalf("the rootdn set a short password: %v (if slapd now holds the rootdn to the policy, the service account is no longer needed)", err)
	}
	if err := bindAs(t, s, ref.DN, "kort"); err != nil {
		t.Fatal(err)
	}
}
