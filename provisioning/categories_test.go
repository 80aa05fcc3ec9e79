package provisioning_test

import (
	"errors"
	"testing"
	"time"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// The categories start as the guides have them and are edited as a list: renamed, added,
// reordered, and removed unless a system has them. A system names its category and its
// training, and the form's catalog carries both.
func TestCategoriesAndTraining(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	admin := provisioning.Actor{ID: app.Actors["it-handler"].ID, Subject: "it-handler",
		Roles: []provisioning.Role{provisioning.RoleITHandler, provisioning.RoleITAdmin}}
	cats, err := app.Service.Categories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range cats {
		names[c.Name] = true
	}
	for _, want := range []string{"Allmänt", "E-post och gemensamma kataloger", "Ekonomisystem", "Vård och omsorg"} {
		if !names[want] {
			t.Errorf("no category %q among %+v", want, cats)
		}
	}

	systems, err := app.Service.Systems(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var meddix provisioning.SystemAdmin
	for _, s := range systems {
		if s.ID == "meddix" {
			meddix = s
		}
	}
	meddix.Category, meddix.NeedsCertificate, meddix.TrainingURL = "vard-och-omsorg", true, "https://utbildning.example/is"
	if err := app.Service.SaveSystem(ctx, admin, meddix, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []provisioning.SystemAdmin{
		func() provisioning.SystemAdmin { s := meddix; s.TrainingURL = "javascript:alert(1)"; return s }(),
		func() provisioning.SystemAdmin { s := meddix; s.Category = "finns-inte"; return s }(),
	} {
		var ve *provisioning.ValidationError
		if err := app.Service.SaveSystem(ctx, admin, bad, false); !errors.As(err, &ve) {
			t.Errorf("saved %q / %q: %v", bad.TrainingURL, bad.Category, err)
		}
	}
	catalog, err := app.Service.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range catalog {
		if s.ID == "meddix" && (s.Category != "vard-och-omsorg" || !s.NeedsCertificate || s.TrainingURL != "https://utbildning.example/is") {
			t.Errorf("the form's catalog has %+v", s)
		}
	}

	// Rename Allmänt, put Vård och omsorg first, add one, drop the rest.
	list := []provisioning.Category{{ID: "vard-och-omsorg", Name: "Vård och omsorg"}, {ID: "allmant", Name: "Allmänt och övrigt"},
		{Name: "Fjärråtkomst"}}
	if err := app.Service.SaveCategories(ctx, app.Actors["requester"], list); !errors.Is(err, provisioning.ErrForbidden) {
		t.Fatalf("a requester saved the categories: %v", err)
	}
	if err := app.Service.SaveCategories(ctx, admin, list); err != nil {
		t.Fatal(err)
	}
	cats, _ = app.Service.Categories(ctx)
	if len(cats) != 3 || cats[0].Name != "Vård och omsorg" || cats[0].Systems == 0 || cats[1].Name != "Allmänt och övrigt" ||
		cats[2].ID != "fjarratkomst" {
		t.Fatalf("categories after saving: %+v", cats)
	}
	// Vård och omsorg has meddix: it cannot go, and nothing is saved; nor can a name come twice.
	for _, bad := range [][]provisioning.Category{
		{{ID: "allmant", Name: "Allmänt"}},
		{{ID: "allmant", Name: "Allmänt"}, {ID: "vard-och-omsorg", Name: "allmänt"}},
		{{ID: "no-such", Name: "X"}, {ID: "vard-och-omsorg", Name: "Vård och omsorg"}},
	} {
		var ve *provisioning.ValidationError
		if err := app.Service.SaveCategories(ctx, admin, bad); !errors.As(err, &ve) {
			t.Errorf("saved %+v: %v", bad, err)
		}
	}
	if again, _ := app.Service.Categories(ctx); len(again) != 3 || again[1].Name != "Allmänt och övrigt" {
		t.Fatalf("a refused list changed the categories: %+v", again)
	}
}

// "Annat system" is free text IT handles by hand: a request may name only it, the approver
// reads it, and the request completes only when IT has marked it handled, even when its
// catalog systems are done.
func TestOtherSystemIsHandledByHand(t *testing.T) {
	app := testapp.New(t, testapp.Options{})
	in := grantInput("19500118-2046", "Åsa", "Lind")
	in.Items = nil
	in.OtherSystem = "Visma: attestant för 5110"
	only := submitApproved(t, app, in)
	seen, err := app.Service.Request(ctx, app.Actors["manager"], only.ID)
	if err != nil || seen.OtherSystem != "Visma: attestant för 5110" {
		t.Fatalf("the approver reads %q, %v", seen.OtherSystem, err)
	}
	v := app.WaitStatus(t, only.ID, provisioning.StatusInProgress)
	if !v.Viewer.CompleteOtherSystem || len(v.Items) != 0 {
		t.Fatalf("viewer %+v, items %+v", v.Viewer, v.Items)
	}
	if err := app.Service.SetHandlingStatus(ctx, app.Actors["it-handler"], only.ID, provisioning.StatusAssigned, ""); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, only.ID, provisioning.StatusAssigned) // not completed by a status change
	if err := app.Service.CompleteOtherSystem(ctx, app.Actors["requester"], only.ID); !errors.Is(err, provisioning.ErrForbidden) {
		t.Fatalf("the requester completed it: %v", err)
	}
	if err := app.Service.CompleteOtherSystem(ctx, app.Actors["it-handler"], only.ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, only.ID, provisioning.StatusCompleted)

	in = grantInput("19850113-9995", "Bo", "Ek", provisioning.ItemInput{System: "meddix"})
	in.OtherSystem = "Skrivare plan 3"
	both := submitApproved(t, app, in)
	// The job gives meddix; the request stays in progress for the other system.
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v = app.WaitStatus(t, both.ID, provisioning.StatusInProgress)
		if len(v.Items) == 1 && v.Items[0].GrantState == provisioning.GrantActive {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("meddix is not given: %+v", v.Items)
		}
	}
	app.WaitStatus(t, both.ID, provisioning.StatusInProgress)
	if err := app.Service.CompleteOtherSystem(ctx, app.Actors["it-handler"], both.ID); err != nil {
		t.Fatal(err)
	}
	app.WaitStatus(t, both.ID, provisioning.StatusCompleted)
	if err := app.Service.CompleteOtherSystem(ctx, app.Actors["it-handler"], both.ID); !errors.Is(err, provisioning.ErrConflict) {
		t.Fatalf("completed twice: %v", err)
	}

	var ve *provisioning.ValidationError
	in = grantInput("20010101-2383", "Cia", "Al")
	in.Items, in.OtherSystem = nil, "Visma\x00"
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], in); !errors.As(err, &ve) || ve.Errors[0].Field != "otherSystem" {
		t.Fatalf("control characters in the other system: %v", err)
	}
	in.OtherSystem = ""
	if _, err := app.Service.Submit(ctx, app.Actors["requester"], in); !errors.As(err, &ve) || ve.Errors[0].Field != "items" {
		t.Fatalf("no system at all: %v", err)
	}
}
