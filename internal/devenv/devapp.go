package devenv

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/connectors/sms"
)

// DevApp is the page of `behorig dev` that plays the BankID app on the simulator and shows
// the e-mail outbox: what a person's phone and inbox would do.
type DevApp struct {
	URL    string
	server *http.Server
}

var devAppPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>BankID-appen, telefonen och e-post (dev) – Behörig</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:1rem auto;padding:0 1rem;color:#1b1b1b}
section{border:1px solid #999;border-radius:.4rem;padding:.5rem 1rem;margin:1rem 0}pre{white-space:pre-wrap;background:#f3f4f6;padding:.5rem}
button{font:inherit;margin:.25rem .5rem .25rem 0}label{display:block;margin:.5rem 0}</style></head>
<body><main><h1>BankID-appen (dev)</h1>
<p>Simulerad BankID-app för utveckling. Ordrar som väntar på appen visas här; välj testperson, skanna och signera. Underskrifterna är märkta som simulerade och är inga bevis.</p>
{{with .Message}}<p role="status"><strong>{{.}}</strong></p>{{end}}
<section><h2>Skanna eller öppna</h2><form method="post" action="/app">
<label for="code">QR-data (bankid.…) eller autostartlänk (…autostarttoken=…)</label><input id="code" name="code" size="60">
<label for="p-code">Testperson</label><select id="p-code" name="pnr">{{range $.Persons}}<option value="{{.PersonalNumber}}">{{.GivenName}} {{.Surname}} ({{.PersonalNumber}})</option>{{end}}</select>
<p><button name="do" value="sign">Signera</button></p></form></section>
{{range .Orders}}<section><h2>{{if eq .Kind "sign"}}Underskrift{{else}}Identifiering{{end}} – {{.Hint}}</h2>
{{with .RequiredPersonalNumber}}<p>Kräver personnummer {{.}}</p>{{end}}
{{with .Visible}}<pre>{{.}}</pre>{{end}}
<form method="post" action="/app"><input type="hidden" name="order" value="{{.OrderRef}}">
<label for="p-{{.OrderRef}}">Testperson</label><select id="p-{{.OrderRef}}" name="pnr">{{range $.Persons}}<option value="{{.PersonalNumber}}">{{.GivenName}} {{.Surname}} ({{.PersonalNumber}})</option>{{end}}</select>
<p><button name="do" value="sign">Skanna QR-koden och signera</button><button name="do" value="cancel">Avbryt i appen</button></p></form></section>
{{else}}<p>Inga ordrar väntar.</p>{{end}}
{{template "phone" .}}
{{template "yubikey" .}}
<h2>E-post (utkorg)</h2>
{{range .Mail}}<section><h3>{{.Subject}}</h3><p>Till {{.To}}, {{.At.Format "2006-01-02 15:04"}}</p><pre>{{.Text}}</pre></section>{{else}}<p>Ingen e-post har skickats.</p>{{end}}
</main></body></html>`))

// StartDevApp serves the page on addr.
func StartDevApp(addr string, sim *bankid.Simulator, outbox mail.Outbox, phone sms.Outbox, logger *slog.Logger) (*DevApp, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dev app: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	// The demo key's counters are in the database the outboxes are in.
	key := &demoKeyPresser{db: outbox.DB, log: logger}
	mux.HandleFunc("POST /yubikey", key.press)
	show := func(w http.ResponseWriter, r *http.Request, message string) {
		mails, err := outbox.List(r.Context(), 20)
		if err != nil {
			logger.Warn("dev app: read outbox", "err", err)
		}
		texts, err := phone.List(r.Context(), 20)
		if err != nil {
			logger.Warn("dev app: read the SMS outbox", "err", err)
		}
		yubikey, otp := key.view()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		devAppPage.Execute(w, map[string]any{"Orders": sim.Pending(), "Persons": bankid.TestPersons, "Mail": mails, "SMS": texts,
			"Message": message, "YubiKey": yubikey, "OTP": otp})
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { show(w, r, r.URL.Query().Get("msg")) })
	mux.HandleFunc("POST /app", func(w http.ResponseWriter, r *http.Request) {
		order, pnr, code := r.PostFormValue("order"), r.PostFormValue("pnr"), strings.TrimSpace(r.PostFormValue("code"))
		msg := "Signerat i appen."
		var err error
		switch {
		case code != "" && strings.HasPrefix(code, "bankid."):
			if order, err = sim.ScanQR(code); err == nil {
				if _, err = sim.Show(order, pnr); err == nil {
					err = sim.Approve(order)
				}
			}
		case code != "":
			token := code
			if _, after, ok := strings.Cut(code, "autostarttoken="); ok {
				token, _, _ = strings.Cut(after, "&")
			}
			if order, err = sim.OpenAutostart(token); err == nil {
				if _, err = sim.Show(order, pnr); err == nil {
					err = sim.Approve(order)
				}
			}
		case r.PostFormValue("do") == "sign":
			if err = sim.ScanNow(order); err == nil {
				if _, err = sim.Show(order, pnr); err == nil {
					err = sim.Approve(order)
				}
			}
		default:
			msg, err = "Avbrutet i appen.", sim.Fail(order, bankid.HintUserCancel)
		}
		if err != nil {
			msg = err.Error()
		}
		http.Redirect(w, r, "/?msg="+template.URLQueryEscaper(msg), http.StatusSeeOther)
	})
	srv := &http.Server{Handler: http.NewCrossOriginProtection().Handler(mux), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &DevApp{URL: "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), server: srv}, nil
}

// Close stops the page.
func (a *DevApp) Close() error { return a.server.Shutdown(context.Background()) }
