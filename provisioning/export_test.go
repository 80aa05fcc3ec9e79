package provisioning

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// LockPersonsAsRecording locks the persons in tx as a converging job's recording step does,
// for tests of what may run beside it.
func (s *Service) LockPersonsAsRecording(ctx context.Context, tx pgx.Tx, personIDs []string) error {
	_, err := s.readPersonStates(ctx, tx, personIDs, true)
	return err
}
