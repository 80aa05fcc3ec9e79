// Package mail sends e-mail through SMTP, or keeps it in an outbox for `behorig dev`.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/behorig/behorig/connectors"
)

// Security says how the SMTP connection is protected.
const (
	StartTLS = "starttls" // STARTTLS on a submission port (587); required, not opportunistic
	TLS      = "tls"      // implicit TLS (465)
	Plain    = "none"     // no TLS: only for a relay on localhost
)

// SMTP sends through an SMTP server.
type SMTP struct {
	Addr     string // host:port
	From     string // e.g. "Behörig <behorig@kommun.se>"
	Username string // empty: no authentication
	Password string
	Security string        // starttls (default), tls or none
	Timeout  time.Duration // for the whole delivery; default 30 s
	// TLSConfig overrides the TLS settings, e.g. to trust a relay's own CA.
	TLSConfig *tls.Config
}

// Check validates the settings.
func (c SMTP) Check() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("mail: smtp address %q is not host:port", c.Addr))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("mail: from %q is not an address: %v", c.From, err))
	}
	switch c.Security {
	case "", StartTLS, TLS, Plain:
	default:
		errs = append(errs, fmt.Errorf("mail: security %q must be starttls, tls or none", c.Security))
	}
	if c.Security == Plain && c.Username != "" {
		errs = append(errs, errors.New("mail: a password is never sent without TLS"))
	}
	return errors.Join(errs...)
}

// Send delivers one message.
func (c SMTP) Send(ctx context.Context, m connectors.Mail) error {
	msg, to, err := Compose(c.From, m, time.Now())
	if err != nil {
		return err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	tlsConfig := c.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	if c.Security == TLS {
		conn, err = tls.DialWithDialer(dialer, "tcp", c.Addr, tlsConfig)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", c.Addr)
	}
	if err != nil {
		return fmt.Errorf("mail to %s: connect to %s: %w", m.To, c.Addr, err)
	}
	conn.SetDeadline(deadline)
	client, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail to %s: %s: %w", m.To, c.Addr, err)
	}
	defer client.Close()
	if c.Security == "" || c.Security == StartTLS {
		if err := client.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("mail to %s: STARTTLS with %s: %w", m.To, c.Addr, err)
		}
	}
	if c.Username != "" {
		if err := client.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("mail to %s: authenticate at %s: %w", m.To, c.Addr, err)
		}
	}
	from, _ := mail.ParseAddress(c.From)
	if err := client.Mail(from.Address); err != nil {
		return fmt.Errorf("mail to %s: MAIL FROM: %w", m.To, err)
	}
	if err := client.Rcpt(to); err != nil {
		return fmt.Errorf("mail to %s: RCPT TO: %w", m.To, err)
	}
	w, err := client.Data()
	if err != nil {
		return fmt.Errorf("mail to %s: DATA: %w", m.To, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("mail to %s: write: %w", m.To, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail to %s: the server refused the message: %w", m.To, err)
	}
	return client.Quit()
}

// Compose writes the message: UTF-8 headers encoded per RFC 2047, a quoted-printable body.
// It refuses a recipient or subject that would inject headers.
func Compose(from string, m connectors.Mail, now time.Time) ([]byte, string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil || strings.ContainsAny(m.To, "\r\n") {
		return nil, "", fmt.Errorf("mail: recipient %q is not an e-mail address", m.To)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, "", errors.New("mail: a subject may not hold line breaks")
	}
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, "", fmt.Errorf("mail: from %q: %w", from, err)
	}
	domain := sender.Address[strings.LastIndexByte(sender.Address, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", sender.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	if m.ID != "" {
		header("Message-ID", "<"+m.ID+"@"+domain+">")
	}
	header("MIME-Version", "1.0")
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes(), to.Address, nil
	}
	// multipart/alternative: the parts from the plainest to the richest (RFC 2046 5.1.4).
	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ contentType, body string }{{"text/plain; charset=utf-8", m.Text}, {"text/html; charset=utf-8", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.contentType}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, "", fmt.Errorf("mail: %w", err)
		}
		writeQP(w, part.body)
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("mail: %w", err)
	}
	return b.Bytes(), to.Address, nil
}

// writeQP writes text quoted-printable with CRLF line ends.
func writeQP(w io.Writer, text string) {
	qp := quotedprintable.NewWriter(w)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
}

// Probe tells whether the server answers: it connects, waits for the greeting and says QUIT,
// within ctx's deadline. It sends nothing and does not authenticate. For readiness.
func (c SMTP) Probe(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	dialer := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	var err error
	if c.Security == TLS {
		tlsConfig := c.TLSConfig
		if tlsConfig == nil {
			tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", c.Addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", c.Addr)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.Addr, err)
	}
	conn.SetDeadline(deadline)
	client, err := smtp.NewClient(conn, host) // reads the 220 greeting
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting of %s: %w", c.Addr, err)
	}
	defer client.Close()
	return client.Quit()
}
