package devenv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/auth/bankid"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/connectors/sms"
	"github.com/behorig/behorig/internal/store"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The dev page signs an order from a pasted autostart link and from the order list, and
// shows the e-mail outbox and the phone's SMS.
func TestDevAppPlaysTheBankIDApp(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.PostgreSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := store.Migrate(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	outbox := mail.Outbox{DB: pool}
	outbox.Send(ctx, connectors.Mail{ID: "m1", To: "anna@example.org", Subject: "Godkännande av villkor", Text: "https://x/sign/abc"})
	phone := sms.Outbox{DB: pool}
	phone.Send(ctx, connectors.SMS{ID: "s1", To: "+46701740605", Text: "123456 är din kod för fjärråtkomst."})
	sim, err := bankid.StartSimulator("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	app, err := StartDevApp("127.0.0.1:0", sim, outbox, phone, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	cert, _ := sim.ClientCertificate()
	client, _ := bankid.New(bankid.Config{BaseURL: sim.URL, Certificate: cert, CA: sim.CA()})
	order, err := client.Sign(ctx, connectors.BankIDRequest{EndUserIP: "127.0.0.1", PersonalNumber: "195001182046", Visible: "Villkor"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(app.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), order.OrderRef) || !strings.Contains(string(page), "Godkännande av villkor") {
		t.Fatalf("the page does not list the order and the e-mail:\n%s", page)
	}
	if !strings.Contains(string(page), "46701740605") || !strings.Contains(string(page), "123456 är din kod för fjärråtkomst.") {
		t.Fatalf("the page's phone does not show the SMS:\n%s", page)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 5 * time.Second}
	resp, err = noRedirect.PostForm(app.URL+"/app", url.Values{"code": {"bankid:///?autostarttoken=" + order.AutoStartToken + "&redirect=null"},
		"pnr": {"195001182046"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if done, err := client.Collect(ctx, order.OrderRef); err != nil || done.Status != bankid.StatusComplete {
		t.Fatalf("after the dev app signed: %+v, %v (%s)", done, err, resp.Header.Get("Location"))
	}
}
