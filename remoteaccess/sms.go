package remoteaccess

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/auth/otp"
	"github.com/behorig/behorig/connectors"
)

// SMS codes: a 6-digit code from crypto/rand, sent to the person's mobile, kept only as an
// HMAC bound to its challenge, valid for CodeTTL, tried at most CodeTries times, and used at
// most once. A challenge is found by the SHA-256 of its state: RADIUS's State attribute, or
// the password page's browser token. It is bound to its purpose and to the gateway (RADIUS
// client) or browser that asked, so that a State seen by one gateway is worth nothing to
// another.
//
// A challenge is recorded before the SMS goes out (so that the rate limit counts it) but is
// valid only once a gateway took the message (provider set): a code that no gateway took is
// never valid, and its challenge is removed.

// Purposes of an SMS code, as sms_challenges spells them.
const (
	PurposeRADIUS   = "radius"
	PurposePassword = "password"
)

// CodeDigits is the length of an SMS code.
const CodeDigits = 6

// maxCodeInput bounds what is taken as a typed code (six digits, with spaces or dashes).
const maxCodeInput = 32

// stateBytes is the length of a challenge's state: unguessable, and within RADIUS's 253
// bytes per attribute.
const stateBytes = 32

// challengeKept is how long a person's challenges are kept after they were made.
const challengeKept = 24 * time.Hour

// codeMACContext keys the HMAC that is all that is kept of a code.
const codeMACContext = "sms_challenges.code_mac"

// ErrTooManyCodes: the person was sent SMSPerHour codes in the last hour; no SMS was sent.
var ErrTooManyCodes = errors.New("too many SMS codes for this person in the last hour")

