package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
)

// A login relayed by a gateway, in one or two steps:
//
//   - YubiKey: the password and the key's OTP typed together in one field. The OTP is
//     checked (yubikey.go's rules, in the statement that reads the login's subject), then
//     the password with a bind as the person: Accept or Reject.
//   - SMS: the password alone. Once it is right, a code goes to the factor's mobile and the
//     answer is a Challenge with a State; the gateway's second request carries the code and
//     that State: Accept or Reject.
//
// Before any of that, the person must have an active remote-access grant and a live factor
// that is not locked: otherwise the login is refused without asking the directory, so that
// a locked factor is not a way to go on guessing the password. A wrong password, OTP or code
// counts a failure on the factor tried; at MaxFailures the factor locks, and only IT's
// unlock (factors.go) opens it again; an accepted login sets the count back to zero.
//
// The gateway learns nothing from a refusal: every cause gets the same Reject, but one. When
// the password was right and no SMS gateway took the code, the Reject says that the code
// could not be sent (the issue asks for it): the person then waits instead of retyping a
// password they would believe wrong, and someone who only guessed the password still lacks
// the phone. The cause is in the audit event that every attempt makes (who, gateway, factor,
// result, reason; never the password, OTP or code).

// Login outcomes.
const (
	LoginRejected   = "reject"
	LoginAccepted   = "accept"
	LoginChallenged = "challenge"
)

// Reasons a login was refused, for the audit log, beside those of a YubiKey's OTP
// (yubikey.go) and CheckCode, which it passes on.
const (
	ReasonUnknownUser     = "unknown_user"     // no account has this username
	ReasonAccountDisabled = "account_disabled" // the account is not active (terminated)
	ReasonNoGrant         = "no_grant"         // no active remote-access grant now
	ReasonNoFactor        = "no_factor"        // no live factor of the kind the login needs
	ReasonOTPMissing      = "otp_missing"      // only a YubiKey, and no OTP after the password
	ReasonWrongPassword   = "wrong_password"
	ReasonDirectory       = "directory_unavailable" // the password could not be checked
	ReasonSMSUnavailable  = "sms_unavailable"       // no gateway took the code
	ReasonTooManyCodes    = "too_many_codes"        // the person's SMS limit for the hour
	// ReasonOtherPerson: the State names a challenge made for another person.
	ReasonOtherPerson = "challenge_of_another_person"
)

// maxSession bounds an accepted session whose grant has no end: the gateway asks again
// after a working day rather than never.
const maxSession = 12 * time.Hour

// challengePrompt is shown by the gateway beside the field for the code.
const challengePrompt = "Ange koden från SMS:et"

// rejectMessage is the answer to every refusal but one: smsUnavailableMessage.
const (
	rejectMessage         = "Inloggningen misslyckades"
	smsUnavailableMessage = "Koden kunde inte skickas med SMS just nu. Försök igen om en stund."
)

// LoginAttempt is one request a gateway relays.
type LoginAttempt struct {
	// Client is the gateway's configured name; NAS what it says of itself (NAS-Identifier
	// or NAS-IP-Address), for the audit log.
	Client string
	NAS    string
	// Username is what the person typed as the username.
	Username string
	// Password is the password, the password followed by a YubiKey OTP, or (with State) the
	// SMS code. It is never logged or audited.
	Password string
	// State is the challenge's State when this answers one.
	State []byte
}

// LoginResult is the answer for the gateway.
type LoginResult struct {
	Outcome string // LoginAccepted, LoginRejected or LoginChallenged
	// Message is shown to the person: the challenge's prompt, or the one refusal text.
	Message string
	// State goes with a challenge.
	State []byte
	// SessionTimeout ends an accepted session no later than the grant (and maxSession).
	SessionTimeout time.Duration
}

// loginSubject is what the login is about, read in one query: the person behind the
// username, the end of their remote-access grant, and their live factors.
type loginSubject struct {
	personID, dn, accountState string
	hasGrant, openEnded        bool
	grantEnds                  *time.Time
	sms, yubikey               *factorState
	publicID                   string // of the person's key, to find its OTP in the password
	// eventID is the id of the login's audit event, taken in the same query (audit.NextID):
	// the record needs no round trip of its own for it.
	eventID int64
	// otp is what the same query did with the login's YubiKey OTP.
	otp otpClaim
}

