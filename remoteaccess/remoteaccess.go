// Package remoteaccess decides who may work remotely: it checks a login that a VPN or Citrix
// gateway relays over RADIUS (auth/radius), keeps the persons' second factors (an SMS code to
// the registered mobile, or a YubiKey), and locks a factor after repeated failures until IT
// unlocks it. The order of remote access is a request like any other (package provisioning,
// kind remote_access); its grant is what a login checks, so that the factors stop working the
// moment the grant ends.
//
// A login touches only the person's own rows: no system-wide lock, no LDAP write, no job it
// must wait for. The password is checked with an LDAP bind as the person (through
// connectors.Directory, bounded by a timeout), the code is sent through connectors.SMSSender,
// both with no transaction open. Each attempt is an audit event that names who, the gateway,
// the factor, the result and the reason, never the password or the code.
//
// The files by capability: login.go (the decision a RADIUS request gets), yubikey.go (keys:
// import, hand-out, return, and the OTP check with its replay counter), sms.go (codes:
// send, check, rate limits), factors.go (a person's factors, lockout and IT's unlock).
package remoteaccess

import (
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/provisioning"
)

// Clock tells the time. Tests inject one to let codes expire and grants end.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Factor kinds, as the authenticators table spells them.
const (
	FactorSMS     = "sms"
	FactorYubiKey = "yubikey"
)

// Config holds what a Service needs. Zero limits take the defaults of internal/config.
type Config struct {
	DB        *pgxpool.Pool
	Box       *secret.Box
	Audit     *audit.Log
	Directory connectors.Directory
	// SMS sends the codes; nil when no gateway is configured (SMS factors then fail with a
	// message that says so).
	SMS connectors.SMSSender
	// CodeTTL is how long an SMS code works (default 5m, at most 10m); CodeTries how often
	// one code may be tried (default 3); SMSPerHour how many codes one person gets in an
	// hour (default 5).
	CodeTTL    time.Duration
	CodeTries  int
	SMSPerHour int
	// MaxFailures locks a factor after this many consecutive failures (default 10, at most
	// 100).
	MaxFailures int
	// PasswordTimeout bounds the LDAP bind that checks a password (default 5s).
	PasswordTimeout time.Duration
	Clock           Clock
	Logger          *slog.Logger
}

// Service is remote access's entry point.
type Service struct {
	db          *pgxpool.Pool
	box         *secret.Box
	audit       *audit.Log
	dir         connectors.Directory
	sms         connectors.SMSSender
	codeTTL     time.Duration
	codeTries   int
	smsPerHour  int
	maxFailures int
	pwTimeout   time.Duration
	clock       Clock
	log         *slog.Logger
	// keys are the YubiKeys' opened secrets (yubikey.go), shared by the copies OnPool makes.
	keys *openedKeys
	// subjects reads logins' subjects together (login.go), and accepts records accepted
	// logins together (record.go), both on db.
	subjects *group[subjectQuery, *loginSubject]
	accepts  *group[acceptRecord, bool]
}

// New checks the config and returns a Service.
func New(c Config) (*Service, error) {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("remoteaccess: DB is required"))
	}
	if c.Box == nil {
		errs = append(errs, errors.New("remoteaccess: Box is required"))
	}
	if c.Audit == nil {
		errs = append(errs, errors.New("remoteaccess: Audit is required"))
	}
	if c.Directory == nil {
		errs = append(errs, errors.New("remoteaccess: Directory is required"))
	}
	if c.CodeTTL > 10*time.Minute {
		errs = append(errs, errors.New("remoteaccess: CodeTTL may be at most 10 minutes"))
	}
	if c.MaxFailures > 100 {
		errs = append(errs, errors.New("remoteaccess: MaxFailures may be at most 100"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{db: c.DB, box: c.Box, audit: c.Audit, dir: c.Directory, sms: c.SMS,
		codeTTL: c.CodeTTL, codeTries: c.CodeTries, smsPerHour: c.SMSPerHour, maxFailures: c.MaxFailures,
		pwTimeout: c.PasswordTimeout, clock: c.Clock, log: c.Logger, keys: newOpenedKeys()}
	if s.codeTTL == 0 {
		s.codeTTL = 5 * time.Minute
	}
	if s.codeTries == 0 {
		s.codeTries = 3
	}
	if s.smsPerHour == 0 {
		s.smsPerHour = 5
	}
	if s.maxFailures == 0 {
		s.maxFailures = 10
	}
	if s.pwTimeout == 0 {
		s.pwTimeout = 5 * time.Second
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.subjects, s.accepts = newSubjectReader(s.db, s.clock, s.maxFailures), newAcceptRecorder(s.db, s.audit)
	return s, nil
}

// OnPool returns the service working on another connection pool, sharing everything else:
// RADIUS gets a pool of its own, so that a burst of logins cannot take the web's connections
// and a burst of page views cannot stall the gateways.
func (s *Service) OnPool(db *pgxpool.Pool) *Service {
	c := *s
	c.db = db
	c.subjects, c.accepts = newSubjectReader(db, s.clock, s.maxFailures), newAcceptRecorder(db, s.audit)
	return &c
}

// Errors the adapters turn into answers: the domain's own, so that one mapping in each
// adapter (web, API) answers both packages alike.
var (
	ErrNotFound  = provisioning.ErrNotFound
	ErrForbidden = provisioning.ErrForbidden
	ErrConflict  = provisioning.ErrConflict
)
