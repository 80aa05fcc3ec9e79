package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// Remote access in the browser: the order "Beställning fjärråtkomst" (a request of kind
// remote_access, as Norrköping's form has it) and, on the person page, the person's second
// factors with IT's "Lås upp".

// UseRemoteAccess gives the pages remote access's domain service: the order form, the person
// page's factors and keys, the YubiKey pages and the password page's SMS codes. Without it
// the YubiKey pages answer 404, as a site without remote access, the person page shows no
// factors and the password page offers BankID only.
func (s *Server) UseRemoteAccess(ra *remoteaccess.Service) { s.remote = ra }

// remoteFormFields are the plain fields of the order form, kept when it comes back.
var remoteFormFields = []string{"givenName", "surname", "personnummer", "username", "mobile", "employeeType", "remoteFactor",
	"system", "unit", "description", "validFrom", "validTo", "approver", "selfApprove", "submitToken"}

// remoteAnchors are the order form's own ids and labels where they differ from the request
// form's (fieldAnchors).
var remoteAnchors = map[string][2]string{
	"person.mobile": {"mobile", "remote.mobile"},
	"remoteFactor":  {"remoteFactor", "remote.factor"},
	"unit":          {"unit", "remote.costCentre"},
	"costCentre":    {"unit", "remote.costCentre"},
	"description":   {"description", "remote.description"},
	"items":         {"system", "remote.system"},
	"items[0]":      {"system", "remote.system"},
}

func (s *Server) remoteAccessPage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	form, err := s.freshForm(r, actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showRemoteAccess(w, r, actor, http.StatusOK, pageData{Form: form})
}

func (s *Server) showRemoteAccess(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData) {
	systems, err := s.service.RemoteAccessSystems(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	approvers, err := s.service.Approvers(r.Context(), actor, data.Form["unit"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.Actor, data.Section, data.RemoteSystems, data.Approvers = &actor, "remote-access", systems, approvers
	if data.FieldErrors == nil {
		data.FieldErrors = map[string]string{}
	}
	s.render(w, r, status, "remote_access", data)
}

// submitRemoteAccess turns the order form into a remote-access request. The domain
// validates; its errors come back next to their fields, with everything typed kept.
func (s *Server) submitRemoteAccess(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if err := parseForm(r); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	for _, name := range remoteFormFields {
		form[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	in := provisioning.SubmitInput{Kind: provisioning.KindRemoteAccess,
		Person: provisioning.PersonInput{GivenName: form["givenName"], Surname: form["surname"], Personnummer: form["personnummer"],
			Mobile: form["mobile"], Username: form["username"], EmployeeType: form["employeeType"]},
		Unit: s.resolveUnit(r, actor, form["unit"]), Description: form["description"], ValidFrom: form["validFrom"],
		ValidTo: form["validTo"], Approver: form["approver"], SubmitToken: form["submitToken"], RemoteFactor: form["remoteFactor"]}
	if form["system"] != "" {
		in.Items = []provisioning.ItemInput{{System: form["system"]}}
	}
	if form["selfApprove"] != "" {
		in.Approver = actor.ID
	}
	s.submitForm(w, r, actor, in, form, func(l Localizer, field string) (string, string, string) {
		anchor, label := remoteAnchor(l, field)
		return anchor, anchor, label
	}, func(status int, data pageData) { s.showRemoteAccess(w, r, actor, status, data) })
}

// remoteAnchor returns the element id and label of a domain field on the order form.
func remoteAnchor(l Localizer, field string) (string, string) {
	if a, ok := remoteAnchors[field]; ok {
		return a[0], l.T(a[1])
	}
	if strings.HasPrefix(field, "items[") {
		a := remoteAnchors["items"]
		return a[0], l.T(a[1])
	}
	if a, ok := fieldAnchors[field]; ok {
		return a[0], l.T(a[1])
	}
	return "description", l.T("remote.description")
}

// personFactors reads the person's second factors for the person page: IT's to see, so
// nobody else's page asks.
func (s *Server) personFactors(r *http.Request, actor provisioning.Actor, personID string) ([]remoteaccess.Factor, error) {
	if s.remote == nil || !actor.IT() {
		return nil, nil
	}
	return s.remote.Factors(r.Context(), actor, personID)
}

// unlockFactor is IT's "Lås upp" of a factor that failed logins locked.
func (s *Server) unlockFactor(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problemPage(w, r, http.StatusNotFound, "notfound")
		return
	}
	personID, err := s.remote.Unlock(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/persons/"+url.PathEscape(personID)+"?done=unlocked#factors", http.StatusSeeOther)
}
