package sms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/connectors"
)

// ProviderOutbox names the dev outbox in receipts.
const ProviderOutbox = "outbox"

// Outbox keeps text messages in PostgreSQL instead of sending them, for `behorig dev` and
// tests: the dev page shows them as the person's phone would. A message is kept once per id.
type Outbox struct {
	DB *pgxpool.Pool
}

var _ connectors.SMSSender = Outbox{}

// Send stores the message.
func (o Outbox) Send(ctx context.Context, m connectors.SMS) (connectors.SMSReceipt, error) {
	id := m.ID
	if id == "" {
		id = rand.Text()
	}
	if _, err := o.DB.Exec(ctx, `INSERT INTO sms_outbox (message_id, recipient, body) VALUES ($1, $2, $3)
		ON CONFLICT (message_id) DO NOTHING`, id, m.To, m.Text); err != nil {
		return connectors.SMSReceipt{}, fmt.Errorf("sms outbox: %w", err)
	}
	return connectors.SMSReceipt{Provider: ProviderOutbox, MessageID: id}, nil
}

// Stored is a message in the outbox.
type Stored struct {
	To, Text string
	At       time.Time
}

// List returns the newest messages first.
func (o Outbox) List(ctx context.Context, limit int) ([]Stored, error) {
	rows, err := o.DB.Query(ctx, "SELECT recipient, body, created_at FROM sms_outbox ORDER BY created_at DESC, id LIMIT $1", limit)
	if err != nil {
		return nil, fmt.Errorf("sms outbox: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Stored])
}

// Latest returns the newest message to a number, or false when there is none.
func (o Outbox) Latest(ctx context.Context, to string) (Stored, bool, error) {
	rows, err := o.DB.Query(ctx, "SELECT recipient, body, created_at FROM sms_outbox WHERE recipient = $1 ORDER BY created_at DESC, id LIMIT 1", to)
	if err != nil {
		return Stored{}, false, fmt.Errorf("sms outbox: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Stored])
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("sms outbox: %w", err)
	}
	return m, true, nil
}
