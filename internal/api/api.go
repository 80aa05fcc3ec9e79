// Package api is behorig's JSON API under /api/v1. It decodes, authenticates and answers;
// every decision is the domain's. Errors are RFC 9457 problem details with an "errors" list
// of {field, message}.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/internal/config"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// maxBody bounds every request body; a grant request with fifty items is well below it.
const maxBody = 64 << 10

// Server serves /api/v1.
type Server struct {
	service  *provisioning.Service
	tokens   map[[sha256.Size]byte]provisioning.Actor
	clients  map[string]provisioning.Actor // by IdP and client id
	access   AccessTokens
	sessions Sessions
	log      *slog.Logger
	remote   *remoteaccess.Service
}

// AccessTokens verifies OAuth 2 access tokens from integrations (auth/oidc.RP).
type AccessTokens interface {
	VerifyAccessToken(ctx context.Context, raw string) (config.APIClient, error)
}

// Sessions resolves a browser session to its principal (internal/web.Server).
type Sessions interface {
	CurrentActor(r *http.Request) (provisioning.Actor, error)
}

// Config is what the API authenticates with. Every field is optional.
type Config struct {
	Tokens       []config.Token
	APIClients   []config.APIClient
	AccessTokens AccessTokens
	Sessions     Sessions
	Logger       *slog.Logger
	// RemoteAccess serves the second factors (remoteaccess.go); nil: their routes answer 404.
	RemoteAccess *remoteaccess.Service
}

// New creates the principals of the configured tokens and API clients and returns the API.
func New(ctx context.Context, service *provisioning.Service, c Config) (*Server, error) {
	s := &Server{service: service, tokens: map[[sha256.Size]byte]provisioning.Actor{}, clients: map[string]provisioning.Actor{},
		access: c.AccessTokens, sessions: c.Sessions, log: c.Logger, remote: c.RemoteAccess}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, t := range c.Tokens {
		name := t.Name
		if name == "" {
			name = t.Subject
		}
		actor, err := register(ctx, service, t.Subject, name, t.Email, t.Role)
		if err != nil {
			return nil, err
		}
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("token %s: sha256 is not 64 hex digits", t.Subject)
		}
		s.tokens[[sha256.Size]byte(raw)] = actor
	}
	for _, client := range c.APIClients {
		name := client.Name
		if name == "" {
			name = client.ClientID
		}
		actor, err := register(ctx, service, "client:"+client.IdP+":"+client.ClientID, name, "", client.Role)
		if err != nil {
			return nil, err
		}
		s.clients[client.IdP+"\x00"+client.ClientID] = actor
	}
	return s, nil
}

func register(ctx context.Context, service *provisioning.Service, subject, name, email, role string) (provisioning.Actor, error) {
	r, err := provisioning.ParseRole(role)
	if err != nil {
		return provisioning.Actor{}, fmt.Errorf("principal %s: %w", subject, err)
	}
	return service.RegisterPrincipal(ctx, provisioning.Principal{Subject: subject, Name: name, Email: email, Roles: []provisioning.Role{r}})
}

// route is one operation of the API: a ServeMux pattern and its handler.
type route struct {
	pattern string
	serve   http.HandlerFunc
}

