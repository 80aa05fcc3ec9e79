package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/personnummer"
)

// RequestView is a request as its readers see it.
type RequestView struct {
	ID                  string           `json:"id"`
	Number              string           `json:"number"`
	Kind                string           `json:"kind"`
	Status              string           `json:"status"`
	Requester           PrincipalRef     `json:"requester"`
	Approver            PrincipalRef     `json:"approver"`
	Person              PersonRef        `json:"person"`
	PersonDetails       *RequestPerson   `json:"personDetails,omitempty"`
	Unit                UnitRef          `json:"unit"`
	CostCentre          string           `json:"costCentre"`
	Reason              string           `json:"reason,omitempty"`
	Description         string           `json:"description,omitempty"`
	ValidFrom           string           `json:"validFrom,omitempty"`
	ValidTo             string           `json:"validTo,omitempty"`
	EffectiveDate       string           `json:"effectiveDate,omitempty"`
	TermsRequired       bool             `json:"termsRequired"`
	ApprovedBySubmitter bool             `json:"approvedBySubmitter"`
	ApprovedByManager   bool             `json:"approvedByManager"`
	DecisionReason      string           `json:"decisionReason,omitempty"`
	DueDate             string           `json:"dueDate,omitempty"`
	Assignee            *PrincipalRef    `json:"assignee,omitempty"`
	Items               []ItemView       `json:"items"`
	Events              []EventView      `json:"events"`
	Comments            []CommentView    `json:"comments"`
	Attachments         []AttachmentView `json:"attachments"`
	Viewer              ViewerRights     `json:"viewer"`
	CreatedAt           time.Time        `json:"createdAt"`
	UpdatedAt           time.Time        `json:"updatedAt"`
	// Certificate is what the request needs of training certificates; nil for none.
	Certificate *CertificateNeed `json:"certificate,omitempty"`
	// OtherSystem is "Annat system": a system the catalog lacks, which IT handles by hand.
	OtherSystem     string `json:"otherSystem,omitempty"`
	OtherSystemDone bool   `json:"otherSystemDone,omitempty"` // IT has handled it
	// InformationAsked: IT has asked the requester for more information, not yet answered.
	InformationAsked bool `json:"informationAsked,omitempty"`

	// Ends are the grants a change request ends; empty for other kinds.
	Ends []EndView `json:"ends,omitempty"`
	// RemoteFactor is a remote-access order's second factor: sms or yubikey.
	RemoteFactor string `json:"remoteFactor,omitempty"`
}

// RequestPerson is what a grant request says about its person: every value that will reach
// the person's record, e-mail and the directory once the request is approved, shown to the
// approver before they decide.
type RequestPerson struct {
	GivenName    string `json:"givenName"`
	Surname      string `json:"surname"`
	Email        string `json:"email,omitempty"`
	Mobile       string `json:"mobile,omitempty"`
	JobTitle     string `json:"jobTitle,omitempty"`
	EmployeeType string `json:"employeeType"`
	// Username is the account the request names; empty for a new account made from the name.
	Username string `json:"username,omitempty"`
	// UsernameCheck is what the directory said of Username at submission: free, own,
	// identity_match, exists (someone's account: IT must confirm the link) or unchecked.
	UsernameCheck string `json:"usernameCheck,omitempty"`
	// TermsEmail is where the link to sign the terms goes: the request's e-mail, else the
	// person's approved one.
	TermsEmail string `json:"termsEmail,omitempty"`
	// CurrentAccount is the username the person already has; shown to IT and attesters.
	CurrentAccount string `json:"currentAccount,omitempty"`
	// LinkRequired names an existing directory account that waits for IT's confirmation.
	LinkRequired string `json:"linkRequired,omitempty"`
	// Kept are the person's approved values that this request differs from and will not
	// change (an earlier approval decided them); shown to IT and attesters.
	Kept []KeptValue `json:"kept,omitempty"`
}

// KeptValue is a value of the person that a request will not change.
type KeptValue struct {
	Field string `json:"field"` // name, employeeType, email, mobile, jobTitle or username
	Value string `json:"value"`
}

