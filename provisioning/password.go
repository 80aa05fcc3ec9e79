package provisioning

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/internal/textcheck"
)

// The password page: a person identifies with BankID (an auth order) and sets the password of
// their account, the first one or a forgotten one. The order is the domain's, as a signing
// order is: started, collected and completed here, and bound to the browser that started it
// by the SHA-256 of a random cookie, so that nobody else can use a completed identification.
// The password goes straight to the directory (connectors.Directory.SetPassword), which
// checks it against its own policy: it is never stored, logged, audited or put in a job.

// Errors of the password page.
var (
	// ErrNoActiveAccount: the person BankID identified has no active account here.
	ErrNoActiveAccount = errors.New("the identified person has no active account")
	// ErrIdentificationExpired: the identification is too old, used, or was never completed
	// in this browser; identify again.
	ErrIdentificationExpired = errors.New("the identification has expired or been used")
	// ErrPersonLimit: the person has identified or set a password too often lately.
	ErrPersonLimit = errors.New("too many password changes for this person; try again later")
	// ErrPasswordBusy: another post with the same identification is being written.
	ErrPasswordBusy = errors.New("a password is being set with this identification")
)

// Limits of the password page per person, kept in the database so that they hold across
// instances and restarts (the web limits per client address besides).
const (
	// passwordWindow is how long a completed identification can set a password.
	passwordWindow = 10 * time.Minute
	// maxPasswordAttempts is how many passwords one identification may try (the directory
	// refusing the others); then the person identifies again.
	maxPasswordAttempts = 5
	// maxIdentificationsPerHour and maxPasswordsPerDay bound one person.
	maxIdentificationsPerHour = 5
	maxPasswordsPerDay        = 3
	// maxPasswordBytes bounds what is sent to the directory.
	maxPasswordBytes = 256
	// settingHold is how long a post holds its identification while the directory answers;
	// it exceeds the directory's timeout.
	settingHold = time.Minute
)

// Hints of a failed identification besides BankID's own.
const (
	hintNoAccount   = "no_account"
	hintPersonLimit = "person_limit"
	orderUsed       = "used"
)

const passwordQRContext = "password_orders.qr_start_secret"

// PasswordOrder is the browser's newest identification, as the password page shows it.
type PasswordOrder struct {
	OrderRef, AutoStartToken, QRStartToken, QRStartSecret string
	AnsweredAt                                            time.Time
	// Status is BankID's (pending, failed, complete) or "used" once a password was set.
	Status, Hint string
	// Once identified: the account whose password is set, and until when it can be.
	Username  string
	GivenName string
	ExpiresAt time.Time
}

// Identified tells whether the order lets the browser set a password now.
func (o PasswordOrder) Identified(now time.Time) bool {
	return o.Status == connectors.BankIDComplete && now.Before(o.ExpiresAt)
}

// PasswordEnabled tells whether the password page can identify anyone here.
func (s *Service) PasswordEnabled() bool { return s.bankid != nil }

// browserHash is what is kept of the browser's cookie.
func browserHash(browser string) ([]byte, error) {
	if len(browser) < 16 {
		return nil, fmt.Errorf("password page: no browser binding: %w", ErrNotFound)
	}
	return tokenHash(browser), nil
}

