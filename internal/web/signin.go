package web

import (
	"errors"
	"net/http"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/provisioning"
)

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if session.SafeReturn(ret) != ret {
		ret = ""
	}
	s.render(w, r, http.StatusOK, "login", pageData{IdPs: s.rp.IdPs(), Return: ret,
		SignedOut: r.URL.Query().Has("signed_out")})
}

func (s *Server) beginSignIn(w http.ResponseWriter, r *http.Request) {
	idp := r.PathValue("idp")
	url, attempt, err := s.rp.Begin(idp)
	switch {
	case errors.Is(err, oidc.ErrUnknownIdP):
		s.problemPage(w, r, http.StatusNotFound, "signin.unknown_idp")
		return
	case errors.Is(err, oidc.ErrNotReady):
		s.problemPage(w, r, http.StatusServiceUnavailable, "signin.down")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if err := s.sessions.SaveAttempt(r.Context(), w, attempt, session.SafeReturn(r.URL.Query().Get("return"))); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, url, http.StatusFound)
}

// callback finishes a sign-in. Every refusal is audited with its reason and creates nothing.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	idp := r.PathValue("idp")
	attempt, returnTo, err := s.sessions.TakeAttempt(ctx, w, r, idp)
	if errors.Is(err, session.ErrBadState) {
		s.auditFailure(ctx, idp, "", "bad_state", err)
		s.problemPage(w, r, http.StatusBadRequest, "signin.bad_state")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		s.auditFailure(ctx, idp, "", "idp_error:"+e, nil)
		s.problemPage(w, r, http.StatusForbidden, "signin.cancelled")
		return
	}
	signedIn, err := s.rp.Finish(ctx, attempt, r.URL.Query().Get("code"), r.URL.Query().Get("iss"))
	var claimErr *oidc.ClaimError
	switch {
	case errors.As(err, &claimErr):
		s.auditFailure(ctx, idp, "", "bad_claim:"+claimErr.Claim, err)
		s.problemPage(w, r, http.StatusForbidden, "signin.bad_claim")
		return
	case err != nil:
		s.auditFailure(ctx, idp, "", "token_rejected", err)
		s.problemPage(w, r, http.StatusForbidden, "signin.rejected")
		return
	}
	actor, err := s.service.SignIn(ctx, signedIn.Identity)
	switch {
	case errors.Is(err, provisioning.ErrUnknownUser):
		s.auditFailure(ctx, idp, idp+":"+signedIn.Identity.Subject, "unknown_user", err)
		s.problemPage(w, r, http.StatusForbidden, "signin.unknown_user")
		return
	case errors.Is(err, provisioning.ErrConflict):
		s.auditFailure(ctx, idp, idp+":"+signedIn.Identity.Subject, "conflict", err)
		s.problemPage(w, r, http.StatusConflict, "signin.conflict")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if err := s.sessions.Start(ctx, w, r, actor.ID, idp, signedIn.IDToken); err != nil {
		s.fail(w, r, err)
		return
	}
	s.rememberLang(r, actor.ID, requestLang(r))
	http.Redirect(w, r, session.SafeReturn(returnTo), http.StatusSeeOther)
}

// logout ends the session here and, where the IdP offers it, there too.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := s.CurrentActor(r)
	sess, err := s.sessions.End(ctx, w, r)
	if errors.Is(err, session.ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if actor.ID != "" {
		if err := s.service.RecordSignOut(ctx, actor); err != nil {
			s.log.ErrorContext(ctx, "audit sign-out", "err", err)
		}
	}
	back := s.baseURL + "/login?signed_out=1"
	if end := s.rp.EndSessionURL(sess.IdP, sess.IDToken, back); end != "" {
		http.Redirect(w, r, end, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
}
