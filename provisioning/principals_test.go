package provisioning_test

import (
	"errors"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

func TestSignInCreatesLinksAndRefuses(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	s := app.Service

	// A first sign-in creates the principal in the IdP's unit; the next finds it and takes
	// the IdP's current roles.
	first, err := s.SignIn(ctx, provisioning.Identity{IdP: "ad", Subject: "nils", Name: "Nils Ny", Unit: "5120",
		Roles: []provisioning.Role{provisioning.RoleRequester, provisioning.RoleITHandler}})
	if err != nil || first.Subject != "ad:nils" || !first.IT() {
		t.Fatalf("first sign-in = %+v, %v", first, err)
	}
	again, err := s.SignIn(ctx, provisioning.Identity{IdP: "ad", Subject: "nils", Name: "Nils Nyberg",
		Roles: []provisioning.Role{provisioning.RoleRequester}})
	if err != nil || again.ID != first.ID || again.Name != "Nils Nyberg" || again.IT() {
		t.Fatalf("second sign-in = %+v, %v; want the same principal, renamed, without IT", again, err)
	}
	me, _ := s.Me(ctx, again)
	if me.Unit == nil || me.Unit.Ansvarskod != "5120" {
		t.Fatalf("unit = %+v, want 5120 from the first sign-in", me.Unit)
	}

	// The external manager registered with a personnummer is linked once; another IdP
	// presenting the same personnummer is refused rather than given the same principal.
	olle, err := s.SignIn(ctx, provisioning.Identity{IdP: "bankid", Subject: "bid-1", Name: "Olle", Personnummer: "191202119150",
		KnownUsersOnly: true, Roles: []provisioning.Role{provisioning.RoleRequester}})
	if err != nil || olle.Subject != "omsorgsbolaget-chef" {
		t.Fatalf("linking by personnummer = %+v, %v", olle, err)
	}
	_, err = s.SignIn(ctx, provisioning.Identity{IdP: "freja", Subject: "f-1", Name: "Olle", Personnummer: "19120211-9150"})
	if !errors.Is(err, provisioning.ErrConflict) {
		t.Fatalf("a second IdP with the same personnummer: %v, want ErrConflict", err)
	}
	_, err = s.SignIn(ctx, provisioning.Identity{IdP: "bankid", Subject: "bid-2", Name: "Okänd", Personnummer: "198501139995",
		KnownUsersOnly: true})
	if !errors.Is(err, provisioning.ErrUnknownUser) {
		t.Fatalf("an unknown person at a known-users-only IdP: %v", err)
	}
	if _, err := s.SignIn(ctx, provisioning.Identity{IdP: "bankid", Subject: "bid-3", Personnummer: "19120211-9151"}); err == nil {
		t.Fatal("an invalid personnummer was accepted")
	}
}

func TestRegisterPrincipalRefusesAnUnknownUnit(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	_, err := app.Service.RegisterPrincipal(ctx, provisioning.Principal{Subject: "x", Name: "X", Manages: []string{"0000"}})
	if err == nil {
		t.Fatal("a manager of a unit that does not exist was registered")
	}
	if _, err := app.Service.ActorByID(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Fatalf("ActorByID of nobody: %v", err)
	}
}

func TestConcurrentFirstSignInsMakeOnePrincipal(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	errs := make(chan error, 8)
	ids := make(chan string, 8)
	for range 8 {
		go func() {
			a, err := app.Service.SignIn(ctx, provisioning.Identity{IdP: "ad", Subject: "tvilling", Name: "Två Flikar",
				Roles: []provisioning.Role{provisioning.RoleRequester}})
			errs <- err
			ids <- a.ID
		}()
	}
	first := ""
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent first sign-in failed: %v", err)
		}
		id := <-ids
		if first == "" {
			first = id
		} else if id != first {
			t.Fatalf("two principals for one subject: %s and %s", first, id)
		}
	}
}
