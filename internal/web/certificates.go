package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/behorig/behorig/provisioning"
)

// verifyCertificate is IT marking an attachment of the request as the person's verified
// training certificate; a request waiting for it goes on.
func (s *Server) verifyCertificate(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	_, err := s.service.VerifyCertificate(r.Context(), actor, id, r.PostFormValue("attachment"))
	if s.refusedOnRequest(w, r, actor, err, "certificate-attachment", "certificate.attachment") {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=certificate", http.StatusSeeOther)
}

// askForInformation is IT asking the requester for more information; the request waits for
// the answer.
func (s *Server) askForInformation(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	question := r.PostFormValue("question")
	err := s.service.AskForInformation(r.Context(), actor, id, question)
	if s.refusedOnRequest(w, r, actor, err, "question", "ask.question", "question", question) {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=asked", http.StatusSeeOther)
}

// refusedOnRequest shows the request page again with a form's validation errors next to
// the field (anchor) and what was typed (form: name, value pairs); false for any other error.
func (s *Server) refusedOnRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, err error, anchor, labelKey string,
	form ...string) bool {
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	l := s.localizer(r)
	data := pageData{FieldErrors: map[string]string{}, Form: map[string]string{}}
	for i := 0; i+1 < len(form); i += 2 {
		data.Form[form[i]] = form[i+1]
	}
	for _, fe := range ve.Errors {
		data.Errors = append(data.Errors, formError{Anchor: anchor, Label: l.T(labelKey), Message: l.FieldMessage(fe)})
		data.FieldErrors[anchor] = l.FieldMessage(fe)
	}
	s.showRequest(w, r, actor, http.StatusBadRequest, data)
	return true
}
