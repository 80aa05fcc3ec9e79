// Package session keeps browser sessions and sign-ins under way in PostgreSQL. The cookie
// holds a random id; the database holds only its SHA-256, so a copy of the table opens no
// session. Sessions end after an idle and an absolute timeout, and a new id is issued at
// every sign-in.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/oidc"
	"github.com/behorig/behorig/internal/secret"
)

// ErrNoSession means the request carries no live session.
var ErrNoSession = errors.New("no session")

// attemptLifetime bounds how long a user may take at the IdP.
const attemptLifetime = 10 * time.Minute

// idTokenContext binds sealed ID tokens to this use of the key.
const idTokenContext = "sessions.id_token"

// touchEvery limits writes: last_seen_at moves at most once a minute per session.
const touchEvery = time.Minute

// Config sets the timeouts and cookies.
type Config struct {
	Idle, Absolute time.Duration
	// Secure sets the Secure attribute and the __Host- prefix; off only for http on localhost.
	Secure bool
	// Box seals the ID tokens kept for logout.
	Box *secret.Box
	Now func() time.Time // default time.Now
}

// Store is the session store.
type Store struct {
	db  *pgxpool.Pool
	cfg Config
}

// New returns a store. Zero timeouts would end every session at once, so they are refused.
func New(db *pgxpool.Pool, cfg Config) (*Store, error) {
	if cfg.Idle <= 0 || cfg.Absolute <= 0 {
		return nil, fmt.Errorf("sessions: idle (%s) and absolute (%s) timeouts must be positive", cfg.Idle, cfg.Absolute)
	}
	if cfg.Box == nil {
		return nil, errors.New("sessions: a secret box is required to seal ID tokens")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{db: db, cfg: cfg}, nil
}

// Session is a live session.
type Session struct {
	PrincipalID string
	IdP         string
	IDToken     string // only from End, for logging out at the IdP
	CreatedAt   time.Time
}

// CookieName is the session cookie's name: __Host- binds it to this host and path / over
// https; plain http on localhost in dev cannot use the prefix.
func (s *Store) CookieName() string {
	if s.cfg.Secure {
		return "__Host-behorig"
	}
	return "behorig"
}

func (s *Store) attemptCookie() string {
	if s.cfg.Secure {
		return "__Host-behorig-signin"
	}
	return "behorig-signin"
}

func hash(v string) []byte {
	sum := sha256.Sum256([]byte(v))
	return sum[:]
}

// SaveAttempt keeps a sign-in under way and binds it to this browser with a short cookie, so
// that a callback with another browser's state is refused.
func (s *Store) SaveAttempt(ctx context.Context, w http.ResponseWriter, a oidc.Attempt, returnTo string) error {
	now := s.cfg.Now()
	if _, err := s.db.Exec(ctx, "DELETE FROM oidc_logins WHERE created_at < $1", now.Add(-attemptLifetime)); err != nil {
		return fmt.Errorf("expire sign-ins: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO oidc_logins (state_hash, idp, nonce, verifier, return_to, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, hash(a.State), a.IdP, a.Nonce, a.Verifier, returnTo, now); err != nil {
		return fmt.Errorf("save sign-in: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: s.attemptCookie(), Value: a.State, Path: "/", MaxAge: int(attemptLifetime.Seconds()),
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// ErrBadState means the callback's state is missing, unknown, used, expired, for another
// IdP, or not this browser's.
var ErrBadState = errors.New("the sign-in is unknown, used, expired or from another browser")

// TakeAttempt returns the sign-in the callback's state names and forgets it, so a replayed
// callback finds nothing.
func (s *Store) TakeAttempt(ctx context.Context, w http.ResponseWriter, r *http.Request, idp string) (oidc.Attempt, string, error) {
	state := r.URL.Query().Get("state")
	cookie, err := r.Cookie(s.attemptCookie())
	http.SetCookie(w, &http.Cookie{Name: s.attemptCookie(), Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteLaxMode})
	if state == "" || err != nil || cookie.Value != state {
		return oidc.Attempt{}, "", ErrBadState
	}
	a := oidc.Attempt{State: state}
	var returnTo string
	var created time.Time
	err = s.db.QueryRow(ctx, `DELETE FROM oidc_logins WHERE state_hash = $1
		RETURNING idp, nonce, verifier, return_to, created_at`, hash(state)).Scan(&a.IdP, &a.Nonce, &a.Verifier, &returnTo, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return oidc.Attempt{}, "", ErrBadState
	}
	if err != nil {
		return oidc.Attempt{}, "", fmt.Errorf("take sign-in: %w", err)
	}
	if a.IdP != idp || s.cfg.Now().Sub(created) > attemptLifetime {
		return oidc.Attempt{}, "", ErrBadState
	}
	return a, returnTo, nil
}

// Start creates a session for the principal with a new id and sets the cookie. A session the
// browser already had is ended, so the id changes at every sign-in.
func (s *Store) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, principalID, idp, idToken string) error {
	if c, err := r.Cookie(s.CookieName()); err == nil {
		if _, err := s.db.Exec(ctx, "DELETE FROM sessions WHERE id_hash = $1", hash(c.Value)); err != nil {
			return fmt.Errorf("end previous session: %w", err)
		}
	}
	id := rand.Text() + rand.Text() // 52 base32 characters, 260 bits
	now := s.cfg.Now()
	var sealed []byte
	if idToken != "" {
		sealed = s.cfg.Box.Seal([]byte(idToken), idTokenContext)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO sessions (id_hash, principal_id, idp, id_token_sealed, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, hash(id), principalID, idp, sealed, now); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: s.CookieName(), Value: id, Path: "/", HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteLaxMode})
	return nil
}

// Lookup returns the request's live session and marks it used. A session past its idle or
// absolute timeout is deleted and ErrNoSession returned.
func (s *Store) Lookup(ctx context.Context, r *http.Request) (Session, error) {
	c, err := r.Cookie(s.CookieName())
	if err != nil || c.Value == "" {
		return Session{}, ErrNoSession
	}
	var sess Session
	var lastSeen time.Time
	err = s.db.QueryRow(ctx, `SELECT principal_id::text, idp, created_at, last_seen_at FROM sessions WHERE id_hash = $1`,
		hash(c.Value)).Scan(&sess.PrincipalID, &sess.IdP, &sess.CreatedAt, &lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("look up session: %w", err)
	}
	now := s.cfg.Now()
	if now.Sub(lastSeen) > s.cfg.Idle || now.Sub(sess.CreatedAt) > s.cfg.Absolute {
		if _, err := s.db.Exec(ctx, "DELETE FROM sessions WHERE id_hash = $1", hash(c.Value)); err != nil {
			return Session{}, fmt.Errorf("end expired session: %w", err)
		}
		return Session{}, ErrNoSession
	}
	if now.Sub(lastSeen) > touchEvery {
		if _, err := s.db.Exec(ctx, "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1", hash(c.Value), now); err != nil {
			return Session{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return sess, nil
}

// End deletes the request's session and clears the cookie; it returns the session that was
// ended, for logging out at the IdP too.
func (s *Store) End(ctx context.Context, w http.ResponseWriter, r *http.Request) (Session, error) {
	http.SetCookie(w, &http.Cookie{Name: s.CookieName(), Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteLaxMode})
	c, err := r.Cookie(s.CookieName())
	if err != nil {
		return Session{}, ErrNoSession
	}
	var sess Session
	var sealed []byte
	err = s.db.QueryRow(ctx, `DELETE FROM sessions WHERE id_hash = $1 RETURNING principal_id::text, idp, id_token_sealed, created_at`,
		hash(c.Value)).Scan(&sess.PrincipalID, &sess.IdP, &sealed, &sess.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("end session: %w", err)
	}
	if sealed != nil {
		token, err := s.cfg.Box.Open(sealed, idTokenContext)
		if err != nil {
			return Session{}, fmt.Errorf("open the ID token of the session: %w", err)
		}
		sess.IDToken = string(token)
	}
	return sess, nil
}

// Sweep deletes sessions past their timeouts and sign-ins never finished. Lookup refuses
// them anyway; this keeps the tables small.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	now := s.cfg.Now()
	tag, err := s.db.Exec(ctx, "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2",
		now.Add(-s.cfg.Idle), now.Add(-s.cfg.Absolute))
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	if _, err := s.db.Exec(ctx, "DELETE FROM oidc_logins WHERE created_at < $1", now.Add(-attemptLifetime)); err != nil {
		return 0, fmt.Errorf("sweep sign-ins: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SafeReturn keeps a return-to path on this site: it must start with one slash and hold no
// backslash, because browsers read "/\\host" as "//host", and http.Redirect's path cleaning
// can turn "/x/../\\host" into exactly that. Anything else becomes "/".
func SafeReturn(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return p
}