// otpClaim is what the read of a login's subject did with an OTP of the person's key:
// tried, it counted the try (claimed, unless the tries were all taken) and accepted the OTP
// when its (counter, use) was above the key's last (accepted).
type otpClaim struct {
	// wanted: the login would have its OTP claimed, but another login of the same factor
	// had the statement's one claim (tried false); it runs again.
	wanted, tried, claimed, accepted bool
}

type factorState struct {
	id     string
	mobile string
	locked bool
}

// attempt is what the audit event of a login records.
type attempt struct {
	LoginAttempt
	subject *loginSubject
	factor  *factorState
	kind    string
	// count tells that the refusal was a wrong secret (password, OTP, code), which counts
	// against the factor.
	count bool
	// claimed tells that the attempt's try was counted before its secret was checked
	// (claimAttempt): finish only locks on a wrong secret, and gives the try back otherwise.
	claimed bool
}

// Login decides a gateway's request.
func (s *Service) Login(ctx context.Context, a LoginAttempt) (LoginResult, error) {
	a.Username = strings.ToLower(strings.TrimSpace(a.Username))
	// The gateway relays what was typed, bytes and all. A username with a control character
	// or no UTF-8 names no account (and PostgreSQL refuses it as text): it is an unknown
	// user, audited with those bytes replaced, as is a NAS-Identifier that has them.
	typedName := a.Username
	a.Username, a.NAS = printable(a.Username), printable(a.NAS)
	at := &attempt{LoginAttempt: a}
	if typedName != a.Username {
		// Also: the account is read in one query with other logins' (loginSubject), and a
		// username PostgreSQL refuses would fail theirs too.
		return s.finish(ctx, at, LoginRejected, ReasonUnknownUser)
	}
	var typed *typedOTP
	if a.State == nil { // a challenge's answer is an SMS code
		typed = s.keys.typed(a.Password)
	}
	return s.decide(ctx, at, typed, false)
}

// decide decides a login once its username is known to be text. typed is the YubiKey OTP
// at the end of the password when this process knows the key: the read of the subject then
// also counts the try and accepts the OTP, in the same statement. reread tells that the
// subject is read a second time, once the key was opened for a first login with it.
func (s *Service) decide(ctx context.Context, at *attempt, typed *typedOTP, reread bool) (LoginResult, error) {
	subject, err := s.loginSubject(ctx, at.Username, typed)
	if err != nil {
		return LoginResult{}, err
	}
	// A reread starts again: what the first read chose is not this one's.
	at.subject, at.factor, at.kind = subject, nil, ""
	switch {
	case subject == nil:
		return s.finish(ctx, at, LoginRejected, ReasonUnknownUser)
	case subject.accountState != "active" || subject.dn == "":
		return s.finish(ctx, at, LoginRejected, ReasonAccountDisabled)
	case !subject.hasGrant:
		return s.finish(ctx, at, LoginRejected, ReasonNoGrant)
	}
	if at.State != nil {
		return s.answerChallenge(ctx, at)
	}
	password, otp, found := splitOTP(at.Password, subject.publicID)
	switch {
	case subject.yubikey != nil && found:
		at.factor, at.kind = subject.yubikey, FactorYubiKey
	case subject.sms != nil:
		at.factor, at.kind = subject.sms, FactorSMS
	case subject.yubikey != nil:
		at.kind = FactorYubiKey
		return s.finish(ctx, at, LoginRejected, ReasonOTPMissing)
	default:
		return s.finish(ctx, at, LoginRejected, ReasonNoFactor)
	}
	if at.factor.locked {
		return s.finish(ctx, at, LoginRejected, ReasonFactorLocked)
	}
	// The attempt is counted before its secret is checked and given back when it was no
	// wrong secret: attempts sent at once cannot all read "not locked" and each try a
	// password, so a burst gets no more tries than MaxFailures. A YubiKey's try is counted
	// in the statement that accepts its OTP, which runs only once the try is taken.
	var (
		claimed   bool
		otpReason string
	)
	switch {
	case at.kind == FactorYubiKey && subject.otp.tried:
		claimed, otpReason, err = s.claimedYubiKey(ctx, at)
	case at.kind == FactorYubiKey && !reread:
		// The first login with the key since this process started (or an OTP that is not
		// the key's): open it, then read again to claim the try with the OTP.
		// err is decide's, not one of this case's own: the count's error below must reach
		// the check after the switch, or a failed count answers as a locked factor.
		var (
			key    openedKey
			tok    yubiotp.Token
			reason string
		)
		key, tok, reason, err = s.openOTP(ctx, subject.personID, otp)
		switch {
		case err != nil:
			return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
		case reason == ReasonFactorLocked:
			return s.finish(ctx, at, LoginRejected, reason)
		case reason == "":
			return s.decide(ctx, at, &typedOTP{publicID: key.publicID, token: tok}, true)
		}
		// Not this key's OTP: a try like a wrong password.
		claimed, err = s.claimAttempt(ctx, at.factor.id)
		otpReason = reason
	case at.kind == FactorYubiKey:
		// The person's key changed hands between the two reads.
		claimed, err = s.claimAttempt(ctx, at.factor.id)
		otpReason = ReasonUnknownKey
	default:
		claimed, err = s.claimAttempt(ctx, at.factor.id)
	}
	if err != nil {
		if claimed {
			s.giveBack(ctx, at)
		}
		return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
	}
	if !claimed {
		return s.finish(ctx, at, LoginRejected, ReasonFactorLocked)
	}
	at.claimed = true
	res, err := s.checkSecrets(ctx, at, password, otpReason)
	if err != nil && !at.count {
		// Nothing was recorded: the try goes back.
		s.giveBack(ctx, at)
	}
	return res, err
}

