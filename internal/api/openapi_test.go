package api_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/behorig/behorig/internal/api"
	"github.com/behorig/behorig/internal/testapp"
)

// The OpenAPI document is a valid OpenAPI 3.1 document and describes exactly the routes
// the router has: none missing, none that does not exist. (testapp holds every answer of
// every API test to it; TestEveryRouteAnswersAsDocumented calls each route.)
func TestOpenAPIDocumentHasEveryRoute(t *testing.T) {
	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi %s, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("not a valid OpenAPI document: %v", e)
		}
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routes := api.Routes()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json describes %s, which the router does not have", d)
		}
	}
	if len(routes) < 20 || len(documented) != len(routes) {
		t.Errorf("%d routes, %d documented operations", len(routes), len(documented))
	}
}

// The document is served, without credentials, as it is embedded.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	resp, err := http.Get(app.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(data) != string(api.OpenAPI()) {
		t.Fatalf("GET /api/v1/openapi.json: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(data))
	}
}
