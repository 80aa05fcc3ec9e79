package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/behorig/behorig/provisioning"
)

func (s *Server) comment(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	id, body := r.PathValue("id"), r.PostForm.Get("comment")
	err := s.service.AddComment(r.Context(), actor, id, body, r.PostForm.Get("internal") != "")
	if s.formRefused(w, r, actor, err, "comment", map[string]string{"comment": body}) {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=commented#comments", http.StatusSeeOther)
}

// formRefused shows the request page again with a form's validation errors; it reports
// whether it did.
func (s *Server) formRefused(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, err error, anchor string, form map[string]string) bool {
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	l := s.localizer(r)
	data := pageData{FieldErrors: map[string]string{}, Form: form}
	for _, fe := range ve.Errors {
		msg := l.FieldMessage(fe)
		data.Errors = append(data.Errors, formError{Anchor: anchor, Label: l.T(map[string]string{"comment": "comments.add", "file": "attachments.add"}[anchor]), Message: msg})
		data.FieldErrors[anchor] = msg
	}
	s.showRequest(w, r, actor, http.StatusBadRequest, data)
	return true
}

// attach takes one uploaded file.
func (s *Server) attach(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	name, data, err := readUpload(w, r)
	if err == nil {
		_, err = s.service.AddAttachment(r.Context(), actor, id, name, data)
	}
	if s.formRefused(w, r, actor, err, "file", nil) {
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=attached#attachments", http.StatusSeeOther)
}

// readUpload reads the "file" of a form with one file. The body is bounded before it is
// read, so an oversized upload is refused without being stored anywhere; a missing or
// oversized file is a validation error of the field, like the domain's own.
func readUpload(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, provisioning.MaxAttachment+64<<10)
	file, header, err := r.FormFile("file")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return "", nil, fileError("is larger than %d MB", provisioning.MaxAttachment>>20)
	case err != nil:
		return "", nil, fileError("choose a file")
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, provisioning.MaxAttachment+1))
	return header.Filename, data, err
}

func fileError(format string, args ...any) error {
	return &provisioning.ValidationError{Errors: []provisioning.FieldError{{Field: "file", Message: fmt.Sprintf(format, args...),
		Format: format, Args: args}}}
}

// download serves an attachment as a download of its checked type, never rendered inline,
// sandboxed in case a browser tries.
func (s *Server) download(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	a, data, err := s.service.Attachment(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
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
