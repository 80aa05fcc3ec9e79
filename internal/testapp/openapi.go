package testapp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	oaerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"

	"github.com/behorig/behorig/internal/api"
)

// OpenAPIValidator is the validator of the API's OpenAPI document (internal/api/openapi.json).
// It is built once: building it compiles every schema.
var OpenAPIValidator = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(api.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("read openapi.json: %w", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %v", errs)
	}
	return v, nil
})

// checkedByOpenAPI holds every answer of the API in a test to the OpenAPI document, so that
// the document cannot drift from what the API does: an answer (error or not) that the
// document does not describe fails the test, and so does a request the API accepted (2xx)
// that the document says is invalid. A path or method the document lacks may only be
// answered 404 or 405.
func checkedByOpenAPI(t testing.TB, next http.Handler) http.Handler {
	v, err := OpenAPIValidator()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // the validator's caches are its own business; one check at a time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		resp := rec.Result()
		answer := rec.Body.Bytes()

		mu.Lock()
		problems := openAPIProblems(v, r, body, resp, answer)
		mu.Unlock()
		for _, p := range problems {
			t.Errorf("openapi.json does not describe %s %s → %d: %s\nanswer: %.600s", r.Method, r.URL.RequestURI(), resp.StatusCode, p, answer)
		}

		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(answer)
	})
}

func openAPIProblems(v validator.Validator, r *http.Request, body []byte, resp *http.Response, answer []byte) []string {
	check := r.Clone(r.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	var problems []string
	if ok, errs := v.ValidateHttpResponse(check, resp); !ok {
		if isPathMissing(errs) {
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
				problems = append(problems, "the route is not in the document")
			}
			return problems
		}
		for _, e := range errs {
			problems = append(problems, e.Error())
		}
	}
	if resp.StatusCode/100 == 2 {
		check.Body = io.NopCloser(bytes.NewReader(body))
		if ok, errs := v.ValidateHttpRequest(check); !ok {
			for _, e := range errs {
				problems = append(problems, "the API accepted a request the document calls invalid: "+e.Error())
			}
		}
	}
	return problems
}

// isPathMissing tells whether the document has no operation for the request's path and method.
func isPathMissing(errs []*oaerrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation &&
			(e.ValidationSubType == helpers.ValidationMissing || e.ValidationSubType == helpers.ValidationMissingOperation) {
			return true
		}
	}
	return false
}
