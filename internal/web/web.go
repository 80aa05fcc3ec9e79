// Package web is behorig's browser side: sign-in through the configured OpenID Providers,
// sessions, and the pages. Cross-site form posts are refused for every route
// (http.CrossOriginProtection), and every page is served with a strict content security
// policy. Decisions are the domain's; this package decodes, asks and renders.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server serves the pages.
type Server struct {
	service *provisioning.Service
	// remote is remote access (UseRemoteAccess): the YubiKey pages, the person page's
	// keys and the password page's SMS codes; nil where it is not set up.
	remote   *remoteaccess.Service
	rp       *oidc.RP
	sessions *session.Store
	// trustedProxies are the reverse proxies whose X-Forwarded-For names the end user.
	trustedProxies []netip.Prefix
	baseURL        string
	loc            *time.Location
	pages          map[string]*template.Template
	log            *slog.Logger
}

// New parses the templates and returns the web server.
// trustedProxies name the reverse proxies whose X-Forwarded-For is believed.
func New(service *provisioning.Service, rp *oidc.RP, sessions *session.Store, baseURL string,
	trustedProxies []netip.Prefix, logger *slog.Logger) (*Server, error) {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return nil, err
	}
	s := &Server{service: service, rp: rp, sessions: sessions, baseURL: baseURL, trustedProxies: trustedProxies, loc: loc,
		pages: map[string]*template.Template{}, log: logger}
	for _, page := range pageNames {
		t, err := template.New(page).Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/partials*.html",
			"templates/"+page+".html")
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
	// Browsers and bookmarks ask for /favicon.ico whatever the page says.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "favicon.svg")
	})
	mux.HandleFunc("GET /{$}", s.signedIn(s.myRequests))
	mux.HandleFunc("GET /me", s.signedIn(s.mePage))
	mux.HandleFunc("GET /requests/{id}", s.signedIn(s.requestPage))
	mux.HandleFunc("GET /requests/{id}/original", s.signedIn(s.originalRequest))
	mux.HandleFunc("POST /requests/{id}/approve", s.signedIn(s.approve))
	mux.HandleFunc("POST /requests/{id}/reject", s.signedIn(s.reject))
	mux.HandleFunc("POST /requests/{id}/terms/paper", s.signedIn(s.paperTerms))
	mux.HandleFunc("POST /requests/{id}/take", s.signedIn(s.take))
	mux.HandleFunc("POST /requests/{id}/comments", s.signedIn(s.comment))
	mux.HandleFunc("POST /requests/{id}/attachments", s.signedIn(s.attach))
	mux.HandleFunc("GET /attachments/{id}", s.signedIn(s.download))
	mux.HandleFunc("GET /signatures/{id}/{which}", s.signedIn(s.downloadEvidence))
	mux.HandleFunc("POST /requests/{id}/status", s.signedIn(s.setStatus))
	// issue 17: IT asks the requester for more information, and verifies a training certificate
	mux.HandleFunc("POST /requests/{id}/ask", s.signedIn(s.askForInformation))
	mux.HandleFunc("POST /requests/{id}/certificate", s.signedIn(s.verifyCertificate))
	mux.HandleFunc("POST /requests/{id}/other-system", s.signedIn(s.completeOtherSystem))
	mux.HandleFunc("GET /queue", s.signedIn(s.queue))
	mux.HandleFunc("POST /grants/{id}/done", s.signedIn(s.manualDone))
	mux.HandleFunc("POST /grants/{id}/removed", s.signedIn(s.manualRemoved))
	mux.HandleFunc("GET /persons", s.signedIn(s.persons))
	mux.HandleFunc("GET /persons/{id}", s.signedIn(s.personPage))
	mux.HandleFunc("POST /persons/{id}/link", s.signedIn(s.linkAccount))
	mux.HandleFunc("POST /persons/{id}/new-account", s.signedIn(s.useNewAccount))
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/units", http.StatusSeeOther) })
	mux.HandleFunc("GET /admin/units", s.signedIn(s.adminUnits))
	mux.HandleFunc("GET /admin/units/{id}", s.signedIn(s.adminUnit))
	mux.HandleFunc("POST /admin/units", s.signedIn(s.saveUnit))
	mux.HandleFunc("GET /admin/catalog", s.signedIn(s.adminCatalog))
	mux.HandleFunc("GET /admin/catalog/{id}", s.signedIn(s.adminSystem))
	mux.HandleFunc("POST /admin/catalog", s.signedIn(s.saveSystem))
	// issue 17: the categories that group the systems on the request form
	mux.HandleFunc("GET /admin/categories", s.signedIn(s.adminCategories))
	mux.HandleFunc("POST /admin/categories", s.signedIn(s.saveCategories))
	mux.HandleFunc("GET /terminate", s.signedIn(s.terminatePage))
	mux.HandleFunc("POST /terminate", s.signedIn(s.submitTermination))
	// change requests: add, change and end some of a person's access
	mux.HandleFunc("GET /change", s.signedIn(s.changePage))
	mux.HandleFunc("POST /change", s.signedIn(s.submitChange))
	mux.HandleFunc("GET /requests/new", s.signedIn(s.newRequestPage))
	mux.HandleFunc("POST /requests/new", s.signedIn(s.submitRequest))
	mux.HandleFunc("GET /units/search", s.signedIn(s.unitSearch))
	mux.HandleFunc("GET /approvers/search", s.signedIn(s.approverSearch))
	// remote access: the order "Beställning fjärråtkomst" and IT's unlock of a locked factor
	mux.HandleFunc("GET /remote-access/new", s.signedIn(s.remoteAccessPage))
	mux.HandleFunc("POST /remote-access/new", s.signedIn(s.submitRemoteAccess))
	mux.HandleFunc("POST /factors/{id}/unlock", s.signedIn(s.unlockFactor))
	mux.HandleFunc("GET /approvals", s.signedIn(s.approvals))
	mux.HandleFunc("POST /approvals", s.signedIn(s.decideMany))
	mux.HandleFunc("GET /login", s.loginPage)
	// A person signs in a few times an hour and starts a signing a few times; these limits
	// let that through and stop a script.
	signIns, orders := newLimiter(6*time.Second, 20), newLimiter(30*time.Second, 6)
	mux.HandleFunc("GET /login/{idp}", s.limited(signIns, s.beginSignIn))
	mux.HandleFunc("GET /auth/oidc/{idp}/callback", s.callback)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /lang", s.switchLang)
	mux.HandleFunc("GET /sign/{token}", s.signPage)
	mux.HandleFunc("POST /sign/{token}/start", s.limited(orders, s.startSigning))
	mux.HandleFunc("POST /sign/{token}/cancel", s.cancelSigning)
	mux.HandleFunc("POST /sign/{token}/paper", s.limited(orders, s.signedForm))
	mux.HandleFunc("GET /sign/{token}/qr.png", s.signQR)
	mux.HandleFunc("GET /sign/{token}/print", s.signPrint)
	mux.HandleFunc("GET /sign/{token}/status", s.signStatus)
	// The password page (Lösenord via BankID): no sign-in. Per client address, as many
	// identifications as signings, and a password posted every ten seconds (a burst of ten);
	// the domain limits each person besides.
	passwordOrders, passwordPosts := newLimiter(30*time.Second, 6), newLimiter(10*time.Second, 10)
	mux.HandleFunc("GET /password", s.passwordPage)
	mux.HandleFunc("POST /password", s.limited(passwordPosts, s.setPassword))
	mux.HandleFunc("POST /password/start", s.limited(passwordOrders, s.startPassword))
	mux.HandleFunc("POST /password/cancel", s.cancelPassword)
	mux.HandleFunc("GET /password/qr.png", s.passwordQR)
	mux.HandleFunc("GET /password/status", s.passwordStatus)
	// remote access: yubikey (IT's keys, hand-out with its receipt, return)
	mux.HandleFunc("GET /yubikeys", s.signedIn(s.yubikeysPage))
	mux.HandleFunc("POST /yubikeys/return", s.signedIn(s.returnYubiKey))
	mux.HandleFunc("GET /yubikeys/handouts/{id}", s.signedIn(s.yubikeyReceipt))
	mux.HandleFunc("POST /persons/{id}/yubikey", s.signedIn(s.handOutYubiKey))
	// remote access: sms. A code sent is limited as an identification started; a code
	// checked as a password posted (and by its tries).
	mux.HandleFunc("POST /password/sms", s.limited(passwordOrders, s.sendPasswordSMS))
	mux.HandleFunc("POST /password/sms/code", s.limited(passwordPosts, s.checkPasswordSMS))
	if api != nil {
		mux.Handle("/api/", api)
	}
	return s.securityHeaders(http.NewCrossOriginProtection().Handler(boundedBodies(s.checkedText(mux))))
}

