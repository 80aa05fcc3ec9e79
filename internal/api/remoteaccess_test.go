package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

type factorsAnswer struct {
	Factors []remoteaccess.Factor `json:"factors"`
}

// remoteAccessRoutes orders remote access through the API (kind remote_access), and reads
// and unlocks the factor as IT; TestEveryRouteAnswersAsDocumented calls it with its call.
func remoteAccessRoutes(t *testing.T, app *testapp.App, call func(route, subject, method, path string, body, out any, want int)) {
	t.Helper()
	ctx := context.Background()
	var catalog struct {
		Systems      []provisioning.SystemView
		RemoteAccess []provisioning.SystemView
	}
	app.Call(t, "requester", "GET", "/api/v1/catalog", nil, &catalog)
	if len(catalog.RemoteAccess) != 1 || catalog.RemoteAccess[0].MonthlyPriceSEK != 130 ||
		slices.ContainsFunc(catalog.Systems, func(s provisioning.SystemView) bool { return s.RemoteAccess }) {
		t.Fatalf("the catalog's remote access: %+v", catalog.RemoteAccess)
	}
	// The certificate is IT's step of the request page, called above; here it is not needed.
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET needs_certificate = false WHERE id = $1", catalog.RemoteAccess[0].ID); err != nil {
		t.Fatal(err)
	}
	order := map[string]any{"kind": "remote_access", "remoteFactor": "sms", "unit": "5110", "approver": "manager",
		"description": "Journalföring hemifrån under jourveckor",
		"person": map[string]any{"personnummer": "19850113-9995", "givenName": "Karin", "surname": "Ek",
			"mobile": "0046 70 123 45 67", "employeeType": "employee"}}
	bad := map[string]any{"kind": "remote_access", "unit": "5110", "approver": "manager", "person": order["person"]}
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", bad, nil); code != http.StatusBadRequest {
		t.Fatalf("an order without description and factor: %d", code)
	}
	var sub submitted
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", order, &sub, http.StatusCreated)
	call("POST /api/v1/requests/{id}/approve", "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil, http.StatusOK)
	view := app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
	if view.Kind != "remote_access" || view.RemoteFactor != "sms" {
		t.Fatalf("the order reads kind %s, factor %s", view.Kind, view.RemoteFactor)
	}
	if _, err := app.Pool.Exec(ctx, "UPDATE authenticators SET failures = 10, locked_at = now() WHERE person_id = $1", view.Person.ID); err != nil {
		t.Fatal(err)
	}
	if code := app.Call(t, "manager", "GET", "/api/v1/persons/"+view.Person.ID+"/factors", nil, nil); code != http.StatusForbidden {
		t.Fatalf("a manager reads the factors: %d", code)
	}
	var factors factorsAnswer
	call("GET /api/v1/persons/{id}/factors", "it-handler", "GET", "/api/v1/persons/"+view.Person.ID+"/factors", nil, &factors, http.StatusOK)
	if len(factors.Factors) != 1 || !factors.Factors[0].Locked || factors.Factors[0].Mobile != "+46 70 *** ** 67" {
		t.Fatalf("factors %+v", factors.Factors)
	}
	id := factors.Factors[0].ID
	call("POST /api/v1/factors/{id}/unlock", "it-handler", "POST", "/api/v1/factors/"+id+"/unlock", nil, &factors, http.StatusOK)
	if factors.Factors[0].Locked || factors.Factors[0].Failures != 0 {
		t.Fatalf("after the unlock: %+v", factors.Factors[0])
	}
	if code := app.Call(t, "it-handler", "POST", "/api/v1/factors/"+id+"/unlock", nil, nil); code != http.StatusConflict {
		t.Fatalf("unlocking again: %d", code)
	}
}
