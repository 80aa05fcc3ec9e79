package provisioning

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/textcheck"
)

// maxSubmitToken bounds a submission's token: a UUID or the form's random text is far below.
const maxSubmitToken = 255

// submittedBefore finds the request the actor submitted with the token, if any. An empty
// token finds nothing: the submission is not named.
func (s *Service) submittedBefore(ctx context.Context, actor Actor, token string) (Submitted, bool, error) {
	if token == "" {
		return Submitted{}, false, nil
	}
	if len(token) > maxSubmitToken || textcheck.Line(token) != nil {
		ve := &ValidationError{}
		ve.add("submitToken", "must be at most %d characters without control characters", maxSubmitToken)
		return Submitted{}, false, ve
	}
	out := Submitted{Repeated: true}
	err := s.db.QueryRow(ctx, "SELECT id::text, number, status FROM requests WHERE requester_id = $1 AND submit_token = $2",
		actor.ID, token).Scan(&out.ID, &out.Number, &out.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return Submitted{}, false, nil
	}
	if err != nil {
		return Submitted{}, false, fmt.Errorf("find the request submitted with a token: %w", err)
	}
	return out, true, nil
}

// keepSubmitToken stores the token with the new request, in its transaction. The same token
// sent twice at once fails here, on the unique index, and the whole second request goes.
func keepSubmitToken(ctx context.Context, tx pgx.Tx, requestID, token string) error {
	if token == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, "UPDATE requests SET submit_token = $2 WHERE id = $1", requestID, token); err != nil {
		return fmt.Errorf("keep the submit token of request %s: %w", requestID, err)
	}
	return nil
}