// giveBack returns a claimed try whose attempt ended in an error, before anything was
// recorded.
func (s *Service) giveBack(ctx context.Context, at *attempt) {
	dctx, cancel := detached(ctx)
	defer cancel()
	if _, err := s.db.Exec(dctx, "UPDATE authenticators SET failures = greatest(failures - 1, 0) WHERE id = $1",
		at.factor.id); err != nil {
		s.log.WarnContext(ctx, "remote access: give back a login's try", "user", at.Username, "err", err)
	}
}

// detachedTimeout bounds the writes that outlive their request (detached).
var detachedTimeout = 10 * time.Second

// detached is ctx without its end, for a write that must be made even when the request gave
// up, yet bounded: a hung database fails it instead of holding the request's goroutine, and
// the RADIUS server's slot for it, for ever.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
}

// checkSecrets checks a first request's secrets once its try is counted: the password
// once the YubiKey's OTP was accepted (otpReason empty) or refused (otpReason says why), or
// the password and then an SMS code is sent.
func (s *Service) checkSecrets(ctx context.Context, at *attempt, password, otpReason string) (LoginResult, error) {
	subject := at.subject
	if otpReason != "" {
		// The OTP is checked first, without the directory, so that someone without the key
		// never reaches a bind, nor the directory's own count of bad passwords (which would
		// lock the person out of everything). An OTP used with a wrong password is spent;
		// the key makes another.
		at.count = otpReason != ReasonFactorLocked
		return s.finish(ctx, at, LoginRejected, otpReason)
	}
	bindCtx, cancel := context.WithTimeout(ctx, s.pwTimeout)
	right, err := s.dir.CheckPassword(bindCtx, subject.dn, password)
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "remote access: check a password", "user", at.Username, "err", err)
		return s.finish(ctx, at, LoginRejected, ReasonDirectory)
	}
	if !right {
		at.count = true
		return s.finish(ctx, at, LoginRejected, ReasonWrongPassword)
	}
	if at.kind == FactorYubiKey {
		return s.finish(ctx, at, LoginAccepted, "")
	}
	state, err := s.SendCode(ctx, subject.personID, subject.sms.mobile, PurposeRADIUS, at.Client)
	switch {
	case errors.Is(err, ErrTooManyCodes):
		return s.finish(ctx, at, LoginRejected, ReasonTooManyCodes)
	case errors.Is(err, connectors.ErrSMSUnavailable):
		s.log.WarnContext(ctx, "remote access: no SMS gateway took a code", "user", at.Username, "err", err)
		return s.finish(ctx, at, LoginRejected, ReasonSMSUnavailable)
	case err != nil:
		return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
	}
	res, err := s.finish(ctx, at, LoginChallenged, "")
	res.State = state
	return res, err
}

