package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// The password page's second way to identify, for people without BankID: an SMS code to the
// mobile registered for them. The person types their username; provisioning says where the
// code goes, remote access sends and checks it (bound to this browser, purpose password), and
// provisioning records the identification, after which the page goes on as after BankID.
//
// The page answers the same whether or not the username has an account with a mobile: a code
// is "sent" either way (a random challenge the browser holds, which no code matches), so
// that the form cannot be used to learn who has an account or a number.

// smsEnabled tells whether the password page can send codes.
func (s *Server) smsEnabled() bool { return s.remote != nil && s.remote.SMSEnabled() }

// passwordSMSCookie names the cookie that holds the challenge of the code sent last.
func (s *Server) passwordSMSCookie() (string, bool) {
	if strings.HasPrefix(s.baseURL, "https://") {
		return "__Host-behorig-password-sms", true
	}
	return "behorig-password-sms", false
}

// smsClient binds a code to the browser: derived from its cookie, so that the challenge
// table never holds the cookie itself, which is the key to the identification.
func smsClient(browser string) string {
	sum := sha256.Sum256([]byte("password sms\x00" + browser))
	return "browser:" + hex.EncodeToString(sum[:16])
}

func (s *Server) smsChallenge(r *http.Request) []byte {
	name, _ := s.passwordSMSCookie()
	c, err := r.Cookie(name)
	if err != nil {
		return nil
	}
	state, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(state) == 0 || len(state) > 64 {
		return nil
	}
	return state
}

func (s *Server) setSMSChallenge(w http.ResponseWriter, state []byte) {
	name, secure := s.passwordSMSCookie()
	value, maxAge := base64.RawURLEncoding.EncodeToString(state), 600 // a code lives at most 10 minutes
	if state == nil {
		value, maxAge = "", -1
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/password", MaxAge: maxAge, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode})
}

// sendPasswordSMS sends a code to the registered mobile of the account typed.
func (s *Server) sendPasswordSMS(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	l := s.localizer(r)
	browser := s.passwordBrowser(w, r, false)
	if browser == "" || !s.smsEnabled() {
		http.Redirect(w, r, "/password", http.StatusSeeOther)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	if username == "" {
		s.renderPassword(w, r, http.StatusUnprocessableEntity, s.passwordStart(),
			[]formError{{Anchor: "username", Label: l.T("password.username"), Message: l.T("password.sms.username_required")}})
		return
	}
	personID, mobile, err := s.service.PasswordSMSTarget(r.Context(), username)
	var state []byte
	switch {
	case errors.Is(err, provisioning.ErrNoActiveAccount), errors.Is(err, provisioning.ErrNoMobile):
		// Nothing to send; the browser holds a challenge that no code matches.
		state = make([]byte, 32)
		rand.Read(state)
	case err != nil:
		s.fail(w, r, err)
		return
	default:
		state, err = s.remote.SendCode(r.Context(), personID, mobile, remoteaccess.PurposePassword, smsClient(browser))
		msg := ""
		switch {
		case err == nil:
		case errors.Is(err, remoteaccess.ErrTooManyCodes):
			msg = "sms_too_many"
		case errors.Is(err, connectors.ErrSMSRecipient):
			msg = "sms_number"
		case errors.Is(err, connectors.ErrSMSUnavailable):
			msg = "sms_unavailable"
		default:
			s.fail(w, r, err)
			return
		}
		if msg != "" {
			s.log.WarnContext(r.Context(), "password page: no SMS code", "reason", msg, "err", err)
			http.Redirect(w, r, "/password?msg="+msg, http.StatusSeeOther)
			return
		}
	}
	s.setSMSChallenge(w, state)
	http.Redirect(w, r, "/password?msg=sms_sent", http.StatusSeeOther)
}

// checkPasswordSMS checks the code typed; a right one identifies the browser's person.
func (s *Server) checkPasswordSMS(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	l := s.localizer(r)
	browser, state := s.passwordBrowser(w, r, false), s.smsChallenge(r)
	if browser == "" || state == nil || !s.smsEnabled() {
		http.Redirect(w, r, "/password?msg=expired", http.StatusSeeOther)
		return
	}
	personID, ok, reason, err := s.remote.CheckCode(r.Context(), state, remoteaccess.PurposePassword, smsClient(browser),
		r.PostFormValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		// One answer for every refusal: a wrong code, an old one, or none sent at all.
		s.log.InfoContext(r.Context(), "password page: SMS code refused", "reason", reason)
		view := s.passwordStart()
		view.SMSSent = true
		s.renderPassword(w, r, http.StatusUnprocessableEntity, view,
			[]formError{{Anchor: "code", Label: l.T("password.sms.code"), Message: l.T("password.sms.wrong")}})
		return
	}
	s.setSMSChallenge(w, nil)
	_, err = s.service.IdentifiedBySMS(r.Context(), browser, personID)
	switch {
	case err == nil:
		http.Redirect(w, r, "/password", http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrPersonLimit):
		http.Redirect(w, r, "/password?msg=person_limit", http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrNoActiveAccount):
		http.Redirect(w, r, "/password?msg=no_account", http.StatusSeeOther)
	default:
		s.fail(w, r, err)
	}
}
