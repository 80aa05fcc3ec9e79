package provisioning

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/personnummer"
)

// Errors of a link to sign.
var (
	ErrLinkExpired    = errors.New("the link has expired")
	ErrLinkUsed       = errors.New("the terms have been answered already")
	ErrSignerMismatch = errors.New("the terms were signed by another person than the request is for")
)

const qrSecretContext = "signing_orders.qr_start_secret"

// TermsView is what the signing page shows: whose request, what for, and the terms.
type TermsView struct {
	LinkID    string
	RequestID string
	Number    string
	GivenName string
	Surname   string
	Requester string
	ExpiresAt time.Time
	Items     []TermsItem
	// Text is exactly what the person signs (simpleMarkdownV1); its SHA-256 is kept.
	Text string
}

// TermsItem is one system of the request with the terms that apply.
type TermsItem struct {
	SystemID, System, Role, Unit string
	Version                      int
	Terms                        string
}

type linkRow struct {
	id, requestID, personID, status       string
	number, givenName, surname, requester string
	expires                               time.Time
	used                                  *time.Time
	personnummerSealed                    []byte
}

// linkQuery reads a link with what every use of it needs: its request, person and requester.
const linkQuery = `SELECT l.id::text, l.request_id::text, r.person_id::text, r.status, l.expires_at, l.used_at,
		r.number, r.person_given_name, r.person_surname, rq.display_name, p.personnummer_enc
	FROM terms_links l JOIN requests r ON r.id = l.request_id JOIN persons p ON p.id = r.person_id
		JOIN principals rq ON rq.id = r.requester_id
	WHERE `

// link finds the link of a token; unknown, used and expired links are errors the page
// explains.
func (s *Service) link(ctx context.Context, q querier, token string) (linkRow, error) {
	return s.readLink(ctx, q, "l.token_hash = $1", tokenHash(token))
}

// readLink reads one link (where selects it) and checks that it can still be answered.
func (s *Service) readLink(ctx context.Context, q querier, where string, arg any) (linkRow, error) {
	var l linkRow
	err := q.QueryRow(ctx, linkQuery+where, arg).Scan(&l.id, &l.requestID, &l.personID, &l.status, &l.expires, &l.used,
		&l.number, &l.givenName, &l.surname, &l.requester, &l.personnummerSealed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return l, fmt.Errorf("terms link: %w", ErrNotFound)
	case err != nil:
		return l, fmt.Errorf("terms link: %w", err)
	case l.used != nil || l.status != StatusAwaitingUser:
		return l, fmt.Errorf("terms link: %w", ErrLinkUsed)
	case s.clock.Now().After(l.expires):
		return l, fmt.Errorf("terms link: %w", ErrLinkExpired)
	}
	return l, nil
}

// CheckLink tells whether a link works, without reading its terms: for what a page asks
// every second.
func (s *Service) CheckLink(ctx context.Context, token string) error {
	_, err := s.link(ctx, s.db, token)
	return err
}

// Terms returns what the link's page shows and what will be signed.
func (s *Service) Terms(ctx context.Context, token string) (TermsView, error) {
	l, err := s.link(ctx, s.db, token)
	if err != nil {
		return TermsView{}, err
	}
	return s.termsOf(ctx, l)
}

// termsOf reads the terms of a link's request: each system's newest version.
func (s *Service) termsOf(ctx context.Context, l linkRow) (TermsView, error) {
	v := TermsView{LinkID: l.id, RequestID: l.requestID, ExpiresAt: l.expires, Number: l.number, GivenName: l.givenName, Surname: l.surname,
		Requester: l.requester}
	rows, err := s.db.Query(ctx, `SELECT sy.id, sy.name, coalesce(ro.name, ''), u.name, t.version, t.text
		FROM request_items i JOIN systems sy ON sy.id = i.system_id JOIN units u ON u.id = i.unit_id
			LEFT JOIN system_roles ro ON ro.system_id = i.system_id AND ro.id = i.role_id
			JOIN LATERAL (SELECT version, text FROM system_terms WHERE system_id = sy.id ORDER BY version DESC LIMIT 1) t ON true
		WHERE i.request_id = $1 AND sy.needs_terms ORDER BY i.position`, uuidOrNull(l.requestID))
	if err != nil {
		return v, fmt.Errorf("terms of %s: %w", v.Number, err)
	}
	if v.Items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[TermsItem]); err != nil {
		return v, fmt.Errorf("terms of %s: %w", v.Number, err)
	}
	v.Text = signText(v)
	return v, nil
}

