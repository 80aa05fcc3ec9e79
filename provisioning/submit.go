package provisioning

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/personnummer"
	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/internal/username"
)

// Request kinds.
const (
	KindGrant     = "grant"
	KindTerminate = "terminate"
	// KindChange adds to and ends some of the grants of a person who has access (change.go).
	KindChange = "change"
	// KindRemoteAccess (remoteaccess.go) is declared with the order it names.
)

// Employee types.
const (
	EmployeeTypeEmployee   = "employee"
	EmployeeTypeConsultant = "consultant"
)

// SubmitInput is a new request as a requester fills it in.
type SubmitInput struct {
	Kind       string      // grant (default), terminate or change
	Person     PersonInput // for terminate and change: ID or Personnummer of a known person
	Unit       string      // unit id or ansvarskod
	CostCentre string      // default: the unit's ansvarskod
	Reason     string
	// Description is what the requester wants the handler to know ("Beskrivning").
	Description string
	// Attachments are stored with the request, in its transaction.
	Attachments []Upload
	ValidFrom   string // YYYY-MM-DD; empty = as soon as possible
	ValidTo     string // YYYY-MM-DD; required for consultants
	// EffectiveDate is when a termination takes effect (YYYY-MM-DD); empty or today = now.
	EffectiveDate string
	Items         []ItemInput
	// OtherSystem is "Annat system": a system the catalog lacks, in the requester's words.
	// IT handles it by hand; it never reaches the directory.
	OtherSystem string
	// End names the grants a change request ends (change.go).
	End      []EndInput
	Approver string // principal id, subject or e-mail
	// RemoteFactor is a remote-access order's second factor: sms or yubikey (remoteaccess.go).
	RemoteFactor string
	// SubmitToken names this submission (the form's hidden token, the API's Idempotency-Key):
	// a second Submit by the same requester with the same token stores nothing and returns
	// the first request. Empty: every Submit is new.
	SubmitToken string
}

// Upload is a file sent with a request.
type Upload struct {
	Name string
	Data []byte
}

// PersonInput names the person a request is for.
type PersonInput struct {
	ID           string
	Personnummer string
	GivenName    string
	Surname      string
	Email        string
	Mobile       string
	EmployeeType string
	Username     string // an existing account's username; empty for a new account
	JobTitle     string
}

// ItemInput is one system (with role and unit) applied for.
type ItemInput struct {
	System string
	Role   string
	Unit   string // unit id or ansvarskod; empty = the request's unit
}

// Submitted is what a requester gets back.
type Submitted struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Status string `json:"status"`
	// Repeated is set when the SubmitToken named an earlier request, which this is.
	Repeated bool `json:"-"`
}

const (
	maxNameLen   = 64
	maxReasonLen = 2000
	maxItems     = 50
)

