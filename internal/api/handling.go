package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/behorig/behorig/internal/textcheck"
	"github.com/behorig/behorig/provisioning"
)

// What the request page lets a requester and IT do on a request, through the same domain
// functions as the web.

// comment adds a comment: {"comment": "...", "internal": false}. Only IT may mark it internal.
func (s *Server) comment(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Comment  string `json:"comment" text:"multiline"`
		Internal bool   `json:"internal"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.service.AddComment(r.Context(), actor, r.PathValue("id"), body.Comment, body.Internal); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusCreated)
}

// attach takes one file as multipart/form-data in the part "file", within the web upload's
// limits; its type is decided by the domain from the content, whatever the part claims.
func (s *Server) attach(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		s.problem(w, r, http.StatusUnsupportedMediaType, "Send the file as multipart/form-data in a part named file", nil)
		return
	}
	name, data, err := s.readUpload(w, r)
	if err == nil {
		var id string
		id, err = s.service.AddAttachment(r.Context(), actor, r.PathValue("id"), name, data)
		if err == nil {
			w.Header().Set("Location", "/api/v1/attachments/"+id)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusCreated)
}

// readUpload reads the one file of a multipart body. The body is bounded before it is read,
// so an oversized upload is refused without being stored; the file's name must keep the
// text rule like every other string the API takes.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, provisioning.MaxAttachment+64<<10)
	file, header, err := r.FormFile("file")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return "", nil, fileError("is larger than %d MB", provisioning.MaxAttachment>>20)
	case err != nil:
		return "", nil, fileError("is required: send the file in a multipart part named file")
	}
	defer file.Close()
	if err := textcheck.Line(header.Filename); err != nil {
		return "", nil, fileError("has a name that %s", err.Error())
	}
	data, err := io.ReadAll(io.LimitReader(file, provisioning.MaxAttachment+1))
	if err != nil {
		return "", nil, fmt.Errorf("read the upload: %w", err)
	}
	return header.Filename, data, nil
}

func fileError(format string, args ...any) error {
	return &provisioning.ValidationError{Errors: []provisioning.FieldError{{Field: "file", Message: fmt.Sprintf(format, args...),
		Format: format, Args: args}}}
}

// download answers an attachment's content as a download of its checked type.
func (s *Server) download(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	a, data, err := s.service.Attachment(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	w.Write(data)
}

// take makes the calling IT handler the request's assignee.
func (s *Server) take(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if r.ContentLength != 0 && !s.decode(w, r, &struct{}{}) {
		return
	}
	if err := s.service.Take(r.Context(), actor, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusOK)
}

// setStatus is IT saying where the work stands: {"status": "in_progress", "note": "..."}.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note" text:"multiline"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.service.SetHandlingStatus(r.Context(), actor, r.PathValue("id"), body.Status, body.Note); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusOK)
}

// verifyCertificate is IT marking an attachment of the request as the person's verified
// training certificate: {"attachment": "<id>"}.
func (s *Server) verifyCertificate(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Attachment string `json:"attachment"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if _, err := s.service.VerifyCertificate(r.Context(), actor, r.PathValue("id"), body.Attachment); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusOK)
}

// ask is IT asking the requester for more information: {"question": "..."}. The request
// waits for the requester's answer (a comment or a file).
func (s *Server) ask(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	var body struct {
		Question string `json:"question" text:"multiline"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if err := s.service.AskForInformation(r.Context(), actor, r.PathValue("id"), body.Question); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusOK)
}

// otherSystemDone is IT saying that the request's "Annat system" is handled by hand.
func (s *Server) otherSystemDone(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if r.ContentLength != 0 && !s.decode(w, r, &struct{}{}) {
		return
	}
	if err := s.service.CompleteOtherSystem(r.Context(), actor, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.requestAfter(w, r, actor, http.StatusOK)
}

func (s *Server) manualDone(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.manualStep(w, r, actor, s.service.CompleteManualGrant, provisioning.GrantActive)
}

func (s *Server) manualRemoved(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.manualStep(w, r, actor, s.service.CompleteManualRemoval, provisioning.GrantRevoked)
}

// manualStep records that IT gave or removed a manual system's access by hand, with an
// optional {"note": "..."}, and answers the grant's new state.
func (s *Server) manualStep(w http.ResponseWriter, r *http.Request, actor provisioning.Actor,
	step func(context.Context, provisioning.Actor, string, string) error, state string) {
	var body struct {
		Note string `json:"note" text:"multiline"`
	}
	if r.ContentLength != 0 && !s.decode(w, r, &body) {
		return
	}
	if err := step(r.Context(), actor, r.PathValue("id"), body.Note); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusBody{ID: r.PathValue("id"), Status: state})
}

// requestAfter answers an action on a request with the request as the caller now sees it.
func (s *Server) requestAfter(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int) {
	v, err := s.service.Request(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}
