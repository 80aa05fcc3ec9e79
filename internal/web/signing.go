package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/provisioning"
)

// signState is what the signing page and its script show.
type signState struct {
	State   string `json:"state"` // none, pending, failed, complete
	Message string `json:"message"`
	// QR is the path of the current QR image; it changes every second.
	QR string `json:"qr,omitempty"`
	// AutoStart opens the BankID app on this device; html/template would refuse its scheme,
	// and it is made here from BankID's token only.
	AutoStart template.URL `json:"autoStart,omitempty"`
	// OnPhone puts the button that opens BankID on this device first: a phone cannot scan
	// its own screen.
	OnPhone bool `json:"-"`
}

// signPrint is the terms as a form to print, sign by hand and upload, for a person without
// BankID. The personnummer is written in by hand: the link alone does not show it.
func (s *Server) signPrint(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	view, err := s.service.Terms(r.Context(), token)
	if err != nil {
		s.linkProblem(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "sign_print", pageData{Terms: &view, Token: token})
}

// signPage shows the terms and, once an order runs, the QR code and BankID's message. The
// link is the only credential: it says nothing about the request in the URL.
func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	view, err := s.service.Terms(r.Context(), token)
	if errors.Is(err, provisioning.ErrLinkUsed) {
		if order, oerr := s.service.SigningOrder(r.Context(), token); oerr == nil && order.Status == connectors.BankIDComplete {
			s.problemPage(w, r, http.StatusOK, "sign.signed")
			return
		}
	}
	if err != nil {
		s.linkProblem(w, r, err)
		return
	}
	state := s.signingState(r, token)
	msg := r.URL.Query().Get("msg")
	if _, known := messages["rfa."+msg]; !known && msg != "too_many" {
		msg = ""
	}
	s.render(w, r, http.StatusOK, "sign", pageData{Title: s.localizer(r).T("sign.title"), Terms: &view, Sign: &state,
		Token: token, Message: msg, Flash: flash(s.localizer(r), r), FieldErrors: map[string]string{}})
}

// linkProblem explains an unknown, used or expired link on a page of its own.
func (s *Server) linkProblem(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, provisioning.ErrLinkUsed):
		s.problemPage(w, r, http.StatusGone, "sign.used")
	case errors.Is(err, provisioning.ErrLinkExpired):
		s.problemPage(w, r, http.StatusGone, "sign.expired")
	case errors.Is(err, provisioning.ErrNotFound):
		s.problemPage(w, r, http.StatusNotFound, "sign.unknown")
	default:
		s.fail(w, r, err)
	}
}

// signingState is how the link's order stands, as the domain last heard it from BankID: the
// page only renders it. The domain's watch job collects every two seconds, so a page never
// waits for BankID, and a hung BankID leaves it answering.
func (s *Server) signingState(r *http.Request, token string) signState {
	l := s.localizer(r)
	if !s.service.SigningEnabled() {
		return signState{State: "none"}
	}
	order, err := s.service.SigningOrder(r.Context(), token)
	if err != nil {
		return signState{State: "none"}
	}
	state := signState{State: order.Status, AutoStart: autoStartLink(r, order.AutoStartToken), OnPhone: mobile.MatchString(r.UserAgent())}
	switch order.Status {
	case connectors.BankIDPending:
		state.QR = fmt.Sprintf("/sign/%s/qr.png?t=%d", token, time.Now().UnixMilli())
		state.Message = l.T("rfa." + bankid.RFA(order.Status, order.Hint, false))
	case connectors.BankIDFailed:
		if order.Hint == "signer_mismatch" {
			state.Message = l.T("sign.mismatch")
		} else {
			state.Message = l.T("rfa." + bankid.RFA(order.Status, order.Hint, false))
		}
	case connectors.BankIDComplete:
		state.Message = l.T("sign.done")
	}
	return state
}

// startSigning has the domain start a BankID order for the request's person from this
// device. An order already running is not replaced.
func (s *Server) startSigning(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	_, err := s.service.StartSigning(r.Context(), token, s.clientIP(r))
	switch {
	case err == nil, errors.Is(err, provisioning.ErrOrderRunning):
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrTooManyOrders):
		http.Redirect(w, r, "/sign/"+token+"?msg=too_many", http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrNoBankID):
		s.problemPage(w, r, http.StatusServiceUnavailable, "sign.no_bankid")
	case errors.Is(err, provisioning.ErrLinkUsed), errors.Is(err, provisioning.ErrLinkExpired), errors.Is(err, provisioning.ErrNotFound):
		s.linkProblem(w, r, err)
	default:
		s.log.WarnContext(r.Context(), "start signing", "err", err)
		http.Redirect(w, r, "/sign/"+token+"?msg="+bankid.ErrorRFAOf(err), http.StatusSeeOther)
	}
}

