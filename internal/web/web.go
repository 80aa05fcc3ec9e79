// Package web is behorig's browser side: sign-in through the configured OpenID Providers,
// sessions, and the pages. Cross-site form posts are refused for every route
// (http.CrossOriginProtection), and every page is served with a strict content security
// policy. Decisions are the domain's; this package decodes, asks and renders.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/provisioning"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var roleNames = map[provisioning.Role]string{
	provisioning.RoleRequester: "beställare",
	provisioning.RoleITHandler: "IT-handläggare",
	provisioning.RoleITAdmin:   "IT-administratör",
}

// Server serves the pages.
type Server struct {
	service  *provisioning.Service
	rp       *oidc.RP
	sessions *session.Store
	baseURL  string
	pages    map[string]*template.Template
	log      *slog.Logger
}

// New parses the templates and returns the web server.
func New(service *provisioning.Service, rp *oidc.RP, sessions *session.Store, baseURL string, logger *slog.Logger) (*Server, error) {
	s := &Server{service: service, rp: rp, sessions: sessions, baseURL: baseURL, pages: map[string]*template.Template{}, log: logger}
	funcs := template.FuncMap{"roleName": func(r provisioning.Role) string { return roleNames[r] }}
	for _, page := range []string{"login", "home", "problem"} {
		t, err := template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		s.pages[page] = t
	}
	return s, nil
}

// Handler returns the routes, guarded against cross-site posts. api, when not nil, is
// mounted under /api/ behind the same guard.
func (s *Server) Handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("GET /login/{idp}", s.beginSignIn)
	mux.HandleFunc("GET /auth/oidc/{idp}/callback", s.callback)
	mux.HandleFunc("POST /logout", s.logout)
	if api != nil {
		mux.Handle("/api/", api)
	}
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// CurrentActor returns the principal of the request's session; the API uses it too.
func (s *Server) CurrentActor(r *http.Request) (provisioning.Actor, error) {
	sess, err := s.sessions.Lookup(r.Context(), r)
	if err != nil {
		return provisioning.Actor{}, err
	}
	actor, err := s.service.ActorByID(r.Context(), sess.PrincipalID)
	if errors.Is(err, provisioning.ErrNotFound) {
		return provisioning.Actor{}, session.ErrNoSession
	}
	return actor, err
}

type pageData struct {
	Title string
	Actor *provisioning.Actor
	// page-specific
	IdPs      []oidc.IdP
	Return    string
	SignedOut bool
	Me        provisioning.MeView
	Message   string
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout", data); err != nil {
		s.log.Error("render page", "page", page, "err", err)
	}
}

// problemPage explains what went wrong in words a user can act on; details stay in the log.
func (s *Server) problemPage(w http.ResponseWriter, status int, title, message string) {
	s.render(w, status, "problem", pageData{Title: title, Message: message})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	actor, err := s.CurrentActor(r)
	if errors.Is(err, session.ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	me, err := s.service.Me(r.Context(), actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "home", pageData{Title: "Start", Actor: &actor, Me: me})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	s.problemPage(w, http.StatusInternalServerError, "Något gick fel", "Felet är loggat. Försök igen om en stund.")
}

// audit logs a failed sign-in; the audit log is the record, the error only goes to the log.
func (s *Server) auditFailure(ctx context.Context, idp, subject, reason string, err error) {
	s.log.WarnContext(ctx, "sign-in refused", "idp", idp, "reason", reason, "err", err)
	if aerr := s.service.RecordSignInFailure(ctx, idp, subject, reason); aerr != nil {
		s.log.ErrorContext(ctx, "audit failed sign-in", "err", aerr)
	}
}
