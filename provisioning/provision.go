package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/username"
)

// grantRow is a grant with what provisioning and revocation need.
type grantRow struct {
	id, personID, requestID, group, state, memberDN string
	startsAt                                        time.Time
	manual                                          bool
}

func lockGrant(ctx context.Context, tx pgx.Tx, id string) (grantRow, error) {
	var g grantRow
	err := tx.QueryRow(ctx, `SELECT id::text, person_id::text, request_id::text, group_name, state, member_dn, starts_at, manual
		FROM grants WHERE id::text = $1 FOR UPDATE`, id).Scan(&g.id, &g.personID, &g.requestID, &g.group, &g.state, &g.memberDN,
		&g.startsAt, &g.manual)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("grant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("load grant %s: %w", id, err)
	}
	return g, nil
}

// personOfGrant reads whose a grant is, without locking: lock the person first, then the
// grant, in that order everywhere, so that jobs on one person's grants cannot deadlock.
func personOfGrant(ctx context.Context, tx pgx.Tx, grantID string) (string, error) {
	var personID string
	err := tx.QueryRow(ctx, "SELECT person_id::text FROM grants WHERE id::text = $1", grantID).Scan(&personID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("grant %s: %w", grantID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("load grant %s: %w", grantID, err)
	}
	return personID, nil
}

// lockPerson serialises the directory work for one person, so that a provisioning and a
// revocation of two of their grants cannot interleave (enable after disable, or the reverse).
func lockPerson(ctx context.Context, tx pgx.Tx, personID string) (personRow, error) {
	var p personRow
	p.id = personID
	err := tx.QueryRow(ctx, `SELECT given_name, surname, email, mobile, employee_type, requested_username
		FROM persons WHERE id = $1 FOR UPDATE`, personID).Scan(&p.givenName, &p.surname, &p.email, &p.mobile,
		&p.employeeType, &p.requestedUsername)
	if err != nil {
		return p, fmt.Errorf("lock person %s: %w", personID, err)
	}
	return p, nil
}

type personRow struct {
	id, givenName, surname, email, mobile, employeeType, requestedUsername string
}

type accountRow struct {
	username, dn, state string
}

func (s *Service) account(ctx context.Context, tx pgx.Tx, personID string) (accountRow, bool, error) {
	var a accountRow
	err := tx.QueryRow(ctx, "SELECT username, dn, state FROM accounts WHERE directory = $1 AND person_id = $2",
		s.dirName, personID).Scan(&a.username, &a.dn, &a.state)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("read account of person %s: %w", personID, err)
	}
	return a, true, nil
}

// Provision gives a person what a grant says: the account (created if absent, enabled if
// disabled) and membership of the grant's group. It is the body of the provision job and is
// safe to run any number of times: every directory step is create-if-absent or add-if-missing,
// and the username is reserved in its own transaction first, so a retry after a crash reuses it
// instead of making a second account.
func (s *Service) Provision(ctx context.Context, grantID string) error {
	if err := s.reserveUsername(ctx, grantID); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		personID, err := personOfGrant(ctx, tx, grantID)
		if err != nil {
			return err
		}
		p, err := lockPerson(ctx, tx, personID)
		if err != nil {
			return err
		}
		g, err := lockGrant(ctx, tx, grantID)
		if err != nil || g.state == "revoked" || g.manual {
			return err // revoked before it started, or IT's to give by hand: nothing to do here
		}
		acct, _, err := s.account(ctx, tx, p.id)
		if err != nil {
			return err
		}
		ref, err := s.dir.EnsureAccount(ctx, connectors.Account{Username: acct.username, GivenName: p.givenName,
			Surname: p.surname, Email: p.email, Mobile: p.mobile, EmployeeType: p.employeeType})
		if err != nil {
			return fmt.Errorf("provision grant %s: %w", g.id, err)
		}
		if err := s.dir.EnsureMember(ctx, g.group, ref.DN); err != nil {
			return fmt.Errorf("provision grant %s: %w", g.id, err)
		}
		return s.recordProvisioned(ctx, tx, g, acct, ref)
	})
}

