package oidc

import (
	"slices"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/config"
)

func TestUnsupportedClaimsNamesMappingsTheIdPDoesNotOffer(t *testing.T) {
	m := config.Claims{Subject: "sub", Name: "name", Email: "email", Personnummer: "ssn", Groups: "roles"}
	got := UnsupportedClaims(m, []string{"sub", "name", "email", "personal_number", "groups"})
	if !slices.Equal(got, []string{"ssn", "roles"}) {
		t.Fatalf("UnsupportedClaims = %v, want [ssn roles]", got)
	}
	if got := UnsupportedClaims(m, nil); got != nil {
		t.Fatalf("an IdP without claims_supported was faulted: %v", got)
	}
}

func TestIdentityFromClaims(t *testing.T) {
	rp := &RP{now: time.Now}
	cfg := config.IdentityProvider{ID: "bankid", Claims: config.Claims{Subject: "sub", Name: "name", Email: "email",
		Personnummer: "personal_number", Groups: "groups"}, DefaultRoles: []string{"requester"},
		Roles: map[string]string{"it": "it_handler"}, Unit: "9100", KnownUsersOnly: true}
	id, err := rp.identity(cfg, map[string]any{"sub": "x1", "name": "Olle", "personal_number": "191202119150", "groups": "it"})
	if err != nil {
		t.Fatal(err)
	}
	if id.Personnummer != "191202119150" || id.Unit != "9100" || !id.KnownUsersOnly ||
		len(id.Roles) != 2 || id.Roles[0] != "requester" || id.Roles[1] != "it_handler" {
		t.Fatalf("identity = %+v", id)
	}
	for name, claims := range map[string]map[string]any{
		"no subject":        {"name": "Olle", "personal_number": "191202119150"},
		"bad personnummer":  {"sub": "x1", "personal_number": "19120211-9151"},
		"personnummer list": {"sub": "x1", "personal_number": []any{"191202119150"}},
	} {
		if _, err := rp.identity(cfg, claims); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
