package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/behorig/behorig/auth/session"
	"github.com/behorig/behorig/provisioning"
)

// formError is one error of a form, shown in the summary at the top and linked to its field.
type formError struct {
	Anchor, Label, Message string
}

// signedIn wraps a page handler that needs a signed-in user; others are sent to sign in and
// come back afterwards.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, provisioning.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor, err := s.CurrentActor(r)
		if errors.Is(err, session.ErrNoSession) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			} else {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			}
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, actor)
	}
}

// domainError answers an error from the domain as a page.
func (s *Server) domainError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, provisioning.ErrNotFound):
		s.problemPage(w, r, http.StatusNotFound, "notfound")
	case errors.Is(err, provisioning.ErrForbidden):
		s.problemPage(w, r, http.StatusForbidden, "forbidden")
	case errors.Is(err, provisioning.ErrConflict):
		s.problemPage(w, r, http.StatusConflict, "conflict")
	default:
		s.fail(w, r, err)
	}
}

// flash turns the ?done= of a redirect after a form into a message, from a fixed list so that
// a link cannot put words on the page.
func flash(l Localizer, r *http.Request) string {
	done := r.URL.Query().Get("done")
	if done == "" {
		return ""
	}
	if _, ok := messages["done."+done]; !ok {
		return ""
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil {
		return l.T("done."+done, n)
	}
	return l.T("done." + done)
}

func (s *Server) mePage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	me, err := s.service.Me(r.Context(), actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "me", pageData{Actor: &actor, Me: me})
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.showRequest(w, r, actor, http.StatusOK, pageData{})
}

// showRequest renders the request page, with the errors and input of a refused form if any.
// originalRequest is the request as it was sent ("Ursprunglig förfrågan"), to print: what
// was asked for, by whom and for whom, without what happened since. The database keeps
// those values from changing (migration 025).
func (s *Server) originalRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	view, err := s.service.Request(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "request_original", pageData{Actor: &actor, Request: &view,
		Title: s.localizer(r).T("request_original.title") + " " + view.Number})
}

