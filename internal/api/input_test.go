package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/provisioning"
)

// send posts a raw body, so that a test can send what encoding/json would never write:
// invalid UTF-8, odd content types, headers.
func send(t *testing.T, app *testapp.App, subject, method, path, contentType string, body []byte, header http.Header) (int, problem, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, app.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+app.Tokens[subject])
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var p problem
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &p); err != nil || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%d is not a problem body (%v): %s", resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode, p, data
}

const placeholder = "@@value@@"

// withRaw is Anna's request with the JSON string at path replaced by raw, which is put into
// the body byte for byte: a JSON escape such as \u0000, or bytes that are not UTF-8.
func withRaw(t *testing.T, path, raw string) []byte {
	t.Helper()
	r := annaRequest()
	var at any = r
	parts := strings.Split(path, ".")
	for _, part := range parts[:len(parts)-1] {
		name, index, _ := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		at = at.(map[string]any)[name]
		if index != "" {
			i, _ := strconv.Atoi(index)
			at = at.([]map[string]any)[i]
		}
	}
	switch m := at.(type) {
	case map[string]any:
		m[parts[len(parts)-1]] = placeholder
	case map[string]string:
		m[parts[len(parts)-1]] = placeholder
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(placeholder)) {
		t.Fatalf("no field %s in the request", path)
	}
	return bytes.Replace(data, []byte(placeholder), []byte(raw), 1)
}

func names(p problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// Text a client sends must be valid UTF-8 without NUL, control, bidi or zero-width
// characters, in every field; dates must be dates anyone means; the body must be JSON. Each
// refusal names the field and stores nothing.
func TestBadTextDatesAndTypesChangeNothing(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	values := []struct{ name, raw string }{
		{"NUL", `An\u0000na`},
		{"invalid UTF-8", "An\xffna"},
		{"truncated UTF-8", "Anna\xc3"},
		{"RLO", "An\u202ena"},
		{"zero-width space", "An\u200bna"},
		{"BOM", "\ufeffAnna"},
		{"escape", `An\u001bna`},
		{"C1 control", `An\u0085na`},
		{"DEL", `An\u007fna`},
	}
	fields := []string{"person.givenName", "person.surname", "person.email", "person.mobile", "person.jobTitle",
		"person.username", "person.personnummer", "unit", "costCentre", "reason", "description", "items[0].role",
		"items[2].unit", "approver"}
	for _, v := range values {
		for _, field := range fields {
			t.Run(v.name+" in "+field, func(t *testing.T) {
				code, p, _ := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", withRaw(t, field, v.raw), nil)
				if code != http.StatusBadRequest || !slices.Contains(names(p), field) {
					t.Fatalf("%d, errors %v; want 400 naming %s", code, p.Errors, field)
				}
			})
		}
	}
	for _, c := range []struct{ field, raw string }{
		{"person.givenName", `Anna\nBerg`}, {"person.surname", `Berg\tLund`}, {"unit", `5110\r`},
		{"approver", "manager\u2028"}, {"person.email", `anna@example.org\n`},
	} {
		t.Run("a line break in single-line "+c.field, func(t *testing.T) {
			code, p, _ := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", withRaw(t, c.field, c.raw), nil)
			if code != http.StatusBadRequest || !slices.Contains(names(p), c.field) {
				t.Fatalf("%d, errors %v; want 400 naming %s", code, p.Errors, c.field)
			}
		})
	}

	for _, date := range []string{"9999-12-31", "0001-01-01", "1899-12-31", "2101-01-01"} {
		for _, field := range []string{"validFrom", "validTo"} {
			t.Run(field+" "+date, func(t *testing.T) {
				body := annaRequest()
				body[field] = date
				var p problem
				if code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &p); code != http.StatusBadRequest ||
					!slices.Contains(names(p), field) {
					t.Fatalf("%d, errors %v; want 400 naming %s", code, p.Errors, field)
				}
			})
		}
		t.Run("effectiveDate "+date, func(t *testing.T) {
			var p problem
			code := app.Call(t, "manager", "POST", "/api/v1/requests", map[string]any{"kind": "terminate",
				"person": map[string]any{"personnummer": "19500118-2046"}, "unit": "5110", "approver": "manager", "effectiveDate": date}, &p)
			if code != http.StatusBadRequest || !slices.Contains(names(p), "effectiveDate") {
				t.Fatalf("%d, errors %v; want 400 naming effectiveDate", code, p.Errors)
			}
		})
	}

	valid, _ := json.Marshal(annaRequest())
	for _, ct := range []string{"application/jsonxyz", "application/json-patch+json", "text/plain", "application/x-www-form-urlencoded",
		"application/json; charset=iso-8859-1", "application/json;;", ""} {
		t.Run("Content-Type "+ct, func(t *testing.T) {
			if code, _, _ := send(t, app, "requester", "POST", "/api/v1/requests", ct, valid, nil); code != http.StatusUnsupportedMediaType {
				t.Fatalf("%d, want 415", code)
			}
		})
	}

	for _, key := range []string{"two words", strings.Repeat("k", 256), "nyckel-ä"} {
		t.Run("Idempotency-Key "+strconv.Quote(key[:min(len(key), 12)]), func(t *testing.T) {
			header := http.Header{"Idempotency-Key": {key}}
			code, p, _ := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", valid, header)
			if code != http.StatusBadRequest || !slices.Contains(names(p), "Idempotency-Key") {
				t.Fatalf("%d, errors %v; want 400 naming Idempotency-Key", code, p.Errors)
			}
		})
	}

	const someID = "/api/v1/requests/00000000-0000-0000-0000-000000000001"
	for _, c := range []struct{ path, body, field string }{
		{someID + "/reject", `{"reason": "Fel\u0000enhet"}`, "reason"},
		{someID + "/terms/paper", "{\"note\": \"Blankett \xfe\"}", "note"},
	} {
		t.Run("text in "+c.path, func(t *testing.T) {
			code, p, _ := send(t, app, "manager", "POST", c.path, "application/json", []byte(c.body), nil)
			if code != http.StatusBadRequest || !slices.Contains(names(p), c.field) {
				t.Fatalf("%d, errors %v; want 400 naming %s", code, p.Errors, c.field)
			}
		})
	}
	t.Run("NUL in a query", func(t *testing.T) {
		code, p, _ := send(t, app, "manager", "GET", "/api/v1/persons?personnummer=%00", "", nil, nil)
		if code != http.StatusBadRequest || !slices.Contains(names(p), "personnummer") {
			t.Fatalf("%d, errors %v; want 400 naming personnummer", code, p.Errors)
		}
	})
	t.Run("NUL in a path", func(t *testing.T) {
		if code, _, _ := send(t, app, "manager", "GET", "/api/v1/requests/%00", "", nil, nil); code != http.StatusNotFound {
			t.Fatalf("%d, want 404", code)
		}
	})
	assertEmpty(t, app)
}

