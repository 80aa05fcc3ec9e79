package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMSGateway is a fake SMS provider for a test, speaking the provider's wire format
// (../shared/specs/sms-gateways.md): its path, form fields, HTTP Basic auth, JSON answers and
// error shapes. It keeps every message it took, and a test can make it refuse (Fail) or hang
// (Stall) as a provider that is down or stuck does.
type SMSGateway struct {
	// Provider is 46elks, twilio or http, as in config.SMSGateway.
	Provider string
	// URL is the base URL to configure: …/a1 for 46elks, …/2010-04-01 for Twilio, the
	// endpoint itself for the generic gateway.
	URL string
	// Username and Password are the credentials the gateway takes: 46elks' API user and
	// password, Twilio's Account SID and Auth Token, the generic gateway's Basic auth.
	Username, Password string

	mu       sync.Mutex
	messages []SentSMS
	failWith int
	stalled  bool
	attempts int
	done     chan struct{}
}

// SentSMS is a message as the gateway took it.
type SentSMS struct {
	// ID is the provider's id for it (46elks' s…, Twilio's SM…, the generic gateway's echo).
	ID       string
	From, To string
	Text     string
	// Form is the whole request body, to check the fields the provider was given.
	Form url.Values
}

// FortySixElks starts a fake of 46elks' API for the test: POST /a1/sms.
func FortySixElks(t testing.TB) *SMSGateway {
	g := newSMSGateway(t, "46elks", "u"+hex.EncodeToString(randomBytes(16)))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /a1/sms", g.elks)
	g.serve(t, mux, "/a1")
	return g
}

// Twilio starts a fake of Twilio's Messages API for the test: POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json.
func Twilio(t testing.TB) *SMSGateway {
	g := newSMSGateway(t, "twilio", "AC"+hex.EncodeToString(randomBytes(16)))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", g.twilio)
	g.serve(t, mux, "/2010-04-01")
	return g
}

// HTTPSMSGateway starts a fake of the generic gateway for the test: POST /send with the
// fields id, to, from and message, answered with {"id": …}.
func HTTPSMSGateway(t testing.TB) *SMSGateway {
	g := newSMSGateway(t, "http", "behorig")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send", g.generic)
	g.serve(t, mux, "/send")
	return g
}

func newSMSGateway(t testing.TB, provider, user string) *SMSGateway {
	t.Helper()
	return &SMSGateway{Provider: provider, Username: user, Password: hex.EncodeToString(randomBytes(16)), done: make(chan struct{})}
}

func (g *SMSGateway) serve(t testing.TB, mux *http.ServeMux, base string) {
	srv := httptest.NewServer(mux)
	// Cleanups run last-registered first: release stalled requests, then close the server
	// (which waits for them).
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(g.done) })
	g.URL = srv.URL + base
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Messages returns what the gateway has taken.
func (g *SMSGateway) Messages() []SentSMS {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]SentSMS(nil), g.messages...)
}

// Attempts counts the sends the gateway was asked for, taken or not.
func (g *SMSGateway) Attempts() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts
}

// Fail makes the gateway refuse every send with this HTTP status (e.g. 503), in the
// provider's error shape. 0 makes it work again.
func (g *SMSGateway) Fail(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failWith = status
}

// Stall makes the gateway accept connections and never answer, until the client gives up or
// the test ends.
func (g *SMSGateway) Stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stalled = true
}

// begin counts an attempt and says whether to answer it: a stalled gateway holds it until the
// client gives up, a failing one answers with the status to refuse with.
func (g *SMSGateway) begin(r *http.Request) (failWith int, answer bool) {
	g.mu.Lock()
	g.attempts++
	stalled, failWith := g.stalled, g.failWith
	g.mu.Unlock()
	if stalled {
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		return 0, false
	}
	return failWith, true
}

func (g *SMSGateway) keep(m SentSMS) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.messages = append(g.messages, m)
}

func (g *SMSGateway) authorized(r *http.Request) bool {
	user, password, ok := r.BasicAuth()
	return ok && user == g.Username && password == g.Password
}