// answerChallenge checks the code that answers an SMS challenge.
func (s *Service) answerChallenge(ctx context.Context, at *attempt) (LoginResult, error) {
	at.kind = FactorSMS
	at.factor = at.subject.sms
	switch {
	case at.factor == nil:
		return s.finish(ctx, at, LoginRejected, ReasonNoFactor)
	case at.factor.locked:
		return s.finish(ctx, at, LoginRejected, ReasonFactorLocked)
	}
	personID, ok, reason, err := s.CheckCode(ctx, at.State, PurposeRADIUS, at.Client, at.Password)
	switch {
	case err != nil:
		return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
	case personID != "" && personID != at.subject.personID:
		return s.finish(ctx, at, LoginRejected, ReasonOtherPerson)
	case !ok:
		// A wrong code is a guess; an expired, used or unknown challenge is a slow person or
		// a gateway's retry.
		at.count = reason == ReasonWrongCode || reason == ReasonTooManyTries
		return s.finish(ctx, at, LoginRejected, reason)
	}
	return s.finish(ctx, at, LoginAccepted, "")
}

// claimAttempt counts a try against the factor before its secret is checked; false when
// the factor is locked, or its remaining tries are all taken. Then the factor is locked if
// it was not: the tries are taken by attempts in flight (a burst, which the lock stops
// sooner) or left by a process killed while it checked them, and either way IT must see
// the lock to lift it.
func (s *Service) claimAttempt(ctx context.Context, factorID string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE authenticators SET failures = failures + 1
		WHERE id = $1 AND revoked_at IS NULL AND locked_at IS NULL AND failures < $2`, factorID, s.maxFailures)
	if err != nil {
		return false, fmt.Errorf("count the try: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	return false, s.lockExhausted(ctx, factorID)
}

// lockExhausted locks the factor when its tries are all taken (claimAttempt).
func (s *Service) lockExhausted(ctx context.Context, factorID string) error {
	if _, err := s.db.Exec(ctx, `UPDATE authenticators SET locked_at = $3
		WHERE id = $1 AND revoked_at IS NULL AND locked_at IS NULL AND failures >= $2`, factorID, s.maxFailures, s.clock.Now()); err != nil {
		return fmt.Errorf("lock the factor: %w", err)
	}
	return nil
}

// claimedYubiKey gives what the subject's read did with the login's OTP (otpClaim): claimed
// false when the factor's tries were all taken (it is locked then, as claimAttempt locks);
// reason names an OTP refused (the try is claimed then).
func (s *Service) claimedYubiKey(ctx context.Context, at *attempt) (claimed bool, reason string, err error) {
	switch c := at.subject.otp; {
	case !c.claimed:
		return false, "", s.lockExhausted(ctx, at.factor.id)
	case c.accepted:
		return true, "", nil
	}
	_, reason, err = s.rejection(ctx, at.subject.personID, at.subject.publicID, ReasonReplayed)
	return true, reason, err
}

// printable replaces what is not UTF-8 and the control characters (NUL among them) with
// U+FFFD, so that a value typed at a gateway can be looked up and audited as text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// splitOTP finds a YubiKey OTP at the end of what was typed: the key's public id and 32
// modhex characters (the key types lower case; caps lock makes it upper). Without a key, or
// when the end is no OTP of it, the whole is the password.
func splitOTP(typed, publicID string) (password, otp string, found bool) {
	n := len(publicID) + 32
	if publicID == "" || len(typed) < n {
		return typed, "", false
	}
	tail := strings.ToLower(typed[len(typed)-n:])
	if !strings.HasPrefix(tail, publicID) || strings.Trim(tail, "cbdefghijklnrtuv") != "" {
		return typed, "", false
	}
	return typed[:len(typed)-n], tail, true
}

// loginSubject reads the person behind username with their grant and factors; nil when no
// account has the username. With typed, the OTP of a key this process knows, the same
// statement counts the try and accepts the OTP when the key is the person's and the login
// would go on to check it (subject.otp). The logins that ask at the same time are read in
// one query (group.go, newSubjectReader).
func (s *Service) loginSubject(ctx context.Context, username string, typed *typedOTP) (*loginSubject, error) {
	sub, err := s.subjects.do(ctx, subjectQuery{username: username, otp: typed})
	if err != nil {
		return nil, fmt.Errorf("login: read the account %q: %w", username, err)
	}
	return sub, nil
}

// subjectQuery is one login's part of the subjects' read.
type subjectQuery struct {
	username string
	otp      *typedOTP
}

// subjectsSQL reads the subjects of the logins $1, each with the id of its audit event
// (audit.NextID), and claims the tries of those that typed an OTP ($3: the key's public id,
// $4 and $5 the OTP's counter and use) the way claimAttempt claims one: a try counted while
// fewer than $6 are, and in the same statement the key's (counter, use) moved when the OTP's
// is greater, PostgreSQL's row comparison on the row's newest version. An OTP is claimed
// only when the login goes on to check it: the account active, the grant live at $2, the
// key the person's with a live factor that is not locked (decide's order). The factors are
// locked in the order of their ids, so that two reads at once cannot deadlock, and a factor
// is claimed once per statement (DISTINCT ON): its other logins run again (group.again).
const subjectsSQL = `WITH s AS MATERIALIZED (
		SELECT u.n, u.public_id AS typed_key, u.counter, u.use, s.*
		FROM unnest($1::text[], $3::text[], $4::int[], $5::int[]) WITH ORDINALITY AS u(username, public_id, counter, use, n)
		CROSS JOIN LATERAL (SELECT a.person_id, a.dn, a.state, g.live > 0 AS has_grant, g.open_ended, g.ends_at,
				sf.id AS sms_id, sf.mobile, sf.locked_at IS NOT NULL AS sms_locked,
				yf.id AS yf_id, y.id AS key_id, y.public_id, yf.locked_at IS NOT NULL AS yf_locked, ` + audit.NextID + ` AS event_id
			FROM accounts a
			CROSS JOIN LATERAL (SELECT count(*) AS live, bool_or(g.ends_at IS NULL) AS open_ended, max(g.ends_at) AS ends_at
				FROM grants g JOIN systems sy ON sy.id = g.system_id
				WHERE g.person_id = a.person_id AND sy.remote_access AND g.state = 'active'
					AND g.starts_at <= $2 AND (g.ends_at IS NULL OR g.ends_at > $2)) g
			LEFT JOIN authenticators sf ON sf.person_id = a.person_id AND sf.kind = 'sms' AND sf.revoked_at IS NULL
			LEFT JOIN authenticators yf ON yf.person_id = a.person_id AND yf.kind = 'yubikey' AND yf.revoked_at IS NULL
			LEFT JOIN yubikeys y ON y.id = yf.yubikey_id
			WHERE a.username = u.username
			ORDER BY a.state = 'active' DESC LIMIT 1) s
	), w AS (
		SELECT s.*, coalesce(typed_key = public_id AND state = 'active' AND dn <> '' AND has_grant AND NOT yf_locked, false) AS wanted
		FROM s
	), tried AS (
		SELECT DISTINCT ON (yf_id) n, yf_id, key_id, person_id, counter, use FROM w WHERE wanted ORDER BY yf_id, n
	), held AS MATERIALIZED (
		SELECT f.id FROM authenticators f WHERE f.id IN (SELECT yf_id FROM tried) ORDER BY f.id FOR NO KEY UPDATE
	), claimed AS (
		UPDATE authenticators f SET failures = f.failures + 1
		FROM tried t JOIN held h ON h.id = t.yf_id
		WHERE f.id = t.yf_id AND f.revoked_at IS NULL AND f.locked_at IS NULL AND f.failures < $6
		RETURNING t.n, f.yubikey_id, f.person_id, f.kind
	), accepted AS (
		UPDATE yubikeys y SET last_counter = t.counter, last_use = t.use
		FROM tried t JOIN claimed c ON c.n = t.n
		WHERE y.id = t.key_id AND c.yubikey_id = y.id AND c.person_id = t.person_id AND c.kind = 'yubikey'
			AND y.person_id = t.person_id AND y.state = 'handed_out' AND (y.last_counter, y.last_use) < (t.counter, t.use)
		RETURNING t.n
	)
	SELECT w.n, w.person_id::text, w.dn, w.state, w.has_grant, w.open_ended, w.ends_at, w.sms_id::text, w.mobile, w.sms_locked,
		w.yf_id::text, w.public_id, w.yf_locked, w.event_id, w.wanted,
		w.n IN (SELECT n FROM tried), w.n IN (SELECT n FROM claimed), w.n IN (SELECT n FROM accepted)
	FROM w`

// newSubjectReader returns the group that reads logins' subjects on db (subjectsSQL): one
// row per username that names an account (the active one first).
func newSubjectReader(db *pgxpool.Pool, clock Clock, maxFailures int) *group[subjectQuery, *loginSubject] {
	return &group[subjectQuery, *loginSubject]{what: "read the accounts", maxRuns: 2, maxBatch: 256, timeout: 10 * time.Second,
		// A login whose OTP would have been claimed but for another login of the same factor
		// in the statement runs again, in the next one.
		again: func(sub *loginSubject) bool { return sub != nil && sub.otp.wanted && !sub.otp.tried },
		run: func(ctx context.Context, queries []subjectQuery) ([]*loginSubject, error) {
			n := len(queries)
			usernames, keys := make([]string, n), make([]*string, n)
			counters, uses := make([]*int32, n), make([]*int32, n)
			for i, q := range queries {
				usernames[i] = q.username
				if q.otp != nil {
					counter, use := int32(q.otp.token.Counter), int32(q.otp.token.Use)
					keys[i], counters[i], uses[i] = &q.otp.publicID, &counter, &use
				}
			}
			rows, err := db.Query(ctx, subjectsSQL, usernames, clock.Now(), keys, counters, uses, maxFailures)
			if err != nil {
				return nil, err
			}
			subjects := make([]*loginSubject, n)
			var sub loginSubject
			var i int
			var smsID, smsMobile, ykID, publicID *string
			var smsLocked, ykLocked, openEnded *bool
			_, err = pgx.ForEachRow(rows, []any{&i, &sub.personID, &sub.dn, &sub.accountState, &sub.hasGrant, &openEnded,
				&sub.grantEnds, &smsID, &smsMobile, &smsLocked, &ykID, &publicID, &ykLocked, &sub.eventID,
				&sub.otp.wanted, &sub.otp.tried, &sub.otp.claimed, &sub.otp.accepted}, func() error {
				if i < 1 || i > n {
					return fmt.Errorf("row %d of %d", i, n)
				}
				s := sub
				// The next row's scan must not write through this row's pointer.
				sub.grantEnds = nil
				s.openEnded = openEnded != nil && *openEnded
				if smsID != nil {
					s.sms = &factorState{id: *smsID, mobile: *smsMobile, locked: *smsLocked}
				}
				if ykID != nil {
					s.yubikey = &factorState{id: *ykID, locked: *ykLocked}
					if publicID != nil {
						s.publicID = *publicID
					}
				}
				subjects[i-1] = &s
				return nil
			})
			if err != nil {
				return nil, err
			}
			return subjects, nil
		}}
}

// finish records the attempt and answers: an accepted login's event and its count back to
// zero go with the other logins accepted meanwhile (record.go); any other outcome is one
// short transaction with the audit event and the factor's count (a failure counted, locking
// at MaxFailures, which the event names; or a try given back). Either way the answer leaves
// only once the record is committed.
func (s *Service) finish(ctx context.Context, at *attempt, outcome, reason string) (LoginResult, error) {
	now := s.clock.Now()
	if outcome == LoginAccepted && at.subject.session(now) < time.Second {
		// The grant ended (or has less than the one second a Session-Timeout can say) while
		// the login was checked: an Accept now would carry no Session-Timeout, a session
		// without end.
		outcome, reason = LoginRejected, ReasonNoGrant
	}
	data := map[string]any{"username": at.Username, "client": at.Client, "result": outcome}
	if at.NAS != "" {
		data["nas"] = at.NAS
	}
	if at.kind != "" {
		data["factor"] = at.kind
	}
	if reason != "" {
		data["reason"] = reason
	}
	var personID string
	var eventID int64
	if at.subject != nil {
		personID, eventID = at.subject.personID, at.subject.eventID
	}
	event := audit.Event{At: now, Actor: "radius:" + at.Client, Action: "remote_access.login", PersonID: personID, Data: data}
	if outcome == LoginAccepted && at.factor != nil && eventID != 0 {
		// The hot path: recorded together with the other logins accepted meanwhile.
		kept, err := s.accepts.do(ctx, acceptRecord{factorID: at.factor.id, eventID: eventID, event: event})
		if err != nil {
			return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
		}
		if !kept { // the factor was revoked while the login was checked; recorded as a Reject
			return LoginResult{Outcome: LoginRejected, Message: rejectMessage}, nil
		}
		return LoginResult{Outcome: outcome, SessionTimeout: at.subject.session(now)}, nil
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		switch {
		case at.factor != nil && at.count && at.claimed:
			var failures int
			var locked bool
			err := tx.QueryRow(ctx, `UPDATE authenticators SET locked_at = CASE WHEN failures >= $2 THEN $3::timestamptz END
				WHERE id = $1 AND revoked_at IS NULL AND locked_at IS NULL
				RETURNING failures, locked_at IS NOT NULL`, at.factor.id, s.maxFailures, now).Scan(&failures, &locked)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no row: locked or revoked meanwhile
				return fmt.Errorf("count a failure: %w", err)
			}
			data["failures"] = failures
			if locked {
				data["locked"] = true
			}
		case at.factor != nil && at.count:
			var failures int
			var locked bool
			err := tx.QueryRow(ctx, `UPDATE authenticators SET failures = failures + 1,
					locked_at = CASE WHEN failures + 1 >= $2 THEN $3::timestamptz END
				WHERE id = $1 AND revoked_at IS NULL AND locked_at IS NULL
				RETURNING failures, locked_at IS NOT NULL`, at.factor.id, s.maxFailures, now).Scan(&failures, &locked)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no row: locked or revoked meanwhile
				return fmt.Errorf("count a failure: %w", err)
			}
			data["failures"] = failures
			if locked {
				data["locked"] = true
			}
		case at.factor != nil && outcome == LoginAccepted:
			// As a group commit does (record.go): a factor revoked meanwhile makes a Reject.
			err := tx.QueryRow(ctx, "UPDATE authenticators SET failures = 0 WHERE id = $1 AND revoked_at IS NULL RETURNING id",
				at.factor.id).Scan(new(string))
			if errors.Is(err, pgx.ErrNoRows) {
				outcome, reason = LoginRejected, ReasonNoFactor
				data["result"], data["reason"] = outcome, reason
				err = nil
			}
			if err != nil {
				return fmt.Errorf("reset the failures: %w", err)
			}
		case at.claimed:
			// A right password (the challenge follows) or a refusal that was no wrong secret.
			if _, err := tx.Exec(ctx, "UPDATE authenticators SET failures = greatest(failures - 1, 0) WHERE id = $1 AND locked_at IS NULL",
				at.factor.id); err != nil {
				return fmt.Errorf("give back the try: %w", err)
			}
		}
		if eventID != 0 {
			return s.audit.AppendWithID(ctx, tx, eventID, event)
		}
		return s.audit.Append(ctx, tx, event)
	})
	if err != nil {
		return LoginResult{}, fmt.Errorf("login of %s: %w", at.Username, err)
	}
	if data["locked"] == true {
		s.log.WarnContext(ctx, "remote access: factor locked after repeated failures", "user", at.Username, "factor", at.kind)
	}
	switch outcome {
	case LoginAccepted:
		return LoginResult{Outcome: outcome, SessionTimeout: at.subject.session(now)}, nil
	case LoginChallenged:
		return LoginResult{Outcome: outcome, Message: challengePrompt}, nil
	}
	if reason == ReasonSMSUnavailable {
		return LoginResult{Outcome: LoginRejected, Message: smsUnavailableMessage}, nil
	}
	return LoginResult{Outcome: LoginRejected, Message: rejectMessage}, nil
}

// session is how long an accepted session may last: until the grant ends, at most
// maxSession.
func (sub *loginSubject) session(now time.Time) time.Duration {
	if sub.openEnded || sub.grantEnds == nil {
		return maxSession
	}
	return min(sub.grantEnds.Sub(now), maxSession)
}
