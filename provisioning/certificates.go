package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// CertificateDeadline is how long after submission a request may wait for a verified
// training certificate before it is cancelled ("Om inte intyget har skickats in till IT
// inom 1 vecka avslutas beställningen").
const CertificateDeadline = 7 * 24 * time.Hour

// CertificateNeed is what a request needs of training certificates: per system of the
// request that needs one, the training and the person's verified certificate, if any.
type CertificateNeed struct {
	Systems []CertificateSystem `json:"systems"`
	// Deadline is when the request is cancelled without a verified certificate.
	Deadline time.Time `json:"deadline"`
}

// Missing tells whether a system still lacks a verified certificate.
func (n CertificateNeed) Missing() bool {
	return slices.ContainsFunc(n.Systems, func(s CertificateSystem) bool { return s.VerifiedAt == nil })
}

// CertificateSystem is one system that needs a training certificate.
type CertificateSystem struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	TrainingURL string     `json:"trainingUrl,omitempty"`
	VerifiedAt  *time.Time `json:"verifiedAt,omitempty"` // the person's certificate, verified by IT
}

// missingCertificates lists the systems of a request that need a training certificate the
// request's person has not had verified. A certificate verified for an earlier request
// counts: it is remembered per person and system.
func missingCertificates(ctx context.Context, q querier, requestID string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT i.system_id FROM request_items i JOIN systems s ON s.id = i.system_id
			JOIN requests r ON r.id = i.request_id
		WHERE i.request_id = $1 AND s.needs_certificate AND NOT EXISTS (
			SELECT 1 FROM person_certificates c WHERE c.person_id = r.person_id AND c.system_id = i.system_id)
		ORDER BY 1`, requestID)
	if err != nil {
		return nil, fmt.Errorf("certificates missing for %s: %w", requestID, err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("certificates missing for %s: %w", requestID, err)
	}
	return missing, nil
}

// scheduleCertificateDeadline is called as a request is stored: when it needs a
// certificate the person does not have, a job cancels it at the deadline unless one has
// been verified by then.
func (s *Service) scheduleCertificateDeadline(ctx context.Context, tx pgx.Tx, requestID string, submitted time.Time) error {
	missing, err := missingCertificates(ctx, tx, requestID)
	if err != nil || len(missing) == 0 {
		return err
	}
	if err := s.jobs.ScheduleCertificateDeadline(ctx, tx, requestID, submitted.Add(CertificateDeadline)); err != nil {
		return fmt.Errorf("schedule the certificate deadline of %s: %w", requestID, err)
	}
	return nil
}

// startUnlessCertificateMissing starts the grants of an approved request whose terms are
// done, or, while a certificate is missing, moves it to awaiting_certificate, where
// VerifyCertificate starts them.
func (s *Service) startUnlessCertificateMissing(ctx context.Context, tx pgx.Tx, actor string, r requestRow) (string, error) {
	missing, err := missingCertificates(ctx, tx, r.id)
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return StatusAwaitingCertificate, s.setStatus(ctx, tx, actor, r, StatusAwaitingCertificate,
			map[string]any{"systems": missing})
	}
	return s.startGrants(ctx, tx, actor, r)
}

// VerifyCertificate is IT marking an attachment of the request as the person's verified
// training certificate. It is remembered for the person and every system of the request that
// needs one, with its date, and reused by their later requests; a request waiting for it goes
// on as if it had never waited.
func (s *Service) VerifyCertificate(ctx context.Context, actor Actor, requestID, attachmentID string) (string, error) {
	if !actor.IT() {
		return "", fmt.Errorf("only IT verifies certificates: %w", ErrForbidden)
	}
	var status string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		status = r.status
		var found bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM attachments WHERE id = $1 AND request_id = $2)",
			uuidOrNull(attachmentID), r.id).Scan(&found); err != nil {
			return fmt.Errorf("attachment %s of %s: %w", attachmentID, r.number, err)
		}
		if !found {
			ve := &ValidationError{}
			ve.add("attachment", "choose an attachment of this request")
			return ve
		}
		if !IsOpen(r.status) {
			return fmt.Errorf("%s is %s: %w", r.number, r.status, ErrConflict)
		}
		missing, err := missingCertificates(ctx, tx, r.id)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return fmt.Errorf("%s needs no certificate that is not verified: %w", r.number, ErrConflict)
		}
		now := s.clock.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO person_certificates (person_id, system_id, verified_at, verified_by, request_id, attachment_id)
			SELECT $1, unnest($2::text[]), $3, $4, $5, $6`, r.personID, missing, now, actor.ID, r.id, attachmentID); err != nil {
			return fmt.Errorf("keep the certificate of %s: %w", r.number, err)
		}
		if err := s.record(ctx, tx, actor.Subject, "certificate.verified", r.id, r.personID,
			map[string]any{"attachment": attachmentID, "systems": missing}); err != nil {
			return err
		}
		if r.status == StatusAwaitingCertificate {
			status, err = s.startGrants(ctx, tx, actor.Subject, r)
		}
		return err
	})
	return status, err
}