var (
	mobilePattern   = regexp.MustCompile(`^\+?[0-9]{7,15}$`)
	usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,19}$`)
)

// validated is a SubmitInput checked and resolved against the database.
type validated struct {
	kind                string
	pnr                 personnummer.Number
	personID            string // terminate and change: the known person
	person              PersonInput
	unitID, costCentre  string
	validFrom, validTo  time.Time
	effective           time.Time
	items               []validItem
	endings             []validEnding // change: the grants to end
	approverID          string
	reason, description string
	otherSystem         string
	attachments         []checkedUpload
	termsRequired       bool
	// scope holds the units the requester may name, when confined to an external
	// organisation (organisationUnits); nil for everyone else.
	scope               []string
	requesterIsApprover bool   // and so attests in the same step
	usernameCheck       string // what the directory said of person.Username (see requests.username_check)
	remoteFactor        string // a remote-access order's second factor
}

type checkedUpload struct {
	name, contentType string
	data              []byte
}

type validItem struct {
	systemID, roleID, unitID string
}

// Submit validates a request and stores it. Every problem is reported at once as a
// *ValidationError, and nothing is stored then. When the requester is the approver and has
// attestation rights for the unit, the request is attested in the same step.
func (s *Service) Submit(ctx context.Context, actor Actor, in SubmitInput) (Submitted, error) {
	if out, found, err := s.submittedBefore(ctx, actor, in.SubmitToken); err != nil || found {
		return out, err
	}
	v, err := s.validate(ctx, actor, in)
	if err != nil {
		return Submitted{}, err
	}
	var out Submitted
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = s.insertRequest(ctx, tx, actor, v); err != nil {
			return err
		}
		return keepSubmitToken(ctx, tx, out.ID, in.SubmitToken)
	})
	if isUniqueViolation(err) {
		// The same token twice at once: the other submission stored the request.
		if first, found, ferr := s.submittedBefore(ctx, actor, in.SubmitToken); ferr == nil && found {
			return first, nil
		}
	}
	if err != nil {
		return Submitted{}, err
	}
	return out, nil
}

func (s *Service) validate(ctx context.Context, actor Actor, in SubmitInput) (*validated, error) {
	ve := &ValidationError{}
	v := &validated{kind: in.Kind, person: in.Person}
	if v.kind == "" {
		v.kind = KindGrant
	}
	var err error
	if v.scope, err = organisationUnits(ctx, s.db, actor); err != nil {
		return nil, err
	}
	if v.kind != KindGrant && v.kind != KindTerminate && v.kind != KindChange && v.kind != KindRemoteAccess {
		ve.add("kind", "must be grant, terminate, change or remote_access")
	}
	if in.RemoteFactor != "" && v.kind != KindRemoteAccess {
		ve.add("remoteFactor", "is only for remote_access orders")
	}
	if err := s.validateUnit(ctx, in, v, ve); err != nil {
		return nil, err
	}
	v.reason = strings.TrimSpace(in.Reason)
	if len(v.reason) > maxReasonLen {
		ve.add("reason", "is longer than %d characters", maxReasonLen)
	}
	v.description = strings.TrimSpace(in.Description)
	if len(v.description) > maxReasonLen {
		ve.add("description", "is longer than %d characters", maxReasonLen)
	}
	if len(in.Attachments) > maxAttachments {
		ve.add("files", "a request holds at most %d attachments", maxAttachments)
	}
	for _, u := range in.Attachments {
		name, contentType, err := CheckAttachment(u.Name, u.Data)
		var fve *ValidationError
		if errors.As(err, &fve) {
			for _, fe := range fve.Errors {
				fe.Field = "files"
				ve.Errors = append(ve.Errors, fe)
			}
			continue
		}
		v.attachments = append(v.attachments, checkedUpload{name, contentType, u.Data})
	}
	v.person.JobTitle = strings.TrimSpace(v.person.JobTitle)
	if len(v.person.JobTitle) > maxNameLen {
		ve.add("person.jobTitle", "is longer than %d characters", maxNameLen)
	}
	switch v.kind {
	case KindGrant:
		err = s.validateGrant(ctx, in, v, ve)
	case KindTerminate:
		err = s.validateTermination(ctx, actor, in, v, ve)
	case KindChange:
		err = s.validateChange(ctx, actor, in, v, ve)
	case KindRemoteAccess:
		err = s.validateRemoteAccess(ctx, in, v, ve)
	}
	if err != nil {
		return nil, err
	}
	if err := s.validateApprover(ctx, actor, in.Approver, v, ve); err != nil {
		return nil, err
	}
	return v, ve.err()
}

func (s *Service) validateUnit(ctx context.Context, in SubmitInput, v *validated, ve *ValidationError) error {
	if strings.TrimSpace(in.Unit) == "" {
		ve.add("unit", "is required")
		return nil
	}
	var ansvarskod string
	id, err := s.findUnit(ctx, in.Unit, v.scope, &ansvarskod)
	if errors.Is(err, ErrNotFound) {
		ve.add("unit", "no unit has the id or ansvarskod %q", in.Unit)
		return nil
	} else if err != nil {
		return err
	}
	v.unitID = id
	v.costCentre = strings.TrimSpace(in.CostCentre)
	if v.costCentre == "" {
		v.costCentre = ansvarskod
	} else if len(v.costCentre) > maxNameLen {
		ve.add("costCentre", "is longer than %d characters", maxNameLen)
	}
	return nil
}

// findUnit resolves a unit id or ansvarskod among the units of scope (nil: all). A unit
// outside the scope is not found, the same answer as for no such unit, so that an external
// organisation's requester cannot learn which units another organisation has.
func (s *Service) findUnit(ctx context.Context, ref string, scope []string, ansvarskod *string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT id::text, ansvarskod FROM units
		WHERE (ansvarskod = $1 OR id = $3) AND ($2::uuid[] IS NULL OR id = ANY($2))`,
		strings.TrimSpace(ref), scope, uuidOrNull(strings.TrimSpace(ref))).Scan(&id, ansvarskod)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find unit %q: %w", ref, err)
	}
	return id, nil
}

