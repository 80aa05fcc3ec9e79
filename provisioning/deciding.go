package provisioning

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// What the approver of a pending request may see of its person. A manager deciding on a
// request (of any kind) needs the person's current access: whether they have an account, and
// which grants they hold already. The person is not otherwise someone the manager may see
// until they approve (visibleRequestsOf), so the view is limited to that: the name, the
// masked personnummer, the accounts without their DN, and the open grants; no e-mail, no
// mobile. A requester sees the person as before: a personnummer typed into a form must not
// show whose it is.

// decidesForPerson tells whether the actor may decide on a request of the person that waits
// for approval: as its named approver or as a manager with attestation rights for its unit.
func (s *Service) decidesForPerson(ctx context.Context, actor Actor, personID string) (bool, error) {
	if actor.ID == "" {
		return false, nil
	}
	rows, err := s.db.Query(ctx, `SELECT approver_id::text, unit_id::text FROM requests WHERE person_id = $1 AND status = $2`,
		personID, StatusAwaitingApproval)
	if err != nil {
		return false, fmt.Errorf("pending requests of person %s: %w", personID, err)
	}
	type pending struct{ approver, unit string }
	waiting, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pending, error) {
		var p pending
		return p, row.Scan(&p.approver, &p.unit)
	})
	if err != nil {
		return false, fmt.Errorf("pending requests of person %s: %w", personID, err)
	}
	for _, p := range waiting {
		if p.approver == actor.ID {
			return true, nil
		}
		if ok, err := canAttest(ctx, s.db, actor.ID, p.unit); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// onlyAccess strips a person view down to what a deciding approver may see.
func onlyAccess(v *PersonView) {
	v.Limited = true
	v.Email, v.Mobile, v.LinkRequired = "", "", ""
	for i := range v.Accounts {
		v.Accounts[i].DN, v.Accounts[i].LinkedBy = "", ""
	}
}

// mayOpenPerson tells whether Person would show the person to the actor.
func (s *Service) mayOpenPerson(ctx context.Context, actor Actor, personID string) (bool, error) {
	if ok, err := s.canSeePerson(ctx, actor, personID); err != nil || ok {
		return ok, err
	}
	return s.decidesForPerson(ctx, actor, personID)
}
