package web

import (
	"errors"
	"net/http"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/provisioning"
)

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if reason := r.URL.Query().Get("refused"); signInRefusals[reason] != 0 {
		s.refuseSignIn(w, r, reason)
		return
	}
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
		s.refuseSignIn(w, r, "bad_state")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		s.auditFailure(ctx, idp, "", "idp_error:"+e, nil)
		s.refuseSignIn(w, r, "cancelled")
		return
	}
	signedIn, err := s.rp.Finish(ctx, attempt, r.URL.Query().Get("code"), r.URL.Query().Get("iss"))
	var claimErr *oidc.ClaimError
	switch {
	case errors.As(err, &claimErr):
		s.auditFailure(ctx, idp, "", "bad_claim:"+claimErr.Claim, err)
		s.refuseSignIn(w, r, "bad_claim")
		return
	case err != nil:
		s.auditFailure(ctx, idp, "", "token_rejected", err)
		s.refuseSignIn(w, r, "rejected")
		return
	}
	actor, err := s.service.SignIn(ctx, signedIn.Identity)
	switch {
	case errors.Is(err, provisioning.ErrUnknownUser):
		s.auditFailure(ctx, idp, idp+":"+signedIn.Identity.Subject, "unknown_user", err)
		s.refuseSignIn(w, r, "unknown_user")
		return
	case errors.Is(err, provisioning.ErrConflict):
		s.auditFailure(ctx, idp, idp+":"+signedIn.Identity.Subject, "conflict", err)
		s.refuseSignIn(w, r, "conflict")
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

// signInRefusals are the reasons a sign-in is refused, with the status of the page that says so.
var signInRefusals = map[string]int{"bad_state": http.StatusBadRequest, "cancelled": http.StatusForbidden,
	"bad_claim": http.StatusForbidden, "rejected": http.StatusForbidden, "unknown_user": http.StatusForbidden,
	"conflict": http.StatusConflict}

// refuseSignIn shows why a sign-in was refused. Its own address is /login?refused=<reason>,
// not the callback's: the callback's code and state are spent, so the language link would
// otherwise lead to "unknown sign-in" instead of the reason, and it would carry the code.
func (s *Server) refuseSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	l := s.localizer(r)
	key := "signin." + reason
	data := pageData{Title: l.T(key), Message: l.T(key + "."), Path: "/login?refused=" + reason}
	if actor, err := s.CurrentActor(r); err == nil {
		data.Actor = &actor
	}
	s.render(w, r, signInRefusals[reason], "problem", data)
}