// ViewerRights says what the reader of a request may do with it now.
type ViewerRights struct {
	Attest           bool `json:"attest"`           // approve or reject
	RecordPaperTerms bool `json:"recordPaperTerms"` // IT records a verified paper form
	Handle           bool `json:"handle"`           // IT takes it and sets its status
	// SetStatus: IT may set a handling status now (not while the person's terms or a
	// certificate are awaited); Ask: IT may ask the requester for more information;
	// VerifyCertificate: IT may mark an attachment as the verified training certificate.
	SetStatus         bool `json:"setStatus"`
	Ask               bool `json:"ask"`
	VerifyCertificate bool `json:"verifyCertificate"`
	// CompleteOtherSystem: IT may mark the request's "Annat system" as handled.
	CompleteOtherSystem bool `json:"completeOtherSystem"`
	// SeePerson tells whether the reader may open the person (Person): IT, whoever sees
	// them through an approved request, and the approver while the request waits.
	SeePerson bool `json:"seePerson"`
}

// PrincipalRef names a user of behorig.
type PrincipalRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// PersonRef names the person a request is for.
type PersonRef struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Personnummer string `json:"personnummer"` // masked unless the reader is IT
}

// UnitRef names a unit.
type UnitRef struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Ansvarskod string `json:"ansvarskod"`
}

// ItemView is one requested system with the state of its grant.
type ItemView struct {
	System     string  `json:"system"`
	SystemName string  `json:"systemName"`
	Role       string  `json:"role,omitempty"`
	RoleName   string  `json:"roleName,omitempty"`
	Unit       UnitRef `json:"unit"`
	Group      string  `json:"group,omitempty"`
	GrantState string  `json:"grantState,omitempty"`
	GrantID    string  `json:"grantId,omitempty"`
	Manual     bool    `json:"manual"` // a system without a connector: IT gives and removes it by hand
}

// EventView is one entry of a request's history.
type EventView struct {
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	ActorName string          `json:"actorName"`
	Action    string          `json:"action"`
	Data      json.RawMessage `json:"data"`
}