// signText is the text shown in the BankID app and signed: the request and each system's
// terms, with their versions.
func signText(v TermsView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Villkor för behörighet\n\nBehörighetsansökan %s.\n", v.Number)
	seen := map[string]bool{}
	for _, it := range v.Items {
		if seen[it.SystemID] {
			continue
		}
		seen[it.SystemID] = true
		fmt.Fprintf(&b, "\n## %s (villkor version %d)\n\n%s\n", it.System, it.Version, strings.TrimSpace(it.Terms))
	}
	b.WriteString("\nJag har läst och godkänner villkoren.")
	return b.String()
}

// SignOrder is a BankID order started for a link, as the signing page shows it.
type SignOrder struct {
	OrderRef, AutoStartToken, QRStartToken, QRStartSecret string
	AnsweredAt                                            time.Time
	Status, Hint                                          string
}

// Order statuses besides BankID's own (connectors.BankIDPending, ...): an order being started
// holds its link while BankID is asked, and a refused signer fails the order with its own hint.
const (
	orderStarting      = "starting"
	hintSignerMismatch = "signer_mismatch"
)

// SignerPersonnummer is the 12 digits the BankID order must require: the request's person.
func (s *Service) SignerPersonnummer(ctx context.Context, token string) (string, error) {
	l, err := s.link(ctx, s.db, token)
	if err != nil {
		return "", err
	}
	return s.signerOf(l)
}

func (s *Service) signerOf(l linkRow) (string, error) {
	plain, err := s.box.Open(l.personnummerSealed, personnummerContext)
	if err != nil {
		return "", fmt.Errorf("personnummer of terms link: %w", err)
	}
	return string(plain), nil
}

// Errors of starting an order.
var (
	ErrOrderRunning  = errors.New("an order for this link is running")
	ErrTooManyOrders = errors.New("too many orders for this link; wait a while")
	ErrNoBankID      = errors.New("signing with BankID is not configured")
	maxOrdersPerLink = 5
	ordersWindow     = 10 * time.Minute
	orderLifetime    = 3 * time.Minute
	// startingWindow is how long a start holds its link while BankID is asked. It exceeds
	// what a BankID client spends on one start (its timeout and retries), so that a process
	// that died meanwhile blocks the link only this long.
	startingWindow = time.Minute
)

// SigningEnabled tells whether the terms can be signed with BankID here; without it, only
// the paper form remains.
func (s *Service) SigningEnabled() bool { return s.bankid != nil }