// StartPasswordOrder starts a BankID auth order for the browser (its cookie's secret) from
// the device at endUserIP. As for signing, BankID is called with no transaction open: a
// short transaction holds the browser with a "starting" row (two tabs cannot start two
// orders; a running one is not replaced; a browser starts a few in a while), BankID is
// asked, and a second records the order.
func (s *Service) StartPasswordOrder(ctx context.Context, browser, endUserIP string) (PasswordOrder, error) {
	if s.bankid == nil {
		return PasswordOrder{}, ErrNoBankID
	}
	hash, err := browserHash(browser)
	if err != nil {
		return PasswordOrder{}, err
	}
	placeholder := orderStarting + " " + rand.Text()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// One browser at a time: the lock is on the hash, as there is no row to lock yet.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(encode($1, 'hex'), 23))", hash); err != nil {
			return err
		}
		now := time.Now()
		var running, recent int
		if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE (status = 'pending' AND answered_at > $2) OR (status = $4 AND answered_at > $5)),
				count(*) FILTER (WHERE answered_at > $3)
			FROM password_orders WHERE browser_hash = $1`, hash, now.Add(-orderLifetime), now.Add(-ordersWindow),
			orderStarting, now.Add(-startingWindow)).Scan(&running, &recent); err != nil {
			return err
		}
		switch {
		case running > 0:
			return ErrOrderRunning
		case recent >= maxOrdersPerLink:
			return ErrTooManyOrders
		}
		_, err := tx.Exec(ctx, `INSERT INTO password_orders (order_ref, browser_hash, auto_start_token, qr_start_token,
				qr_start_secret_sealed, answered_at, status) VALUES ($1, $2, '', '', '', $3, $4)`, placeholder, hash, now, orderStarting)
		return err
	})
	if err != nil {
		return PasswordOrder{}, fmt.Errorf("start identification: %w", err)
	}
	bctx := context.WithoutCancel(ctx) // an order made at BankID must be recorded
	made, err := s.bankid.Auth(bctx, connectors.BankIDRequest{EndUserIP: endUserIP,
		Visible: "# Behörig\n\nLegitimera dig för att sätta lösenordet till ditt konto."})
	if err != nil {
		if _, derr := s.db.Exec(bctx, "DELETE FROM password_orders WHERE order_ref = $1", placeholder); derr != nil {
			s.log.WarnContext(ctx, "remove an identification BankID did not make", "err", derr)
		}
		return PasswordOrder{}, fmt.Errorf("start identification: %w", err)
	}
	o := PasswordOrder{OrderRef: made.OrderRef, AutoStartToken: made.AutoStartToken, QRStartToken: made.QRStartToken,
		QRStartSecret: made.QRStartSecret, AnsweredAt: made.AnsweredAt, Status: connectors.BankIDPending,
		Hint: connectors.BankIDHintOutstanding}
	tag, err := s.db.Exec(bctx, `UPDATE password_orders SET order_ref = $2, auto_start_token = $3, qr_start_token = $4,
			qr_start_secret_sealed = $5, answered_at = $6, status = 'pending', hint = $7
		WHERE order_ref = $1 AND status = $8`, placeholder, o.OrderRef, o.AutoStartToken, o.QRStartToken,
		s.box.Seal([]byte(o.QRStartSecret), passwordQRContext), o.AnsweredAt, o.Hint, orderStarting)
	if err == nil && tag.RowsAffected() != 1 {
		err = errors.New("the browser's start was given up meanwhile")
	}
	if err != nil {
		s.log.ErrorContext(ctx, "record an identification; cancelling it at BankID", "order", o.OrderRef, "err", err)
		if cerr := s.bankid.Cancel(bctx, o.OrderRef); cerr != nil && !errors.Is(cerr, connectors.ErrNotFound) {
			s.log.ErrorContext(ctx, "cancel an unrecorded BankID order", "order", o.OrderRef, "err", cerr)
		}
		s.db.Exec(bctx, "DELETE FROM password_orders WHERE order_ref = $1", placeholder)
		return PasswordOrder{}, fmt.Errorf("start identification: %w", err)
	}
	return o, nil
}

// readPasswordOrder reads the browser's newest started order; where narrows it further.
func (s *Service) readPasswordOrder(ctx context.Context, hash []byte, where string, args ...any) (PasswordOrder, string, error) {
	var o PasswordOrder
	var sealed []byte
	var personID *string
	var completed *time.Time
	err := s.db.QueryRow(ctx, `SELECT o.order_ref, o.auto_start_token, o.qr_start_token, o.qr_start_secret_sealed, o.answered_at,
			o.status, o.hint, o.person_id::text, o.completed_at,
			coalesce(a.username, ''), coalesce(p.given_name, '')
		FROM password_orders o LEFT JOIN persons p ON p.id = o.person_id
			LEFT JOIN accounts a ON a.person_id = o.person_id AND a.directory = $2
		WHERE o.browser_hash = $1 AND o.status <> '`+orderStarting+`'`+where+`
		ORDER BY o.answered_at DESC LIMIT 1`, append([]any{hash, s.dirName}, args...)...).Scan(&o.OrderRef, &o.AutoStartToken,
		&o.QRStartToken, &sealed, &o.AnsweredAt, &o.Status, &o.Hint, &personID, &completed, &o.Username, &o.GivenName)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, "", fmt.Errorf("identification: %w", ErrNotFound)
	}
	if err != nil {
		return o, "", fmt.Errorf("identification: %w", err)
	}
	secret, err := s.box.Open(sealed, passwordQRContext)
	if err != nil {
		return o, "", fmt.Errorf("identification %s: %w", o.OrderRef, err)
	}
	o.QRStartSecret = string(secret)
	if completed != nil {
		o.ExpiresAt = completed.Add(passwordWindow)
	}
	if personID == nil {
		return o, "", nil
	}
	return o, *personID, nil
}

// PasswordOrder returns the browser's newest identification. A pending one is collected
// first when its turn has come (at most once per BankID's interval, whoever asks): the page
// and its script ask every second or two, and the person has to come back to this browser
// to set the password anyway. BankID is asked with no transaction open.
func (s *Service) PasswordOrder(ctx context.Context, browser string) (PasswordOrder, error) {
	hash, err := browserHash(browser)
	if err != nil {
		return PasswordOrder{}, err
	}
	o, _, err := s.readPasswordOrder(ctx, hash, "")
	if err != nil || o.Status != connectors.BankIDPending || s.bankid == nil {
		return o, err
	}
	now := time.Now()
	tag, err := s.db.Exec(ctx, `UPDATE password_orders SET last_collect_at = $2
		WHERE order_ref = $1 AND status = 'pending' AND (last_collect_at IS NULL OR last_collect_at <= $3)`,
		o.OrderRef, now, now.Add(-connectors.BankIDCollectInterval))
	if err != nil {
		return o, fmt.Errorf("claim collect of %s: %w", o.OrderRef, err)
	}
	if tag.RowsAffected() != 1 {
		return o, nil // another request collects it now
	}
	res, err := s.bankid.Collect(ctx, o.OrderRef)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		res = connectors.BankIDResult{Status: connectors.BankIDFailed, Hint: connectors.BankIDHintExpired}
	case err != nil:
		s.log.WarnContext(ctx, "collect identification", "order", o.OrderRef, "err", err)
		return o, nil // asked again at the next turn
	}
	if res.Status == connectors.BankIDComplete {
		s.completeIdentification(ctx, o.OrderRef, res.Evidence)
	} else if err := s.failIdentification(ctx, o.OrderRef, res.Status, res.Hint); err != nil {
		return o, err
	}
	o, _, err = s.readPasswordOrder(ctx, hash, "")
	return o, err
}

// failIdentification keeps a pending order's new state; only a pending order changes.
func (s *Service) failIdentification(ctx context.Context, orderRef, status, hint string) error {
	if _, err := s.db.Exec(ctx, "UPDATE password_orders SET status = $2, hint = $3 WHERE order_ref = $1 AND status = 'pending'",
		orderRef, status, hint); err != nil {
		return fmt.Errorf("record state of %s: %w", orderRef, err)
	}
	return nil
}

// completeIdentification decides what a completed auth order may do: the person must be one
// behorig knows, with an active account that the directory holds enabled, and within the
// person's limits. Every outcome is audited; the personnummer is in none of the data.
func (s *Service) completeIdentification(ctx context.Context, orderRef string, ev *connectors.BankIDEvidence) {
	refuse := func(hint, action, personID string) {
		if err := s.failIdentification(ctx, orderRef, connectors.BankIDFailed, hint); err != nil {
			s.log.ErrorContext(ctx, "refuse identification", "order", orderRef, "err", err)
			return
		}
		if err := s.inTx(ctx, func(tx pgx.Tx) error {
			return s.record(ctx, tx, personActor, action, "", personID, map[string]any{"orderRef": orderRef})
		}); err != nil {
			s.log.ErrorContext(ctx, "audit identification", "order", orderRef, "err", err)
		}
	}
	if ev == nil {
		refuse(hintNoAccount, "password.no_account", "")
		return
	}
	pnr, err := personnummer.Parse(ev.PersonalNumber, s.clock.Now())
	if err != nil {
		refuse(hintNoAccount, "password.no_account", "")
		return
	}
	var personID string
	err = s.db.QueryRow(ctx, "SELECT id::text FROM persons WHERE personnummer_index = $1", s.pnrIndex(pnr)).Scan(&personID)
	if errors.Is(err, pgx.ErrNoRows) {
		refuse(hintNoAccount, "password.no_account", "")
		return
	}
	if err != nil {
		// Left pending: the next collect hears "complete" again and tries once more.
		s.log.ErrorContext(ctx, "identification: find the person", "order", orderRef, "err", err)
		return
	}
	if _, err := s.activeAccount(ctx, personID); err != nil {
		if !errors.Is(err, ErrNoActiveAccount) {
			// The directory did not answer: left pending, tried again at the next collect.
			s.log.WarnContext(ctx, "identification: the person's account", "order", orderRef, "err", err)
			return
		}
		refuse(hintNoAccount, "password.no_account", personID)
		return
	}
	now := s.clock.Now()
	var identified, set int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE completed_at > $2), count(*) FILTER (WHERE used_at > $3)
		FROM password_orders WHERE person_id = $1`, personID, now.Add(-time.Hour), now.Add(-24*time.Hour)).Scan(&identified, &set); err != nil {
		s.log.ErrorContext(ctx, "identification: the person's limits", "order", orderRef, "err", err)
		return
	}
	if identified >= maxIdentificationsPerHour || set >= maxPasswordsPerDay {
		refuse(hintPersonLimit, "password.person_limit", personID)
		return
	}
	if err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE password_orders SET status = 'complete', hint = '', person_id = $2, completed_at = $3
			WHERE order_ref = $1 AND status = 'pending'`, orderRef, personID, now)
		if err != nil || tag.RowsAffected() != 1 {
			return err // another collector completed it a moment ago
		}
		return s.record(ctx, tx, personActor, "password.identified", "", personID, map[string]any{"orderRef": orderRef,
			"simulated": ev.Simulated})
	}); err != nil {
		s.log.ErrorContext(ctx, "complete identification", "order", orderRef, "err", err)
	}
}

// activeAccount is the person's account as the directory holds it now: behorig's record says
// active, and the directory has the entry, enabled. The directory is asked with no
// transaction open.
func (s *Service) activeAccount(ctx context.Context, personID string) (connectors.AccountRef, error) {
	a, found, err := s.accountOf(ctx, s.db, personID)
	if err != nil {
		return connectors.AccountRef{}, err
	}
	if !found || a.state != "active" {
		return connectors.AccountRef{}, ErrNoActiveAccount
	}
	var ref connectors.AccountRef
	if a.entryID != "" {
		ref, err = s.dir.LookupAccountByID(ctx, a.entryID)
	} else {
		ref, err = s.dir.LookupAccount(ctx, a.username)
	}
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		return ref, ErrNoActiveAccount
	case err != nil:
		return ref, fmt.Errorf("the account %s in the directory: %w", a.username, err)
	case ref.Disabled:
		return ref, ErrNoActiveAccount
	}
	return ref, nil
}

// PasswordSet is what the page says after a password was set.
type PasswordSet struct {
	Username string
}

// SetPassword sets the password of the account of the person the browser's identification
// (orderRef, which must be this browser's newest) names. The two entries must be equal; the
// directory judges the rest under its policy, and its refusal comes back as a
// *connectors.PasswordRefusedError. The password is written at once with no transaction
// open, never kept; what is audited is that it was set (or refused), for which account.
func (s *Service) SetPassword(ctx context.Context, browser, orderRef, password, repeat string) (PasswordSet, error) {
	hash, err := browserHash(browser)
	if err != nil {
		return PasswordSet{}, err
	}
	var v ValidationError
	switch {
	case password == "":
		v.add("password", "is required")
	case len(password) > maxPasswordBytes || !utf8.ValidString(password) || textcheck.Line(password) != nil:
		v.add("password", "may hold at most %d bytes of visible characters", maxPasswordBytes)
	case repeat != password:
		v.add("password2", "the passwords are not the same")
	}
	if err := v.err(); err != nil {
		return PasswordSet{}, err
	}
	now := s.clock.Now()
	// Claim the identification: this browser's, complete, unused, fresh, within its attempts
	// and not held by another post. One conditional update, so that two posts make one change.
	var personID string
	err = s.db.QueryRow(ctx, `UPDATE password_orders SET setting_until = $4, attempts = attempts + 1
		WHERE order_ref = $1 AND browser_hash = $2 AND status = 'complete' AND completed_at > $3 AND attempts < $5
			AND (setting_until IS NULL OR setting_until < $6)
			AND order_ref = (SELECT order_ref FROM password_orders WHERE browser_hash = $2 ORDER BY answered_at DESC LIMIT 1)
		RETURNING person_id::text`, orderRef, hash, now.Add(-passwordWindow), now.Add(settingHold), maxPasswordAttempts,
		now).Scan(&personID)
	if errors.Is(err, pgx.ErrNoRows) {
		var held bool
		s.db.QueryRow(ctx, `SELECT setting_until IS NOT NULL AND setting_until >= $3 FROM password_orders
			WHERE order_ref = $1 AND browser_hash = $2 AND status = 'complete'`, orderRef, hash, now).Scan(&held)
		if held {
			return PasswordSet{}, ErrPasswordBusy
		}
		return PasswordSet{}, ErrIdentificationExpired
	}
	if err != nil {
		return PasswordSet{}, fmt.Errorf("claim identification %s: %w", orderRef, err)
	}
	release := func() {
		if _, err := s.db.Exec(context.WithoutCancel(ctx), "UPDATE password_orders SET setting_until = NULL WHERE order_ref = $1",
			orderRef); err != nil {
			s.log.ErrorContext(ctx, "release identification", "order", orderRef, "err", err)
		}
	}
	var set int
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM password_orders WHERE person_id = $1 AND used_at > $2",
		personID, now.Add(-24*time.Hour)).Scan(&set); err != nil {
		release()
		return PasswordSet{}, fmt.Errorf("password limit: %w", err)
	}
	if set >= maxPasswordsPerDay {
		release()
		return PasswordSet{}, ErrPersonLimit
	}
	ref, err := s.activeAccount(ctx, personID)
	if err != nil {
		release()
		return PasswordSet{}, err
	}
	err = s.dir.SetPassword(ctx, ref.DN, password)
	var refused *connectors.PasswordRefusedError
	if errors.As(err, &refused) {
		release()
		if aerr := s.inTx(ctx, func(tx pgx.Tx) error {
			return s.record(ctx, tx, personActor, "password.refused", "", personID, map[string]any{"orderRef": orderRef,
				"account": ref.Username, "reason": refused.Reason})
		}); aerr != nil {
			s.log.ErrorContext(ctx, "audit a refused password", "order", orderRef, "err", aerr)
		}
		return PasswordSet{}, err
	}
	if err != nil {
		release()
		return PasswordSet{}, fmt.Errorf("set the password of %s: %w", ref.Username, err)
	}
	// The directory holds the password now: whatever happens below, it is set, so the
	// record uses a context that the client's leaving does not end.
	bctx := context.WithoutCancel(ctx)
	err = s.inTx(bctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(bctx, `UPDATE password_orders SET status = $2, used_at = $3, setting_until = NULL
			WHERE order_ref = $1`, orderRef, orderUsed, s.clock.Now()); err != nil {
			return err
		}
		return s.record(bctx, tx, personActor, "password.set", "", personID, map[string]any{"orderRef": orderRef,
			"account": ref.Username})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record a password set", "order", orderRef, "account", ref.Username, "err", err)
	}
	return PasswordSet{Username: ref.Username}, nil
}

// CancelPasswordOrder cancels the browser's pending identification at BankID, as the person
// asked on the page.
func (s *Service) CancelPasswordOrder(ctx context.Context, browser string) error {
	hash, err := browserHash(browser)
	if err != nil {
		return err
	}
	o, _, err := s.readPasswordOrder(ctx, hash, "")
	if err != nil || o.Status != connectors.BankIDPending || s.bankid == nil {
		return err
	}
	if err := s.bankid.Cancel(ctx, o.OrderRef); err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return fmt.Errorf("cancel identification %s: %w", o.OrderRef, err)
	}
	return s.failIdentification(ctx, o.OrderRef, connectors.BankIDFailed, connectors.BankIDHintUserCancel)
}
