package mail

import (
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func smtpFor(s *testenv.SMTPServer) SMTP {
	return SMTP{Addr: s.Addr, From: "Behörig <behorig@kommun.example>", Username: s.User, Password: s.Password,
		TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: s.RootCAs}, Timeout: 5 * time.Second}
}

func TestSendThroughARealSMTPServer(t *testing.T) {
	server := testenv.SMTP(t)
	m := connectors.Mail{ID: "terms-42", To: "Åsa Lind <asa.lind@example.org>", Subject: "Godkännande av villkor – BEH-2026-000042",
		Text: "Hej!\n\nDin arbetsgivare har gjort en behörighetsansökan. Klicka på länken för att godkänna villkoren:\nhttps://behorig.example/sign/abc\n"}
	if err := smtpFor(server).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := server.Wait(t, 1, 5*time.Second)[0]
	subject, _ := new(mime.WordDecoder).DecodeHeader(got.Msg.Header.Get("Subject"))
	body, _ := io.ReadAll(quotedprintable.NewReader(got.Msg.Body))
	if got.From != "behorig@kommun.example" || len(got.To) != 1 || got.To[0] != "asa.lind@example.org" ||
		subject != m.Subject || got.Msg.Header.Get("Message-ID") != "<terms-42@kommun.example>" ||
		strings.ReplaceAll(string(body), "\r\n", "\n") != m.Text {
		t.Fatalf("received from %s to %v: subject %q, id %q, body %q", got.From, got.To, subject, got.Msg.Header.Get("Message-ID"), body)
	}
}

// A message with an HTML part goes as multipart/alternative: the text first, then the HTML,
// each quoted-printable, as a reader without HTML expects.
func TestSendTextAndHTML(t *testing.T) {
	server := testenv.SMTP(t)
	m := connectors.Mail{ID: "notice-1", To: "rolf@example.org", Subject: "Ärende BEH-2026-000001 är klart",
		Text: "Hej Rolf!\n\nDitt ärende är klart.\n", HTML: `<!DOCTYPE html><html lang="sv"><body><p>Hej Rolf!</p><p>Ditt ärende är klart.</p></body></html>`}
	if err := smtpFor(server).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := server.Wait(t, 1, 5*time.Second)[0]
	mediaType, params, err := mime.ParseMediaType(got.Msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", got.Msg.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(got.Msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Type")+"|"+strings.ReplaceAll(string(body), "\r\n", "\n"))
	}
	want := []string{"text/plain; charset=utf-8|" + m.Text, "text/html; charset=utf-8|" + m.HTML}
	if !slices.Equal(parts, want) {
		t.Fatalf("parts %q, want %q", parts, want)
	}
}

func TestRefusals(t *testing.T) {
	server := testenv.SMTP(t)
	c := smtpFor(server)
	for _, m := range []connectors.Mail{
		{To: "asa@example.org\r\nBcc: all@example.org", Subject: "x", Text: "x"},
		{To: "asa@example.org", Subject: "x\r\nBcc: all@example.org", Text: "x"},
		{To: "not an address", Subject: "x", Text: "x"},
	} {
		if err := c.Send(context.Background(), m); err == nil {
			t.Errorf("sent %q / %q", m.To, m.Subject)
		}
	}
	wrong := c
	wrong.Password = "wrong"
	if err := wrong.Send(context.Background(), connectors.Mail{To: "a@example.org", Subject: "x", Text: "x"}); err == nil ||
		!strings.Contains(err.Error(), "authenticate") {
		t.Errorf("a wrong password: %v", err)
	}
	untrusted := c
	untrusted.TLSConfig = &tls.Config{ServerName: "localhost"}
	if err := untrusted.Send(context.Background(), connectors.Mail{To: "a@example.org", Subject: "x", Text: "x"}); err == nil ||
		!strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("a server certificate nobody trusts: %v", err)
	}
	if n := len(server.Messages()); n != 0 {
		t.Fatalf("%d messages got through", n)
	}
}

func TestTimeout(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // never greets
		}
	}()
	c := SMTP{Addr: ln.Addr().String(), From: "behorig@kommun.example", Timeout: 300 * time.Millisecond}
	start := time.Now()
	if err := c.Send(context.Background(), connectors.Mail{To: "a@example.org", Subject: "x", Text: "x"}); err == nil {
		t.Fatal("a server that never greets did not time out")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestCheck(t *testing.T) {
	err := SMTP{Addr: "mail.example", From: "nobody", Security: "ssl"}.Check()
	for _, want := range []string{"host:port", "from", "security"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check does not mention %s: %v", want, err)
		}
	}
	if err := (SMTP{Addr: "localhost:25", From: "a@b.example", Security: Plain, Username: "u"}).Check(); err == nil {
		t.Error("a password over plain SMTP was allowed")
	}
}