// Request returns one request, if the actor may see it: IT sees all, a requester their own,
// the named approver and managers with attestation rights those of their units.
func (s *Service) Request(ctx context.Context, actor Actor, id string) (RequestView, error) {
	var v RequestView
	var personID string
	var pnrEnc []byte
	var validFrom, validTo, effective, due *time.Time
	err := s.db.QueryRow(ctx, `SELECT r.id::text, r.number, r.kind, r.status, rq.id::text, rq.display_name,
			ap.id::text, ap.display_name, p.id::text,
			CASE WHEN $2 THEN p.given_name || ' ' || p.surname ELSE r.person_given_name || ' ' || r.person_surname END, p.personnummer_enc,
			u.id::text, u.name, u.ansvarskod, r.cost_centre, r.reason, r.valid_from, r.valid_to, r.effective_date,
			r.terms_required, r.approved_by_submitter, r.approved_by_manager, r.decision_reason, r.due_date,
			r.created_at, r.updated_at, r.description, coalesce(r.remote_factor, '')
		FROM requests r JOIN principals rq ON rq.id = r.requester_id JOIN principals ap ON ap.id = r.approver_id
			JOIN persons p ON p.id = r.person_id JOIN units u ON u.id = r.unit_id
		WHERE r.id = $1`, uuidOrNull(id), actor.IT()).Scan(&v.ID, &v.Number, &v.Kind, &v.Status, &v.Requester.ID, &v.Requester.Name,
		&v.Approver.ID, &v.Approver.Name, &personID, &v.Person.Name, &pnrEnc, &v.Unit.ID, &v.Unit.Name, &v.Unit.Ansvarskod,
		&v.CostCentre, &v.Reason, &validFrom, &validTo, &effective, &v.TermsRequired, &v.ApprovedBySubmitter,
		&v.ApprovedByManager, &v.DecisionReason, &due, &v.CreatedAt, &v.UpdatedAt, &v.Description, &v.RemoteFactor)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("request %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("read request %s: %w", id, err)
	}
	ok, err := s.canSee(ctx, s.db, actor, requestRow{id: v.ID, requesterID: v.Requester.ID, unitID: v.Unit.ID})
	if err != nil {
		return v, err
	}
	if !ok {
		return RequestView{}, fmt.Errorf("request %s: %w", id, ErrNotFound)
	}
	v.Person.ID = personID
	if v.Person.Personnummer, err = s.showPersonnummer(actor, pnrEnc); err != nil {
		return v, err
	}
	v.ValidFrom, v.ValidTo, v.EffectiveDate, v.DueDate = formatDate(validFrom), formatDate(validTo), formatDate(effective), formatDate(due)
	if v.Items, err = s.items(ctx, v.ID); err != nil {
		return v, err
	}
	if v.Kind == KindChange {
		if v.Ends, err = s.endings(ctx, v.ID); err != nil {
			return v, err
		}
	}
	if v.Events, err = s.history(ctx, v.ID); err != nil {
		return v, err
	}
	if !actor.IT() {
		v.Events = withoutInternals(v.Events)
	}
	if v.Comments, err = s.comments(ctx, actor, v.ID); err != nil {
		return v, err
	}
	if v.Attachments, err = s.attachments(ctx, v.ID); err != nil {
		return v, err
	}
	if v.Viewer.SeePerson, err = s.mayOpenPerson(ctx, actor, personID); err != nil {
		return v, err
	}
	v.Viewer.RecordPaperTerms = actor.IT() && v.Status == StatusAwaitingUser
	v.Viewer.Handle = actor.IT() && slices.Contains(QueueStatuses, v.Status)
	if err := s.requestExtras(ctx, actor, &v); err != nil {
		return v, err
	}
	var assignee PrincipalRef
	err = s.db.QueryRow(ctx, `SELECT p.id::text, p.display_name FROM requests r JOIN principals p ON p.id = r.assignee_id
		WHERE r.id = $1`, v.ID).Scan(&assignee.ID, &assignee.Name)
	if err == nil {
		v.Assignee = &assignee
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("assignee of %s: %w", v.Number, err)
	}
	if v.Status == StatusAwaitingApproval {
		if v.Viewer.Attest, err = canAttest(ctx, s.db, actor.ID, v.Unit.ID); err != nil {
			return v, err
		}
	}
	if v.Kind == KindGrant || v.Kind == KindRemoteAccess {
		if v.PersonDetails, err = s.requestPerson(ctx, actor, v); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (s *Service) requestPerson(ctx context.Context, actor Actor, v RequestView) (*RequestPerson, error) {
	var p RequestPerson
	var now struct {
		given, surname, employeeType, email, mobile, jobTitle, username, linkRequired, account string
		approved                                                                               bool
	}
	err := s.db.QueryRow(ctx, `SELECT r.person_given_name, r.person_surname, r.person_email, r.person_mobile, r.person_job_title,
			r.person_employee_type, r.person_username, r.username_check, p.given_name, p.surname, p.employee_type, p.email,
			p.mobile, p.job_title, p.requested_username, p.link_required, p.details_approved,
			coalesce((SELECT username FROM accounts WHERE person_id = p.id AND directory = $2), '')
		FROM requests r JOIN persons p ON p.id = r.person_id WHERE r.id = $1`, v.ID, s.dirName).Scan(&p.GivenName, &p.Surname,
		&p.Email, &p.Mobile, &p.JobTitle, &p.EmployeeType, &p.Username, &p.UsernameCheck, &now.given, &now.surname,
		&now.employeeType, &now.email, &now.mobile, &now.jobTitle, &now.username, &now.linkRequired, &now.approved, &now.account)
	if err != nil {
		return nil, fmt.Errorf("person data of %s: %w", v.Number, err)
	}
	insider := actor.IT() || actor.ID == v.Approver.ID
	if !insider {
		if insider, err = canAttest(ctx, s.db, actor.ID, v.Unit.ID); err != nil {
			return nil, err
		}
	}
	p.TermsEmail = p.Email
	if !insider {
		return &p, nil
	}
	p.CurrentAccount, p.LinkRequired = now.account, now.linkRequired
	if p.TermsEmail == "" {
		p.TermsEmail = now.email
	}
	if !now.approved || v.Status != StatusAwaitingApproval {
		return &p, nil
	}
	keep := func(field, requested, current string) {
		if requested != "" && current != "" && requested != current {
			p.Kept = append(p.Kept, KeptValue{Field: field, Value: current})
		}
	}
	keep("name", p.GivenName+" "+p.Surname, now.given+" "+now.surname)
	keep("employeeType", p.EmployeeType, now.employeeType)
	keep("email", p.Email, now.email)
	keep("mobile", p.Mobile, now.mobile)
	keep("jobTitle", p.JobTitle, now.jobTitle)
	if now.account == "" && now.username != "" && p.Username != now.username {
		p.Kept = append(p.Kept, KeptValue{Field: "username", Value: now.username})
	}
	return &p, nil
}

// canSee tells whether the actor may read a request. Requests a reader may not see are
// reported as not found, so that ids cannot be probed.
func (s *Service) canSee(ctx context.Context, q querier, actor Actor, r requestRow) (bool, error) {
	if actor.IT() || actor.ID == r.requesterID {
		return true, nil
	}
	var approver bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM requests WHERE id = $1 AND approver_id = $2)",
		r.id, uuidOrNull(actor.ID)).Scan(&approver); err != nil {
		return false, fmt.Errorf("check approver of request %s: %w", r.id, err)
	}
	if approver {
		return true, nil
	}
	return canAttest(ctx, q, actor.ID, r.unitID)
}

