package web

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/provisioning"
)

// The password page ("Lösenord via BankID"): no sign-in, the person identifies with BankID
// and sets the password of their account. The domain owns the order and decides everything;
// this file binds it to the browser with a cookie and renders it.

// passwordView is what the password page shows.
type passwordView struct {
	// State is start (nothing running), pending (identify in the app), identified (choose
	// the password) or done (it was set).
	State   string
	Message string
	Sign    *signState // QR code and BankID's message of a pending order
	Order   provisioning.PasswordOrder
	// BankID and SMS are the ways to identify offered here; SMSSent shows the field for the
	// code sent (password_sms.go).
	BankID, SMS, SMSSent bool
}

// passwordStart is the page's first step with the ways to identify it offers.
func (s *Server) passwordStart() passwordView {
	return passwordView{State: "start", BankID: s.service.PasswordEnabled(), SMS: s.smsEnabled()}
}

// passwordMessages are the notices the page takes in ?msg=.
var passwordMessages = map[string]bool{"too_many": true, "expired": true, "person_limit": true, "no_account": true, "busy": true,
	"sms_sent": true, "sms_too_many": true, "sms_unavailable": true, "sms_number": true}

// passwordCookie names the cookie that binds an identification to this browser.
func (s *Server) passwordCookie() (string, bool) {
	if strings.HasPrefix(s.baseURL, "https://") {
		return "__Host-behorig-password", true
	}
	return "behorig-password", false
}

// passwordBrowser is the browser's binding secret; the page makes one when there is none.
// The domain keeps only its SHA-256, so the cookie is the only key to the identification.
func (s *Server) passwordBrowser(w http.ResponseWriter, r *http.Request, create bool) string {
	name, secure := s.passwordCookie()
	if c, err := r.Cookie(name); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 && textcheck.Line(c.Value) == nil {
		return c.Value
	}
	if !create {
		return ""
	}
	value := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: 3600, HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode})
	return value
}

// passwordPage shows the step the browser's identification is at.
func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	l := s.localizer(r)
	browser := s.passwordBrowser(w, r, true)
	view := s.passwordStart()
	view.SMSSent = view.SMS && s.smsChallenge(r) != nil
	if msg := r.URL.Query().Get("msg"); passwordMessages[msg] {
		view.Message = l.T("password." + msg)
	} else if _, known := messages["rfa."+msg]; known {
		view.Message = l.T("rfa." + msg)
	}
	if !view.BankID && !view.SMS {
		s.problemPage(w, r, http.StatusServiceUnavailable, "password.no_bankid")
		return
	}
	order, err := s.service.PasswordOrder(r.Context(), browser)
	switch {
	case errors.Is(err, provisioning.ErrNotFound):
	case err != nil:
		s.fail(w, r, err)
		return
	default:
		view.Order = order
		s.passwordState(r, &view)
	}
	s.renderPassword(w, r, http.StatusOK, view, nil)
}

// passwordState decides the page's step from the order as the domain last heard it.
func (s *Server) passwordState(r *http.Request, view *passwordView) {
	l := s.localizer(r)
	o := view.Order
	switch {
	case o.Status == connectors.BankIDPending:
		view.State = "pending"
		view.Sign = &signState{State: o.Status, Message: l.T("rfa." + bankid.RFA(o.Status, o.Hint, false)),
			QR: fmt.Sprintf("/password/qr.png?t=%d", time.Now().UnixMilli()), AutoStart: autoStartLink(r, o.AutoStartToken)}
	case o.Identified(time.Now()):
		view.State = "identified"
	case o.Status == "used" && r.URL.Query().Has("done"):
		view.State = "done"
	case o.Status == connectors.BankIDFailed && view.Message == "":
		switch o.Hint {
		case "no_account", "person_limit":
			view.Message = l.T("password." + o.Hint)
		default:
			view.Message = l.T("rfa." + bankid.RFA(o.Status, o.Hint, false))
		}
	case o.Status == connectors.BankIDComplete && view.Message == "":
		view.Message = l.T("password.expired")
	}
}

func (s *Server) renderPassword(w http.ResponseWriter, r *http.Request, status int, view passwordView, errs []formError) {
	fieldErrors := map[string]string{}
	for _, e := range errs {
		fieldErrors[e.Anchor] = e.Message
	}
	title := "" // the page's own
	if !view.BankID {
		title = s.localizer(r).T("password.title_sms")
	}
	s.render(w, r, status, "password", pageData{Title: title, Password: &view, Sign: view.Sign, Errors: errs, FieldErrors: fieldErrors,
		Form: map[string]string{}})
}

