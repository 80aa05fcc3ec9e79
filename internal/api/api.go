// Package api is behorig's JSON API under /api/v1. It decodes, authenticates and answers;
// every decision is the domain's. Errors are RFC 9457 problem details with an "errors" list
// of {field, message}.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/provisioning"
)

// maxBody bounds every request body; a grant request with fifty items is well below it.
const maxBody = 64 << 10

// Server serves /api/v1.
type Server struct {
	service *provisioning.Service
	tokens  map[[sha256.Size]byte]provisioning.Actor
	log     *slog.Logger
}

// New creates the principals of the configured tokens and returns the API.
func New(ctx context.Context, service *provisioning.Service, tokens []config.Token, logger *slog.Logger) (*Server, error) {
	s := &Server{service: service, tokens: map[[sha256.Size]byte]provisioning.Actor{}, log: logger}
	for _, t := range tokens {
		name := t.Name
		if name == "" {
			name = t.Subject
		}
		actor, err := service.EnsurePrincipal(ctx, t.Subject, name, t.Email, t.Role == config.RoleIT)
		if err != nil {
			return nil, err
		}
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("token %s: sha256 is not 64 hex digits", t.Subject)
		}
		s.tokens[[sha256.Size]byte(raw)] = actor
	}
	return s, nil
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/requests", s.authed(s.submit))
	mux.HandleFunc("GET /api/v1/requests/{id}", s.authed(s.getRequest))
	mux.HandleFunc("POST /api/v1/requests/{id}/approve", s.authed(s.approve))
	mux.HandleFunc("POST /api/v1/requests/{id}/reject", s.authed(s.reject))
	mux.HandleFunc("POST /api/v1/requests/{id}/terms/paper", s.authed(s.paperTerms))
	mux.HandleFunc("GET /api/v1/persons/{id}", s.authed(s.getPerson))
	mux.HandleFunc("GET /api/v1/persons", s.authed(s.findPersons))
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "No such API endpoint", nil)
	})
	return mux
}

type handler func(w http.ResponseWriter, r *http.Request, actor provisioning.Actor)

// authed resolves the bearer token. The token is hashed before the look-up, so the time a
// look-up takes says nothing about how close a guess was.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		actor, known := s.tokens[sha256.Sum256([]byte(strings.TrimSpace(token)))]
		if !ok || !known {
			w.Header().Set("WWW-Authenticate", `Bearer realm="behorig"`)
			s.problem(w, r, http.StatusUnauthorized, "A valid bearer token is required", nil)
			return
		}
		h(w, r, actor)
	}
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string                    `json:"type"`
	Title  string                    `json:"title"`
	Status int                       `json:"status"`
	Detail string                    `json:"detail,omitempty"`
	Errors []provisioning.FieldError `json:"errors,omitempty"`
}

func (s *Server) problem(w http.ResponseWriter, _ *http.Request, status int, detail string, fields []provisioning.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Errors: fields})
}

// fail answers with the problem an error from the domain stands for. Unexpected errors are
// logged and answered without their text, which may name internals.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *provisioning.ValidationError
	switch {
	case errors.As(err, &ve):
		s.problem(w, r, http.StatusBadRequest, "The request has invalid fields", ve.Errors)
	case errors.Is(err, provisioning.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "Not found", nil)
	case errors.Is(err, provisioning.ErrForbidden):
		s.problem(w, r, http.StatusForbidden, err.Error(), nil)
	case errors.Is(err, provisioning.ErrConflict):
		s.problem(w, r, http.StatusConflict, err.Error(), nil)
	default:
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.problem(w, r, http.StatusInternalServerError, "Something went wrong; the error has been logged", nil)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: bounded in size, no unknown fields, one value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		s.problem(w, r, http.StatusUnsupportedMediaType, "Send application/json", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.problem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The body is larger than %d bytes", maxBody), nil)
		return false
	}
	s.problem(w, r, http.StatusBadRequest, "The body is not valid JSON for this request", []provisioning.FieldError{jsonFieldError(err)})
	return false
}

// jsonFieldError names the field a decoding error is about, where encoding/json tells.
func jsonFieldError(err error) provisioning.FieldError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return provisioning.FieldError{Field: typeErr.Field, Message: fmt.Sprintf("must be a JSON %s", typeErr.Type.Kind())}
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return provisioning.FieldError{Field: strings.Trim(field, `"`), Message: "is not a known field"}
	}
	return provisioning.FieldError{Field: "", Message: err.Error()}
}
