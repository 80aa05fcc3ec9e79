// Package provisioning is behorig's domain: persons, units, the catalog, requests, approvals,
// terms, grants and the state machine that joins them. Every transition is one transaction
// that writes the new state, its audit event and the jobs it causes, so there is never a
// state without its follow-up. It speaks to the outside world only through the interfaces in
// package connectors and the Scheduler below.
package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rickar/cal/v2"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
)

// Clock tells the time. Tests inject one to let dates pass.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Scheduler inserts the durable jobs a transition causes, in the transition's transaction.
// Both are unique per grant (and trigger), so scheduling twice is harmless. A zero time
// means as soon as possible.
type Scheduler interface {
	ScheduleProvision(ctx context.Context, tx pgx.Tx, grantID string, at time.Time) error
	ScheduleRevoke(ctx context.Context, tx pgx.Tx, grantID, trigger string, at time.Time) error
	// ScheduleTermsMail sends the e-mail with a link to sign the terms, once per link.
	ScheduleTermsMail(ctx context.Context, tx pgx.Tx, linkID string) error
	// ScheduleSigningWatch collects a BankID order until it ends (WatchSigning).
	ScheduleSigningWatch(ctx context.Context, tx pgx.Tx, orderRef string) error
	// ScheduleConverge brings the person's directory state to what their grants say, as
	// soon as possible (Converge).
	ScheduleConverge(ctx context.Context, tx pgx.Tx, personID string) error
	// ScheduleNotifications mails the notifications (SendNotification), once each.
	ScheduleNotifications(ctx context.Context, tx pgx.Tx, ids []string) error
	// ScheduleCertificateDeadline cancels the request at the deadline unless a training
	// certificate has been verified by then (CancelWithoutCertificate).
	ScheduleCertificateDeadline(ctx context.Context, tx pgx.Tx, requestID string, at time.Time) error
}

// Config holds what a Service needs.
type Config struct {
	DB  *pgxpool.Pool
	Box *secret.Box
	// Audit appends the audit events of every transition.
	Audit     *audit.Log
	Directory connectors.Directory
	// DirectoryName names the directory in account records. Default "ldap".
	DirectoryName string
	Scheduler     Scheduler
	// Mailer sends the e-mail with the link to sign the terms.
	Mailer connectors.Mailer
	// BankID starts, collects and cancels the orders that sign the terms; nil when BankID is
	// not configured (only the paper form remains).
	BankID connectors.BankID
	// BaseURL is where people reach behorig; links in e-mail start with it.
	BaseURL string
	// TermsLinkTTL is how long a link to sign works. Default 14 days.
	TermsLinkTTL time.Duration
	// ApprovalDigest sends each approver a daily list of the requests waiting for them, at
	// ApprovalDigestAt after midnight (default 07:00), beside the e-mail per request.
	ApprovalDigest   bool
	ApprovalDigestAt time.Duration
	// Location decides when a date begins. Default Europe/Stockholm.
	Location *time.Location
	Clock    Clock
	Logger   *slog.Logger
}

// Service is the domain's entry point.
type Service struct {
	db       *pgxpool.Pool
	box      *secret.Box
	audit    *audit.Log
	dir      connectors.Directory
	dirName  string
	jobs     Scheduler
	loc      *time.Location
	clock    Clock
	workdays *cal.BusinessCalendar
	// workdayCount counts working days between dates from the same calendar.
	workdayCount *workdayTable
	mailer       connectors.Mailer
	bankid       connectors.BankID
	baseURL      string
	linkTTL      time.Duration
	digest       bool
	digestAt     time.Duration
	log          *slog.Logger
}

// New checks the config and returns a Service.
func New(c Config) (*Service, error) {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("provisioning: DB is required"))
	}
	if c.Box == nil {
		errs = append(errs, errors.New("provisioning: Box is required"))
	}
	if c.Audit == nil {
		errs = append(errs, errors.New("provisioning: Audit is required"))
	}
	if c.Directory == nil {
		errs = append(errs, errors.New("provisioning: Directory is required"))
	}
	if c.Scheduler == nil {
		errs = append(errs, errors.New("provisioning: Scheduler is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{db: c.DB, box: c.Box, audit: c.Audit, dir: c.Directory, dirName: c.DirectoryName, jobs: c.Scheduler,
		loc: c.Location, clock: c.Clock, workdays: swedishWorkdays(), log: c.Logger,
		mailer: c.Mailer, bankid: c.BankID, baseURL: strings.TrimRight(c.BaseURL, "/"), linkTTL: c.TermsLinkTTL,
		digest: c.ApprovalDigest, digestAt: c.ApprovalDigestAt}
	if s.digestAt == 0 {
		s.digestAt = defaultDigestAt
	}
	s.workdayCount = newWorkdayTable(s.workdays)
	if s.linkTTL == 0 {
		s.linkTTL = defaultLinkTTL
	}
	if s.dirName == "" {
		s.dirName = "ldap"
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Europe/Stockholm")
		if err != nil {
			return nil, fmt.Errorf("provisioning: load Europe/Stockholm: %w", err)
		}
		s.loc = loc
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// OnPool returns the service working on another connection pool, sharing everything else.
// behorig runs the web on one pool and the jobs on another (the same Service, OnPool), so
// that jobs can never take the connections the web needs.
func (s *Service) OnPool(db *pgxpool.Pool) *Service {
	c := *s
	c.db = db
	return &c
}

// systemActor is recorded for what jobs do on their own.
const systemActor = "system"

// personActor is the request's person acting on it (signing the terms, uploading a form);
// the history names them.
const personActor = "person"

// Errors the adapters turn into answers.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
	ErrConflict  = errors.New("conflict")
)

// FieldError is one problem with one input field. Field is the JSON path, e.g. "items[1].role".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Format and Args are the message before formatting, so that an adapter can say it in
	// the user's language: Format is the key of its message catalog.
	Format string `json:"-"`
	Args   []any  `json:"-"`
}

// ValidationError lists every problem with an input at once.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...), Format: format, Args: args})
}

func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}

// record appends an audit event in tx, at the service's clock.
func (s *Service) record(ctx context.Context, tx pgx.Tx, actor, action, requestID, personID string, data any) error {
	return s.audit.Append(ctx, tx, audit.Event{At: s.clock.Now(), Actor: actor, Action: action,
		RequestID: requestID, PersonID: personID, Data: data})
}

// inTx runs fn in a transaction. PostgreSQL may end one of two transactions that wait for
// each other (a deadlock) or could not be serialised; it rolled back everything, so fn runs
// again, a few times, as PostgreSQL's manual advises. fn therefore keeps what it learns in
// variables it sets, never appends to, and makes no outside call (the rule everywhere).
//
// Deadlocks are avoided by design, not by the retry: rows are locked in id order, persons
// before their grants, and with FOR NO KEY UPDATE, which a foreign key's check (FOR KEY
// SHARE) passes. With FOR UPDATE, IT's question on a request, which records a notification
// about the person, waited for a job that held the person and then waited for the request
// (TestRequestStepsDoNotWaitForARecordingJob).
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range 3 {
		if err = pgx.BeginFunc(ctx, s.db, fn); !retryable(err) {
			return err
		}
	}
	return err
}

// retryable tells that PostgreSQL rolled the transaction back for a deadlock or a
// serialization failure, after which it may simply run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
