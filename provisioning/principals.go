package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/personnummer"
)

// Role is what a principal may do besides attesting, which is not a role: it comes from being
// one of a unit's managers.
type Role string

// The roles of behorig.
const (
	RoleRequester Role = "requester"  // applies for access, sees their own requests
	RoleITHandler Role = "it_handler" // handles requests, sees everything
	RoleITAdmin   Role = "it_admin"   // also keeps units and the catalog
)

// ParseRole accepts the name of a role.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRequester, RoleITHandler, RoleITAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%q is not a role (requester, it_handler, it_admin)", s)
}

// Actor is who acts: a principal signed in or holding a token.
type Actor struct {
	ID      string // principal id
	Subject string
	Name    string
	Email   string
	Roles   []Role
	// Attests tells whether the actor is a manager with attestation rights for some unit,
	// as read with the actor (ActorByID); the rights for a unit are checked where they count.
	Attests bool
}

// Has tells whether the actor holds the role.
func (a Actor) Has(r Role) bool { return slices.Contains(a.Roles, r) }

// Admin tells whether the actor keeps units and the catalog.
func (a Actor) Admin() bool { return a.Has(RoleITAdmin) }

// IT tells whether the actor works at IT, who see every request and the full personnummer.
func (a Actor) IT() bool { return a.Has(RoleITHandler) || a.Has(RoleITAdmin) }

// ErrUnknownUser is returned by SignIn when the IdP admits only users behorig knows.
var ErrUnknownUser = errors.New("not a known user of behorig")

// Principal describes a principal registered ahead of sign-in: a token holder, a demo user,
// or an external provider's manager who will sign in with a BankID-backed IdP.
type Principal struct {
	Subject      string
	Name         string
	Email        string
	Roles        []Role
	Unit         string   // ansvarskod of the principal's own unit; optional
	Manages      []string // ansvarskoder the principal attests for
	Personnummer string   // matched at the first sign-in through a BankID-backed IdP; optional
	// IdP and IdPSubject link the principal to a sign-in ahead of time, e.g. a manager set up
	// with attestation rights before their first sign-in through the AD-backed IdP.
	IdP, IdPSubject string
}