// StartSigning starts a BankID order for the link's person from the device at endUserIP,
// with the terms as the text shown and signed and their hash inside the signature, and
// records it with the exact text sent.
//
// BankID is called with no transaction open. A short transaction first holds the link with a
// row in state "starting" (two tabs cannot start two orders, which BankID would answer by
// cancelling both; an order still running is not replaced; a link starts at most a few
// orders in a while), BankID is asked, and a second short transaction records the order in
// that row and schedules its watch. When BankID fails, the row is removed; when recording
// fails after BankID made the order, the order is cancelled there.
func (s *Service) StartSigning(ctx context.Context, token, endUserIP string) (SignOrder, error) {
	if s.bankid == nil {
		return SignOrder{}, ErrNoBankID
	}
	l, err := s.link(ctx, s.db, token)
	if err != nil {
		return SignOrder{}, err
	}
	view, err := s.termsOf(ctx, l)
	if err != nil {
		return SignOrder{}, err
	}
	pnr, err := s.signerOf(l)
	if err != nil {
		return SignOrder{}, err
	}
	sum := sha256.Sum256([]byte(view.Text))
	nonVisible := fmt.Sprintf("behorig %s %s sha256:%x", view.Number, view.RequestID, sum)
	versions := map[string]int{}
	for _, it := range view.Items {
		versions[it.SystemID] = it.Version
	}
	placeholder := orderStarting + " " + rand.Text() // BankID's refs are UUIDs: never equal
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM terms_links WHERE id = $1 FOR UPDATE", uuidOrNull(l.id)); err != nil {
			return err
		}
		now := time.Now()
		var running, recent int
		if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE (status = 'pending' AND answered_at > $2) OR (status = $4 AND answered_at > $5)),
				count(*) FILTER (WHERE answered_at > $3)
			FROM signing_orders WHERE link_id = $1`, uuidOrNull(l.id), now.Add(-orderLifetime), now.Add(-ordersWindow),
			orderStarting, now.Add(-startingWindow)).Scan(&running, &recent); err != nil {
			return err
		}
		switch {
		case running > 0:
			return ErrOrderRunning
		case recent >= maxOrdersPerLink:
			return ErrTooManyOrders
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_orders (order_ref, link_id, auto_start_token, qr_start_token,
				qr_start_secret_sealed, answered_at, status, signed_text, signed_text_sha256, terms_versions)
			VALUES ($1, $2, '', '', '', $3, $4, $5, $6, $7)`, placeholder, uuidOrNull(l.id), now, orderStarting, view.Text, sum[:], versions)
		return err
	})
	if err != nil {
		return SignOrder{}, fmt.Errorf("start signing %s: %w", l.number, err)
	}
	// The order is made at BankID even if this request's context ends: it must be recorded.
	// The BankID client bounds the call.
	bctx := context.WithoutCancel(ctx)
	made, err := s.bankid.Sign(bctx, connectors.BankIDRequest{EndUserIP: endUserIP, PersonalNumber: pnr, Visible: view.Text,
		NonVisible: nonVisible})
	if err != nil {
		if _, derr := s.db.Exec(bctx, "DELETE FROM signing_orders WHERE order_ref = $1", placeholder); derr != nil {
			s.log.WarnContext(ctx, "remove a signing order BankID did not make", "err", derr)
		}
		return SignOrder{}, fmt.Errorf("start signing %s: %w", l.number, err)
	}
	order := SignOrder{OrderRef: made.OrderRef, AutoStartToken: made.AutoStartToken, QRStartToken: made.QRStartToken,
		QRStartSecret: made.QRStartSecret, AnsweredAt: made.AnsweredAt, Status: connectors.BankIDPending,
		Hint: connectors.BankIDHintOutstanding} // until the watch's first collect says otherwise
	err = s.inTx(bctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(bctx, `UPDATE signing_orders SET order_ref = $2, auto_start_token = $3, qr_start_token = $4,
				qr_start_secret_sealed = $5, answered_at = $6, status = 'pending', hint = $8
			WHERE order_ref = $1 AND status = $7`, placeholder, order.OrderRef, order.AutoStartToken, order.QRStartToken,
			s.box.Seal([]byte(order.QRStartSecret), qrSecretContext), order.AnsweredAt, orderStarting, order.Hint)
		if err != nil {
			return fmt.Errorf("record signing order: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errors.New("record signing order: the link's start was given up meanwhile")
		}
		if err := s.jobs.ScheduleSigningWatch(bctx, tx, order.OrderRef); err != nil {
			return fmt.Errorf("watch signing order: %w", err)
		}
		return s.record(bctx, tx, personActor, "terms.signing_started", l.requestID, l.personID, map[string]any{"orderRef": order.OrderRef})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record a signing order; cancelling it at BankID", "order", order.OrderRef, "err", err)
		if cerr := s.bankid.Cancel(bctx, order.OrderRef); cerr != nil && !errors.Is(cerr, connectors.ErrNotFound) {
			s.log.ErrorContext(ctx, "cancel an unrecorded BankID order", "order", order.OrderRef, "err", cerr)
		}
		s.db.Exec(bctx, "DELETE FROM signing_orders WHERE order_ref = $1", placeholder)
		return SignOrder{}, fmt.Errorf("start signing %s: %w", l.number, err)
	}
	return order, nil
}

