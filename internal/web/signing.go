package web

import (
	"context"
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
	"github.com/behorig/behorig/provisioning"
)

// BankID is the RP API as the signing page uses it (auth/bankid.Client). Collecting is the
// domain's (provisioning.OrderCollector), shared with the job that watches orders.
type BankID interface {
	Sign(ctx context.Context, req bankid.OrderRequest, visible, nonVisible string) (bankid.OrderResponse, error)
	Cancel(ctx context.Context, orderRef string) error
}

// collectInterval is BankID's: collect every two seconds while an order is pending.
const collectInterval = 2 * time.Second

// signState is what the signing page and its script show.
type signState struct {
	State   string `json:"state"` // none, pending, failed, complete
	Message string `json:"message"`
	// QR is the path of the current QR image; it changes every second.
	QR string `json:"qr,omitempty"`
	// AutoStart opens the BankID app on this device; html/template would refuse its scheme,
	// and it is made here from BankID's token only.
	AutoStart template.URL `json:"autoStart,omitempty"`
}

// signPage shows the terms and, once an order runs, the QR code and BankID's message. The
// link is the only credential: it says nothing about the request in the URL.
func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	view, err := s.service.Terms(r.Context(), token)
	if errors.Is(err, provisioning.ErrLinkUsed) {
		if order, oerr := s.service.SigningOrder(r.Context(), token); oerr == nil && order.Status == bankid.StatusComplete {
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

// signingState asks BankID how the link's order stands, at most every two seconds, and
// completes the signature when BankID says it is done.
func (s *Server) signingState(r *http.Request, token string) signState {
	l := s.localizer(r)
	order, err := s.service.SigningOrder(r.Context(), token)
	if err != nil || s.bankid == nil {
		return signState{State: "none"}
	}
	state := signState{State: order.Status, AutoStart: autoStartLink(r, order.AutoStartToken)}
	if order.Status == bankid.StatusPending {
		if collected, err := s.service.CollectSigning(r.Context(), order.OrderRef, time.Now(), collectInterval); err == nil {
			order = collected
		}
	}
	state.State = order.Status
	switch order.Status {
	case bankid.StatusPending:
		state.QR = fmt.Sprintf("/sign/%s/qr.png?t=%d", token, time.Now().UnixMilli())
		state.Message = l.T("rfa." + bankid.RFA(order.Status, order.Hint, false))
	case bankid.StatusFailed:
		if order.Hint == "signer_mismatch" {
			state.Message = l.T("sign.mismatch")
		} else {
			state.Message = l.T("rfa." + bankid.RFA(order.Status, order.Hint, false))
		}
	case bankid.StatusComplete:
		state.Message = l.T("sign.done")
	}
	return state
}

// startSigning starts a BankID sign order for the request's person, with the terms as the
// text shown in the app and their hash inside the signature. An order already running is
// asked about first and not replaced.
func (s *Server) startSigning(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	if err := s.service.CheckLink(r.Context(), token); err != nil {
		s.linkProblem(w, r, err)
		return
	}
	if s.bankid == nil {
		s.problemPage(w, r, http.StatusServiceUnavailable, "sign.no_bankid")
		return
	}
	if state := s.signingState(r, token); state.State == bankid.StatusComplete {
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
		return
	}
	ip := s.clientIP(r)
	order, err := s.service.StartSigning(r.Context(), token, func(ctx context.Context, pnr, visible, nonVisible string) (provisioning.SignOrder, error) {
		o, err := s.bankid.Sign(ctx, bankid.OrderRequest{EndUserIP: ip, Requirement: &bankid.Requirement{PersonalNumber: pnr}}, visible, nonVisible)
		return provisioning.SignOrder{OrderRef: o.OrderRef, AutoStartToken: o.AutoStartToken, QRStartToken: o.QRStartToken,
			QRStartSecret: o.QRStartSecret, AnsweredAt: time.Now()}, err
	})
	var e *bankid.Error
	switch {
	case err == nil, errors.Is(err, provisioning.ErrOrderRunning):
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
	case errors.Is(err, provisioning.ErrTooManyOrders):
		http.Redirect(w, r, "/sign/"+token+"?msg=too_many", http.StatusSeeOther)
	case errors.As(err, &e):
		s.log.WarnContext(r.Context(), "bankid sign", "err", err)
		http.Redirect(w, r, "/sign/"+token+"?msg="+bankid.ErrorRFA(e.Code), http.StatusSeeOther)
	default:
		// BankID unreachable, or the order could not be recorded: cancel what BankID made.
		s.log.ErrorContext(r.Context(), "start signing", "err", err)
		if order.OrderRef != "" {
			if cerr := s.bankid.Cancel(context.WithoutCancel(r.Context()), order.OrderRef); cerr != nil {
				s.log.ErrorContext(r.Context(), "cancel an unrecorded bankid order", "order", order.OrderRef, "err", cerr)
			}
		}
		http.Redirect(w, r, "/sign/"+token+"?msg=RFA5", http.StatusSeeOther)
	}
}

// cancelSigning asks BankID once more (the person may just have signed), and otherwise
// cancels the order there and then here.
func (s *Server) cancelSigning(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	noReferrer(w)
	order, err := s.service.SigningOrder(r.Context(), token)
	if err != nil || order.Status != bankid.StatusPending || s.bankid == nil {
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
		return
	}
	// Interval 0: ask now, whoever asked a moment ago.
	if order, err = s.service.CollectSigning(r.Context(), order.OrderRef, time.Now(), 0); err != nil || order.Status != bankid.StatusPending {
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
		return
	}
	var e *bankid.Error
	err = s.bankid.Cancel(r.Context(), order.OrderRef)
	if err == nil || (errors.As(err, &e) && e.Code == bankid.ErrInvalidParameters) {
		s.service.RecordOrderState(r.Context(), order.OrderRef, bankid.StatusFailed, bankid.HintUserCancel)
		http.Redirect(w, r, "/sign/"+token, http.StatusSeeOther)
		return
	}
	s.log.WarnContext(r.Context(), "bankid cancel", "err", err)
	http.Redirect(w, r, "/sign/"+token+"?msg=RFA5", http.StatusSeeOther)
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
	if err != nil || order.Status != bankid.StatusPending {
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