func (s *Service) showPersonnummer(actor Actor, sealed []byte) (string, error) {
	plain, err := s.box.Open(sealed, personnummerContext)
	if err != nil {
		return "", err
	}
	n, err := personnummer.Parse(string(plain), s.clock.Now())
	if err != nil {
		return "", fmt.Errorf("stored personnummer: %w", err)
	}
	if actor.IT() {
		return n.Formatted(), nil
	}
	return n.Masked(), nil
}

func (s *Service) items(ctx context.Context, requestID string) ([]ItemView, error) {
	rows, err := s.db.Query(ctx, `SELECT i.system_id, sy.name, coalesce(i.role_id, ''), coalesce(ro.name, ''),
			u.id::text, u.name, u.ansvarskod, coalesce(g.group_name, ''), coalesce(g.state, ''), coalesce(g.id::text, ''), sy.manual
		FROM request_items i JOIN systems sy ON sy.id = i.system_id JOIN units u ON u.id = i.unit_id
			LEFT JOIN system_roles ro ON ro.system_id = i.system_id AND ro.id = i.role_id
			LEFT JOIN grants g ON g.item_id = i.id
		WHERE i.request_id = $1 ORDER BY i.position`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read items of request %s: %w", requestID, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ItemView, error) {
		var it ItemView
		return it, row.Scan(&it.System, &it.SystemName, &it.Role, &it.RoleName, &it.Unit.ID, &it.Unit.Name,
			&it.Unit.Ansvarskod, &it.Group, &it.GrantState, &it.GrantID, &it.Manual)
	})
	if err != nil {
		return nil, fmt.Errorf("read items of request %s: %w", requestID, err)
	}
	if items == nil {
		items = []ItemView{}
	}
	return items, nil
}

func (s *Service) history(ctx context.Context, requestID string) ([]EventView, error) {
	records, err := audit.ForRequest(ctx, s.db, requestID)
	if err != nil {
		return nil, err
	}
	subjects := make([]string, len(records))
	for i, r := range records {
		subjects[i] = r.Actor
	}
	names := map[string]string{systemActor: "Behörig"}
	var person string
	if err := s.db.QueryRow(ctx, "SELECT person_given_name || ' ' || person_surname FROM requests WHERE id = $1",
		uuidOrNull(requestID)).Scan(&person); err == nil && strings.TrimSpace(person) != "" {
		names[personActor] = person
	}
	rows, err := s.db.Query(ctx, "SELECT subject, display_name FROM principals WHERE subject = ANY($1)", subjects)
	if err != nil {
		return nil, fmt.Errorf("names of the actors of request %s: %w", requestID, err)
	}
	var subject, name string
	if _, err := pgx.ForEachRow(rows, []any{&subject, &name}, func() error { names[subject] = name; return nil }); err != nil {
		return nil, fmt.Errorf("names of the actors of request %s: %w", requestID, err)
	}
	events := make([]EventView, len(records))
	for i, r := range records {
		events[i] = EventView{At: r.At, Actor: r.Actor, ActorName: names[r.Actor], Action: r.Action, Data: r.Data}
		if events[i].ActorName == "" {
			events[i].ActorName = r.Actor
		}
	}
	return events, nil
}

// PersonView is a person with their grants and accounts.
type PersonView struct {
	ID           string `json:"id"`
	Personnummer string `json:"personnummer"` // masked unless the reader is IT
	GivenName    string `json:"givenName"`
	Surname      string `json:"surname"`
	Email        string `json:"email,omitempty"`
	Mobile       string `json:"mobile,omitempty"`
	EmployeeType string `json:"employeeType"`
	// LinkRequired names an existing directory account the person's approved request asked
	// for, waiting for IT to confirm that it is theirs (LinkAccount). IT only.
	LinkRequired string        `json:"linkRequired,omitempty"`
	Accounts     []AccountView `json:"accounts"`
	Grants       []GrantView   `json:"grants"`

	// Limited is the view of the approver of a pending request: the current access only
	// (deciding.go).
	Limited bool `json:"limited,omitempty"`
}

