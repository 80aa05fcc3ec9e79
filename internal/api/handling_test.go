package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// upload posts a file as multipart/form-data in the part "file" and decodes the answer.
func upload(t *testing.T, app *testapp.App, subject, requestID, part, name string, data []byte, out any) (int, http.Header) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(part, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", app.URL+"/api/v1/requests/"+requestID+"/attachments", &buf)
	req.Header.Set("Authorization", "Bearer "+app.Tokens[subject])
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("upload answered %d, not JSON: %s", resp.StatusCode, answer)
		}
	}
	return resp.StatusCode, resp.Header
}

var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// Everything the request page lets a requester and IT do, through the API, route by route
// (every route of the router answers at least once with success here, each answer checked
// against openapi.json by testapp): the form's catalog and units, submit, attest, comment,
// attach and download, take, set status, paper terms, a manual system given and removed by
// hand, the person, the lists and a termination.
func TestEveryRouteAnswersAsDocumented(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{})
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET manual = true WHERE id = 'panorama-ros'"); err != nil {
		t.Fatal(err)
	}
	called := map[string]bool{}
	call := func(route, subject, method, path string, body, out any, want int) {
		t.Helper()
		if code := app.Call(t, subject, method, path, body, out); code != want {
			t.Fatalf("%s %s as %s: %d, want %d", method, path, subject, code, want)
		}
		called[route] = true
	}

	var catalog struct{ Systems []provisioning.SystemView }
	call("GET /api/v1/catalog", "requester", "GET", "/api/v1/catalog", nil, &catalog, http.StatusOK)
	i := slices.IndexFunc(catalog.Systems, func(s provisioning.SystemView) bool { return s.ID == "treserva" })
	if i < 0 || !catalog.Systems[i].NeedsTerms || !slices.ContainsFunc(catalog.Systems[i].Roles, func(r provisioning.RoleView) bool { return r.ID == "utforare" }) {
		t.Fatalf("the catalog lacks treserva with its roles: %+v", catalog.Systems)
	}
	var units struct{ Units []provisioning.UnitManagers }
	call("GET /api/v1/units", "requester", "GET", "/api/v1/units?q=5110", nil, &units, http.StatusOK)
	if len(units.Units) != 1 || units.Units[0].Ansvarskod != "5110" ||
		!slices.ContainsFunc(units.Units[0].Managers, func(m provisioning.Approver) bool { return m.Subject == "manager" }) {
		t.Fatalf("units?q=5110 = %+v", units.Units)
	}

	body := annaRequest()
	body["items"] = []map[string]any{{"system": "treserva", "role": "utforare"}, {"system": "panorama-ros"}}
	body["approver"] = units.Units[0].Managers[0].Subject
	var sub submitted
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", body, &sub, http.StatusCreated)
	call("GET /api/v1/requests", "requester", "GET", "/api/v1/requests?list=mine&status=open", nil, &requestPage{}, http.StatusOK)
	call("POST /api/v1/requests/{id}/approve", "manager", "POST", "/api/v1/requests/"+sub.ID+"/approve", nil, nil, http.StatusOK)

	var view provisioning.RequestView
	call("POST /api/v1/requests/{id}/comments", "requester", "POST", "/api/v1/requests/"+sub.ID+"/comments",
		map[string]any{"comment": "Hon börjar på måndag"}, &view, http.StatusCreated)
	if len(view.Comments) != 1 || view.Comments[0].Body != "Hon börjar på måndag" || view.Comments[0].Internal {
		t.Fatalf("comments after commenting: %+v", view.Comments)
	}
	app.Call(t, "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/comments", map[string]any{"comment": "Kolla licensen", "internal": true}, nil)
	app.Call(t, "requester", "GET", "/api/v1/requests/"+sub.ID, nil, &view)
	if len(view.Comments) != 1 {
		t.Fatalf("the requester sees IT's internal comment: %+v", view.Comments)
	}

	code, header := upload(t, app, "requester", sub.ID, "file", "blankett.txt", pdf, &view)
	if code != http.StatusCreated || len(view.Attachments) != 1 || view.Attachments[0].ContentType != "application/pdf" ||
		header.Get("Location") != "/api/v1/attachments/"+view.Attachments[0].ID {
		t.Fatalf("upload: %d %s %+v", code, header.Get("Location"), view.Attachments)
	}
	called["POST /api/v1/requests/{id}/attachments"] = true
	resp := get(t, app, "it-handler", header.Get("Location"))
	if resp.code != http.StatusOK || resp.contentType != "application/pdf" || !bytes.Equal(resp.body, pdf) ||
		!strings.HasPrefix(resp.disposition, "attachment") {
		t.Fatalf("download: %d %s %s", resp.code, resp.contentType, resp.disposition)
	}
	called["GET /api/v1/attachments/{id}"] = true
	if resp := get(t, app, "manager-soder", header.Get("Location")); resp.code != http.StatusNotFound {
		t.Fatalf("a manager of another unit downloads: %d", resp.code)
	}

	call("POST /api/v1/requests/{id}/take", "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/take", nil, &view, http.StatusOK)
	if view.Assignee == nil || view.Assignee.Name != app.Actors["it-handler"].Name {
		t.Fatalf("assignee after take: %+v", view.Assignee)
	}
	call("POST /api/v1/requests/{id}/terms/paper", "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/terms/paper",
		map[string]string{"note": "Blankett kontrollerad"}, nil, http.StatusOK)
	// treserva is provisioned by the jobs; Panorama waits for IT's hand.
	var grant string
	waitFor(t, func() bool {
		app.Call(t, "it-handler", "GET", "/api/v1/requests/"+sub.ID, nil, &view)
		for _, it := range view.Items {
			if it.System == "panorama-ros" {
				grant = it.GrantID
			}
		}
		return grant != "" && slices.ContainsFunc(view.Items, func(it provisioning.ItemView) bool { return it.System == "treserva" && it.GrantState == "active" })
	})
	call("POST /api/v1/requests/{id}/status", "it-handler", "POST", "/api/v1/requests/"+sub.ID+"/status",
		map[string]string{"status": "waiting_third_party", "note": "Väntar på Panorama-leverantören"}, &view, http.StatusOK)
	if view.Status != provisioning.StatusWaitingThirdParty {
		t.Fatalf("status after setting it: %s", view.Status)
	}
	call("POST /api/v1/grants/{id}/done", "it-handler", "POST", "/api/v1/grants/"+grant+"/done", map[string]string{"note": "Upplagd"}, nil, http.StatusOK)
	app.WaitStatus(t, sub.ID, provisioning.StatusCompleted)

	var persons struct{ Persons []provisioning.PersonView }
	call("GET /api/v1/persons", "manager", "GET", "/api/v1/persons?personnummer=19500118-2046", nil, &persons, http.StatusOK)
	if len(persons.Persons) != 1 {
		t.Fatalf("persons by personnummer: %+v", persons)
	}
	personID := persons.Persons[0].ID
	call("GET /api/v1/persons", "it-handler", "GET", "/api/v1/persons?q=Berg", nil, &personPage{}, http.StatusOK)
	call("GET /api/v1/persons/{id}", "it-handler", "GET", "/api/v1/persons/"+personID, nil, nil, http.StatusOK)
	call("GET /api/v1/requests/{id}", "requester", "GET", "/api/v1/requests/"+sub.ID, nil, nil, http.StatusOK)
	call("GET /api/v1/me", "requester", "GET", "/api/v1/me", nil, nil, http.StatusOK)

	var term submitted
	call("POST /api/v1/requests", "manager", "POST", "/api/v1/requests", map[string]any{"kind": "terminate",
		"person": map[string]any{"id": personID}, "unit": "5110", "reason": "Slutar", "approver": "manager"}, &term, http.StatusCreated)
	waitFor(t, func() bool {
		var state string
		app.Pool.QueryRow(ctx, "SELECT state FROM grants WHERE id = $1", grant).Scan(&state)
		return state == provisioning.GrantRemovalPending
	})
	call("POST /api/v1/grants/{id}/removed", "it-handler", "POST", "/api/v1/grants/"+grant+"/removed", nil, nil, http.StatusOK)
	app.WaitStatus(t, term.ID, provisioning.StatusCompleted)

	// A second grant request, for reject, link and new-account.
	other := annaRequest()
	other["person"] = map[string]any{"personnummer": "19121212-1212", "givenName": "Tolvan", "surname": "Tolvansson",
		"employeeType": "employee", "username": "tolvan"}
	other["items"] = []map[string]any{{"system": "meddix"}}
	if _, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: "tolvan", GivenName: "Tolvan", Surname: "Tolvansson"}); err != nil {
		t.Fatal(err)
	}
	var two submitted
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", other, &two, http.StatusCreated)
	call("POST /api/v1/requests/{id}/approve", "manager", "POST", "/api/v1/requests/"+two.ID+"/approve", nil, nil, http.StatusOK)
	app.Call(t, "it-handler", "GET", "/api/v1/requests/"+two.ID, nil, &view)
	waitFor(t, func() bool { // the provisioning job finds the existing entry and waits for IT
		var p provisioning.PersonView
		app.Call(t, "it-handler", "GET", "/api/v1/persons/"+view.Person.ID, nil, &p)
		return p.LinkRequired != ""
	})
	call("POST /api/v1/persons/{id}/new-account", "it-handler", "POST", "/api/v1/persons/"+view.Person.ID+"/new-account", nil, nil, http.StatusOK)
	var three submitted
	rejected := annaRequest()
	rejected["person"] = map[string]any{"personnummer": "19800101-0001", "givenName": "Eva", "surname": "Ek", "employeeType": "employee"}
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", rejected, &three, http.StatusCreated)
	call("POST /api/v1/requests/{id}/reject", "manager", "POST", "/api/v1/requests/"+three.ID+"/reject", map[string]string{"reason": "Dubblett"}, nil, http.StatusOK)
	other["person"] = map[string]any{"personnummer": "19900101-0009", "givenName": "Tove", "surname": "Tolvan",
		"employeeType": "employee", "username": "tolvan.b"}
	if _, err := app.Directory.EnsureAccount(ctx, connectors.Account{Username: "tolvan.b", GivenName: "Tove", Surname: "Tolvan"}); err != nil {
		t.Fatal(err)
	}
	var four submitted
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", other, &four, http.StatusCreated)
	call("POST /api/v1/requests/{id}/approve", "manager", "POST", "/api/v1/requests/"+four.ID+"/approve", nil, nil, http.StatusOK)
	app.Call(t, "it-handler", "GET", "/api/v1/requests/"+four.ID, nil, &view)
	call("POST /api/v1/persons/{id}/link", "it-handler", "POST", "/api/v1/persons/"+view.Person.ID+"/link", map[string]string{"username": "tolvan.b"}, nil, http.StatusOK)

	// A system that needs a training certificate, and "Annat system": the certificate is
	// verified, IT asks a question and the requester answers, and IT handles the other system.
	if _, err := app.Pool.Exec(ctx, "UPDATE systems SET needs_certificate = true, training_url = 'https://utbildning.example/' WHERE id = 'axsor'"); err != nil {
		t.Fatal(err)
	}
	course := annaRequest()
	course["person"] = map[string]any{"personnummer": "19700101-0003", "givenName": "Kim", "surname": "Kurs", "employeeType": "employee"}
	course["items"] = []map[string]any{{"system": "axsor", "role": "admin"}}
	course["otherSystem"] = "Lönesystemet Heroma, läsbehörighet"
	var five submitted
	call("POST /api/v1/requests", "requester", "POST", "/api/v1/requests", course, &five, http.StatusCreated)
	if code, _ := upload(t, app, "requester", five.ID, "file", "intyg.pdf", pdf, &view); code != http.StatusCreated {
		t.Fatalf("upload the certificate: %d", code)
	}
	call("POST /api/v1/requests/{id}/approve", "manager", "POST", "/api/v1/requests/"+five.ID+"/approve", nil, nil, http.StatusOK)
	view = app.WaitStatus(t, five.ID, provisioning.StatusAwaitingCertificate)
	if view.OtherSystem != "Lönesystemet Heroma, läsbehörighet" || len(view.Attachments) != 1 {
		t.Fatalf("the request with a certificate and another system: %+v", view)
	}
	call("POST /api/v1/requests/{id}/certificate", "it-handler", "POST", "/api/v1/requests/"+five.ID+"/certificate",
		map[string]string{"attachment": view.Attachments[0].ID}, &view, http.StatusOK)
	if view.Certificate == nil || view.Certificate.Missing() {
		t.Fatalf("the certificate after verifying it: %+v", view.Certificate)
	}
	waitFor(t, func() bool {
		app.Call(t, "it-handler", "GET", "/api/v1/requests/"+five.ID, nil, &view)
		return view.Status == provisioning.StatusInProgress
	})
	call("POST /api/v1/requests/{id}/ask", "it-handler", "POST", "/api/v1/requests/"+five.ID+"/ask",
		map[string]string{"question": "Vilken behörighet i Heroma?"}, &view, http.StatusOK)
	if view.Status != provisioning.StatusAwaitingUser || !view.InformationAsked {
		t.Fatalf("after IT's question: %s, asked %v", view.Status, view.InformationAsked)
	}
	app.Call(t, "requester", "POST", "/api/v1/requests/"+five.ID+"/comments", map[string]any{"comment": "Läsbehörighet räcker"}, &view)
	if view.Status != provisioning.StatusAnsweredByUser {
		t.Fatalf("after the answer: %s", view.Status)
	}
	call("POST /api/v1/requests/{id}/other-system", "it-handler", "POST", "/api/v1/requests/"+five.ID+"/other-system", nil, &view, http.StatusOK)
	if !view.OtherSystemDone {
		t.Fatal("the other system is not recorded as handled")
	}

	// remote access: the order, then IT reads and unlocks the factor that failed logins locked
	remoteAccessRoutes(t, app, call)

	resp = get(t, app, "", "/api/v1/openapi.json")
	if resp.code != http.StatusOK {
		t.Fatalf("openapi.json: %d", resp.code)
	}
	called["GET /api/v1/openapi.json"] = true

	for _, r := range api.Routes() {
		if !called[r] {
			t.Errorf("route %s was not called with success in this test", r)
		}
	}
}