func (s *Server) showRequest(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData) {
	view, err := s.service.Request(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	l := s.localizer(r)
	data.Actor, data.Request, data.Title = &actor, &view, view.Number
	if data.Signatures, err = s.service.Signatures(r.Context(), actor, view.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	data.Waiting = waitingFor(l, view)
	data.Statuses = provisioning.HandlingStatuses
	data.Timeline = timeline(l, view.Events)
	if data.Flash == "" {
		data.Flash = flash(l, r)
	}
	s.render(w, r, status, "request", data)
}

// timelineEntry is one event of a request, said in words.
type timelineEntry struct {
	At    time.Time
	Actor string
	Text  string
}

// timeline says each event with what it was about: the new status, the group, the username,
// the reason given.
func timeline(l Localizer, events []provisioning.EventView) []timelineEntry {
	out := make([]timelineEntry, len(events))
	for i, e := range events {
		var d struct {
			To, Group, Username, Reason, Note string
		}
		json.Unmarshal(e.Data, &d)
		text := l.T("event." + e.Action)
		switch {
		case e.Action == "request.status" && d.To != "":
			text = l.T("event.request.status_to", l.T("status."+d.To))
			if d.Note != "" {
				text += ": " + d.Note
			}
		case d.Group != "":
			text += " (" + d.Group + ")"
		case d.Username != "":
			text += " " + d.Username
		case d.Reason != "" || d.Note != "":
			text += ": " + d.Reason + d.Note
		}
		out[i] = timelineEntry{At: e.At, Actor: e.ActorName, Text: text}
	}
	return out
}

// waitingFor says who the request waits for, in words.
func waitingFor(l Localizer, v provisioning.RequestView) string {
	switch v.Status {
	case provisioning.StatusAwaitingApproval:
		return l.T("waiting.approver", v.Approver.Name)
	case provisioning.StatusAwaitingUser:
		if v.InformationAsked {
			return l.T("waiting.answer")
		}
		return l.T("waiting.user", v.Person.Name)
	case provisioning.StatusAwaitingCertificate:
		if v.Certificate != nil {
			return l.T("waiting.certificate", l.Date(v.Certificate.Deadline.Format("2006-01-02")))
		}
	case provisioning.StatusAnsweredByUser, provisioning.StatusAssigned, provisioning.StatusInProgress:
		return l.T("waiting.it")
	case provisioning.StatusWaitingThirdParty:
		return l.T("waiting.third_party")
	case provisioning.StatusScheduled:
		if v.Kind == provisioning.KindTerminate {
			return l.T("waiting.scheduled_end", l.Date(v.EffectiveDate))
		}
		if v.Kind == provisioning.KindChange && v.ValidFrom == "" && len(v.Ends) > 0 {
			// A change that adds nothing before: its first end is what it waits for.
			first := v.Ends[0].EffectiveDate
			for _, e := range v.Ends {
				first = min(first, e.EffectiveDate)
			}
			return l.T("waiting.scheduled_end", l.Date(first))
		}
		return l.T("waiting.scheduled", l.Date(v.ValidFrom))
	}
	return ""
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	if _, err := s.service.Approve(r.Context(), actor, id); err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=approved", http.StatusSeeOther)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	err := s.service.Reject(r.Context(), actor, id, reason)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		l := s.localizer(r)
		s.showRequest(w, r, actor, http.StatusBadRequest, pageData{
			Errors:      []formError{{Anchor: "reason", Label: l.T("decide.reason"), Message: l.T("error.reason_required")}},
			FieldErrors: map[string]string{"reason": l.T("error.reason_required")},
			Form:        map[string]string{"reason": reason},
		})
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=rejected", http.StatusSeeOther)
}

func (s *Server) paperTerms(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	if _, err := s.service.RecordPaperTerms(r.Context(), actor, id, r.PostFormValue("note")); err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=paper", http.StatusSeeOther)
}

// decideMany approves or rejects the picked requests in one go. A rejection needs a reason;
// nothing is decided until the form is complete.
func (s *Server) decideMany(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	l := s.localizer(r)
	ids := r.PostForm["id"]
	// "Markera alla på sidan" picks every request the page showed, with or without the
	// script that ticks their boxes.
	if r.PostForm.Get("all") == "page" {
		ids = append(ids, r.PostForm["onpage"]...)
	}
	decision := r.PostForm.Get("decision")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	data := pageData{FieldErrors: map[string]string{}, Form: map[string]string{"reason": reason}, Picked: map[string]bool{}}
	unique := ids[:0]
	for _, id := range ids {
		if !data.Picked[id] {
			unique = append(unique, id)
		}
		data.Picked[id] = true
	}
	ids = unique
	switch {
	case len(ids) == 0:
		data.Errors = append(data.Errors, formError{Anchor: "main", Label: l.T("approvals.select"), Message: l.T("error.pick_one")})
	case len(ids) > provisioning.PageSize:
		// A page shows at most PageSize: more is a forged form, and each id costs a
		// transaction. Nothing is decided.
		data.Errors = append(data.Errors, formError{Anchor: "main", Label: l.T("approvals.select"),
			Message: l.T("error.pick_too_many", provisioning.PageSize)})
		data.Picked = map[string]bool{}
	}
	if decision == "reject" && reason == "" {
		data.Errors = append(data.Errors, formError{Anchor: "reason", Label: l.T("approvals.reason"), Message: l.T("error.reason_required")})
		data.FieldErrors["reason"] = l.T("error.reason_required")
	}
	if decision != "approve" && decision != "reject" {
		data.Errors = append(data.Errors, formError{Anchor: "main", Label: l.T("approvals.title"), Message: l.T("error.pick_decision")})
	}
	if len(data.Errors) > 0 {
		s.showApprovals(w, r, actor, http.StatusBadRequest, data)
		return
	}
	done := 0
	for _, id := range ids {
		var err error
		if decision == "approve" {
			_, err = s.service.Approve(r.Context(), actor, id)
		} else {
			err = s.service.Reject(r.Context(), actor, id, reason)
		}
		if err != nil {
			s.log.InfoContext(r.Context(), "decision refused", "request", id, "decision", decision, "err", err)
			label, anchor := l.T("approvals.unknown"), "main"
			if v, err := s.service.Request(r.Context(), actor, id); err == nil {
				label, anchor = v.Number, "pick-"+id
			}
			data.Errors = append(data.Errors, formError{Anchor: anchor, Label: label, Message: l.T("error.not_decided")})
			continue
		}
		done++
	}
	if len(data.Errors) > 0 {
		data.Flash = l.T("done."+decision+"d_n", done)
		s.showApprovals(w, r, actor, http.StatusConflict, data)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/approvals?done=%sd_n&n=%d", decision, done), http.StatusSeeOther)
}

func (s *Server) take(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	if err := s.service.Take(r.Context(), actor, id); err != nil {
		s.domainError(w, r, err)
		return
	}
	if r.PostFormValue("return") == "/queue" {
		http.Redirect(w, r, "/queue?done=taken", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=taken", http.StatusSeeOther)
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	note := r.PostFormValue("note")
	err := s.service.SetHandlingStatus(r.Context(), actor, id, r.PostFormValue("status"), note)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		l := s.localizer(r)
		data := pageData{FieldErrors: map[string]string{}, Form: map[string]string{"note": note}}
		for _, fe := range ve.Errors {
			anchor := map[string]string{"status": "new-status", "note": "status-note"}[fe.Field]
			data.Errors = append(data.Errors, formError{Anchor: anchor, Label: l.T("handle.status"), Message: l.FieldMessage(fe)})
			data.FieldErrors[fe.Field] = l.FieldMessage(fe)
		}
		s.showRequest(w, r, actor, http.StatusBadRequest, data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=status", http.StatusSeeOther)
}

func (s *Server) personPage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	person, err := s.service.Person(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	factors, err := s.personFactors(r, actor, person.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := pageData{Actor: &actor, Person: &person, Title: person.GivenName + " " + person.Surname,
		Flash: flash(s.localizer(r), r), Factors: factors}
	if err := s.addPersonKeys(r, actor, &data); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "person", data)
}

// linkAccount is IT confirming that an existing directory account is the person's.
func (s *Server) linkAccount(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	id, username := r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("username"))
	err := s.service.LinkAccount(r.Context(), actor, id, username)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		person, perr := s.service.Person(r.Context(), actor, id)
		if perr != nil {
			s.domainError(w, r, perr)
			return
		}
		l := s.localizer(r)
		msg := l.FieldMessage(ve.Errors[0])
		s.render(w, r, http.StatusBadRequest, "person", pageData{Actor: &actor, Person: &person,
			Title:       person.GivenName + " " + person.Surname,
			Errors:      []formError{{Anchor: "link-username", Label: l.T("person.link.username"), Message: msg}},
			FieldErrors: map[string]string{"username": msg}, Form: map[string]string{"username": username}})
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/persons/"+url.PathEscape(id)+"?done=linked", http.StatusSeeOther)
}

// useNewAccount is IT deciding that the person gets a new account instead of the existing one.
func (s *Server) useNewAccount(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	id := r.PathValue("id")
	if err := s.service.UseNewAccount(r.Context(), actor, id); err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/persons/"+url.PathEscape(id)+"?done=new_account", http.StatusSeeOther)
}

// terminatePage finds the person (by id or personnummer) and shows what a termination
// removes, with the form to send it.
func (s *Server) terminatePage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	data := pageData{Section: "terminate", Form: map[string]string{}, FieldErrors: map[string]string{}}
	if !s.findPersonFor(w, r, actor, &data) {
		return
	}
	if data.Person != nil {
		if me, err := s.service.Me(r.Context(), actor); err == nil && me.Unit != nil {
			data.Form["unit"] = me.Unit.Ansvarskod
		}
	}
	s.showTerminate(w, r, actor, http.StatusOK, data)
}

func (s *Server) showTerminate(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData) {
	approvers, err := s.service.Approvers(r.Context(), actor, data.Form["unit"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.Actor, data.Section, data.Approvers = &actor, "terminate", approvers
	s.render(w, r, status, "terminate", data)
}

func (s *Server) submitTermination(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	form := map[string]string{}
	for _, name := range []string{"person", "effectiveDate", "unit", "reason", "approver", "selfApprove"} {
		form[name] = strings.TrimSpace(r.PostForm.Get(name))
	}
	in := provisioning.SubmitInput{Kind: provisioning.KindTerminate, Person: provisioning.PersonInput{ID: form["person"]},
		Unit: s.resolveUnit(r, actor, form["unit"]), Reason: form["reason"], EffectiveDate: form["effectiveDate"], Approver: form["approver"]}
	if form["selfApprove"] != "" {
		in.Approver = actor.ID
	}
	out, err := s.service.Submit(r.Context(), actor, in)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		person, perr := s.service.Person(r.Context(), actor, form["person"])
		if perr != nil {
			s.domainError(w, r, perr)
			return
		}
		l := s.localizer(r)
		data := pageData{Person: &person, Form: form, FieldErrors: map[string]string{}}
		for _, fe := range ve.Errors {
			anchor, label := s.anchorFor(l, fe.Field, nil, nil)
			switch fe.Field {
			case "effectiveDate":
				anchor, label = "effectiveDate", l.T("field.effectiveDate")
			case "unit", "approver", "reason":
			default:
				anchor = "main" // the person, chosen on the page before
			}
			data.Errors = append(data.Errors, formError{Anchor: anchor, Label: label, Message: l.FieldMessage(fe)})
			data.FieldErrors[anchor] = l.FieldMessage(fe)
		}
		s.showTerminate(w, r, actor, http.StatusBadRequest, data)
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(out.ID)+"?done=submitted", http.StatusSeeOther)
}

func (s *Server) manualDone(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.manualStep(w, r, actor, s.service.CompleteManualGrant, "manual_done")
}

func (s *Server) manualRemoved(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.manualStep(w, r, actor, s.service.CompleteManualRemoval, "manual_removed")
}

// manualStep records one of IT's manual steps and goes back to the request or the queue.
func (s *Server) manualStep(w http.ResponseWriter, r *http.Request, actor provisioning.Actor,
	step func(context.Context, provisioning.Actor, string, string) error, done string) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusRequestEntityTooLarge, "form.too_large")
		return
	}
	if err := step(r.Context(), actor, r.PathValue("id"), r.PostForm.Get("note")); err != nil {
		s.domainError(w, r, err)
		return
	}
	back := session.SafeReturn(r.PostForm.Get("return"))
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"done="+done, http.StatusSeeOther)
}