func (s *Service) recordProvisioned(ctx context.Context, tx pgx.Tx, g grantRow, before accountRow, ref connectors.AccountRef) error {
	if before.state != "active" || before.dn != ref.DN {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET dn = $3, state = 'active', updated_at = $4
			WHERE directory = $1 AND person_id = $2`, s.dirName, g.personID, ref.DN, s.clock.Now()); err != nil {
			return fmt.Errorf("record account %s: %w", ref.DN, err)
		}
		action := "account.created"
		if before.state == "disabled" {
			action = "account.enabled"
		}
		if err := s.record(ctx, tx, systemActor, action, g.requestID, g.personID,
			map[string]any{"directory": s.dirName, "dn": ref.DN, "username": ref.Username}); err != nil {
			return err
		}
	}
	if g.state != "active" || g.memberDN != ref.DN {
		if _, err := tx.Exec(ctx, `UPDATE grants SET state = 'active', member_dn = $2, provisioned_at = $3 WHERE id = $1`,
			g.id, ref.DN, s.clock.Now()); err != nil {
			return fmt.Errorf("record grant %s: %w", g.id, err)
		}
		if err := s.record(ctx, tx, systemActor, "grant.provisioned", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "member": ref.DN}); err != nil {
			return err
		}
	}
	return s.completeIfDone(ctx, tx, g.requestID)
}

// completeIfDone closes a grant request once none of its grants waits for provisioning.
func (s *Service) completeIfDone(ctx context.Context, tx pgx.Tx, requestID string) error {
	r, err := s.lockRequest(ctx, tx, requestID)
	if err != nil {
		return err
	}
	if r.status != StatusInProgress && r.status != StatusScheduled && r.status != StatusAssigned &&
		r.status != StatusWaitingThirdParty {
		return nil
	}
	var waiting bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM grants WHERE request_id = $1 AND state = 'scheduled')",
		r.id).Scan(&waiting); err != nil {
		return fmt.Errorf("check grants of %s: %w", r.number, err)
	}
	if waiting {
		return nil
	}
	return s.setStatus(ctx, tx, systemActor, r, StatusCompleted, nil)
}

// reserveUsername gives the person of the grant a username in this directory, once: the
// username is recorded before any directory write, and never handed to anyone else.
func (s *Service) reserveUsername(ctx context.Context, grantID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		personID, err := personOfGrant(ctx, tx, grantID)
		if err != nil {
			return err
		}
		p, err := lockPerson(ctx, tx, personID)
		if err != nil {
			return err
		}
		if _, found, err := s.account(ctx, tx, p.id); err != nil || found {
			return err
		}
		name, err := s.chooseUsername(ctx, tx, p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO accounts (person_id, directory, username, state) VALUES ($1, $2, $3, 'reserved')",
			p.id, s.dirName, name); err != nil {
			return fmt.Errorf("reserve username %s: %w", name, err)
		}
		return s.record(ctx, tx, systemActor, "username.reserved", "", p.id, map[string]any{"username": name, "directory": s.dirName})
	})
}

// chooseUsername takes the username the request named, or the first free candidate made
// from the name: free means never issued by behorig and not present in the directory.
func (s *Service) chooseUsername(ctx context.Context, tx pgx.Tx, p personRow) (string, error) {
	if p.requestedUsername != "" {
		ok, err := claimUsername(ctx, tx, p.requestedUsername, p.id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("username %s was issued to someone else; it is never reused", p.requestedUsername)
		}
		return p.requestedUsername, nil
	}
	base, err := username.Base(p.givenName, p.surname)
	if err != nil {
		return "", fmt.Errorf("make a username for person %s: %w", p.id, err)
	}
	for n := 1; n < 1000; n++ {
		candidate := username.Candidate(base, n)
		_, err := s.dir.LookupAccount(ctx, candidate)
		if err == nil {
			continue // someone outside behorig has it
		}
		if !errors.Is(err, connectors.ErrNotFound) {
			return "", fmt.Errorf("check username %s: %w", candidate, err)
		}
		ok, err := claimUsername(ctx, tx, candidate, p.id)
		if err != nil {
			return "", err
		}
		if ok {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("no free username for %s after 999 tries", base)
}

// claimUsername records the username as issued to the person; false when it went to another.
func claimUsername(ctx context.Context, tx pgx.Tx, name, personID string) (bool, error) {
	var owner string
	err := tx.QueryRow(ctx, `INSERT INTO usernames (username, person_id) VALUES ($1, $2)
		ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING person_id::text`, name, personID).Scan(&owner)
	if err != nil {
		return false, fmt.Errorf("claim username %s: %w", name, err)
	}
	return owner == personID, nil
}

// Revoke ends a grant: the person leaves the group, and the account is disabled when no
// active grant is left. It is the body of the revoke job; revoking twice changes nothing.
func (s *Service) Revoke(ctx context.Context, grantID, trigger string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		personID, err := personOfGrant(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if _, err := lockPerson(ctx, tx, personID); err != nil {
			return err
		}
		g, err := lockGrant(ctx, tx, grantID)
		if err != nil || g.state == "revoked" || g.state == "removal_pending" {
			return err
		}
		if g.manual && g.state == "active" {
			return s.awaitManualRemoval(ctx, tx, g, trigger)
		}
		if g.memberDN != "" {
			if err := s.dir.RemoveMember(ctx, g.group, g.memberDN); err != nil {
				return fmt.Errorf("revoke grant %s: %w", g.id, err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE grants SET state = 'revoked', revoked_at = $2 WHERE id = $1", g.id, s.clock.Now()); err != nil {
			return fmt.Errorf("record revocation of grant %s: %w", g.id, err)
		}
		if err := s.record(ctx, tx, systemActor, "grant.revoked", g.requestID, g.personID,
			map[string]any{"grant": g.id, "group": g.group, "member": g.memberDN, "trigger": trigger}); err != nil {
			return err
		}
		if err := s.disableIfNothingLeft(ctx, tx, g); err != nil {
			return err
		}
		return s.completeTerminations(ctx, tx, g.personID)
	})
}

func (s *Service) disableIfNothingLeft(ctx context.Context, tx pgx.Tx, g grantRow) error {
	acct, found, err := s.account(ctx, tx, g.personID)
	if err != nil || !found || acct.state != "active" {
		return err
	}
	var left bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM grants WHERE person_id = $1 AND state IN ('active', 'removal_pending'))",
		g.personID).Scan(&left); err != nil {
		return fmt.Errorf("count grants of person %s: %w", g.personID, err)
	}
	if left {
		return nil
	}
	if err := s.dir.DisableAccount(ctx, acct.dn); err != nil {
		return fmt.Errorf("disable %s: %w", acct.dn, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE accounts SET state = 'disabled', updated_at = $3 WHERE directory = $1 AND person_id = $2",
		s.dirName, g.personID, s.clock.Now()); err != nil {
		return fmt.Errorf("record disabled account %s: %w", acct.dn, err)
	}
	return s.record(ctx, tx, systemActor, "account.disabled", g.requestID, g.personID,
		map[string]any{"directory": s.dirName, "dn": acct.dn, "reason": "no active grant left"})
}

// completeTerminations closes the person's open termination requests once every grant due
// to end by now has ended.
func (s *Service) completeTerminations(ctx context.Context, tx pgx.Tx, personID string) error {
	var pending bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE person_id = $1 AND state <> 'revoked'
		AND ends_at <= $2)`, personID, s.clock.Now()).Scan(&pending); err != nil {
		return fmt.Errorf("check ending grants of person %s: %w", personID, err)
	}
	if pending {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id::text FROM requests WHERE person_id = $1 AND kind = 'terminate'
		AND status IN ('in_progress', 'scheduled', 'assigned', 'waiting_third_party')
		AND coalesce(effective_date, '-infinity') <= $2`, personID, s.today())
	if err != nil {
		return fmt.Errorf("find terminations of person %s: %w", personID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find terminations of person %s: %w", personID, err)
	}
	for _, id := range ids {
		r, err := s.lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.setStatus(ctx, tx, systemActor, r, StatusCompleted, nil); err != nil {
			return err
		}
	}
	return nil
}
