package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// askableStatuses are those in which IT may ask the requester for more information: the
// request is IT's to handle and waits for nobody else.
var askableStatuses = []string{StatusAnsweredByUser, StatusAssigned, StatusInProgress, StatusWaitingThirdParty, StatusScheduled}

// AskForInformation is IT asking the requester for more information ("begär komplettering"):
// the question becomes a comment that everyone who sees the request reads, and the request
// waits for the user (awaiting_user) until the requester answers with a comment or a file,
// which moves it to answered_by_user ("Besvarat av användaren") for IT to go on.
func (s *Service) AskForInformation(ctx context.Context, actor Actor, requestID, question string) error {
	if !actor.IT() {
		return fmt.Errorf("ask about %s: only IT handles requests: %w", requestID, ErrForbidden)
	}
	question = strings.TrimSpace(question)
	ve := &ValidationError{}
	switch {
	case question == "":
		ve.add("question", "is required")
	case len(question) > maxCommentLen:
		ve.add("question", "is longer than %d characters", maxCommentLen)
	}
	if err := ve.err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if !slices.Contains(askableStatuses, r.status) {
			return fmt.Errorf("%s is %s; IT cannot ask the requester now: %w", r.number, r.status, ErrConflict)
		}
		now := s.clock.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO comments (request_id, author_id, body, internal, created_at) VALUES ($1, $2, $3, false, $4)`,
			r.id, actor.ID, question, now); err != nil {
			return fmt.Errorf("ask about %s: %w", r.number, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET information_asked_at = $2 WHERE id = $1", r.id, now); err != nil {
			return fmt.Errorf("ask about %s: %w", r.number, err)
		}
		// The requester is told by the notifications (issue 17), which follow this event.
		if err := s.record(ctx, tx, actor.Subject, "information.requested", r.id, r.personID, nil); err != nil {
			return err
		}
		return s.setStatus(ctx, tx, actor.Subject, r, StatusAwaitingUser, nil)
	})
}

// informationAsked tells whether the request waits for the requester's answer to IT's
// question (and not, being awaiting_user, for the person's terms).
func informationAsked(ctx context.Context, q querier, requestID string) (bool, error) {
	var asked bool
	if err := q.QueryRow(ctx, "SELECT information_asked_at IS NOT NULL FROM requests WHERE id = $1", requestID).Scan(&asked); err != nil {
		return false, fmt.Errorf("read request %s: %w", requestID, err)
	}
	return asked, nil
}

// answeredByUser moves a request whose requester has answered IT's question, with a comment
// or a file, to answered_by_user. Anything IT writes, or anyone writes on a request that
// asks nothing, leaves the status as it is.
func (s *Service) answeredByUser(ctx context.Context, tx pgx.Tx, actor Actor, requestID string) error {
	if actor.IT() {
		return nil
	}
	r, err := s.lockRequest(ctx, tx, requestID)
	if err != nil {
		return err
	}
	if r.status != StatusAwaitingUser {
		return nil
	}
	asked, err := informationAsked(ctx, tx, r.id)
	if err != nil || !asked {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE requests SET information_asked_at = NULL WHERE id = $1", r.id); err != nil {
		return fmt.Errorf("answer on %s: %w", r.number, err)
	}
	return s.setStatus(ctx, tx, actor.Subject, r, StatusAnsweredByUser, nil)
}

// requestExtras adds to a request view what issue 17 brought: the certificates it needs,
// "Annat system", IT's open question, and what the viewer may do about them.
func (s *Service) requestExtras(ctx context.Context, actor Actor, v *RequestView) error {
	var err error
	if v.Certificate, err = s.certificateNeed(ctx, v.ID); err != nil {
		return err
	}
	if err := s.db.QueryRow(ctx, `SELECT other_system, other_system_done_at IS NOT NULL, information_asked_at IS NOT NULL
		FROM requests WHERE id = $1`, v.ID).Scan(&v.OtherSystem, &v.OtherSystemDone, &v.InformationAsked); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read request %s: %w", v.Number, err)
	}
	waitsForTerms := v.Status == StatusAwaitingUser && !v.InformationAsked
	v.Viewer.RecordPaperTerms = actor.IT() && waitsForTerms
	v.Viewer.SetStatus = v.Viewer.Handle && !waitsForTerms && v.Status != StatusAwaitingCertificate
	v.Viewer.Ask = actor.IT() && slices.Contains(askableStatuses, v.Status)
	v.Viewer.CompleteOtherSystem = actor.IT() && v.OtherSystem != "" && !v.OtherSystemDone &&
		(slices.Contains(underwayStatuses, v.Status) || v.Status == StatusAnsweredByUser)
	v.Viewer.VerifyCertificate = actor.IT() && IsOpen(v.Status) && v.Certificate != nil && v.Certificate.Missing() &&
		len(v.Attachments) > 0
	return nil
}