func (s *Service) validateGrant(ctx context.Context, in SubmitInput, v *validated, ve *ValidationError) error {
	s.validatePerson(in.Person, v, ve)
	if err := s.validateRequestedUsername(ctx, v, ve); err != nil {
		return err
	}
	s.validateValidity(in, v, ve)
	if in.EffectiveDate != "" {
		ve.add("effectiveDate", "is only for terminate requests; use validFrom and validTo")
	}
	return s.validateItems(ctx, in, v, ve)
}

func (s *Service) validatePerson(p PersonInput, v *validated, ve *ValidationError) {
	if p.ID != "" {
		ve.add("person.id", "is only for terminate requests; give the personnummer")
	}
	if strings.TrimSpace(p.Personnummer) == "" {
		ve.add("person.personnummer", "is required")
	} else if n, err := personnummer.Parse(p.Personnummer, s.clock.Now()); err != nil {
		ve.add("person.personnummer", "%v", err)
	} else {
		v.pnr = n
	}
	v.person.GivenName = strings.TrimSpace(p.GivenName)
	v.person.Surname = strings.TrimSpace(p.Surname)
	requireName := func(field, value string) {
		switch {
		case value == "":
			ve.add(field, "is required")
		case len([]rune(value)) > maxNameLen:
			ve.add(field, "is longer than %d characters", maxNameLen)
		case textcheck.Line(value) != nil:
			ve.add(field, "contains control characters")
		}
	}
	requireName("person.givenName", v.person.GivenName)
	requireName("person.surname", v.person.Surname)
	v.person.Email = strings.TrimSpace(p.Email)
	if v.person.Email != "" {
		if addr, err := mail.ParseAddress(v.person.Email); err != nil || addr.Address != v.person.Email {
			ve.add("person.email", "%q is not an e-mail address", v.person.Email)
		}
	}
	v.person.Mobile = strings.NewReplacer(" ", "", "-", "").Replace(p.Mobile)
	if v.person.Mobile != "" && !mobilePattern.MatchString(v.person.Mobile) {
		ve.add("person.mobile", "%q is not a phone number", p.Mobile)
	}
	switch p.EmployeeType {
	case EmployeeTypeEmployee, EmployeeTypeConsultant:
	case "":
		ve.add("person.employeeType", "is required (employee or consultant)")
	default:
		ve.add("person.employeeType", "must be employee or consultant")
	}
	if p.Username != "" && !usernamePattern.MatchString(p.Username) {
		ve.add("person.username", "must be 1–20 characters of a–z, 0–9, '.', '_' or '-'")
	}
	// Without a username the account's is made from the name; a name in another script
	// would be approved and then never provisioned, so the requester must give one now.
	if p.Username == "" && v.person.GivenName != "" && v.person.Surname != "" {
		if _, err := username.Base(v.person.GivenName, v.person.Surname); err != nil {
			ve.add("person.username", "the name has no letters a–z to make a username from; give a username")
		}
	}
}