// Multi-line fields take line breaks, and application/json may carry a UTF-8 charset.
func TestReasonMayHoldLineBreaks(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	body := annaRequest()
	body["reason"], body["description"] = "Ny undersköterska\ni hemtjänsten", "Börjar måndag.\r\n\tRing först."
	data, _ := json.Marshal(body)
	code, p, _ := send(t, app, "requester", "POST", "/api/v1/requests", "application/json; charset=UTF-8", data, nil)
	if code != http.StatusCreated {
		t.Fatalf("%d %+v", code, p)
	}
}

// A retried call with the same Idempotency-Key stores nothing new and answers with the
// first call's request.
func TestIdempotencyKeyMakesOneRequest(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	body, _ := json.Marshal(annaRequest())
	key := http.Header{"Idempotency-Key": {"6f1c2a9e-0c4b-4a53-9d3e-6f0b8f0e2b11"}}
	code, _, first := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", body, key)
	if code != http.StatusCreated {
		t.Fatalf("first call: %d %s", code, first)
	}
	code, _, again := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", body, key)
	if code != http.StatusOK || !bytes.Equal(first, again) {
		t.Fatalf("repeated call: %d %s, want 200 %s", code, again, first)
	}
	// The key is the requester's own: another requester's same key is another request, and
	// so is a call without a key.
	if code, _, _ := send(t, app, "requester-manager", "POST", "/api/v1/requests", "application/json", body, key); code != http.StatusCreated {
		t.Fatalf("another requester with the same key: %d", code)
	}
	if code, _, _ := send(t, app, "requester", "POST", "/api/v1/requests", "application/json", body, nil); code != http.StatusCreated {
		t.Fatalf("without a key: %d", code)
	}
	var n int
	if err := app.Pool.QueryRow(t.Context(), "SELECT count(*) FROM requests").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d requests, want 3 (%v)", n, err)
	}
}

// A name without letters a–z cannot make a username: the requester is asked for one at
// once, instead of the account failing for days after approval.
func TestNamesWithoutLatinLettersNeedAUsername(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	for _, name := range [][2]string{{"محمد", "علي"}, {"李", "王"}, {"Anna", "李"}} {
		body := annaRequest()
		person := body["person"].(map[string]any)
		person["givenName"], person["surname"] = name[0], name[1]
		var p problem
		code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &p)
		if code != http.StatusBadRequest || !slices.ContainsFunc(p.Errors, func(e provisioning.FieldError) bool {
			return e.Field == "person.username" && strings.Contains(e.Message, "no letters a–z")
		}) {
			t.Fatalf("%s %s without a username: %d %+v", name[0], name[1], code, p.Errors)
		}
		person["username"] = "m.ali"
		if name[0] == "李" {
			person["username"] = "li.wang"
		} else if name[0] == "Anna" {
			person["username"] = "anna.li"
		}
		var sub submitted
		if code := app.Call(t, "requester", "POST", "/api/v1/requests", body, &sub); code != http.StatusCreated {
			t.Fatalf("%s %s with a username: %d", name[0], name[1], code)
		}
	}
}