// Why a code was not accepted, for the audit log and the answer's wording; never the code.
const (
	// ReasonUnknownChallenge: no challenge has this state for this purpose and client.
	ReasonUnknownChallenge = "unknown_challenge"
	// ReasonCodeNotSent: the challenge's SMS was never taken by a gateway.
	ReasonCodeNotSent = "code_not_sent"
	ReasonCodeExpired = "code_expired"
	ReasonCodeUsed    = "code_used"
	// ReasonTooManyTries: the code was tried CodeTries times; a new one must be sent.
	ReasonTooManyTries = "too_many_tries"
	ReasonWrongCode    = "wrong_code"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// SendCode sends a new code to mobile (E.164) for the person and returns the challenge's
// state, which CheckCode takes back with the code: for purpose radius it is the State
// attribute of the Access-Challenge and client the RADIUS client's name; for purpose password
// it is the browser's token and client identifies the browser.
//
// The SMS is sent with no transaction open. When no gateway takes it the error wraps
// connectors.ErrSMSUnavailable (and connectors.ErrSMSRecipient too when the number itself was
// refused) and no code is valid. When the person had SMSPerHour codes for the purpose in
// the last hour, the error is ErrTooManyCodes and nothing is sent.
func (s *Service) SendCode(ctx context.Context, personID, mobile, purpose, client string) (state []byte, err error) {
	if purpose != PurposeRADIUS && purpose != PurposePassword {
		return nil, fmt.Errorf("send code: unknown purpose %q", purpose)
	}
	if !e164.MatchString(mobile) {
		return nil, fmt.Errorf("send code: the mobile %s is not in E.164 form", connectors.MaskMobile(mobile))
	}
	if s.sms == nil {
		return nil, fmt.Errorf("send code: %w: no SMS gateway is configured", connectors.ErrSMSUnavailable)
	}
	code, err := otp.RandomCode(CodeDigits)
	if err != nil {
		return nil, fmt.Errorf("send code: %w", err)
	}
	state = make([]byte, stateBytes)
	rand.Read(state)
	hash := stateHash(state)
	now := s.clock.Now()
	var id string
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The person's own lock: two replicas sending to one person at once cannot both pass
		// the limit, and nobody else waits.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('sms_challenges ' || $1::text, 0))", personID); err != nil {
			return err
		}
		// The person's challenges of yesterday go: the rate limit looks back an hour, and a
		// day answers "did my code go out?" (provider, provider_id) without keeping them all.
		if _, err := tx.Exec(ctx, "DELETE FROM sms_challenges WHERE person_id = $1 AND created_at < $2",
			personID, now.Add(-challengeKept)); err != nil {
			return err
		}
		// The limit is per purpose: the password page sends to anyone's username without a
		// password, and must not use up the codes of the person's VPN login.
		var recent int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM sms_challenges WHERE person_id = $1 AND purpose = $3 AND created_at > $2",
			personID, now.Add(-time.Hour), purpose).Scan(&recent); err != nil {
			return err
		}
		if recent >= s.smsPerHour {
			return ErrTooManyCodes
		}
		return tx.QueryRow(ctx, `INSERT INTO sms_challenges (state_hash, person_id, purpose, client, code_mac, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, hash, personID, purpose, client, s.codeMAC(hash, code),
			now, now.Add(s.codeTTL)).Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("send code: %w", err)
	}
	receipt, err := s.sms.Send(ctx, connectors.SMS{ID: "sms-" + id, To: mobile, Text: codeText(purpose, code, s.codeTTL)})
	if err != nil {
		// The challenge was never valid (no provider); removing it gives the person's try back
		// to the rate limit, which counts codes sent, and leaves nothing behind.
		dctx, cancel := detached(ctx)
		_, derr := s.db.Exec(dctx, "DELETE FROM sms_challenges WHERE id = $1", id)
		cancel()
		if derr != nil {
			s.log.WarnContext(ctx, "remove an SMS challenge no gateway took", "challenge", id, "err", derr)
		}
		return nil, fmt.Errorf("send code to %s: %w", connectors.MaskMobile(mobile), err)
	}
	// The SMS is out: the receipt makes its code valid, recorded even if the caller gave up
	// meanwhile (a gateway's retransmission of the login finds the code on the phone).
	dctx, cancel := detached(ctx)
	defer cancel()
	if _, err := s.db.Exec(dctx, "UPDATE sms_challenges SET provider = $2, provider_id = $3 WHERE id = $1",
		id, cmp.Or(receipt.Provider, "unknown"), receipt.MessageID); err != nil {
		return nil, fmt.Errorf("send code: record the gateway's receipt: %w", err)
	}
	return state, nil
}

// CheckCode checks a code against the challenge of state, which must have been made for the
// same purpose and client. ok is true once per challenge: the code is right, in time, within
// its tries, and this call is the one that marked it used. personID is the challenge's person
// whenever the challenge is known (also when the code is wrong, so that the caller can count
// the failure against the person's factor); reason says why a code was refused.
func (s *Service) CheckCode(ctx context.Context, state []byte, purpose, client, code string) (personID string, ok bool, reason string, err error) {
	hash := stateHash(state)
	now := s.clock.Now()
	var id string
	var mac []byte
	// The try is counted in the UPDATE that allows it, so that concurrent checks cannot try
	// more often than CodeTries between them.
	err = s.db.QueryRow(ctx, `UPDATE sms_challenges SET tries = tries + 1
		WHERE state_hash = $1 AND purpose = $2 AND client = $3 AND provider <> '' AND used_at IS NULL
			AND expires_at > $4 AND tries < $5
		RETURNING id, person_id::text, code_mac`, hash, purpose, client, now, s.codeTries).Scan(&id, &personID, &mac)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.whyNoTry(ctx, hash, purpose, client, now)
	}
	if err != nil {
		return "", false, "", fmt.Errorf("check code: %w", err)
	}
	if len(code) > maxCodeInput {
		code = "" // hostile or pasted by mistake: wrong, without hashing whatever was sent
	}
	if !hmac.Equal(s.codeMAC(hash, normalizeCode(code)), mac) {
		return personID, false, ReasonWrongCode, nil
	}
	tag, err := s.db.Exec(ctx, "UPDATE sms_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL", id, now)
	if err != nil {
		return "", false, "", fmt.Errorf("check code: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return personID, false, ReasonCodeUsed, nil // a concurrent check with the same code won
	}
	return personID, true, "", nil
}

// whyNoTry reads why a challenge allowed no try.
func (s *Service) whyNoTry(ctx context.Context, hash []byte, purpose, client string, now time.Time) (string, bool, string, error) {
	var personID, provider string
	var expires time.Time
	var used *time.Time
	var tries int
	err := s.db.QueryRow(ctx, `SELECT person_id::text, provider, expires_at, used_at, tries FROM sms_challenges
		WHERE state_hash = $1 AND purpose = $2 AND client = $3`, hash, purpose, client).Scan(&personID, &provider, &expires, &used, &tries)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, ReasonUnknownChallenge, nil
	case err != nil:
		return "", false, "", fmt.Errorf("check code: %w", err)
	case provider == "":
		return personID, false, ReasonCodeNotSent, nil
	case used != nil:
		return personID, false, ReasonCodeUsed, nil
	case !now.Before(expires):
		return personID, false, ReasonCodeExpired, nil
	default:
		return personID, false, ReasonTooManyTries, nil
	}
}

// stateHash is what is kept of a state: it is random and long, so a plain hash suffices.
func stateHash(state []byte) []byte {
	h := sha256.Sum256(state)
	return h[:]
}

// codeMAC is the HMAC kept of a code, keyed from the secret box and bound to its challenge: a
// row's MAC copied to another challenge does not match there, and without the key the
// million codes cannot be tried against it.
func (s *Service) codeMAC(stateHash []byte, code string) []byte {
	return s.box.Index(bytes.Join([][]byte{stateHash, []byte(code)}, []byte{0}), codeMACContext)
}

// normalizeCode drops the spaces and dashes a person may type inside a code.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}

// codeText is the SMS: the code first (phones offer to copy it), what it is for, how long it
// works. Swedish within GSM-7 and one part (160 characters).
func codeText(purpose, code string, ttl time.Duration) string {
	what := "fjärråtkomst"
	if purpose == PurposePassword {
		what = "att sätta ditt lösenord i Behörig"
	}
	// Whole minutes, rounded down: the text never promises more time than the code has.
	validity := fmt.Sprintf("%d sekunder", int(ttl/time.Second))
	switch minutes := int(ttl / time.Minute); {
	case minutes == 1:
		validity = "1 minut"
	case minutes > 1:
		validity = fmt.Sprintf("%d minuter", minutes)
	}
	return fmt.Sprintf("%s är din kod för %s. Den gäller i %s. Lämna aldrig ut koden till någon.", code, what, validity)
}

// SMSEnabled tells whether codes can be sent at all (a gateway or the dev outbox is
// configured), so that pages offer SMS only where it works.
func (s *Service) SMSEnabled() bool { return s.sms != nil }
