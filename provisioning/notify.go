package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Everyone is told the next step: each event that someone must hear of writes a notification
// row in the event's own transaction, beside the job that mails it (ScheduleNotifications),
// so there is never an event without its e-mail nor an e-mail without its event. The row's
// event key is unique (the same event recorded twice makes one e-mail) and the job marks the
// row sent, so a retried job sends nothing (SendNotification). No mail server is asked while
// a transaction is open.

// Notification kinds: what happened, and so whom it is for and what it says.
const (
	// To the requester.
	NoticeReceived     = "request.received"      // the request was sent: a receipt
	NoticeRejected     = "request.rejected"      // with the approver's reason
	NoticeAwaitingUser = "request.awaiting_user" // IT or the terms wait for the user
	NoticeComment      = "request.comment"       // someone else wrote a comment the requester may read
	NoticeCompleted    = "request.completed"     // done
	// To the approver.
	NoticeApproval = "approval.waiting" // one per request
	NoticeDigest   = "approval.digest"  // the daily list, when the config asks for it
	// To the person: the account behorig made for them is ready.
	NoticeLogin = "account.login"
)

// requesterNotices are the kinds whose recipient is the request's requester.
var requesterNotices = []string{NoticeReceived, NoticeRejected, NoticeAwaitingUser, NoticeComment, NoticeCompleted}

// notice is a notification to record: key makes it once per event.
type notice struct {
	key, kind, requestID, personID string
	// principalID is the recipient, when not the requester (filled from the request) or the
	// person (NoticeLogin).
	principalID string
	data        map[string]any
}

