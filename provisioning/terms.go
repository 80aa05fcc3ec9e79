package provisioning

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
)

// defaultLinkTTL is how long a link to sign the terms works.
const defaultLinkTTL = 14 * 24 * time.Hour

const linkTokenContext = "terms.link"

// linkToken is the secret of a link: an HMAC of its id under the secret key. It is never
// stored, so a copy of the database opens no link, and a retried e-mail carries the same one.
func (s *Service) linkToken(linkID string) string {
	return base64.RawURLEncoding.EncodeToString(s.box.Index([]byte(linkID), linkTokenContext))
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// requestTerms asks the person to sign the terms: a link is made and mailed by a job. A
// person without an e-mail address is left to the paper form, and the history says so.
func (s *Service) requestTerms(ctx context.Context, tx pgx.Tx, actor string, r requestRow) error {
	// The address the approver saw: the request's, else the one the person has.
	var email string
	if err := tx.QueryRow(ctx, `SELECT coalesce(NULLIF(r.person_email, ''), p.email) FROM requests r JOIN persons p ON p.id = r.person_id
		WHERE r.id = $1`, r.id).Scan(&email); err != nil {
		return fmt.Errorf("e-mail of the person of %s: %w", r.number, err)
	}
	if email == "" {
		return s.record(ctx, tx, actor, "terms.no_email", r.id, r.personID, nil)
	}
	now := s.clock.Now()
	var linkID string
	if err := tx.QueryRow(ctx, `INSERT INTO terms_links (request_id, token_hash, email, created_at, expires_at)
		VALUES ($1, '\x00', $2, $3, $4) RETURNING id::text`, r.id, email, now, now.Add(s.linkTTL)).Scan(&linkID); err != nil {
		return fmt.Errorf("make terms link for %s: %w", r.number, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE terms_links SET token_hash = $2 WHERE id = $1", linkID, tokenHash(s.linkToken(linkID))); err != nil {
		return fmt.Errorf("make terms link for %s: %w", r.number, err)
	}
	if err := s.jobs.ScheduleTermsMail(ctx, tx, linkID); err != nil {
		return fmt.Errorf("schedule the terms e-mail of %s: %w", r.number, err)
	}
	return s.record(ctx, tx, actor, "terms.link_created", r.id, r.personID,
		map[string]any{"link": linkID, "expiresAt": now.Add(s.linkTTL)})
}

// SendTermsMail sends the e-mail with the link to sign, once: the job may run again after a
// crash, and a link already mailed is not mailed twice.
//
// No transaction is open while the mail server is asked: a slow or hung server must not hold
// a row lock or a database connection that others wait for. The link is read, the mail sent,
// and mailed_at recorded in a short transaction that only sets it when still unset. A crash
// between the send and the commit sends the mail again on the retry, with the same
// Message-ID: at least once, which is the right side to err on for a link the person needs.
func (s *Service) SendTermsMail(ctx context.Context, linkID string) error {
	if s.mailer == nil {
		return errors.New("terms e-mail: no mailer is configured")
	}
	var m struct {
		requestID, personID, number, email, given, requester string
		expires                                              time.Time
		mailed                                               *time.Time
	}
	err := s.db.QueryRow(ctx, `SELECT l.request_id::text, r.person_id::text, r.number, l.email, p.given_name, rq.display_name,
			l.expires_at, l.mailed_at
		FROM terms_links l JOIN requests r ON r.id = l.request_id JOIN persons p ON p.id = r.person_id
			JOIN principals rq ON rq.id = r.requester_id
		WHERE l.id = $1`, uuidOrNull(linkID)).Scan(&m.requestID, &m.personID, &m.number, &m.email, &m.given,
		&m.requester, &m.expires, &m.mailed)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("terms link %s: %w", linkID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("terms link %s: %w", linkID, err)
	}
	if m.mailed != nil {
		return nil
	}
	link := s.baseURL + "/sign/" + s.linkToken(linkID)
	until := m.expires.In(s.loc).Format("2006-01-02")
	text := fmt.Sprintf(`Hej %s!

Din arbetsgivare har gjort en behörighetsansökan gällande behörighetstilldelning för dig (%s). Vänligen klicka på länken för att digitalt godkänna villkoren med BankID:

%s

Länken kan användas en gång och gäller till och med %s. Saknar du BankID kan du i stället skriva under villkoren på en blankett; kontakta %s, som skickade in ansökan.

Vänliga hälsningar
Behörig

--
Your employer has applied for access for you (%s). Open the link to accept the terms of access with BankID: %s
The link works once, until %s.
`, m.given, m.number, link, until, m.requester, m.number, link, until)
	if err := s.mailer.Send(ctx, connectors.Mail{ID: "terms-" + linkID, To: m.email,
		Subject: "Godkännande av villkor – " + m.number, Text: text}); err != nil {
		return fmt.Errorf("mail the terms link of %s: %w", m.number, err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE terms_links SET mailed_at = $2 WHERE id = $1 AND mailed_at IS NULL", linkID, s.clock.Now())
		if err != nil {
			return fmt.Errorf("record the terms e-mail of %s: %w", m.number, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // another run recorded it first
		}
		return s.record(ctx, tx, systemActor, "terms.mailed", m.requestID, m.personID,
			map[string]any{"link": linkID, "to": maskEmail(m.email)})
	})
}

// maskEmail keeps enough of an address for the history to be useful: an***@example.org.
func maskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 2 {
		return "***" + email[max(at, 0):]
	}
	return email[:2] + "***" + email[at:]
}