// routes are the API's operations. The OpenAPI document (openapi.json) describes exactly
// these; a test holds the two together.
func (s *Server) routes() []route {
	return []route{
		{"POST /api/v1/requests", s.authed(s.submit)},
		{"GET /api/v1/requests", s.authed(s.listRequests)},
		{"GET /api/v1/requests/{id}", s.authed(s.getRequest)},
		{"POST /api/v1/requests/{id}/approve", s.authed(s.approve)},
		{"POST /api/v1/requests/{id}/reject", s.authed(s.reject)},
		{"POST /api/v1/requests/{id}/terms/paper", s.authed(s.paperTerms)},
		// Working on a request as the request page does: comments, attachments, IT's
		// handling and manual steps (handling.go).
		{"POST /api/v1/requests/{id}/comments", s.authed(s.comment)},
		{"POST /api/v1/requests/{id}/attachments", s.authed(s.attach)},
		{"GET /api/v1/attachments/{id}", s.authed(s.download)},
		{"POST /api/v1/requests/{id}/take", s.authed(s.take)},
		{"POST /api/v1/requests/{id}/status", s.authed(s.setStatus)},
		{"POST /api/v1/requests/{id}/ask", s.authed(s.ask)},
		{"POST /api/v1/requests/{id}/certificate", s.authed(s.verifyCertificate)},
		{"POST /api/v1/requests/{id}/other-system", s.authed(s.otherSystemDone)},
		{"POST /api/v1/grants/{id}/done", s.authed(s.manualDone)},
		{"POST /api/v1/grants/{id}/removed", s.authed(s.manualRemoved)},
		// What a request form offers: the catalog, and the units with their managers (catalog.go).
		{"GET /api/v1/catalog", s.authed(s.catalog)},
		{"GET /api/v1/units", s.authed(s.units)},
		{"GET /api/v1/persons/{id}", s.authed(s.getPerson)},
		{"GET /api/v1/persons", s.authed(s.findPersons)},
		{"POST /api/v1/persons/{id}/link", s.authed(s.linkAccount)},
		{"POST /api/v1/persons/{id}/new-account", s.authed(s.useNewAccount)},
		{"GET /api/v1/me", s.authed(s.me)},
		// remote access: a person's second factors and IT's unlock (remoteaccess.go)
		{"GET /api/v1/persons/{id}/factors", s.authed(s.factors)},
		{"POST /api/v1/factors/{id}/unlock", s.authed(s.unlockFactor)},
		{"GET /api/v1/openapi.json", s.openAPI}, // public: what the API is, not what it holds
	}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.HandleFunc(r.pattern, r.serve)
	}
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "No such API endpoint", nil)
	})
	return s.checkURL(mux)
}

type handler func(w http.ResponseWriter, r *http.Request, actor provisioning.Actor)

// authed resolves the caller: a static token, an access token from a configured IdP, or,
// without an Authorization header, a browser session. Static tokens are hashed before the
// look-up, so the time a look-up takes says nothing about how close a guess was.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor, err := s.authenticate(r)
		if err != nil && !errors.Is(err, errNoCredentials) && !errors.Is(err, errInvalidToken) {
			s.fail(w, r, err)
			return
		}
		if err != nil {
			challenge := `Bearer realm="behorig"`
			if errors.Is(err, errInvalidToken) {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			s.problem(w, r, http.StatusUnauthorized, err.Error(), nil)
			return
		}
		h(w, r, actor)
	}
}

var (
	errNoCredentials = errors.New("a valid bearer token or a session is required")
	errInvalidToken  = errors.New("the bearer token is not valid")
)

func (s *Server) authenticate(r *http.Request) (provisioning.Actor, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		if s.sessions == nil {
			return provisioning.Actor{}, errNoCredentials
		}
		actor, err := s.sessions.CurrentActor(r)
		if errors.Is(err, session.ErrNoSession) {
			return provisioning.Actor{}, errNoCredentials
		}
		return actor, err
	}
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return provisioning.Actor{}, errNoCredentials
	}
	token = strings.TrimSpace(token)
	if actor, known := s.tokens[sha256.Sum256([]byte(token))]; known {
		return actor, nil
	}
	if s.access == nil || strings.Count(token, ".") != 2 {
		return provisioning.Actor{}, errInvalidToken
	}
	client, err := s.access.VerifyAccessToken(r.Context(), token)
	if err != nil {
		s.log.InfoContext(r.Context(), "access token refused", "err", err)
		return provisioning.Actor{}, errInvalidToken
	}
	actor, ok := s.clients[client.IdP+"\x00"+client.ClientID]
	if !ok {
		return provisioning.Actor{}, errInvalidToken
	}
	return actor, nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	me, err := s.service.Me(r.Context(), actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, me)
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
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="behorig", error="insufficient_scope"`)
		}
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

// decode reads a JSON body strictly: application/json, bounded in size, no unknown fields,
// one value, and every string valid UTF-8 without control, bidi or zero-width characters.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		s.problem(w, r, http.StatusUnsupportedMediaType, "Send Content-Type: application/json", nil)
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(dst)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON value in the body")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.problem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The body is larger than %d bytes", maxBody), nil)
		return false
	case err != nil:
		s.problem(w, r, http.StatusBadRequest, "The body is not valid JSON for this request", []provisioning.FieldError{jsonFieldError(err)})
		return false
	}
	if errs := textErrors(dst, !utf8.Valid(data)); len(errs) > 0 {
		s.problem(w, r, http.StatusBadRequest, "The request has invalid text", errs)
		return false
	}
	return true
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