// SigningOrder returns the newest order of the link, as it was last collected.
func (s *Service) SigningOrder(ctx context.Context, token string) (SignOrder, error) {
	o, _, err := s.signingOrder(ctx, `l.token_hash = $1`, tokenHash(token))
	return o, err
}

// signingOrder reads one started order and its link's id; where selects it.
func (s *Service) signingOrder(ctx context.Context, where string, arg any) (SignOrder, string, error) {
	var o SignOrder
	var sealed []byte
	var linkID string
	err := s.db.QueryRow(ctx, `SELECT o.order_ref, o.auto_start_token, o.qr_start_token, o.qr_start_secret_sealed, o.answered_at,
			o.status, o.hint, o.link_id::text
		FROM signing_orders o JOIN terms_links l ON l.id = o.link_id WHERE `+where+` AND o.status <> '`+orderStarting+`'
		ORDER BY o.answered_at DESC LIMIT 1`, arg).Scan(&o.OrderRef, &o.AutoStartToken, &o.QRStartToken, &sealed,
		&o.AnsweredAt, &o.Status, &o.Hint, &linkID)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, "", fmt.Errorf("signing order: %w", ErrNotFound)
	}
	if err != nil {
		return o, "", fmt.Errorf("signing order: %w", err)
	}
	secret, err := s.box.Open(sealed, qrSecretContext)
	if err != nil {
		return o, "", fmt.Errorf("signing order: %w", err)
	}
	o.QRStartSecret = string(secret)
	return o, linkID, nil
}

// CollectSigning asks BankID about a pending order, at most once per interval whoever asks
// (the watch job of any instance, a cancel), and acts on the answer: keeps the state, or
// completes the signing. It returns the order as it now stands. now is the wall clock,
// BankID's time. BankID is asked with no transaction open and no connection held.
func (s *Service) CollectSigning(ctx context.Context, orderRef string, now time.Time, interval time.Duration) (SignOrder, error) {
	o, linkID, err := s.signingOrder(ctx, `o.order_ref = $1`, orderRef)
	if err != nil || o.Status != connectors.BankIDPending || s.bankid == nil {
		return o, err
	}
	if claimed, err := s.ClaimCollect(ctx, orderRef, now, interval); err != nil || !claimed {
		return o, err
	}
	res, err := s.bankid.Collect(ctx, orderRef)
	if err != nil && !errors.Is(err, connectors.ErrNotFound) {
		s.log.WarnContext(ctx, "collect signing order", "order", orderRef, "err", err)
		return o, nil // asked again at the next round, an interval on
	}
	return s.actOnCollect(ctx, o, linkID, res, err)
}

