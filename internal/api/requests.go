package api

import (
	"errors"
	"net/http"
	"strings"

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
	Approver      string     `json:"approver"`
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
	return provisioning.SubmitInput{Kind: b.Kind, Person: provisioning.PersonInput(b.Person), Unit: b.Unit,
		CostCentre: b.CostCentre, Reason: b.Reason, Description: b.Description, ValidFrom: b.ValidFrom, ValidTo: b.ValidTo,
		EffectiveDate: b.EffectiveDate, Items: items, Approver: b.Approver}
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

func (s *Server) findPersons(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	pnr := r.URL.Query().Get("personnummer")
	if pnr == "" {
		s.problem(w, r, http.StatusBadRequest, "Give ?personnummer=", []provisioning.FieldError{{Field: "personnummer", Message: "is required"}})
		return
	}
	persons, err := s.service.FindPersons(r.Context(), actor, pnr)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"persons": persons})
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