// cancelSigning has the domain cancel the running order (it asks BankID once more first: the
// person may just have signed, and that signature is kept).
func (s *Server) cancelSigning(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	_, err := s.service.CancelSigning(r.Context(), token)
	if err == nil || errors.Is(err, provisioning.ErrLinkUsed) || errors.Is(err, provisioning.ErrLinkExpired) ||
		errors.Is(err, provisioning.ErrNotFound) {
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
		return
	}
	s.log.WarnContext(r.Context(), "cancel signing", "err", err)
	http.Redirect(w, r, "/sign/"+token+"?msg="+bankid.ErrorRFAOf(err), http.StatusSeeOther)
}

// noReferrer keeps the link's token out of Referer headers, even to this site's own files.
func noReferrer(w http.ResponseWriter) { w.Header().Set("Referrer-Policy", "no-referrer") }

// clientIP is the end user's address for BankID: the connection's, or behind a trusted proxy
// the rightmost X-Forwarded-For hop that is not a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops); s.trusted(addr) && i > 0; i-- {
		next, err := netip.ParseAddr(strings.TrimSpace(hops[i-1]))
		if err != nil {
			break
		}
		addr = next
	}
	return addr.Unmap().String()
}

func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// signQR draws the QR code of this second, computed here from the order's secret.
func (s *Server) signQR(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	if err := s.service.CheckLink(r.Context(), r.PathValue("token")); err != nil {
		http.NotFound(w, r)
		return
	}
	order, err := s.service.SigningOrder(r.Context(), r.PathValue("token"))
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

// signStatus answers the page's script: the state, BankID's message and the next QR code.
func (s *Server) signStatus(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	w.Header().Set("Content-Type", "application/json")
	if err := s.service.CheckLink(r.Context(), token); err != nil && !errors.Is(err, provisioning.ErrLinkUsed) {
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(signState{State: "gone"})
		return
	}
	state := s.signingState(r, token)
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(state)
}

// downloadEvidence serves the signature XML or the OCSP response of signed terms to IT.
func (s *Server) downloadEvidence(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	which := r.PathValue("which")
	data, err := s.service.SignatureFile(r.Context(), actor, r.PathValue("id"), which)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	name, contentType := "signatur.xml", "application/xml"
	if which == "ocsp" {
		name, contentType = "ocsp-svar.der", "application/ocsp-response"
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", "attachment; filename="+name)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	w.Write(data)
}

// signedForm takes the signed paper form from the person, for IT to verify.
func (s *Server) signedForm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	name, data, err := readUpload(w, r)
	if err == nil {
		err = s.service.AttachSignedForm(r.Context(), token, name, data)
	}
	var ve *provisioning.ValidationError
	switch {
	case err == nil:
		http.Redirect(w, r, "/sign/"+token+"?done=paper_received", http.StatusSeeOther)
	case errors.As(err, &ve):
		view, verr := s.service.Terms(r.Context(), token)
		if verr != nil {
			s.linkProblem(w, r, verr)
			return
		}
		l := s.localizer(r)
		msg := l.FieldMessage(ve.Errors[0])
		state := s.signingState(r, token)
		s.render(w, r, http.StatusBadRequest, "sign", pageData{Title: l.T("sign.title"), Terms: &view, Sign: &state, Token: token,
			FieldErrors: map[string]string{"file": msg}, Errors: []formError{{Anchor: "file", Label: l.T("sign.paper_upload"), Message: msg}}})
	default:
		s.linkProblem(w, r, err)
	}
}

var mobile = regexp.MustCompile(`iPhone|iPad|iPod|Android`)

// autoStartLink opens the BankID app on this device: BankID's universal link on phones and
// tablets, its own scheme on computers.
func autoStartLink(r *http.Request, token string) template.URL {
	query := "?autostarttoken=" + url.QueryEscape(token) + "&redirect=null"
	if mobile.MatchString(r.UserAgent()) {
		return template.URL("https://app.bankid.com/" + query)
	}
	return template.URL("bankid:///" + query)
}