// boundedBodies limits every POST to a plain form's size, except those that take files,
// which get their files' bound; a multipart body elsewhere is refused before it is read.
func boundedBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			limit := int64(maxForm)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
				if limit = filesLimit(r.URL.Path); limit == 0 {
					http.Error(w, "multipart bodies are only taken with files", http.StatusUnsupportedMediaType)
					return
				}
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// filesLimit bounds the body of a route that takes files: the request form's few files, or
// one attachment with its form. It is 0 for the routes that take no files.
func filesLimit(path string) int64 {
	switch {
	case path == "/requests/new", path == "/remote-access/new":
		return maxForm + maxFormFiles
	case strings.HasPrefix(path, "/requests/") && strings.HasSuffix(path, "/attachments"),
		strings.HasPrefix(path, "/api/v1/requests/") && strings.HasSuffix(path, "/attachments"),
		strings.HasPrefix(path, "/sign/") && strings.HasSuffix(path, "/paper"):
		return provisioning.MaxAttachment + maxForm
	}
	return 0
}

// securityHeaders sets a strict content security policy. form-action lists the IdPs, because
// the sign-out form's redirect chain ends at the IdP's logout endpoint.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		formAction := strings.Join(append([]string{"'self'"}, s.rp.FormActionOrigins()...), " ")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action "+formAction+"; base-uri 'none'")
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

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"login", "start", "me", "request", "approvals", "new", "queue", "persons", "person", "terminate", "change", "admin_units", "admin_unit", "admin_catalog", "admin_system", "admin_categories", "sign", "sign_print", "request_original", "problem", "password",
	// remote access: yubikey, order
	"yubikeys", "yubikey_receipt", "remote_access"}

