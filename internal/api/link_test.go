package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// Through the API as on the person page: the approver reads the requested username and that
// it is someone's existing account; only IT may link it, and a username the directory does
// not have is a field error.
func TestLinkAnExistingAccountThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: "anna.b", GivenName: "Anna", Surname: "Berg"}); err != nil {
		t.Fatal(err)
	}
	body := annaRequest()
	body["person"].(map[string]any)["username"] = "anna.b"
	body["items"] = []map[string]any{{"system": "meddix"}}
	var sub submitted
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	var view provisioning.RequestView
	app.Call(t, "manager", "GET", "/api/v1/requests/"+sub.ID, nil, &view)
	if d := view.PersonDetails; d == nil || d.Username != "anna.b" || d.UsernameCheck != "exists" || d.Email != "anna.berg@example.org" {
		t.Fatalf("the approver reads %+v", view.PersonDetails)
	}
	if code := app.Call(t, "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	path := "/api/v1/persons/" + view.Person.ID + "/link"
	if code := app.Call(t, "manager", "POST", path, map[string]string{"username": "anna.b"}, nil); code != http.StatusForbidden {
		t.Fatalf("a manager links: %d", code)
	}
	var p problem
	if code := app.Call(t, "it-handler", "POST", path, map[string]string{"username": "nosuch"}, &p); code != http.StatusBadRequest ||
		len(p.Errors) != 1 || p.Errors[0].Field != "username" {
		t.Fatalf("linking a missing account: %d %+v", code, p)
	}
	var person provisioning.PersonView
	if code := app.Call(t, "it-handler", "POST", path, map[string]string{"username": "anna.b"}, &person); code != http.StatusOK {
		t.Fatalf("IT links: %d", code)
	}
	if len(person.Accounts) != 1 || person.Accounts[0].Origin != "linked" {
		t.Fatalf("accounts after the link: %+v", person.Accounts)
	}
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)
}