// validateRequestedUsername refuses a username behorig issued to another person (usernames
// are never reused) or that differs from the account the person already has, and asks the
// directory whether it exists: an existing entry is never taken over silently.
func (s *Service) validateRequestedUsername(ctx context.Context, v *validated, ve *ValidationError) error {
	if v.person.Username == "" || v.pnr.IsZero() {
		return nil
	}
	var taken bool
	var current string
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM usernames u JOIN persons p ON p.id = u.person_id
			WHERE u.username = $1 AND p.personnummer_index <> $2),
		coalesce((SELECT a.username FROM accounts a JOIN persons p ON p.id = a.person_id
			WHERE a.directory = $3 AND p.personnummer_index = $2), '')`,
		v.person.Username, s.pnrIndex(v.pnr), s.dirName).Scan(&taken, &current)
	if err != nil {
		return fmt.Errorf("check username %s: %w", v.person.Username, err)
	}
	switch {
	case taken:
		ve.add("person.username", "%s belongs to someone else; usernames are never reused", v.person.Username)
	case current == v.person.Username:
		v.usernameCheck = UsernameOwn
	case current != "":
		ve.add("person.username", "the person already has the account %s; leave the username empty or give that one", current)
	default:
		return s.checkDirectoryUsername(ctx, v, ve)
	}
	return nil
}

// What the directory said of a requested username at submission (RequestPerson.UsernameCheck).
const (
	UsernameFree          = "free"           // no entry has it: behorig creates the account
	UsernameOwn           = "own"            // the person's account in behorig
	UsernameIdentityMatch = "identity_match" // an entry whose identity attribute names the person: linked
	UsernameExists        = "exists"         // someone's entry, not linked: IT must confirm before any access
	UsernameUnchecked     = "unchecked"      // the directory did not answer in time; the job checks again
)

// directoryCheckTimeout bounds how long a submission waits for the directory: a slow
// directory must not stall the form. The provisioning job checks again anyway.
const directoryCheckTimeout = 3 * time.Second

func (s *Service) checkDirectoryUsername(ctx context.Context, v *validated, ve *ValidationError) error {
	ref, err := s.lookupWithin(ctx, directoryCheckTimeout, v.person.Username)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		v.usernameCheck = UsernameFree
	case err != nil:
		s.log.WarnContext(ctx, "check requested username", "username", v.person.Username, "err", err)
		v.usernameCheck = UsernameUnchecked
	case ref.Identity == "":
		v.usernameCheck = UsernameExists
	case s.identityIs(ref.Identity, v.pnr):
		v.usernameCheck = UsernameIdentityMatch
	default:
		ve.add("person.username", "%s is another person's account in the directory; leave the username empty for a new account",
			v.person.Username)
	}
	return nil
}

// lookupWithin asks the directory for an account but waits at most d: the connector may be
// busy with a hung call of a job, and a form must not wait for it. The look-up left behind
// ends with the directory's own timeout, or at once when it finds its context ended.
func (s *Service) lookupWithin(ctx context.Context, d time.Duration, username string) (connectors.AccountRef, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type answer struct {
		ref connectors.AccountRef
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		ref, err := s.dir.LookupAccount(ctx, username)
		answers <- answer{ref, err}
	}()
	select {
	case a := <-answers:
		return a.ref, a.err
	case <-ctx.Done():
		return connectors.AccountRef{}, fmt.Errorf("look up %s: %w", username, ctx.Err())
	}
}

// identityIs tells whether a directory identity value is this personnummer.
func (s *Service) identityIs(identity string, pnr personnummer.Number) bool {
	n, err := personnummer.Parse(strings.TrimSpace(identity), s.clock.Now())
	return err == nil && n.String() == pnr.String()
}

func (s *Service) validateValidity(in SubmitInput, v *validated, ve *ValidationError) {
	today := s.today()
	from, err := parseDate(in.ValidFrom)
	if err != nil {
		ve.add("validFrom", "%v", err)
	} else if !from.IsZero() && from.Before(today) {
		ve.add("validFrom", "%s is in the past; leave it empty for as soon as possible", in.ValidFrom)
	}
	to, errTo := parseDate(in.ValidTo)
	switch {
	case errTo != nil:
		ve.add("validTo", "%v", errTo)
	case to.IsZero() && in.Person.EmployeeType == EmployeeTypeConsultant:
		ve.add("validTo", "is required for consultants")
	case !to.IsZero() && to.Before(today):
		ve.add("validTo", "%s is in the past", in.ValidTo)
	case !to.IsZero() && err == nil && to.Before(from):
		ve.add("validTo", "%s is before validFrom %s", in.ValidTo, in.ValidFrom)
	}
	v.validFrom, v.validTo = from, to
}

func (s *Service) validateItems(ctx context.Context, in SubmitInput, v *validated, ve *ValidationError) error {
	v.otherSystem = strings.TrimSpace(in.OtherSystem)
	switch {
	case len(v.otherSystem) > maxReasonLen:
		ve.add("otherSystem", "is longer than %d characters", maxReasonLen)
	case textcheck.Text(v.otherSystem) != nil:
		ve.add("otherSystem", "contains control characters")
	}
	if len(in.Items) == 0 && v.otherSystem == "" {
		ve.add("items", "name at least one system")
		return nil
	}
	if len(in.Items) > maxItems {
		ve.add("items", "at most %d systems in one request", maxItems)
		return nil
	}
	seen := map[validItem]bool{}
	for i, item := range in.Items {
		at := fmt.Sprintf("items[%d]", i)
		vi, needsTerms, ok, err := s.validateItem(ctx, at, item, v.unitID, v.scope, ve)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if seen[vi] {
			ve.add(at, "is the same system, role and unit as an earlier item")
			continue
		}
		seen[vi] = true
		v.items = append(v.items, vi)
		v.termsRequired = v.termsRequired || needsTerms
	}
	return nil
}

func (s *Service) validateItem(ctx context.Context, at string, item ItemInput, defaultUnit string, scope []string, ve *ValidationError) (validItem, bool, bool, error) {
	vi := validItem{systemID: strings.TrimSpace(item.System), roleID: strings.TrimSpace(item.Role), unitID: defaultUnit}
	var hasRoles, needsTerms, remoteAccess bool
	err := s.db.QueryRow(ctx, "SELECT has_roles, needs_terms, remote_access FROM systems WHERE id = $1", vi.systemID).
		Scan(&hasRoles, &needsTerms, &remoteAccess)
	if errors.Is(err, pgx.ErrNoRows) {
		ve.add(at+".system", "%q is not a system in the catalog", item.System)
		return vi, false, false, nil
	} else if err != nil {
		return vi, false, false, fmt.Errorf("look up system %q: %w", item.System, err)
	}
	if !remoteFlagFits(ve, at+".system", KindGrant, vi.systemID, remoteAccess) {
		return vi, false, false, nil
	}
	ok := true
	switch {
	case hasRoles && vi.roleID == "":
		ve.add(at+".role", "is required for %s", vi.systemID)
		ok = false
	case !hasRoles && vi.roleID != "":
		ve.add(at+".role", "%s is a yes/no system without roles", vi.systemID)
		ok = false
	case hasRoles:
		var exists bool
		if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM system_roles WHERE system_id = $1 AND id = $2)",
			vi.systemID, vi.roleID).Scan(&exists); err != nil {
			return vi, false, false, fmt.Errorf("look up role %q of %s: %w", vi.roleID, vi.systemID, err)
		}
		if !exists {
			ve.add(at+".role", "%q is not a role of %s", item.Role, vi.systemID)
			ok = false
		}
	}
	if item.Unit != "" {
		var code string
		id, err := s.findUnit(ctx, item.Unit, scope, &code)
		if errors.Is(err, ErrNotFound) {
			ve.add(at+".unit", "no unit has the id or ansvarskod %q", item.Unit)
			ok = false
		} else if err != nil {
			return vi, false, false, err
		}
		vi.unitID = id
	}
	return vi, needsTerms, ok && vi.unitID != "", nil
}

func (s *Service) validateTermination(ctx context.Context, actor Actor, in SubmitInput, v *validated, ve *ValidationError) error {
	if len(in.Items) > 0 {
		ve.add("items", "a termination ends all of the person's grants; name no items")
	}
	if in.ValidFrom != "" || in.ValidTo != "" {
		ve.add("effectiveDate", "a termination has an effectiveDate, not validFrom/validTo")
	}
	eff, err := parseDate(in.EffectiveDate)
	switch {
	case err != nil:
		ve.add("effectiveDate", "%v", err)
	case eff.IsZero():
		eff = s.today()
	case eff.Before(s.today()):
		ve.add("effectiveDate", "%s is in the past", in.EffectiveDate)
	}
	v.effective = eff
	return s.validateKnownPerson(ctx, actor, in.Person, v, ve)
}

// validateKnownPerson finds the person a termination or a change is for: someone the actor
// may see, by id or personnummer.
func (s *Service) validateKnownPerson(ctx context.Context, actor Actor, p PersonInput, v *validated, ve *ValidationError) error {
	id, err := s.findPerson(ctx, p)
	if err == nil {
		// A person the actor may not see is reported as unknown, so numbers cannot be probed.
		if visible, verr := s.canSeePerson(ctx, actor, id); verr != nil {
			return verr
		} else if !visible {
			err = ErrNotFound
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		ve.add("person", "no known person matches; give person.id or person.personnummer of someone with access")
	case errors.Is(err, errBadPersonnummer):
		ve.add("person.personnummer", "%v", err)
	case err != nil:
		return err
	}
	v.personID = id
	return nil
}

var errBadPersonnummer = errors.New("invalid personnummer")

func (s *Service) findPerson(ctx context.Context, p PersonInput) (string, error) {
	var id string
	var err error
	switch {
	case p.ID != "":
		err = s.db.QueryRow(ctx, "SELECT id::text FROM persons WHERE id = $1", uuidOrNull(p.ID)).Scan(&id)
	case p.Personnummer != "":
		n, perr := personnummer.Parse(p.Personnummer, s.clock.Now())
		if perr != nil {
			return "", fmt.Errorf("%w: %w", errBadPersonnummer, perr)
		}
		err = s.db.QueryRow(ctx, "SELECT id::text FROM persons WHERE personnummer_index = $1", s.pnrIndex(n)).Scan(&id)
	default:
		return "", ErrNotFound
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find person: %w", err)
	}
	return id, nil
}

func (s *Service) validateApprover(ctx context.Context, actor Actor, ref string, v *validated, ve *ValidationError) error {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		ve.add("approver", "is required: the manager with attestation rights who approves")
		return nil
	}
	// By id (the form's "Jag är chef"), user id, e-mail, or the name of a manager of the
	// requester's organisation; a name two managers share names neither.
	rows, err := s.db.Query(ctx, `SELECT p.id::text, p.display_name,
			CASE WHEN p.id IS NOT DISTINCT FROM $2 THEN 0 WHEN p.subject = $1 THEN 1
				WHEN p.email <> '' AND lower(p.email) = lower($1) THEN 2 ELSE 3 END AS how
		FROM principals p
		WHERE p.id = $2 OR p.subject = $1 OR (p.email <> '' AND lower(p.email) = lower($1))
			OR (lower(p.display_name) = lower($1) AND EXISTS (SELECT 1 FROM unit_managers m
				WHERE m.principal_id = p.id AND ($3::uuid[] IS NULL OR m.unit_id = ANY($3))))
		ORDER BY how LIMIT 2`, ref, uuidOrNull(ref), v.scope)
	if err != nil {
		return fmt.Errorf("find approver %q: %w", ref, err)
	}
	type match struct {
		id, name string
		how      int
	}
	matches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (match, error) {
		var m match
		return m, row.Scan(&m.id, &m.name, &m.how)
	})
	if err != nil {
		return fmt.Errorf("find approver %q: %w", ref, err)
	}
	switch {
	case len(matches) == 0:
		ve.add("approver", "no user %q is known", ref)
		return nil
	case len(matches) == 2 && matches[0].how == 3 && matches[1].how == 3:
		ve.add("approver", "several managers are called %q; give the e-mail or user id", ref)
		return nil
	}
	v.approverID = matches[0].id
	if matches[0].how == 0 {
		ref = matches[0].name // messages name the manager, never an id
	}
	if v.scope != nil {
		// Someone who manages no unit of the requester's organisation is as unknown as no
		// one, so that another organisation's managers cannot be probed.
		var inOrganisation bool
		if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unit_managers
			WHERE principal_id = $1 AND unit_id = ANY($2::uuid[]))`, v.approverID, v.scope).Scan(&inOrganisation); err != nil {
			return fmt.Errorf("find approver %q: %w", ref, err)
		}
		if !inOrganisation {
			v.approverID = ""
			ve.add("approver", "no user %q is known", ref)
			return nil
		}
	}
	if v.unitID == "" {
		return nil
	}
	units := v.unitIDs()
	if v.kind == KindTerminate && v.personID != "" {
		// A termination ends all of the person's grants: the approver answers for their units.
		rows, err := s.db.Query(ctx, "SELECT DISTINCT unit_id::text FROM grants WHERE person_id = $1 AND state <> 'revoked'", v.personID)
		if err != nil {
			return fmt.Errorf("units of the grants of the person: %w", err)
		}
		granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("units of the grants of the person: %w", err)
		}
		units = append(units, granted...)
	}
	// A change ends grants too: the approver answers for their units as well.
	for _, e := range v.endings {
		if !slices.Contains(units, e.unitID) {
			units = append(units, e.unitID)
		}
	}
	ok, err := attestsAll(ctx, s.db, v.approverID, units)
	if err != nil {
		return err
	}
	if !ok {
		ve.add("approver", "%q has no attestation rights for the unit", ref)
		return nil
	}
	v.requesterIsApprover = v.approverID == actor.ID
	return nil
}

