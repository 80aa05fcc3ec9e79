package devenv

import (
	"html/template"
	"log/slog"
	"net/http"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The dev page's YubiKey: "pressing" the demo key shows a fresh OTP to paste after the
// password, as the key would type it. With format=text the answer is the OTP alone, for
// scripts: OTP=$(curl -s -d format=text "$BEHORIG_DEV_APP_URL/yubikey").
var _ = template.Must(devAppPage.New("yubikey").Parse(`<h2 id="yubikey">YubiKey (demo)</h2>
<p>Demonyckeln (serienummer {{.YubiKey.Serial}}) är utlämnad till {{.YubiKey.Person}}. Tryck på nyckeln för ett nytt engångslösenord; skriv det direkt efter lösenordet.</p>
<form method="post" action="/yubikey"><button>Tryck på nyckeln</button></form>
{{with .OTP}}<p>Nyckeln skrev: <output><code>{{.}}</code></output></p>{{end}}
`))

// demoKeyPresser remembers the last pressed OTP's counters, so that two presses give two
// different OTPs even before behorig accepted either, and the OTP to show.
type demoKeyPresser struct {
	db     *pgxpool.Pool
	log    *slog.Logger
	mu     sync.Mutex
	last   [2]int
	latest string
}

// press answers POST /yubikey: a fresh OTP, shown on the page (or as plain text).
func (k *demoKeyPresser) press(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	otp, last, err := PressYubiKey(r.Context(), k.db, k.last)
	if err == nil {
		k.last, k.latest = last, otp
	}
	k.mu.Unlock()
	if err != nil {
		k.log.Warn("dev app: press the demo YubiKey", "err", err)
		http.Error(w, "the demo YubiKey is not imported yet: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if r.PostFormValue("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(otp + "\n"))
		return
	}
	http.Redirect(w, r, "/#yubikey", http.StatusSeeOther)
}

// view is what the page's YubiKey block shows.
func (k *demoKeyPresser) view() (map[string]any, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return map[string]any{"Serial": DemoYubiKey.Serial, "Person": DemoRemotePerson.GivenName + " " + DemoRemotePerson.Surname}, k.latest
}