type answer struct {
	code                     int
	contentType, disposition string
	body                     []byte
}

func get(t *testing.T, app *testapp.App, subject, path string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", app.URL+path, nil)
	if subject != "" {
		req.Header.Set("Authorization", "Bearer "+app.Tokens[subject])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), data}
}

// waitFor polls until done, failing after 20 s.
func waitFor(t *testing.T, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not done after 20 s")
		}
	}
}

// Bad input to the request page's actions gets a clear error naming the field, and changes
// nothing: no comment, no attachment, no assignee, no status, no audit event.
func TestHandlingBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	var sub submitted
	if code := app.Call(t, "requester", "POST", "/api/v1/requests", annaRequest(), &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	base := "/api/v1/requests/" + sub.ID
	var before int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&before)

	cases := []struct {
		name, subject, method, path string
		body                        any
		code                        int
		field                       string
	}{
		{"empty comment", "requester", "POST", base + "/comments", map[string]any{"comment": "  "}, 400, "comment"},
		{"long comment", "requester", "POST", base + "/comments", map[string]any{"comment": strings.Repeat("x", 4001)}, 400, "comment"},
		{"internal by a requester", "requester", "POST", base + "/comments", map[string]any{"comment": "hej", "internal": true}, 400, "internal"},
		{"unknown field", "requester", "POST", base + "/comments", map[string]any{"comment": "hej", "text": "x"}, 400, "text"},
		{"bidi control", "requester", "POST", base + "/comments", map[string]any{"comment": "hej \u202e"}, 400, "comment"},
		{"comment as a string", "requester", "POST", base + "/comments", `"hej"`, 400, ""},
		{"comment on a request one may not see", "manager-soder", "POST", base + "/comments", map[string]any{"comment": "hej"}, 404, ""},
		{"comment on no request", "requester", "POST", "/api/v1/requests/nosuch/comments", map[string]any{"comment": "hej"}, 404, ""},
		{"take by a requester", "requester", "POST", base + "/take", nil, 403, ""},
		{"take before approval", "it-handler", "POST", base + "/take", nil, 409, ""},
		{"take with a body", "it-handler", "POST", base + "/take", map[string]any{"me": true}, 400, "me"},
		{"status by a requester", "requester", "POST", base + "/status", map[string]any{"status": "in_progress"}, 403, ""},
		{"unknown status", "it-handler", "POST", base + "/status", map[string]any{"status": "completed"}, 400, "status"},
		{"status too long note", "it-handler", "POST", base + "/status", map[string]any{"status": "in_progress", "note": strings.Repeat("x", 5000)}, 400, "note"},
		{"status before approval", "it-handler", "POST", base + "/status", map[string]any{"status": "in_progress"}, 409, ""},
		{"status without body", "it-handler", "POST", base + "/status", nil, 415, ""},
		{"manual step on no grant", "it-handler", "POST", "/api/v1/grants/nosuch/done", nil, 404, ""},
		{"manual step by a requester", "requester", "POST", "/api/v1/grants/nosuch/done", nil, 403, ""},
		{"catalog with a parameter", "requester", "GET", "/api/v1/catalog?all=1", nil, 400, "all"},
		{"units with an unknown parameter", "requester", "GET", "/api/v1/units?name=Norr", nil, 400, "name"},
		{"units twice", "requester", "GET", "/api/v1/units?q=51&q=52", nil, 400, "q"},
		{"attachment of no one", "requester", "GET", "/api/v1/attachments/nosuch", nil, 404, ""},
		{"no credentials", "", "GET", "/api/v1/catalog", nil, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p problem
			code := app.Call(t, c.subject, c.method, c.path, c.body, &p)
			if code != c.code {
				t.Fatalf("%d, want %d: %+v", code, c.code, p)
			}
			if c.field != "" && !slices.ContainsFunc(p.Errors, func(e provisioning.FieldError) bool { return e.Field == c.field && e.Message != "" }) {
				t.Fatalf("no error for %s in %+v", c.field, p)
			}
		})
	}

	uploads := []struct {
		name, part, file string
		data             []byte
		code             int
		message          string
	}{
		{"text", "file", "a.pdf", []byte("only text, whatever the name says"), 400, "is not a PDF, PNG or JPEG file"},
		{"html", "file", "a.pdf", []byte("<html><script>alert(1)</script></html>"), 400, "is not a PDF, PNG or JPEG file"},
		{"empty", "file", "a.pdf", nil, 400, "is empty"},
		{"too large", "file", "a.pdf", append(append([]byte{}, pdf...), make([]byte, provisioning.MaxAttachment)...), 400, "is larger than 10 MB"},
		{"another part", "document", "a.pdf", pdf, 400, "is required"},
		{"a control character in the name", "file", "a\x01.pdf", pdf, 400, ""}, // refused by the multipart reader or by the text rule
	}
	for _, c := range uploads {
		t.Run("upload "+c.name, func(t *testing.T) {
			var p problem
			code, _ := upload(t, app, "requester", sub.ID, c.part, c.file, c.data, &p)
			if code != c.code || len(p.Errors) != 1 || p.Errors[0].Field != "file" || !strings.Contains(p.Errors[0].Message, c.message) {
				t.Fatalf("%d %+v, want %d and file %q", code, p, c.code, c.message)
			}
		})
	}
	t.Run("upload as JSON", func(t *testing.T) {
		if code := app.Call(t, "requester", "POST", base+"/attachments", map[string]any{"file": "JVBERi0="}, nil); code != http.StatusUnsupportedMediaType {
			t.Fatalf("%d, want 415", code)
		}
	})

	var after, comments, attachments int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&after)
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM comments").Scan(&comments)
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM attachments").Scan(&attachments)
	var status string
	var assignee *string
	app.Pool.QueryRow(ctx, "SELECT status, assignee_id::text FROM requests WHERE id = $1", sub.ID).Scan(&status, &assignee)
	if after != before || comments != 0 || attachments != 0 || status != provisioning.StatusAwaitingApproval || assignee != nil {
		t.Fatalf("bad input changed something: audit %d→%d, %d comments, %d attachments, %s, assignee %v",
			before, after, comments, attachments, status, assignee)
	}
}