// notify records notices in tx and schedules the job that mails each one not recorded before.
// Two round trips, whatever the number of notices.
func (s *Service) notify(ctx context.Context, tx pgx.Tx, ns ...notice) error {
	if len(ns) == 0 {
		return nil
	}
	keys, kinds, requests, persons, principals, data := make([]string, len(ns)), make([]string, len(ns)),
		make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns))
	for i, n := range ns {
		keys[i], kinds[i], requests[i], persons[i], principals[i] = n.key, n.kind, n.requestID, n.personID, n.principalID
		d := n.data
		if d == nil {
			d = map[string]any{}
		}
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("notification %s: %w", n.key, err)
		}
		data[i] = string(b)
	}
	rows, err := tx.Query(ctx, `INSERT INTO notifications (event_key, kind, request_id, person_id, principal_id, data, created_at)
		SELECT t.k, t.kind, NULLIF(t.r, '')::uuid, NULLIF(t.p, '')::uuid,
			COALESCE(NULLIF(t.pr, '')::uuid, CASE WHEN t.kind = ANY($7) THEN
				(SELECT requester_id FROM requests WHERE id = NULLIF(t.r, '')::uuid) END),
			t.d::jsonb, $8
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(k, kind, r, p, pr, d)
		ON CONFLICT (event_key) DO NOTHING RETURNING id::text`,
		keys, kinds, requests, persons, principals, data, requesterNotices, s.clock.Now())
	if err != nil {
		return fmt.Errorf("record %d notifications: %w", len(ns), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("record %d notifications: %w", len(ns), err)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.jobs.ScheduleNotifications(ctx, tx, ids); err != nil {
		return fmt.Errorf("schedule %d notifications: %w", len(ids), err)
	}
	return nil
}

// statusNotice is the notice a move of a request to status causes, if any.
func (s *Service) statusNotice(r requestRow, status string, data map[string]any) (notice, bool) {
	n := notice{requestID: r.id, personID: r.personID, principalID: r.requesterID}
	switch status {
	case StatusRejected:
		n.kind, n.key = NoticeRejected, "rejected:"+r.id
	case StatusCompleted:
		n.kind, n.key = NoticeCompleted, "completed:"+r.id
	case StatusAwaitingUser:
		// A request may wait for the user more than once (IT asks again): each time is an event.
		n.kind, n.key = NoticeAwaitingUser, "awaiting_user:"+r.id+":"+strconv.FormatInt(s.clock.Now().UnixNano(), 10)
		if note, ok := data["note"].(string); ok && note != "" {
			n.data = map[string]any{"note": note}
		}
	default:
		return n, false
	}
	return n, true
}

// submittedNotices are the receipt to the requester and, unless the requester attests it
// in the same step, the approver's "waiting for your approval".
func submittedNotices(requestID, personID, requesterID, approverID string, oneStep bool) []notice {
	ns := []notice{{key: "received:" + requestID, kind: NoticeReceived, requestID: requestID, personID: personID,
		principalID: requesterID}}
	if !oneStep {
		ns = append(ns, notice{key: "approval:" + requestID + ":" + approverID, kind: NoticeApproval, requestID: requestID,
			personID: personID, principalID: approverID})
	}
	return ns
}

// loginNotice tells the person their login details once per account behorig created.
func (s *Service) loginNotice(personID, username, requestID string) notice {
	return notice{key: "login:" + personID + ":" + s.dirName + ":" + username, kind: NoticeLogin, requestID: requestID,
		personID: personID, data: map[string]any{"username": username}}
}

// SetLanguage remembers the language a principal last used in the UI ("sv" or "en"), so that
// their e-mail is written in it.
func (s *Service) SetLanguage(ctx context.Context, principalID, lang string) error {
	if lang != "sv" && lang != "en" {
		return fmt.Errorf("language %q: %w", lang, ErrNotFound)
	}
	if !isUUID(principalID) {
		return fmt.Errorf("principal %q: %w", principalID, ErrNotFound)
	}
	if _, err := s.db.Exec(ctx, "UPDATE principals SET lang = $2 WHERE id = $1 AND lang <> $2", principalID, lang); err != nil {
		return fmt.Errorf("remember the language of %s: %w", principalID, err)
	}
	return nil
}

// Waiting is what waits for a principal, for the notice on the start page.
type Waiting struct {
	// Approvals are the requests waiting for the principal's attestation (as on /approvals).
	Approvals int `json:"approvals"`
	// AwaitingUser are the principal's own requests that wait for the user (terms, more
	// information).
	AwaitingUser int `json:"awaitingUser"`
	// Untaken are the requests in IT's queue that nobody has taken; IT only.
	Untaken int `json:"untaken"`
}

// WaitingFor counts what waits for the actor.
func (s *Service) WaitingFor(ctx context.Context, actor Actor) (Waiting, error) {
	var w Waiting
	err := s.db.QueryRow(ctx, `WITH RECURSIVE attested AS (
			SELECT unit_id AS id FROM unit_managers WHERE principal_id = $1
			UNION SELECT u.id FROM units u JOIN attested a ON u.parent_id = a.id)
		SELECT (SELECT count(*) FROM requests r WHERE r.status = 'awaiting_approval' AND r.unit_id IN (SELECT id FROM attested)),
			(SELECT count(*) FROM requests r WHERE r.requester_id = $1 AND r.status = $2),
			CASE WHEN $3 THEN (SELECT count(*) FROM requests r WHERE r.status = ANY($4) AND r.assignee_id IS NULL) ELSE 0 END`,
		uuidOrNull(actor.ID), StatusAwaitingUser, actor.IT(), QueueStatuses).Scan(&w.Approvals, &w.AwaitingUser, &w.Untaken)
	if err != nil {
		return w, fmt.Errorf("what waits for %s: %w", actor.Subject, err)
	}
	return w, nil
}

// defaultDigestAt is when the daily digest goes out, in the service's time zone.
const defaultDigestAt = 7 * time.Hour

// QueueApprovalDigests records today's digest for every approver with requests waiting for
// them, once the day's digest time has passed; a second run the same day adds nothing. It
// does nothing unless the config asks for digests. The periodic job calls it.
func (s *Service) QueueApprovalDigests(ctx context.Context) (int, error) {
	if !s.digest {
		return 0, nil
	}
	now := s.clock.Now()
	if now.Before(s.digestTime(now)) {
		return 0, nil
	}
	date := now.In(s.loc).Format(time.DateOnly)
	rows, err := s.db.Query(ctx, `WITH RECURSIVE attested AS (
			SELECT principal_id, unit_id FROM unit_managers
			UNION SELECT a.principal_id, u.id FROM units u JOIN attested a ON u.parent_id = a.unit_id)
		SELECT a.principal_id::text, count(DISTINCT r.id) FROM attested a
			JOIN requests r ON r.unit_id = a.unit_id AND r.status = 'awaiting_approval'
		GROUP BY a.principal_id ORDER BY a.principal_id`)
	if err != nil {
		return 0, fmt.Errorf("approvers with requests waiting: %w", err)
	}
	type approver struct {
		id string
		n  int
	}
	approvers, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (approver, error) {
		var a approver
		return a, row.Scan(&a.id, &a.n)
	})
	if err != nil {
		return 0, fmt.Errorf("approvers with requests waiting: %w", err)
	}
	ns := make([]notice, len(approvers))
	for i, a := range approvers {
		ns[i] = notice{key: "digest:" + a.id + ":" + date, kind: NoticeDigest, principalID: a.id,
			data: map[string]any{"date": date, "waiting": a.n}}
	}
	return len(ns), s.inTx(ctx, func(tx pgx.Tx) error { return s.notify(ctx, tx, ns...) })
}

// errNoMailer is returned by a job that would mail with no mailer configured.
var errNoMailer = errors.New("no mailer is configured")