// unitIDs are the units a request reaches: its own and those of its items.
func (v *validated) unitIDs() []string {
	ids := []string{v.unitID}
	for _, it := range v.items {
		if it.unitID != "" && !slices.Contains(ids, it.unitID) {
			ids = append(ids, it.unitID)
		}
	}
	return ids
}

// attestsAll tells whether the principal may attest for every one of the units: an item
// for another unit gives access there, so its manager must agree.
func attestsAll(ctx context.Context, q querier, principalID string, unitIDs []string) (bool, error) {
	for _, id := range unitIDs {
		ok, err := canAttest(ctx, q, principalID, id)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// batchQuerier is a querier that also sends several queries in one round trip.
type batchQuerier interface {
	querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// canAttest tells whether the principal manages the unit or one of its ancestors.
func canAttest(ctx context.Context, q querier, principalID, unitID string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `WITH RECURSIVE up AS (
			SELECT id, parent_id FROM units WHERE id = $2
			UNION ALL SELECT u.id, u.parent_id FROM units u JOIN up ON u.id = up.parent_id)
		SELECT EXISTS (SELECT 1 FROM unit_managers m JOIN up ON m.unit_id = up.id WHERE m.principal_id = $1)`,
		principalID, unitID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check attestation rights for unit %s: %w", unitID, err)
	}
	return ok, nil
}

const personnummerContext = "persons.personnummer"

// PersonnummerContext is the context under which a person's personnummer is sealed and
// blind-indexed (secret.Box), for loaders that write persons in bulk (the scale fixture).
const PersonnummerContext = personnummerContext

func (s *Service) pnrIndex(n personnummer.Number) []byte {
	return s.box.Index([]byte(n.String()), personnummerContext)
}

func (s *Service) insertRequest(ctx context.Context, tx pgx.Tx, actor Actor, v *validated) (Submitted, error) {
	if err := lockItemSystems(ctx, tx, v); err != nil {
		return Submitted{}, err
	}
	personID := v.personID
	if v.kind == KindGrant || v.kind == KindRemoteAccess {
		var err error
		if personID, err = s.upsertPerson(ctx, tx, v); err != nil {
			return Submitted{}, err
		}
	}
	now := s.clock.Now()
	// Every submission of the year waits for the request-number counter's row and holds it
	// until it commits, so the number is taken last: the request goes in under a placeholder
	// and the audit event's id is taken with it, and only the number, the event and the
	// commit run while the row is held.
	var auditID int64
	r := Submitted{Status: StatusAwaitingApproval}
	err := tx.QueryRow(ctx, `INSERT INTO requests (number, kind, status, requester_id, approver_id, person_id, unit_id,
		cost_centre, reason, valid_from, valid_to, effective_date, terms_required, approved_by_submitter, created_at, updated_at,
		description, person_given_name, person_surname, person_email, person_mobile, person_username, person_job_title,
		person_employee_type, username_check, other_system, remote_factor)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, true, $14, $14, $15,
			COALESCE(NULLIF($16, ''), (SELECT given_name FROM persons WHERE id = $6)),
			COALESCE(NULLIF($17, ''), (SELECT surname FROM persons WHERE id = $6)), $18, $19, $20, $21, $22, $23, $24,
			NULLIF($25, '')) RETURNING id::text, `+audit.NextID,
		"pending-"+rand.Text(), v.kind, r.Status, actor.ID, v.approverID, personID, v.unitID, v.costCentre, v.reason,
		datePtr(v.validFrom), datePtr(v.validTo), datePtr(v.effective), v.termsRequired, now, v.description,
		v.person.GivenName, v.person.Surname, v.person.Email, v.person.Mobile, v.person.Username, v.person.JobTitle,
		v.person.EmployeeType, v.usernameCheck, v.otherSystem, v.remoteFactor).Scan(&r.ID, &auditID)
	if err != nil {
		return Submitted{}, fmt.Errorf("insert request: %w", err)
	}
	if err := insertItems(ctx, tx, r.ID, v.items); err != nil {
		return Submitted{}, err
	}
	if err := insertEndings(ctx, tx, r.ID, v.endings); err != nil {
		return Submitted{}, err
	}
	for _, a := range v.attachments {
		if _, err := s.storeAttachment(ctx, tx, actor.Subject, actor.ID, "attachment.added",
			newAttachment{r.ID, personID, a.name, a.contentType, a.data}); err != nil {
			return Submitted{}, err
		}
	}
	// Before the number: the counter's row is held from numberRequest to the commit.
	if err := s.scheduleCertificateDeadline(ctx, tx, r.ID, now); err != nil {
		return Submitted{}, err
	}
	if err := s.notify(ctx, tx, submittedNotices(r.ID, personID, actor.ID, v.approverID, v.requesterIsApprover)...); err != nil {
		return Submitted{}, err
	}
	if r.Number, err = numberRequest(ctx, tx, r.ID, now.In(s.loc).Year()); err != nil {
		return Submitted{}, err
	}
	data := map[string]any{"number": r.Number, "kind": v.kind, "items": len(v.items)}
	if v.kind == KindChange {
		data["ends"] = len(v.endings)
	}
	if err := s.audit.AppendWithID(ctx, tx, auditID, audit.Event{At: s.clock.Now(), Actor: actor.Subject,
		Action: "request.submitted", RequestID: r.ID, PersonID: personID, Data: data}); err != nil {
		return Submitted{}, err
	}
	if v.requesterIsApprover {
		req, err := s.lockRequest(ctx, tx, r.ID)
		if err != nil {
			return Submitted{}, err
		}
		if r.Status, err = s.approve(ctx, tx, actor, req); err != nil {
			return Submitted{}, err
		}
	}
	return r, nil
}

// insertItems stores the request's items in one statement, numbered in their order.
func insertItems(ctx context.Context, tx pgx.Tx, requestID string, items []validItem) error {
	if len(items) == 0 {
		return nil
	}
	systems, roles, units := make([]string, len(items)), make([]string, len(items)), make([]string, len(items))
	for i, item := range items {
		systems[i], roles[i], units[i] = item.systemID, item.roleID, item.unitID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO request_items (request_id, position, system_id, role_id, unit_id)
		SELECT $1, i.n - 1, i.system, NULLIF(i.role, ''), i.unit::uuid
		FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS i(system, role, unit, n)`,
		requestID, systems, roles, units); err != nil {
		return fmt.Errorf("insert %d items of request %s: %w", len(items), requestID, err)
	}
	return nil
}

// upsertPerson finds the person by personnummer, or makes a new one with only the number and
// the name. Nothing the request says about the person (e-mail, mobile, username, title) is
// applied before approval: anyone may type a personnummer into a form, and an unapproved
// request must not redirect someone's e-mail or put access on another account.
func (s *Service) upsertPerson(ctx context.Context, tx pgx.Tx, v *validated) (string, error) {
	pnr := v.pnr.String()
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO persons (personnummer_enc, personnummer_index, birth_date, given_name, surname, employee_type)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (personnummer_index) DO UPDATE SET personnummer_index = EXCLUDED.personnummer_index
		RETURNING id::text`,
		s.box.Seal([]byte(pnr), personnummerContext), s.pnrIndex(v.pnr), v.pnr.BirthDate(),
		v.person.GivenName, v.person.Surname, v.person.EmployeeType).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("store person: %w", err)
	}
	return id, nil
}

// numberRequest gives the request its number, BEH-YYYY-NNNNNN, counting from 1 each year
// without gaps: the counter moves in the request's transaction.
func numberRequest(ctx context.Context, tx pgx.Tx, requestID string, year int) (string, error) {
	var number string
	err := tx.QueryRow(ctx, `WITH n AS (
			INSERT INTO request_numbers (year, last) VALUES ($2, 1)
			ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + 1 RETURNING last)
		UPDATE requests r SET number = 'BEH-' || $2::int || '-' || lpad(n.last::text, greatest(6, length(n.last::text)), '0')
		FROM n WHERE r.id = $1 RETURNING r.number`, requestID, year).Scan(&number)
	if err != nil {
		return "", fmt.Errorf("number request %s: %w", requestID, err)
	}
	return number, nil
}

// lockItemSystems checks the remote-access flag of the items' systems again, in the
// submission's transaction and key-share locked until it commits. Validation read the flags
// before; an administrator may have changed one since (SaveSystem, which holds the system
// FOR UPDATE while it counts the system's open requests and changes the flag): the lock
// waits for that change and reads the flag it saved, and a change that comes later waits for
// this submission and counts its request.
func lockItemSystems(ctx context.Context, tx pgx.Tx, v *validated) error {
	if len(v.items) == 0 {
		return nil
	}
	ids := make([]string, len(v.items))
	for i, it := range v.items {
		ids[i] = it.systemID
	}
	rows, err := tx.Query(ctx, "SELECT id, remote_access FROM systems WHERE id = ANY($1) ORDER BY id FOR KEY SHARE", ids)
	if err != nil {
		return fmt.Errorf("lock the systems of %d items: %w", len(ids), err)
	}
	remote := map[string]bool{}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var id string
		var r bool
		err := row.Scan(&id, &r)
		remote[id] = r
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("lock the systems of %d items: %w", len(ids), err)
	}
	ve := &ValidationError{}
	for i, it := range v.items {
		remoteFlagFits(ve, fmt.Sprintf("items[%d].system", i), v.kind, it.systemID, remote[it.systemID])
	}
	return ve.err()
}

// remoteFlagFits tells whether a system whose remote-access flag is remote may be an item
// of a request of kind, and adds the error at field when not: remote access needs its
// second factor, which only the remote-access order asks for, and that order grants nothing
// else.
func remoteFlagFits(ve *ValidationError, field, kind, systemID string, remote bool) bool {
	switch {
	case kind == KindRemoteAccess && !remote:
		ve.add(field, "%q is not a remote-access system of the catalog", systemID)
	case kind != KindRemoteAccess && remote:
		ve.add(field, "%s is ordered with the remote-access order (kind remote_access)", systemID)
	default:
		return true
	}
	return false
}