// RegisterPrincipal creates or updates the principal with this subject, with its unit and
// attestation rights, and returns it as an Actor.
func (s *Service) RegisterPrincipal(ctx context.Context, p Principal) (Actor, error) {
	var index []byte
	if p.Personnummer != "" {
		n, err := personnummer.Parse(p.Personnummer, s.clock.Now())
		if err != nil {
			return Actor{}, fmt.Errorf("register %s: personnummer: %w", p.Subject, err)
		}
		index = s.pnrIndex(n)
	}
	a := Actor{Subject: p.Subject, Name: p.Name, Email: p.Email, Roles: p.Roles}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO principals (subject, display_name, email, roles, unit_id, personnummer_index, idp, idp_subject)
			VALUES ($1, $2, $3, $4, (SELECT id FROM units WHERE ansvarskod = NULLIF($5, '')), $6, NULLIF($7, ''), NULLIF($8, ''))
			ON CONFLICT (subject) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,
				roles = EXCLUDED.roles, unit_id = COALESCE(EXCLUDED.unit_id, principals.unit_id),
				personnummer_index = COALESCE(EXCLUDED.personnummer_index, principals.personnummer_index),
				idp = COALESCE(EXCLUDED.idp, principals.idp), idp_subject = COALESCE(EXCLUDED.idp_subject, principals.idp_subject)
			RETURNING id::text`, p.Subject, p.Name, p.Email, p.Roles, p.Unit, index, p.IdP, p.IdPSubject).Scan(&a.ID)
		if err != nil {
			return fmt.Errorf("register principal %s: %w", p.Subject, err)
		}
		for _, code := range p.Manages {
			tag, err := tx.Exec(ctx, `INSERT INTO unit_managers (unit_id, principal_id)
				SELECT id, $2 FROM units WHERE ansvarskod = $1 ON CONFLICT DO NOTHING`, code, a.ID)
			if err != nil {
				return fmt.Errorf("make %s manager of %s: %w", p.Subject, code, err)
			}
			if tag.RowsAffected() == 0 {
				var exists bool
				if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM units WHERE ansvarskod = $1)", code).Scan(&exists); err != nil {
					return err
				}
				if !exists {
					return fmt.Errorf("make %s manager of %s: no such unit", p.Subject, code)
				}
			}
		}
		return nil
	})
	return a, err
}

// Identity is a person as an IdP vouched for them at sign-in.
type Identity struct {
	IdP          string // the IdP's id in the config
	Subject      string // the IdP's stable subject
	Name         string
	Email        string
	Personnummer string // validated by the adapter; empty when the IdP gives none
	Roles        []Role // from the IdP's group claims; replace the principal's roles
	Unit         string // ansvarskod a new principal is placed in; optional
	// KnownUsersOnly refuses a subject behorig has no principal for.
	KnownUsersOnly bool
}

// SignIn finds or creates the principal an IdP vouched for, in one transaction with its audit
// event. A principal registered ahead with the same personnummer is linked at the first
// sign-in, which is how an external provider's manager reaches their provider's units.
func (s *Service) SignIn(ctx context.Context, id Identity) (Actor, error) {
	if id.IdP == "" || id.Subject == "" {
		return Actor{}, errors.New("sign in: identity without IdP or subject")
	}
	var index []byte
	if id.Personnummer != "" {
		n, err := personnummer.Parse(id.Personnummer, s.clock.Now())
		if err != nil {
			return Actor{}, fmt.Errorf("sign in: personnummer from %s: %w", id.IdP, err)
		}
		index = s.pnrIndex(n)
	}
	var a Actor
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		principalID, created, err := s.principalFor(ctx, tx, id, index)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `UPDATE principals SET display_name = $2, email = $3, roles = $4, last_sign_in_at = $5
			WHERE id = $1 RETURNING id::text, subject, display_name, email, roles`,
			principalID, id.Name, id.Email, id.Roles, s.clock.Now()).Scan(&a.ID, &a.Subject, &a.Name, &a.Email, &a.Roles)
		if err != nil {
			return fmt.Errorf("sign in %s: %w", principalID, err)
		}
		return s.record(ctx, tx, a.Subject, "principal.signed_in", "", "",
			map[string]any{"idp": id.IdP, "created": created, "roles": id.Roles})
	})
	return a, err
}

// principalFor returns the principal for the identity, linking or creating one as the
// identity allows.
func (s *Service) principalFor(ctx context.Context, tx pgx.Tx, id Identity, index []byte) (string, bool, error) {
	var principalID string
	err := tx.QueryRow(ctx, "SELECT id::text FROM principals WHERE idp = $1 AND idp_subject = $2 FOR UPDATE",
		id.IdP, id.Subject).Scan(&principalID)
	if err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return principalID, false, err
	}
	if index != nil {
		var linked bool
		err := tx.QueryRow(ctx, "SELECT id::text, idp IS NOT NULL FROM principals WHERE personnummer_index = $1 FOR UPDATE",
			index).Scan(&principalID, &linked)
		switch {
		case err == nil && linked:
			return "", false, fmt.Errorf("sign in with %s: the personnummer belongs to a principal of another sign-in: %w", id.IdP, ErrConflict)
		case err == nil:
			_, err := tx.Exec(ctx, "UPDATE principals SET idp = $2, idp_subject = $3 WHERE id = $1", principalID, id.IdP, id.Subject)
			return principalID, false, err
		case !errors.Is(err, pgx.ErrNoRows):
			return "", false, err
		}
	}
	if id.KnownUsersOnly {
		return "", false, ErrUnknownUser
	}
	// Two first sign-ins at once (two tabs) race here; the loser finds the winner's row. No
	// conflict target: the winner's row collides on subject as well as on (idp, idp_subject),
	// and a target names one index only, so the loser would fail on the other one.
	err = tx.QueryRow(ctx, `INSERT INTO principals (subject, display_name, email, roles, idp, idp_subject, personnummer_index, unit_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT id FROM units WHERE ansvarskod = NULLIF($8, '')))
		ON CONFLICT DO NOTHING
		RETURNING id::text`, id.IdP+":"+id.Subject, id.Name, id.Email, id.Roles, id.IdP, id.Subject, index, id.Unit).Scan(&principalID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, "SELECT id::text FROM principals WHERE idp = $1 AND idp_subject = $2 FOR UPDATE",
			id.IdP, id.Subject).Scan(&principalID)
		if errors.Is(err, pgx.ErrNoRows) {
			// The row in the way is another principal's (its personnummer or its subject).
			return "", false, fmt.Errorf("sign in with %s: another principal holds this identity: %w", id.IdP, ErrConflict)
		}
		return principalID, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("create principal for %s at %s: %w", id.Subject, id.IdP, err)
	}
	return principalID, true, nil
}

// RecordSignInFailure writes a refused sign-in to the audit log: the IdP and why, never a
// token or a personnummer.
func (s *Service) RecordSignInFailure(ctx context.Context, idp, subject, reason string) error {
	if subject == "" {
		subject = "anonymous"
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.record(ctx, tx, subject, "principal.sign_in_failed", "", "", map[string]any{"idp": idp, "reason": reason})
	})
}

// RecordSignOut writes a sign-out to the audit log.
func (s *Service) RecordSignOut(ctx context.Context, actor Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.record(ctx, tx, actor.Subject, "principal.signed_out", "", "", nil)
	})
}

// ActorByID returns the principal as an Actor, for a session that names it.
func (s *Service) ActorByID(ctx context.Context, id string) (Actor, error) {
	a := Actor{ID: id}
	err := s.db.QueryRow(ctx, `SELECT subject, display_name, email, roles,
			EXISTS (SELECT 1 FROM unit_managers m WHERE m.principal_id = p.id)
		FROM principals p WHERE id = $1`, uuidOrNull(id)).
		Scan(&a.Subject, &a.Name, &a.Email, &a.Roles, &a.Attests)
	if errors.Is(err, pgx.ErrNoRows) {
		return Actor{}, fmt.Errorf("principal %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Actor{}, fmt.Errorf("principal %s: %w", id, err)
	}
	return a, nil
}

// MeView is who the actor is, as /me shows it.
type MeView struct {
	Subject string    `json:"subject"`
	Name    string    `json:"name"`
	Email   string    `json:"email,omitempty"`
	Roles   []Role    `json:"roles"`
	Unit    *UnitRef  `json:"unit,omitempty"`
	Attests []UnitRef `json:"attests"` // units the actor attests for, descendants included
}

// Me tells the actor who they are: roles, own unit and the units they attest for.
func (s *Service) Me(ctx context.Context, actor Actor) (MeView, error) {
	me := MeView{Subject: actor.Subject, Name: actor.Name, Email: actor.Email, Roles: actor.Roles, Attests: []UnitRef{}}
	if me.Roles == nil {
		me.Roles = []Role{}
	}
	var unit UnitRef
	err := s.db.QueryRow(ctx, `SELECT u.id::text, u.name, u.ansvarskod FROM principals p JOIN units u ON u.id = p.unit_id
		WHERE p.id = $1`, uuidOrNull(actor.ID)).Scan(&unit.ID, &unit.Name, &unit.Ansvarskod)
	if err == nil {
		me.Unit = &unit
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return MeView{}, fmt.Errorf("unit of %s: %w", actor.Subject, err)
	}
	rows, err := s.db.Query(ctx, `WITH RECURSIVE attested AS (
			SELECT unit_id AS id FROM unit_managers WHERE principal_id = $1
			UNION SELECT u.id FROM units u JOIN attested a ON u.parent_id = a.id)
		SELECT u.id::text, u.name, u.ansvarskod FROM units u JOIN attested a ON a.id = u.id ORDER BY u.ansvarskod`, uuidOrNull(actor.ID))
	if err != nil {
		return MeView{}, fmt.Errorf("units %s attests: %w", actor.Subject, err)
	}
	attests, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UnitRef])
	if err != nil {
		return MeView{}, fmt.Errorf("units %s attests: %w", actor.Subject, err)
	}
	me.Attests = append(me.Attests, attests...)
	return me, nil
}