var (
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	alphaSender  = regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)
	twilioNoSMS  = "+15005550009" // Twilio's magic To that cannot receive SMS
	twilioBadTo  = "+15005550001" // Twilio's magic invalid To
	elksMaxChars = 1600
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// elks answers as 46elks: errors are a short text with a non-2xx status, success the SMS
// object as JSON.
func (g *SMSGateway) elks(w http.ResponseWriter, r *http.Request) {
	failWith, answer := g.begin(r)
	if !answer {
		return
	}
	plain := func(status int, text string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, text)
	}
	if failWith != 0 {
		plain(failWith, http.StatusText(failWith))
		return
	}
	if !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="46elks"`)
		plain(http.StatusUnauthorized, "Unauthorized")
		return
	}
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		plain(http.StatusBadRequest, "Body must be application/x-www-form-urlencoded")
		return
	}
	from, to, text := r.PostForm.Get("from"), r.PostForm.Get("to"), r.PostForm.Get("message")
	switch {
	case from == "" || to == "" || text == "":
		plain(http.StatusBadRequest, "Missing key from, to or message")
		return
	case !e164.MatchString(to):
		plain(http.StatusBadRequest, "Invalid to number")
		return
	case !alphaSender.MatchString(from) && !e164.MatchString(from):
		plain(http.StatusBadRequest, "Invalid from: use up to 11 letters and digits, or a number")
		return
	case len([]rune(text)) > elksMaxChars:
		plain(http.StatusBadRequest, "Message too long")
		return
	}
	id := "s" + hex.EncodeToString(randomBytes(16))
	g.keep(SentSMS{ID: id, From: from, To: to, Text: text, Form: r.PostForm})
	object := map[string]any{"id": id, "direction": "outgoing", "from": from, "to": to,
		"created": time.Now().UTC().Format("2006-01-02T15:04:05.000000"), "status": "created", "parts": 1, "cost": 3500}
	if r.PostForm.Get("dontlog") != "message" {
		object["message"] = text
	}
	writeJSON(w, http.StatusOK, object)
}

// twilio answers as Twilio: errors as JSON {code, message, more_info, status}, success 201
// with the Message resource.
func (g *SMSGateway) twilio(w http.ResponseWriter, r *http.Request) {
	failWith, answer := g.begin(r)
	if !answer {
		return
	}
	fail := func(status, code int, message string) {
		writeJSON(w, status, map[string]any{"code": code, "message": message,
			"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
	}
	if failWith != 0 {
		fail(failWith, 20000+failWith, http.StatusText(failWith))
		return
	}
	if user, _, _ := r.BasicAuth(); !g.authorized(r) || user != r.PathValue("sid") {
		fail(http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, 20001, "Invalid request body")
		return
	}
	from, to, text := r.PostForm.Get("From"), r.PostForm.Get("To"), r.PostForm.Get("Body")
	switch {
	case to == "":
		fail(http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && r.PostForm.Get("MessagingServiceSid") == "":
		fail(http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case text == "":
		fail(http.StatusBadRequest, 21602, "Message body is required.")
		return
	case to == twilioBadTo || !e164.MatchString(to):
		fail(http.StatusBadRequest, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	case to == twilioNoSMS:
		fail(http.StatusBadRequest, 21614, fmt.Sprintf("'To' number %s is not a valid mobile number", to))
		return
	case from != "" && !alphaSender.MatchString(from) && !e164.MatchString(from):
		fail(http.StatusBadRequest, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from))
		return
	}
	sid := "SM" + hex.EncodeToString(randomBytes(16))
	g.keep(SentSMS{ID: sid, From: from, To: to, Text: text, Form: r.PostForm})
	now := time.Now().UTC().Format(time.RFC1123Z)
	account := r.PathValue("sid")
	writeJSON(w, http.StatusCreated, map[string]any{"sid": sid, "account_sid": account, "status": "queued",
		"to": to, "from": from, "body": text, "num_segments": "1", "direction": "outbound-api",
		"price": nil, "price_unit": "USD", "error_code": nil, "error_message": nil,
		"messaging_service_sid": nil, "date_created": now, "date_updated": now, "date_sent": nil,
		"api_version": "2010-04-01", "uri": "/2010-04-01/Accounts/" + account + "/Messages/" + sid + ".json"})
}

// generic answers as the generic gateway behorig documents: 2xx with {"id": …}, any other
// status a failure.
func (g *SMSGateway) generic(w http.ResponseWriter, r *http.Request) {
	failWith, answer := g.begin(r)
	if !answer {
		return
	}
	if failWith != 0 {
		http.Error(w, http.StatusText(failWith), failWith)
		return
	}
	if !g.authorized(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	to, text := r.PostForm.Get("to"), r.PostForm.Get("message")
	if !e164.MatchString(to) || strings.TrimSpace(text) == "" {
		http.Error(w, "to must be E.164 and message non-empty", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("id")
	g.keep(SentSMS{ID: id, From: r.PostForm.Get("from"), To: to, Text: text, Form: r.PostForm})
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}