type pageData struct {
	Title   string
	Actor   *provisioning.Actor
	L       Localizer
	Path    string // the page's own path, for the language switch
	Section string // which main menu entry is current
	// page-specific
	IdPs      []oidc.IdP
	Return    string
	SignedOut bool
	Me        provisioning.MeView
	Message   string
	Flash     string
	// PersonFacing marks a page for the person the access is for, who reaches it by a link
	// and has no sign-in to be sent to.
	PersonFacing bool
	// a list page: its rows, filters and paging
	Requests    []provisioning.QueueEntry
	Persons     []provisioning.PersonSummary
	List        *listView
	AllRequests bool // the queue page shows every request, not only the queue
	Request     *provisioning.RequestView
	Waiting     string
	Timeline    []timelineEntry
	Picked      map[string]bool
	Catalog     []provisioning.SystemView
	// the request form's systems by category, and whether any needs a training certificate
	SystemGroups     []systemGroup
	NeedsCertificate bool
	Categories       []provisioning.Category
	Removals         []provisioning.ManualRemoval
	Reconcile        *provisioning.ReconcileReport
	Person           *provisioning.PersonView
	Units            []provisioning.UnitAdmin
	Systems          []provisioning.SystemAdmin
	RoleRows         []int
	Terms            *provisioning.TermsView
	Sign             *signState
	Token            string
	// Password is the password page's step.
	Password *passwordView
	// Signatures are the evidence of signed terms, for IT.
	Signatures []provisioning.SignatureView
	Statuses   []string
	Approvers  []provisioning.Approver
	// WaitingFor is the start page's notice of what waits for the user (notify.go).
	WaitingFor []noticeLine
	Change     *changeView // the change request form
	// remote access: the order form's systems (with their price), the person page's factors
	RemoteSystems []provisioning.SystemView
	Factors       []remoteaccess.Factor
	// a refused form: the errors, each field's error, and what was typed
	Errors      []formError
	FieldErrors map[string]string
	Form        map[string]string
	// remote access: yubikey. YubiKeys are the keys of the IT list or of the person page
	// (RemoteAccess: the person page shows the block), KeysToReturn the list's keys to get
	// back, KeyReceipt a hand-out's receipt.
	YubiKeys     []remoteaccess.YubiKey
	KeysToReturn []remoteaccess.YubiKey
	KeyReceipt   *keyReceiptView
	RemoteAccess bool
	// AwaitsYubiKey: the person's approved remote-access order asked for a key, so the
	// person page offers the hand-out.
	AwaitsYubiKey bool
}

// thumbsData feeds the "thumbs" template: approved by the submitter and by the manager.
type thumbsData struct {
	L                                      Localizer
	ApprovedBySubmitter, ApprovedByManager bool
}

// manualStepData feeds the "manualStep" template: IT marks a manual grant given or removed.
type manualStepData struct {
	L                             Localizer
	GrantID, Step, System, Return string
}