// AccountView is a person's account in a directory.
type AccountView struct {
	Directory string `json:"directory"`
	Username  string `json:"username"`
	DN        string `json:"dn,omitempty"`
	State     string `json:"state"`
	// Origin is created (behorig made the entry) or linked (it existed; see LinkedBy).
	Origin   string `json:"origin"`
	LinkedBy string `json:"linkedBy,omitempty"`
}

// GrantView is one grant of a person.
type GrantView struct {
	ID            string     `json:"id"`
	System        string     `json:"system"`
	SystemName    string     `json:"systemName"`
	Role          string     `json:"role,omitempty"`
	RoleName      string     `json:"roleName,omitempty"`
	Unit          UnitRef    `json:"unit"`
	Group         string     `json:"group"`
	State         string     `json:"state"`
	ValidFrom     string     `json:"validFrom,omitempty"`
	ValidTo       string     `json:"validTo,omitempty"`
	StartsAt      time.Time  `json:"startsAt"`
	EndsAt        *time.Time `json:"endsAt,omitempty"`
	RequestID     string     `json:"requestId"`
	RequestNumber string     `json:"requestNumber"`
}

// Person returns one person, if the actor may see them: IT sees everyone, others the
// persons of requests they may see, and the approver of a pending request the person's
// current access (deciding.go).
func (s *Service) Person(ctx context.Context, actor Actor, id string) (PersonView, error) {
	return s.person(ctx, actor, id, true)
}

// person is Person; withDecisions lets the approver of a pending request see the person.
func (s *Service) person(ctx context.Context, actor Actor, id string, withDecisions bool) (PersonView, error) {
	var v PersonView
	var sealed []byte
	var linkRequired string
	err := s.db.QueryRow(ctx, `SELECT id::text, personnummer_enc, given_name, surname, email, mobile, employee_type, link_required
		FROM persons WHERE id = $1`, uuidOrNull(id)).Scan(&v.ID, &sealed, &v.GivenName, &v.Surname, &v.Email, &v.Mobile, &v.EmployeeType,
		&linkRequired)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("person %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("read person %s: %w", id, err)
	}
	ok, err := s.canSeePerson(ctx, actor, v.ID)
	if err != nil {
		return v, err
	}
	// The approver of a pending request sees the person's current access before deciding.
	deciding := false
	if withDecisions && !actor.IT() {
		if deciding, err = s.decidesForPerson(ctx, actor, v.ID); err != nil {
			return v, err
		}
	}
	if !ok && !deciding {
		return PersonView{}, fmt.Errorf("person %s: %w", id, ErrNotFound)
	}
	if v.Personnummer, err = s.showPersonnummer(actor, sealed); err != nil {
		return v, err
	}
	if actor.IT() {
		v.LinkRequired = linkRequired
	}
	if v.Accounts, err = s.accounts(ctx, v.ID); err != nil {
		return v, err
	}
	if !ok {
		onlyAccess(&v)
	}
	if v.Grants, err = s.grants(ctx, v.ID); err != nil || actor.IT() {
		return v, err
	}
	// Others than IT see the grants of the requests they may see, not the person's others.
	visible, err := s.visibleRequestsOf(ctx, actor, v.ID, false)
	if err != nil {
		return v, err
	}
	mine := v.Grants[:0]
	for _, g := range v.Grants {
		if visible[g.RequestID] || deciding && g.State != GrantRevoked {
			mine = append(mine, g)
		}
	}
	v.Grants = mine
	return v, nil
}

