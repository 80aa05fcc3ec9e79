package provisioning_test

import (
	"crypto/sha256"
	"crypto/tls"
	"io"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors/mail"
	"github.com/behorig/behorig/internal/testapp"
	"github.com/behorig/behorig/internal/testenv"
	"github.com/behorig/behorig/provisioning"
)

var signLink = regexp.MustCompile(`http://localhost/sign/([A-Za-z0-9_-]{43})`)

// Approving a request whose systems need signed terms e-mails the person a link, once,
// through a real SMTP server.
func TestApprovalMailsTheLinkToSign(t *testing.T) {
	smtp := testenv.SMTP(t)
	app := testapp.New(t, testapp.Options{Mailer: mail.SMTP{Addr: smtp.Addr, From: "Behörig <behorig@kommun.example>",
		Username: smtp.User, Password: smtp.Password, TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: smtp.RootCAs}}})
	in := grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "treserva", Role: "utforare"})
	in.Person.Email = "asa.lind@example.org"
	sub, err := app.Service.Submit(ctx, app.Actors["requester"], in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Service.Approve(ctx, app.Actors["manager"], sub.ID); err != nil {
		t.Fatal(err)
	}
	got := smtp.WaitKind(t, "terms-", 1, 10*time.Second)[0]
	subject, _ := new(mime.WordDecoder).DecodeHeader(got.Msg.Header.Get("Subject"))
	body, _ := io.ReadAll(quotedprintable.NewReader(got.Msg.Body))
	if got.To[0] != "asa.lind@example.org" || subject != "Godkännande av villkor – "+sub.Number ||
		!strings.Contains(string(body), "Hej Åsa!") || !strings.Contains(string(body), "Rolf Beställare") {
		t.Fatalf("the e-mail to %v, %q:\n%s", got.To, subject, body)
	}
	m := signLink.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no link in the e-mail:\n%s", body)
	}
	var linkID string
	var stored []byte
	var mailed *time.Time
	sum := sha256.Sum256([]byte(m[1]))
	// The job marks the link mailed when the server has taken the message.
	for deadline := time.Now().Add(5 * time.Second); mailed == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := app.Pool.QueryRow(ctx, "SELECT id::text, token_hash, mailed_at FROM terms_links WHERE request_id = $1", sub.ID).
			Scan(&linkID, &stored, &mailed); err != nil {
			t.Fatal(err)
		}
	}
	if string(stored) != string(sum[:]) || mailed == nil {
		t.Fatal("the link is not stored by its hash, or not marked mailed")
	}
	if strings.Contains(string(got.Raw), "19500118") {
		t.Fatal("the e-mail carries the personnummer")
	}
	// The job running again (after a crash) sends nothing more.
	if err := app.Service.SendTermsMail(ctx, linkID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(smtp.Kind("terms-")); n != 1 {
		t.Fatalf("%d e-mails after the job ran twice", n)
	}
}

func TestNoEmailNoLink(t *testing.T) {
	app := testapp.New(t, testapp.Options{NoJobs: true})
	sub, err := app.Service.Submit(ctx, app.Actors["requester"],
		grantInput("19500118-2046", "Åsa", "Lind", provisioning.ItemInput{System: "treserva", Role: "utforare"}))
	if err != nil {
		t.Fatal(err)
	}
	app.Service.Approve(ctx, app.Actors["manager"], sub.ID)
	var links, events int
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM terms_links").Scan(&links)
	app.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'terms.no_email'").Scan(&events)
	if links != 0 || events != 1 {
		t.Fatalf("%d links and %d terms.no_email events for a person without e-mail", links, events)
	}
}
