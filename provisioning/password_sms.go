package provisioning

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/textcheck"
)

// The password page's second way to identify, for people without BankID: a code by SMS to
// the mobile registered for the person. The code itself is remote access's (package
// remoteaccess: sent, kept as an HMAC, tried and used once there, under the same per-person
// limit as RADIUS's codes); this file says where the code goes and, once the page has checked
// it, records the identification as a completed order of the browser, so that choosing the
// password is the BankID way's, with its window, attempts and limits.

// ErrNoMobile: the person has no registered mobile a code can be sent to.
var ErrNoMobile = errors.New("the person has no registered mobile")

// smsOrderPrefix starts the order_ref of an identification by SMS code, which BankID never
// made.
const smsOrderPrefix = "sms-"

// maxUsernameBytes bounds a username typed on the password page.
const maxUsernameBytes = 64

// PasswordSMSTarget returns the person with the active account username and the mobile a code
// goes to: the number of the person's live SMS factor (remote access), else the person's
// mobile once a manager approved the person's details (E.164). A number a requester typed
// and nobody approved is never used: it would let the requester reset the account. The
// answer is ErrNoActiveAccount or ErrNoMobile otherwise, which the page must not tell apart
// from a sent code.
func (s *Service) PasswordSMSTarget(ctx context.Context, username string) (personID, mobile string, err error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || len(username) > maxUsernameBytes || textcheck.Line(username) != nil {
		return "", "", ErrNoActiveAccount
	}
	var factor, approved string
	err = s.db.QueryRow(ctx, `SELECT p.id::text,
			coalesce((SELECT f.mobile FROM authenticators f
				WHERE f.person_id = p.id AND f.kind = 'sms' AND f.revoked_at IS NULL), ''),
			CASE WHEN p.details_approved THEN p.mobile ELSE '' END
		FROM accounts a JOIN persons p ON p.id = a.person_id
		WHERE a.directory = $1 AND a.username = $2 AND a.state = 'active'`, s.dirName, username).Scan(&personID, &factor, &approved)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNoActiveAccount
	}
	if err != nil {
		return "", "", fmt.Errorf("password by SMS: find %s: %w", username, err)
	}
	for _, number := range []string{factor, approved} {
		if e164, err := NormalizeMobile(number); err == nil {
			return personID, e164, nil
		}
	}
	return personID, "", ErrNoMobile
}

// IdentifiedBySMS records that the browser's person identified with an SMS code that the
// page checked (remoteaccess.Service.CheckCode, purpose password, bound to this browser): the
// person must have an active account the directory holds enabled, and be within the limits
// the BankID way has. The identification is then the browser's newest, complete order, and
// SetPassword takes it as it takes BankID's. Audited as password.identified_sms.
func (s *Service) IdentifiedBySMS(ctx context.Context, browser, personID string) (PasswordOrder, error) {
	hash, err := browserHash(browser)
	if err != nil {
		return PasswordOrder{}, err
	}
	if _, err := s.activeAccount(ctx, personID); err != nil {
		return PasswordOrder{}, err
	}
	orderRef := smsOrderPrefix + rand.Text()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.clock.Now()
		// The person's limits, counted with BankID's identifications.
		var identified, set int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE completed_at > $2), count(*) FILTER (WHERE used_at > $3)
			FROM password_orders WHERE person_id = $1`, personID, now.Add(-time.Hour), now.Add(-24*time.Hour)).Scan(&identified, &set); err != nil {
			return err
		}
		if identified >= maxIdentificationsPerHour || set >= maxPasswordsPerDay {
			return ErrPersonLimit
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_orders (order_ref, browser_hash, auto_start_token, qr_start_token,
				qr_start_secret_sealed, answered_at, status, person_id, completed_at)
			VALUES ($1, $2, '', '', $3, $4, 'complete', $5, $4)`, orderRef, hash, s.box.Seal(nil, passwordQRContext), now,
			personID); err != nil {
			return err
		}
		return s.record(ctx, tx, personActor, "password.identified_sms", "", personID, map[string]any{"orderRef": orderRef})
	})
	if errors.Is(err, ErrPersonLimit) {
		if aerr := s.inTx(ctx, func(tx pgx.Tx) error {
			return s.record(ctx, tx, personActor, "password.person_limit", "", personID, map[string]any{"method": "sms"})
		}); aerr != nil {
			s.log.ErrorContext(ctx, "audit identification", "err", aerr)
		}
		return PasswordOrder{}, err
	}
	if err != nil {
		return PasswordOrder{}, fmt.Errorf("record identification by SMS: %w", err)
	}
	return s.PasswordOrder(ctx, browser)
}