// uploadFormData feeds the "uploadForm" template: a form that sends one file.
type uploadFormData struct {
	L                    Localizer
	Action, Label, Error string
}

var templateFuncs = template.FuncMap{
	"isOpen": provisioning.IsOpen,
	// queued tells whether IT can take a request of this status.
	"queued": func(status string) bool { return slices.Contains(provisioning.QueueStatuses, status) },
	"field":  newField,
	"uploadForm": func(d pageData, action, labelKey string) uploadFormData {
		return uploadFormData{L: d.L, Action: action, Label: d.L.T(labelKey), Error: d.FieldErrors["file"]}
	},
	"manualStep": func(l Localizer, grantID, step, system, requestID string) manualStepData {
		ret := "/queue"
		if requestID != "" {
			ret = "/requests/" + requestID
		}
		return manualStepData{L: l, GrantID: grantID, Step: step, System: system, Return: ret}
	},
	// remote access: yubikey. The return form of a key, on the person page (back to it) or
	// IT's list (personID empty).
	"yubikeyReturn": func(l Localizer, k remoteaccess.YubiKey, personID string) yubikeyReturnData {
		return yubikeyReturnData{L: l, Key: k, PersonID: personID}
	},
	"thumbs": func(l Localizer, v any) thumbsData {
		switch r := v.(type) {
		case provisioning.QueueEntry:
			return thumbsData{l, r.ApprovedBySubmitter, r.ApprovedByManager}
		case *provisioning.RequestView:
			return thumbsData{l, r.ApprovedBySubmitter, r.ApprovedByManager}
		}
		return thumbsData{L: l}
	},
}

func (s *Server) localizer(r *http.Request) Localizer {
	return Localizer{Lang: requestLang(r), loc: s.loc}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data pageData) {
	data.L = s.localizer(r)
	if data.Path == "" {
		data.Path = r.URL.RequestURI()
	}
	if strings.HasPrefix(data.Section, "admin") && data.IdPs == nil && s.rp != nil {
		data.IdPs = s.rp.IdPs() // the admin pages show an IdP that does not answer
	}
	if data.Title == "" {
		data.Title = data.L.T(page + ".title")
	}
	if len(data.Errors) > 0 {
		data.Title = data.L.T("form.error_title", data.Title)
	}
	// Render into a buffer first: a template that fails half-way must not send half a page
	// with a 200.
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, data.L.T("error"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", string(data.L.Lang))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// problemPage explains what went wrong in words a user can act on; details stay in the log.
// key names the title in the catalog and key+"." the explanation.
func (s *Server) problemPage(w http.ResponseWriter, r *http.Request, status int, key string) {
	l := s.localizer(r)
	data := pageData{Title: l.T(key), Message: l.T(key + "."), PersonFacing: personFacing(r)}
	if actor, err := s.CurrentActor(r); err == nil {
		data.Actor = &actor
	}
	s.render(w, r, status, "problem", data)
}

// personFacing tells the routes the person reaches without signing in: the terms link and
// the password page.
func personFacing(r *http.Request) bool {
	_, path, _ := strings.Cut(r.Pattern, " ")
	return strings.HasPrefix(path, "/sign/") || strings.HasPrefix(path, "/password")
}

// switchLang remembers the chosen language for a year and goes back to the page.
func (s *Server) switchLang(w http.ResponseWriter, r *http.Request) {
	to := Lang(r.URL.Query().Get("to"))
	if to != Swedish && to != English {
		to = Swedish
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(to), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: strings.HasPrefix(s.baseURL, "https://"), SameSite: http.SameSiteLaxMode})
	if actor, err := s.CurrentActor(r); err == nil {
		s.rememberLang(r, actor.ID, to)
	}
	http.Redirect(w, r, session.SafeReturn(r.URL.Query().Get("return")), http.StatusSeeOther)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	// The pattern, not the path: a path may hold a link's token.
	s.log.ErrorContext(r.Context(), "page failed", "route", r.Pattern, "err", err)
	s.problemPage(w, r, http.StatusInternalServerError, "error")
}

// audit logs a failed sign-in; the audit log is the record, the error only goes to the log.
func (s *Server) auditFailure(ctx context.Context, idp, subject, reason string, err error) {
	s.log.WarnContext(ctx, "sign-in refused", "idp", idp, "reason", reason, "err", err)
	if aerr := s.service.RecordSignInFailure(ctx, idp, subject, reason); aerr != nil {
		s.log.ErrorContext(ctx, "audit failed sign-in", "err", aerr)
	}
}