// startPassword has the domain start an identification for this browser.
func (s *Server) startPassword(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	browser := s.passwordBrowser(w, r, false)
	if browser == "" {
		http.Redirect(w, r, "/password", http.StatusSeeOther) // the page gives the browser its cookie
		return
	}
	_, err := s.service.StartPasswordOrder(r.Context(), browser, s.clientIP(r))
	switch {
	case err == nil, errors.Is(err, provisioning.ErrOrderRunning):
		http.Redirect(w, r, "/password", http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrTooManyOrders):
		http.Redirect(w, r, "/password?msg=too_many", http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrNoBankID):
		s.problemPage(w, r, http.StatusServiceUnavailable, "password.no_bankid")
	default:
		s.log.WarnContext(r.Context(), "start identification", "err", err)
		http.Redirect(w, r, "/password?msg="+bankid.ErrorRFAOf(err), http.StatusSeeOther)
	}
}

// cancelPassword cancels the browser's running identification.
func (s *Server) cancelPassword(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	if browser := s.passwordBrowser(w, r, false); browser != "" {
		if err := s.service.CancelPasswordOrder(r.Context(), browser); err != nil && !errors.Is(err, provisioning.ErrNotFound) {
			s.log.WarnContext(r.Context(), "cancel identification", "err", err)
			http.Redirect(w, r, "/password?msg="+bankid.ErrorRFAOf(err), http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/password", http.StatusSeeOther)
}

// setPassword hands the two entries to the domain, which has the directory judge and write
// the password. Neither entry is ever shown again, logged or kept: a refused form comes back
// empty.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	l := s.localizer(r)
	browser := s.passwordBrowser(w, r, false)
	if browser == "" {
		http.Redirect(w, r, "/password?msg=expired", http.StatusSeeOther)
		return
	}
	orderRef := r.PostFormValue("order")
	_, err := s.service.SetPassword(r.Context(), browser, orderRef, r.PostFormValue("password"), r.PostFormValue("password2"))
	var ve *provisioning.ValidationError
	var refused *connectors.PasswordRefusedError
	var errs []formError
	switch {
	case err == nil:
		http.Redirect(w, r, "/password?done=1", http.StatusSeeOther)
		return
	case errors.As(err, &ve):
		for _, fe := range ve.Errors {
			label := "password.new"
			if fe.Field == "password2" {
				label = "password.repeat"
			}
			errs = append(errs, formError{Anchor: fe.Field, Label: l.T(label), Message: l.FieldMessage(fe)})
		}
	case errors.As(err, &refused):
		errs = []formError{{Anchor: "password", Label: l.T("password.new"), Message: l.T("password.refused", refused.Reason)}}
	case errors.Is(err, provisioning.ErrIdentificationExpired), errors.Is(err, provisioning.ErrNotFound):
		http.Redirect(w, r, "/password?msg=expired", http.StatusSeeOther)
		return
	case errors.Is(err, provisioning.ErrPersonLimit):
		http.Redirect(w, r, "/password?msg=person_limit", http.StatusSeeOther)
		return
	case errors.Is(err, provisioning.ErrNoActiveAccount):
		http.Redirect(w, r, "/password?msg=no_account", http.StatusSeeOther)
		return
	case errors.Is(err, provisioning.ErrPasswordBusy):
		http.Redirect(w, r, "/password?msg=busy", http.StatusSeeOther)
		return
	default:
		s.fail(w, r, err)
		return
	}
	order, oerr := s.service.PasswordOrder(r.Context(), browser)
	if oerr != nil || order.OrderRef != orderRef || !order.Identified(time.Now()) {
		http.Redirect(w, r, "/password?msg=expired", http.StatusSeeOther)
		return
	}
	view := s.passwordStart()
	view.State, view.Order = "identified", order
	s.renderPassword(w, r, http.StatusUnprocessableEntity, view, errs)
}

// passwordQR draws the QR code of this second for the browser's pending identification.
func (s *Server) passwordQR(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	browser := s.passwordBrowser(w, r, false)
	if browser == "" {
		http.NotFound(w, r)
		return
	}
	order, err := s.service.PasswordOrder(r.Context(), browser)
	if err != nil || order.Status != connectors.BankIDPending {
		http.NotFound(w, r)
		return
	}
	png, err := qrcode.Encode(bankid.QRData(order.QRStartToken, order.QRStartSecret, bankid.QRTime(order.AnsweredAt, time.Now())),
		qrcode.Medium, 256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
}

// passwordStatus answers the page's script (sign.js): the state, BankID's message and the
// next QR code; anything but pending makes the script load the page again.
func (s *Server) passwordStatus(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	browser := s.passwordBrowser(w, r, false)
	order, err := s.service.PasswordOrder(r.Context(), browser)
	if err != nil {
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(signState{State: "gone"})
		return
	}
	view := passwordView{Order: order}
	s.passwordState(r, &view)
	state := signState{State: order.Status}
	if view.Sign != nil {
		state = *view.Sign
	} else if order.Identified(time.Now()) {
		state.Message = s.localizer(r).T("password.identified_short")
	}
	json.NewEncoder(w).Encode(state)
}
