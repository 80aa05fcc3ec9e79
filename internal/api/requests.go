package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/provisioning"
)

type submitBody struct {
	Kind          string     `json:"kind"`
	Person        personBody `json:"person"`
	Unit          string     `json:"unit"`
	CostCentre    string     `json:"costCentre"`
	Reason        string     `json:"reason" text:"multiline"`
	Description   string     `json:"description" text:"multiline"`
	ValidFrom     string     `json:"validFrom"`
	ValidTo       string     `json:"validTo"`
	EffectiveDate string     `json:"effectiveDate"`
	Items         []itemBody `json:"items"`
	OtherSystem   string     `json:"otherSystem" text:"multiline"`
	Approver      string     `json:"approver"`
	// RemoteFactor is a remote-access order's second factor: sms or yubikey.
	RemoteFactor string `json:"remoteFactor"`

	// End lists the grants a change request ends.
	End []endBody `json:"end"`
}

// endBody names a grant a change ends: by its id (from GET /api/v1/persons/{id}), or as
// system, role and unit (every grant of the person that matches).
type endBody struct {
	ID            string `json:"id"`
	System        string `json:"system"`
	Role          string `json:"role"`
	Unit          string `json:"unit"`
	EffectiveDate string `json:"effectiveDate"`
}

type personBody struct {
	ID           string `json:"id"`
	Personnummer string `json:"personnummer"`
	GivenName    string `json:"givenName"`
	Surname      string `json:"surname"`
	Email        string `json:"email"`
	Mobile       string `json:"mobile"`
	EmployeeType string `json:"employeeType"`
	Username     string `json:"username"`
	JobTitle     string `json:"jobTitle"`
}

type itemBody struct {
	System string `json:"system"`
	Role   string `json:"role"`
	Unit   string `json:"unit"`
}

func (b submitBody) input() provisioning.SubmitInput {
	items := make([]provisioning.ItemInput, len(b.Items))
	for i, it := range b.Items {
		items[i] = provisioning.ItemInput(it)
	}
	var end []provisioning.EndInput
	for _, e := range b.End {
		end = append(end, provisioning.EndInput{Grant: e.ID, System: e.System, Role: e.Role, Unit: e.Unit, EffectiveDate: e.EffectiveDate})
	}
	return provisioning.SubmitInput{Kind: b.Kind, Person: provisioning.PersonInput(b.Person), Unit: b.Unit,
		CostCentre: b.CostCentre, Reason: b.Reason, Description: b.Description, OtherSystem: b.OtherSystem, ValidFrom: b.ValidFrom, ValidTo: b.ValidTo,
		EffectiveDate: b.EffectiveDate, Items: items, End: end, Approver: b.Approver, RemoteFactor: b.RemoteFactor}
}

// submit stores a request. With an Idempotency-Key a repeated call (a retry after a lost
// answer) stores nothing and answers 200 with the request the first call made.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "The Idempotency-Key header is not valid",
			[]provisioning.FieldError{{Field: "Idempotency-Key", Message: err.Error()}})
		return
	}
	var body submitBody
	if !s.decode(w, r, &body) {
		return
	}
	in := body.input()
	in.SubmitToken = key
	out, err := s.service.Submit(r.Context(), actor, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/requests/"+out.ID)
	status := http.StatusCreated
	if out.Repeated {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	v, err := s.service.Request(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type statusBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	status, err := s.service.Approve(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusBody{ID: r.PathValue("id"), Status: status})
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Reason string `json:"reason" text:"multiline"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.service.Reject(r.Context(), actor, r.PathValue("id"), body.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusBody{ID: r.PathValue("id"), Status: provisioning.StatusRejected})
}

func (s *Server) paperTerms(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Note string `json:"note" text:"multiline"`
	}
	if r.ContentLength != 0 && !s.decode(w, r, &body) {
		return
	}
	status, err := s.service.RecordPaperTerms(r.Context(), actor, r.PathValue("id"), body.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusBody{ID: r.PathValue("id"), Status: status})
}

func (s *Server) getPerson(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	v, err := s.service.Person(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// linkAccount is IT confirming that an existing directory account is the person's.
func (s *Server) linkAccount(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Username string `json:"username"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.service.LinkAccount(r.Context(), actor, r.PathValue("id"), body.Username); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getPerson(w, r, actor)
}

// useNewAccount is IT deciding that the person gets a new account instead of the existing one.
func (s *Server) useNewAccount(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if err := s.service.UseNewAccount(r.Context(), actor, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getPerson(w, r, actor)
}

// listRequests answers a page of a list: ?list=mine|approvals|queue|all&status=&unit=&q=&sort=&cursor=.
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	q, ok := s.query(w, r, "list", "status", "unit", "q", "sort", "cursor")
	if !ok {
		return
	}
	page, err := s.service.ListRequests(r.Context(), actor, provisioning.RequestQuery{List: q["list"], Status: q["status"],
		Unit: q["unit"], Q: q["q"], Sort: q["sort"], Cursor: q["cursor"]})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// findPersons looks a person up by ?personnummer= (anyone, as far as they may see the
// person), or answers a page of IT's persons list: ?q=&cursor=.
func (s *Server) findPersons(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	q, ok := s.query(w, r, "personnummer", "q", "cursor")
	if !ok {
		return
	}
	if q["personnummer"] == "" {
		page, err := s.service.ListPersons(r.Context(), actor, q["q"], q["cursor"])
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
		return
	}
	persons, err := s.service.FindPersons(r.Context(), actor, q["personnummer"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"persons": persons})
}

// query reads the named query parameters, each at most once and as valid text; an unknown
// or repeated parameter is refused, so that a misspelt filter is not silently ignored.
func (s *Server) query(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, bool) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	var errs []provisioning.FieldError
	if err != nil {
		errs = append(errs, provisioning.FieldError{Field: "", Message: "the query string is malformed: " + err.Error()})
	}
	out := map[string]string{}
	for name, vs := range values {
		switch {
		case !slices.Contains(names, name) && len(names) == 0:
			errs = append(errs, provisioning.FieldError{Field: name, Message: "is not a parameter here; this takes none"})
		case !slices.Contains(names, name):
			errs = append(errs, provisioning.FieldError{Field: name, Message: "is not a parameter here; use " + strings.Join(names, ", ")})
		case len(vs) > 1:
			errs = append(errs, provisioning.FieldError{Field: name, Message: "is given more than once"})
		case textcheck.Line(vs[0]) != nil:
			errs = append(errs, provisioning.FieldError{Field: name, Message: textcheck.Line(vs[0]).Error()})
		default:
			out[name] = vs[0]
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b provisioning.FieldError) int { return strings.Compare(a.Field, b.Field) })
		s.problem(w, r, http.StatusBadRequest, "The query has invalid parameters", errs)
		return nil, false
	}
	return out, true
}

// errBadKey is an Idempotency-Key that is not 1–255 visible ASCII characters.
var errBadKey = errors.New("must be 1–255 visible ASCII characters, such as a UUID")

// idempotencyKey reads the optional Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > 255 || strings.ContainsFunc(key, func(c rune) bool { return c <= ' ' || c > '~' }) {
		return "", errBadKey
	}
	return key, nil
}
