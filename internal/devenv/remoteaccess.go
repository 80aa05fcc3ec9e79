package devenv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DemoRemoteAccess is the demo catalog's remote-access system, as Norrköping orders it
// ("Beställning Fjärråtkomst"): its own directory group, 130 kr per month and user, and the
// information-security training whose certificate the order must carry.
var DemoRemoteAccess = struct {
	ID, Name, Group, TrainingURL string
	MonthlyPriceSEK              int
}{"fjarratkomst", "Fjärråtkomst", "fjarratkomst", "https://utbildning.example/informationssakerhet", 130}

// loadRemoteAccessSystem adds the remote-access system unless it is there.
func loadRemoteAccessSystem(ctx context.Context, tx pgx.Tx) error {
	s := DemoRemoteAccess
	if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, has_roles, needs_terms, group_template, needs_certificate,
			training_url, monthly_price_sek, remote_access)
		VALUES ($1, $2, false, false, $3, true, $4, $5, true) ON CONFLICT (id) DO NOTHING`,
		s.ID, s.Name, s.Group, s.TrainingURL, s.MonthlyPriceSEK); err != nil {
		return fmt.Errorf("load system %s: %w", s.ID, err)
	}
	return nil
}
