package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route of routes(); a test holds the two together and
// checks the tests' answers against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return openAPIDocument }

// openAPI serves the document to anyone: it says what the API is, not what it holds.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openAPIDocument)
}