// actOnCollect keeps what BankID said of a pending order: its state, or the signature. An
// order BankID no longer knows (errNotFound wraps connectors.ErrNotFound) is over: failed,
// as if expired.
func (s *Service) actOnCollect(ctx context.Context, o SignOrder, linkID string, res connectors.BankIDResult, errNotFound error) (SignOrder, error) {
	if errNotFound != nil {
		res = connectors.BankIDResult{Status: connectors.BankIDFailed, Hint: connectors.BankIDHintExpired}
	}
	if res.Status != connectors.BankIDComplete {
		o.Status, o.Hint = res.Status, res.Hint
		return o, s.RecordOrderState(ctx, o.OrderRef, res.Status, res.Hint)
	}
	if res.Evidence == nil {
		res.Evidence = &Evidence{}
	}
	l, err := s.readLink(ctx, s.db, "l.id = $1", uuidOrNull(linkID))
	if err == nil {
		err = s.completeSigning(ctx, l, o.OrderRef, *res.Evidence)
	}
	switch {
	case errors.Is(err, ErrSignerMismatch):
		o.Status, o.Hint = connectors.BankIDFailed, hintSignerMismatch
	case err != nil:
		// Often another collector kept the signature a moment ago: say how the order stands now.
		if now, _, rerr := s.signingOrder(ctx, `o.order_ref = $1`, o.OrderRef); rerr == nil && now.Status == connectors.BankIDComplete {
			return now, nil
		}
		s.log.ErrorContext(ctx, "complete signing", "order", o.OrderRef, "err", err)
	default:
		o.Status, o.Hint = connectors.BankIDComplete, ""
	}
	return o, nil
}

// WatchSigning collects a pending order once (at most once per interval, whoever asks), so
// that a signature is kept whether or not a page is open: a person who signs on the phone
// and never comes back to the browser. It is the body of the watch job, which runs it again
// after the interval while it reports again: the order is still pending and within BankID's
// lifetime.
func (s *Service) WatchSigning(ctx context.Context, orderRef string, interval time.Duration) (again bool, err error) {
	o, err := s.CollectSigning(ctx, orderRef, time.Now(), interval)
	if err != nil {
		return false, err
	}
	return o.Status == connectors.BankIDPending && time.Since(o.AnsweredAt) <= 2*orderLifetime, nil
}

// CancelSigning cancels the link's running order, as the person asked on the page. BankID is
// asked once more first, in the order's turn (the person may just have signed in the app,
// and that signature is kept); an order still pending is then cancelled at BankID and
// recorded as cancelled by the person. It returns the order as it now stands.
func (s *Service) CancelSigning(ctx context.Context, token string) (SignOrder, error) {
	l, err := s.link(ctx, s.db, token)
	if err != nil {
		return SignOrder{}, err
	}
	o, _, err := s.signingOrder(ctx, `o.link_id = $1`, uuidOrNull(l.id))
	if err != nil || o.Status != connectors.BankIDPending || s.bankid == nil {
		return o, err
	}
	// Take the order's next turn to be collected: another collect (the watch job's) may have
	// been made a moment ago, and BankID allows one every two seconds. The turn is reserved,
	// so the watch skips it, and waited for.
	at, reserved, err := s.reserveCollect(ctx, o.OrderRef, time.Now(), connectors.BankIDCollectInterval)
	if err != nil {
		return o, err
	}
	if !reserved {
		now, _, err := s.signingOrder(ctx, `o.order_ref = $1`, o.OrderRef)
		return now, err // the watch kept the signature or the failure meanwhile
	}
	if wait := time.Until(at); wait > 0 {
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(wait):
		}
	}
	res, err := s.bankid.Collect(ctx, o.OrderRef)
	if err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return o, fmt.Errorf("cancel order %s: %w", o.OrderRef, err)
	}
	if err != nil || res.Status != connectors.BankIDPending {
		return s.actOnCollect(ctx, o, l.id, res, err)
	}
	if err := s.bankid.Cancel(ctx, o.OrderRef); err != nil && !errors.Is(err, connectors.ErrNotFound) {
		return o, fmt.Errorf("cancel order %s: %w", o.OrderRef, err)
	}
	o.Status, o.Hint = connectors.BankIDFailed, connectors.BankIDHintUserCancel
	return o, s.RecordOrderState(ctx, o.OrderRef, o.Status, o.Hint)
}