// FindPersons looks a person up by personnummer through the blind index. A malformed number
// is a *ValidationError; no match (or no right to see the match) is an empty list.
func (s *Service) FindPersons(ctx context.Context, actor Actor, pnr string) ([]PersonView, error) {
	n, err := personnummer.Parse(pnr, s.clock.Now())
	if err != nil {
		return nil, &ValidationError{Errors: []FieldError{{Field: "personnummer", Message: err.Error(), Format: "%v", Args: []any{err}}}}
	}
	var id string
	err = s.db.QueryRow(ctx, "SELECT id::text FROM persons WHERE personnummer_index = $1", s.pnrIndex(n)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return []PersonView{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find person: %w", err)
	}
	// Found by personnummer only as someone the actor may see through an approved request:
	// approving a request does not make its person someone to terminate or change.
	p, err := s.person(ctx, actor, id, false)
	if errors.Is(err, ErrNotFound) {
		return []PersonView{}, nil
	}
	if err != nil {
		return nil, err
	}
	return []PersonView{p}, nil
}

func (s *Service) canSeePerson(ctx context.Context, actor Actor, personID string) (bool, error) {
	if actor.IT() {
		return true, nil
	}
	visible, err := s.visibleRequestsOf(ctx, actor, personID, true)
	return len(visible) > 0, err
}

// visibleRequestsOf returns the ids of the person's requests the actor may see; approved
// keeps only those a manager has approved. A person becomes visible to others than IT
// through an approved request only: anyone may type a personnummer into a form, and that
// alone must not show who it is.
func (s *Service) visibleRequestsOf(ctx context.Context, actor Actor, personID string, approved bool) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text, requester_id::text, unit_id::text FROM requests
		WHERE person_id = $1 AND (approved_by_manager OR NOT $2)`, personID, approved)
	if err != nil {
		return nil, fmt.Errorf("read requests of person %s: %w", personID, err)
	}
	reqs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (requestRow, error) {
		var r requestRow
		return r, row.Scan(&r.id, &r.requesterID, &r.unitID)
	})
	if err != nil {
		return nil, fmt.Errorf("read requests of person %s: %w", personID, err)
	}
	visible := map[string]bool{}
	for _, r := range reqs {
		ok, err := s.canSee(ctx, s.db, actor, r)
		if err != nil {
			return nil, err
		}
		if ok {
			visible[r.id] = true
		}
	}
	return visible, nil
}

func (s *Service) accounts(ctx context.Context, personID string) ([]AccountView, error) {
	rows, err := s.db.Query(ctx, "SELECT directory, username, dn, state, origin, linked_by FROM accounts WHERE person_id = $1 ORDER BY directory", personID)
	if err != nil {
		return nil, fmt.Errorf("read accounts of person %s: %w", personID, err)
	}
	accounts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccountView, error) {
		var a AccountView
		return a, row.Scan(&a.Directory, &a.Username, &a.DN, &a.State, &a.Origin, &a.LinkedBy)
	})
	if err != nil {
		return nil, fmt.Errorf("read accounts of person %s: %w", personID, err)
	}
	if accounts == nil {
		accounts = []AccountView{}
	}
	return accounts, nil
}

func (s *Service) grants(ctx context.Context, personID string) ([]GrantView, error) {
	rows, err := s.db.Query(ctx, `SELECT g.id::text, g.system_id, sy.name, coalesce(g.role_id, ''), coalesce(ro.name, ''),
			u.id::text, u.name, u.ansvarskod, g.group_name, g.state, g.valid_from, g.valid_to, g.starts_at, g.ends_at, r.id::text, r.number
		FROM grants g JOIN units u ON u.id = g.unit_id JOIN requests r ON r.id = g.request_id
			JOIN systems sy ON sy.id = g.system_id
			LEFT JOIN system_roles ro ON ro.system_id = g.system_id AND ro.id = g.role_id
		WHERE g.person_id = $1 ORDER BY g.starts_at, g.system_id`, personID)
	if err != nil {
		return nil, fmt.Errorf("read grants of person %s: %w", personID, err)
	}
	grants, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (GrantView, error) {
		var g GrantView
		var from, to *time.Time
		err := row.Scan(&g.ID, &g.System, &g.SystemName, &g.Role, &g.RoleName, &g.Unit.ID, &g.Unit.Name, &g.Unit.Ansvarskod, &g.Group, &g.State,
			&from, &to, &g.StartsAt, &g.EndsAt, &g.RequestID, &g.RequestNumber)
		g.ValidFrom, g.ValidTo = formatDate(from), formatDate(to)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("read grants of person %s: %w", personID, err)
	}
	if grants == nil {
		grants = []GrantView{}
	}
	return grants, nil
}

// withoutInternals keeps IT's internal matters from other readers: that an internal comment
// was made, and the note on a verified paper form.
func withoutInternals(events []EventView) []EventView {
	out := events[:0]
	for _, e := range events {
		var data map[string]any
		json.Unmarshal(e.Data, &data)
		switch {
		case e.Action == "comment.added" && data["internal"] == true:
			continue
		case e.Action == "terms.paper_verified":
			delete(data, "note")
			e.Data, _ = json.Marshal(data)
		}
		out = append(out, e)
	}
	return out
}