// ErrNotYet is a job that ran before its time; it should wait and run again.
var ErrNotYet = errors.New("not yet due")

// CancelWithoutCertificate is the certificate deadline's job: a request that still lacks a
// verified certificate CertificateDeadline after its submission, and has not started, is
// cancelled ("Makulerad"), with the reason in the audit log. A request that got its
// certificate, has started or is closed is left alone, so running the job again changes
// nothing. Before the deadline it returns how long is left with ErrNotYet.
func (s *Service) CancelWithoutCertificate(ctx context.Context, requestID string) (time.Duration, error) {
	var wait time.Duration
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !slices.Contains([]string{StatusSubmitted, StatusAwaitingApproval, StatusAwaitingUser, StatusAwaitingCertificate}, r.status) {
			return nil
		}
		var submitted time.Time
		var started bool
		if err := tx.QueryRow(ctx, "SELECT created_at, EXISTS (SELECT 1 FROM grants WHERE request_id = $1) FROM requests WHERE id = $1",
			r.id).Scan(&submitted, &started); err != nil {
			return fmt.Errorf("read %s: %w", r.number, err)
		}
		if started {
			return nil // waiting for the user's answer to IT, not for a certificate
		}
		if wait = submitted.Add(CertificateDeadline).Sub(s.clock.Now()); wait > 0 {
			return ErrNotYet
		}
		missing, err := missingCertificates(ctx, tx, r.id)
		if err != nil || len(missing) == 0 {
			return err
		}
		if err := s.record(ctx, tx, systemActor, "request.cancelled", r.id, r.personID, map[string]any{
			"reason": "no verified training certificate within 7 days of submission", "systems": missing}); err != nil {
			return err
		}
		// The requester is told by the notifications (issue 17), which follow the status
		// change this records.
		return s.setStatus(ctx, tx, systemActor, r, StatusCancelled, map[string]any{"cause": "certificate_missing"})
	})
	if errors.Is(err, ErrNotYet) {
		return wait, err
	}
	return 0, err
}

// certificateNeed reads what a request needs of certificates; nil when it needs none.
func (s *Service) certificateNeed(ctx context.Context, requestID string) (*CertificateNeed, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT s.id, s.name, s.training_url, c.verified_at
		FROM request_items i JOIN systems s ON s.id = i.system_id JOIN requests r ON r.id = i.request_id
			LEFT JOIN person_certificates c ON c.person_id = r.person_id AND c.system_id = s.id
		WHERE i.request_id = $1 AND s.needs_certificate ORDER BY s.name`, requestID)
	if err != nil {
		return nil, fmt.Errorf("certificates of %s: %w", requestID, err)
	}
	systems, err := pgx.CollectRows(rows, pgx.RowToStructByPos[CertificateSystem])
	if err != nil || len(systems) == 0 {
		return nil, err
	}
	need := &CertificateNeed{Systems: systems}
	if err := s.db.QueryRow(ctx, "SELECT created_at FROM requests WHERE id = $1", requestID).Scan(&need.Deadline); err != nil {
		return nil, fmt.Errorf("read %s: %w", requestID, err)
	}
	need.Deadline = need.Deadline.Add(CertificateDeadline)
	return need, nil
}