// ClaimCollect reports whether it is time to ask BankID about the order again: at most once
// per interval, whichever browser or instance asks; the claim is one conditional update. now
// is BankID's time, the wall clock, not the domain's.
func (s *Service) ClaimCollect(ctx context.Context, orderRef string, now time.Time, interval time.Duration) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE signing_orders SET last_collect_at = $2
		WHERE order_ref = $1 AND status = 'pending' AND (last_collect_at IS NULL OR last_collect_at <= $3)`,
		orderRef, now, now.Add(-interval))
	if err != nil {
		return false, fmt.Errorf("claim collect of %s: %w", orderRef, err)
	}
	return tag.RowsAffected() == 1, nil
}

// reserveCollect takes the order's next turn to be collected, whoever holds the one before:
// now when the interval since the last claim has passed, else an interval after it. It
// reports the time of the turn, or false when the order is no longer pending.
func (s *Service) reserveCollect(ctx context.Context, orderRef string, now time.Time, interval time.Duration) (time.Time, bool, error) {
	var at time.Time
	err := s.db.QueryRow(ctx, `UPDATE signing_orders SET last_collect_at =
			CASE WHEN last_collect_at IS NULL OR last_collect_at <= $3 THEN $2 ELSE last_collect_at + ($2 - $3) END
		WHERE order_ref = $1 AND status = 'pending' RETURNING last_collect_at`, orderRef, now, now.Add(-interval)).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return at, false, nil
	}
	if err != nil {
		return at, false, fmt.Errorf("reserve a collect of %s: %w", orderRef, err)
	}
	return at, true, nil
}

// RecordOrderState keeps what collect said of a pending or failed order.
func (s *Service) RecordOrderState(ctx context.Context, orderRef, status, hint string) error {
	// Only a pending order changes: a signature kept meanwhile is never marked failed.
	if _, err := s.db.Exec(ctx, "UPDATE signing_orders SET status = $2, hint = $3 WHERE order_ref = $1 AND status = 'pending'",
		orderRef, status, hint); err != nil {
		return fmt.Errorf("record state of %s: %w", orderRef, err)
	}
	return nil
}

// Evidence is what BankID returned for a completed signature.
type Evidence = connectors.BankIDEvidence

// CompleteSigning keeps the evidence of a completed order and lets the request go on, as a
// verified paper form would. The signer must be the request's person: anyone else is refused,
// audited, and the request keeps waiting.
func (s *Service) CompleteSigning(ctx context.Context, token, orderRef string, ev Evidence) error {
	l, err := s.link(ctx, s.db, token)
	if err != nil {
		return err
	}
	return s.completeSigning(ctx, l, orderRef, ev)
}

func (s *Service) completeSigning(ctx context.Context, l linkRow, orderRef string, ev Evidence) error {
	// The evidence is the text sent with this order, not the catalog's terms of today.
	var text string
	var sum []byte
	var versions map[string]int
	if err := s.db.QueryRow(ctx, `SELECT o.signed_text, o.signed_text_sha256, o.terms_versions FROM signing_orders o
		WHERE o.order_ref = $1 AND o.link_id = $2`, orderRef, uuidOrNull(l.id)).Scan(&text, &sum, &versions); err != nil {
		return fmt.Errorf("order %s of the link: %w", orderRef, err)
	}
	if len(ev.Signature) == 0 || len(ev.OCSPResponse) == 0 {
		return fmt.Errorf("order %s: BankID answered complete without a signature and an OCSP response", orderRef)
	}
	if signed, found := signedVisibleData(ev.Signature); found && signed != text {
		return fmt.Errorf("order %s: the signature holds another text than the one sent", orderRef)
	}
	want, err := s.signerOf(l)
	if err != nil {
		return err
	}
	got, perr := personnummer.Parse(ev.PersonalNumber, s.clock.Now())
	if perr != nil || got.String() != want {
		s.RecordOrderState(ctx, orderRef, connectors.BankIDFailed, hintSignerMismatch)
		if err := s.inTx(ctx, func(tx pgx.Tx) error {
			return s.record(ctx, tx, personActor, "terms.signer_mismatch", l.requestID, "", map[string]any{"orderRef": orderRef})
		}); err != nil {
			return err
		}
		return fmt.Errorf("order %s: %w", orderRef, ErrSignerMismatch)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// The order first: the page, a cancel and the watch job may all have heard "complete"
		// at once, and the first to lock it keeps the signature; the others find it kept.
		var status string
		if err := tx.QueryRow(ctx, "SELECT status FROM signing_orders WHERE order_ref = $1 FOR UPDATE", orderRef).Scan(&status); err != nil {
			return fmt.Errorf("lock order %s: %w", orderRef, err)
		}
		if status == connectors.BankIDComplete {
			return nil
		}
		// The link again, locked: it may have been used meanwhile (a paper form verified).
		var used *time.Time
		if err := tx.QueryRow(ctx, "SELECT used_at FROM terms_links WHERE id = $1 FOR UPDATE", uuidOrNull(l.id)).Scan(&used); err != nil {
			return fmt.Errorf("lock terms link of %s: %w", l.number, err)
		}
		if used != nil {
			return fmt.Errorf("%s: %w", l.number, ErrLinkUsed)
		}
		r, err := s.lockRequest(ctx, tx, l.requestID)
		if err != nil {
			return err
		}
		if r.status != StatusAwaitingUser {
			return fmt.Errorf("%s: %w", r.number, ErrLinkUsed)
		}
		sealed, err := s.sealEvidence(orderRef, ev)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO terms_signatures (request_id, order_ref, personnummer_enc, signer_name,
				evidence_sealed, bankid_issue_date, signed_text, signed_text_sha256, terms_versions, simulated, signed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, r.id, orderRef,
			s.box.Seal([]byte(want), personnummerContext), ev.Name, sealed, ev.BankIDIssueDate, text, sum, versions,
			ev.Simulated, s.clock.Now()); err != nil {
			return fmt.Errorf("keep the signature of %s: %w", r.number, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE terms_links SET used_at = $2 WHERE id = $1", uuidOrNull(l.id), s.clock.Now()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE signing_orders SET status = 'complete', hint = '' WHERE order_ref = $1", orderRef); err != nil {
			return err
		}
		if err := s.record(ctx, tx, personActor, "terms.signed", r.id, r.personID, map[string]any{"orderRef": orderRef,
			"sha256": fmt.Sprintf("%x", sum), "versions": versions, "simulated": ev.Simulated}); err != nil {
			return err
		}
		if err := s.setStatus(ctx, tx, personActor, r, StatusAnsweredByUser, nil); err != nil {
			return err
		}
		r.status = StatusAnsweredByUser
		_, err = s.startUnlessCertificateMissing(ctx, tx, personActor, r)
		return err
	})
}

// evidenceContext seals the evidence of a signature; the order ref is added to it, so that a
// sealed document opens only in its own row.
const evidenceContext = "terms_signatures.evidence"

// sealedEvidence is the part of the evidence kept sealed (terms_signatures.evidence_sealed):
// what holds the personnummer or says where the person was.
type sealedEvidence struct {
	Signature    []byte `json:"signature"`
	OCSPResponse []byte `json:"ocspResponse"`
	DeviceIP     string `json:"deviceIp"`
	DeviceUHI    string `json:"deviceUhi"`
}

func (s *Service) sealEvidence(orderRef string, ev Evidence) ([]byte, error) {
	doc, err := json.Marshal(sealedEvidence{Signature: ev.Signature, OCSPResponse: ev.OCSPResponse,
		DeviceIP: ev.DeviceIP, DeviceUHI: ev.DeviceUHI})
	if err != nil {
		return nil, fmt.Errorf("seal the evidence of %s: %w", orderRef, err)
	}
	return s.box.Seal(doc, evidenceContext+" "+orderRef), nil
}

// evidenceColumns are what an evidenceRow scans: the sealed document, and the clear columns
// that rows written before migration 015 still hold (NULL in newer rows).
const evidenceColumns = `order_ref, evidence_sealed, signature, ocsp_response, coalesce(device_ip, ''), coalesce(device_uhi, '')`

type evidenceRow struct {
	orderRef string
	sealed   []byte
	clear    sealedEvidence
}

func (r *evidenceRow) dest() []any {
	return []any{&r.orderRef, &r.sealed, &r.clear.Signature, &r.clear.OCSPResponse, &r.clear.DeviceIP, &r.clear.DeviceUHI}
}

// openEvidence opens a row's sealed evidence, or returns its clear columns when it is a row
// from before the evidence was sealed.
func (s *Service) openEvidence(r evidenceRow) (sealedEvidence, error) {
	if r.sealed == nil {
		return r.clear, nil
	}
	doc, err := s.box.Open(r.sealed, evidenceContext+" "+r.orderRef)
	if err != nil {
		return sealedEvidence{}, fmt.Errorf("evidence of %s: %w", r.orderRef, err)
	}
	var ev sealedEvidence
	if err := json.Unmarshal(doc, &ev); err != nil {
		return sealedEvidence{}, fmt.Errorf("evidence of %s: %w", r.orderRef, err)
	}
	return ev, nil
}

// SignatureView is the evidence as IT sees it.
type SignatureView struct {
	ID, OrderRef, SignerName, DeviceIP string
	SignedAt                           time.Time
	SignedTextSHA256                   string
	Simulated                          bool
}

// Signatures lists the evidence of a request, for IT.
func (s *Service) Signatures(ctx context.Context, actor Actor, requestID string) ([]SignatureView, error) {
	if !actor.IT() {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id::text, signer_name, signed_at, encode(signed_text_sha256, 'hex'), simulated,
			`+evidenceColumns+`
		FROM terms_signatures WHERE request_id = $1 ORDER BY signed_at`, uuidOrNull(requestID))
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", requestID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SignatureView, error) {
		var v SignatureView
		var r evidenceRow
		if err := row.Scan(append([]any{&v.ID, &v.SignerName, &v.SignedAt, &v.SignedTextSHA256, &v.Simulated}, r.dest()...)...); err != nil {
			return v, fmt.Errorf("signatures of %s: %w", requestID, err)
		}
		ev, err := s.openEvidence(r)
		v.OrderRef, v.DeviceIP = r.orderRef, ev.DeviceIP
		return v, err
	})
}

