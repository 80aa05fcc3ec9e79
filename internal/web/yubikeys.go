package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/behorig/behorig/provisioning"
	"github.com/behorig/behorig/remoteaccess"
)

// keyReceiptView is a hand-out's receipt with the person's name and personnummer.
type keyReceiptView struct {
	remoteaccess.Receipt
	Person provisioning.PersonView
}

// yubikeyReturnData feeds the "yubikeyReturn" template: IT records a key's return.
type yubikeyReturnData struct {
	L        Localizer
	Key      remoteaccess.YubiKey
	PersonID string
}

// yubikeysPage is IT's list of keys: those to be returned first, then the rest.
func (s *Server) yubikeysPage(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problemPage(w, r, http.StatusNotFound, "notfound")
		return
	}
	keys, err := s.remote.YubiKeys(r.Context(), actor)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	data := pageData{Actor: &actor, Section: "yubikeys", Flash: flash(s.localizer(r), r)}
	for _, k := range keys {
		if k.State == remoteaccess.KeyToBeReturned {
			data.KeysToReturn = append(data.KeysToReturn, k)
		} else {
			data.YubiKeys = append(data.YubiKeys, k)
		}
	}
	s.render(w, r, http.StatusOK, "yubikeys", data)
}

// handOutYubiKey is IT handing a key to the person of the page; the receipt follows, to print
// and sign.
func (s *Server) handOutYubiKey(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problemPage(w, r, http.StatusNotFound, "notfound")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusBadRequest, "form.unreadable")
		return
	}
	personID := r.PathValue("id")
	key, note := strings.TrimSpace(r.PostForm.Get("yubikey")), strings.TrimSpace(r.PostForm.Get("note"))
	handout, err := s.remote.HandOut(r.Context(), actor, personID, key, note)
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		s.personPageWithErrors(w, r, actor, personID, ve, map[string]string{"yubikey": key, "note": note})
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	http.Redirect(w, r, "/yubikeys/handouts/"+url.PathEscape(handout)+"?done=yubikey_handed_out", http.StatusSeeOther)
}

// personPageWithErrors shows the person page again with a refused key form's errors.
func (s *Server) personPageWithErrors(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, personID string,
	ve *provisioning.ValidationError, form map[string]string) {
	person, err := s.service.Person(r.Context(), actor, personID)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	l := s.localizer(r)
	data := pageData{Actor: &actor, Person: &person, Title: person.GivenName + " " + person.Surname,
		FieldErrors: map[string]string{}, Form: form}
	for _, fe := range ve.Errors {
		msg := l.FieldMessage(fe)
		data.Errors = append(data.Errors, formError{Anchor: "yubikey-serial", Label: l.T("yubikey.field." + fe.Field), Message: msg})
		data.FieldErrors["yubikey"] = msg
	}
	if err := s.addPersonKeys(r, actor, &data); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusBadRequest, "person", data)
}

// addPersonKeys puts the person's keys, and the hand-out form when their order asked for a
// key, on the person page, for IT.
func (s *Server) addPersonKeys(r *http.Request, actor provisioning.Actor, data *pageData) error {
	if s.remote == nil || !actor.IT() || data.Person == nil {
		return nil
	}
	keys, err := s.remote.PersonYubiKeys(r.Context(), actor, data.Person.ID)
	if err != nil {
		return err
	}
	awaits, err := s.remote.AwaitsYubiKey(r.Context(), actor, data.Person.ID)
	// The block is for people with a key or an order for one, not on every person's page.
	data.YubiKeys, data.RemoteAccess, data.AwaitsYubiKey = keys, awaits || len(keys) > 0, awaits
	return err
}

// returnYubiKey records that IT got a key back, from the list or the person page.
func (s *Server) returnYubiKey(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problemPage(w, r, http.StatusNotFound, "notfound")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.problemPage(w, r, http.StatusBadRequest, "form.unreadable")
		return
	}
	err := s.remote.Return(r.Context(), actor, r.PostForm.Get("yubikey"), r.PostForm.Get("note"))
	var ve *provisioning.ValidationError
	if errors.As(err, &ve) {
		// The key was returned by someone else meanwhile, or the form was forged: say so.
		s.problemPage(w, r, http.StatusConflict, "yubikey.not_returnable")
		return
	}
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	back := "/yubikeys"
	if person := r.PostForm.Get("person"); person != "" {
		back = "/persons/" + url.PathEscape(person)
	}
	http.Redirect(w, r, back+"?done=yubikey_returned", http.StatusSeeOther)
}

// yubikeyReceipt is the printable receipt of a hand-out, which the person signs.
func (s *Server) yubikeyReceipt(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problemPage(w, r, http.StatusNotFound, "notfound")
		return
	}
	receipt, err := s.remote.Receipt(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	person, err := s.service.Person(r.Context(), actor, receipt.PersonID)
	if err != nil {
		s.domainError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "yubikey_receipt", pageData{Actor: &actor, Section: "yubikeys",
		KeyReceipt: &keyReceiptView{Receipt: receipt, Person: person}, Flash: flash(s.localizer(r), r)})
}