// The units answer names the managers who can attest each unit, its own and those above it,
// and confines an external organisation's manager to their organisation.
func TestUnitsWithTheirManagers(t *testing.T) {
	ctx := context.Background()
	app := testapp.New(t, testapp.Options{NoJobs: true})
	if _, err := app.Service.RegisterPrincipal(ctx, provisioning.Principal{Subject: "forvaltningschef", Name: "Frida Förvaltningschef",
		Email: "frida@example.org", Roles: []provisioning.Role{provisioning.RoleRequester}, Unit: "5000", Manages: []string{"5000"}}); err != nil {
		t.Fatal(err)
	}
	var units struct{ Units []provisioning.UnitManagers }
	if code := app.Call(t, "requester", "GET", "/api/v1/units?q=hemtj", nil, &units); code != http.StatusOK {
		t.Fatalf("units: %d", code)
	}
	managers := map[string][]string{}
	for _, u := range units.Units {
		for _, m := range u.Managers {
			managers[u.Ansvarskod] = append(managers[u.Ansvarskod], m.Subject)
		}
	}
	if want := []string{"manager", "forvaltningschef"}; !slices.Equal(managers["5110"], want) {
		t.Errorf("managers of 5110 = %v, want %v (own first, then the unit above)", managers["5110"], want)
	}
	if want := []string{"manager-soder", "forvaltningschef"}; !slices.Equal(managers["5120"], want) {
		t.Errorf("managers of 5120 = %v, want %v", managers["5120"], want)
	}
	if len(managers) < 2 {
		t.Errorf("hemtj found %v, want Hemtjänst Norr and Söder among them", units.Units)
	}
	// Olle of the external Omsorgsbolaget sees only its units, and only its managers.
	olle, err := app.Service.UnitsWithManagers(ctx, app.Actors["omsorgsbolaget-chef"], "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range olle {
		if !strings.HasPrefix(u.Ansvarskod, "91") {
			t.Errorf("Olle is offered unit %s %s", u.Ansvarskod, u.Name)
		}
		for _, m := range u.Managers {
			if m.Subject != "omsorgsbolaget-chef" {
				t.Errorf("Olle is offered manager %s for %s", m.Subject, u.Ansvarskod)
			}
		}
	}
	if len(olle) == 0 {
		t.Error("Olle is offered no unit")
	}
}
