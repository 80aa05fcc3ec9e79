package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/connectors"
)

// Outbox keeps e-mail in PostgreSQL instead of sending it, for `behorig dev`: the UI shows
// what would have been sent. A message is kept once per id.
type Outbox struct {
	DB *pgxpool.Pool
}

// Send stores the message.
func (o Outbox) Send(ctx context.Context, m connectors.Mail) error {
	if _, _, err := Compose("outbox@behorig.invalid", m, time.Now()); err != nil {
		return err
	}
	id := m.ID
	if id == "" {
		id = fmt.Sprintf("%d", time.Now().UnixNano())
	}
	if _, err := o.DB.Exec(ctx, `INSERT INTO mail_outbox (message_id, recipient, subject, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (message_id) DO NOTHING`, id, m.To, m.Subject, m.Text); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	return nil
}

// Stored is a message in the outbox.
type Stored struct {
	To, Subject, Text string
	At                time.Time
}

// List returns the newest messages first.
func (o Outbox) List(ctx context.Context, limit int) ([]Stored, error) {
	rows, err := o.DB.Query(ctx, "SELECT recipient, subject, body, created_at FROM mail_outbox ORDER BY created_at DESC LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("mail outbox: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Stored])
}