// SignatureFile returns the XML signature ("signature") or the OCSP response ("ocsp") of a
// signature, for IT to download.
func (s *Service) SignatureFile(ctx context.Context, actor Actor, id, which string) ([]byte, error) {
	if !actor.IT() {
		return nil, fmt.Errorf("signature %s: %w", id, ErrForbidden)
	}
	if which != "signature" && which != "ocsp" {
		return nil, fmt.Errorf("signature file %q: %w", which, ErrNotFound)
	}
	var r evidenceRow
	err := s.db.QueryRow(ctx, "SELECT "+evidenceColumns+" FROM terms_signatures WHERE id = $1", uuidOrNull(id)).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("signature %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("signature %s: %w", id, err)
	}
	ev, err := s.openEvidence(r)
	if err != nil {
		return nil, err
	}
	if which == "ocsp" {
		return ev.OCSPResponse, nil
	}
	return ev.Signature, nil
}

var usrVisibleData = regexp.MustCompile(`<(?:\w+:)?usrVisibleData[^>]*>([^<]*)</`)

// signedVisibleData reads the text shown in the app from BankID's signature XML
// (bankIdSignedData/usrVisibleData, base64), when it is there.
func signedVisibleData(signatureXML []byte) (string, bool) {
	m := usrVisibleData.FindSubmatch(signatureXML)
	if m == nil {
		return "", false
	}
	text, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(m[1])))
	if err != nil {
		return "", true // present but unreadable: never equal to the text sent
	}
	return string(text), true
}
