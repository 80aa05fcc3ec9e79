package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/behorig/behorig/provisioning"
)

// The list pages: Mina ärenden, Godkännandeöversikt, the IT queue and the persons list. Each
// reads one page of 50 through the domain's keyset lists, with the filter form above the
// table and a "Nästa sida" link below it that carries the filters and the cursor.

// listView is the filter form and the paging links of a list page.
type listView struct {
	Action      string
	StatusLabel string   // catalog key of the status filter's label
	Statuses    []option // the status filter's choices; none: no status filter
	Sorts       []option // none: no sort choice
	UnitFilter  bool
	Status      string
	Unit        string
	Q           string
	Sort        string
	Cursor      string
	// Next and First are the links to the following page and back to the first; empty when
	// there is none.
	Next, First string
	// Filtered is true when a search or unit narrows the list, to say "nothing matches"
	// rather than "nothing here".
	Filtered bool
}

type option struct{ Value, Label string }

// readList takes the list parameters of a page's address.
func readList(r *http.Request, action string) listView {
	q := r.URL.Query()
	v := listView{Action: action, Status: q.Get("status"), Unit: q.Get("unit"), Q: q.Get("q"), Sort: q.Get("sort"),
		Cursor: q.Get("cursor")}
	v.Filtered = v.Q != "" || v.Unit != ""
	return v
}

// links sets Next and First: the page's own filters with the next cursor, and without one.
func (v *listView) links(next string) {
	params := url.Values{}
	for name, value := range map[string]string{"status": v.Status, "unit": v.Unit, "q": v.Q, "sort": v.Sort} {
		if value != "" {
			params.Set(name, value)
		}
	}
	first := v.Action
	if len(params) > 0 {
		first += "?" + params.Encode()
	}
	if v.Cursor != "" {
		v.First = first
	}
	if next != "" {
		params.Set("cursor", next)
		v.Next = v.Action + "?" + params.Encode()
	}
}

func sortOptions(l Localizer) []option {
	out := make([]option, len(provisioning.RequestSorts))
	for i, s := range provisioning.RequestSorts {
		out[i] = option{s, l.T("sort." + s)}
	}
	return out
}

func statusOptions(l Localizer, statuses []string) []option {
	out := make([]option, len(statuses))
	for i, s := range statuses {
		out[i] = option{s, l.T("status." + s)}
	}
	return out
}

// listFailed shows a list page's refused filters next to their fields, with no rows, or
// answers any other error.
func (s *Server) listFailed(w http.ResponseWriter, r *http.Request, page string, data pageData, err error) {
	var ve *provisioning.ValidationError
	if !errors.As(err, &ve) {
		s.domainError(w, r, err)
		return
	}
	l := s.localizer(r)
	data.FieldErrors = map[string]string{}
	for _, fe := range ve.Errors {
		anchor := fe.Field
		if !slices.Contains([]string{"q", "unit", "status", "sort"}, anchor) {
			anchor = "main"
		}
		msg := l.FieldMessage(fe)
		data.Errors = append(data.Errors, formError{Anchor: anchor, Label: l.T("list." + fe.Field), Message: msg})
		data.FieldErrors[fe.Field] = msg
	}
	s.render(w, r, http.StatusBadRequest, page, data)
}

func (s *Server) myRequests(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	l := s.localizer(r)
	v := readList(r, "/")
	v.StatusLabel, v.Sorts = "start.show", sortOptions(l)
	v.Statuses = append([]option{{"open", l.T("start.open")}, {"closed", l.T("start.closed")}, {"all", l.T("list.all")}},
		statusOptions(l, provisioning.RequestStatuses)...)
	status := v.Status
	switch status {
	case "":
		status, v.Status = provisioning.FilterOpen, provisioning.FilterOpen
	case "all":
		status = ""
	}
	data := pageData{Actor: &actor, Section: "start", List: &v, Flash: flash(l, r)}
	waiting, err := s.service.WaitingFor(r.Context(), actor)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data.WaitingFor = waitingNotice(l, waiting)
	if s.readRequests(w, r, actor, "start", &data, provisioning.RequestQuery{List: provisioning.ListMine, Status: status}) {
		s.render(w, r, http.StatusOK, "start", data)
	}
}

// readRequests reads the page of requests that data.List's filters, sort and cursor ask for
// (q gives the list and, where the page maps it, the status) into data, or shows why not and
// says so with false.
func (s *Server) readRequests(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, page string, data *pageData,
	q provisioning.RequestQuery) bool {
	v := data.List
	q.Q, q.Sort, q.Cursor = v.Q, v.Sort, v.Cursor
	if v.UnitFilter {
		q.Unit = v.Unit
	}
	result, err := s.service.ListRequests(r.Context(), actor, q)
	if err != nil {
		s.listFailed(w, r, page, *data, err)
		return false
	}
	v.links(result.Next)
	data.Requests = result.Requests
	return true
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	s.showApprovals(w, r, actor, http.StatusOK, pageData{})
}

func (s *Server) showApprovals(w http.ResponseWriter, r *http.Request, actor provisioning.Actor, status int, data pageData) {
	l := s.localizer(r)
	v := readList(r, "/approvals")
	v.Sorts, v.UnitFilter = sortOptions(l), true
	data.Actor, data.Section, data.List = &actor, "approvals", &v
	if data.Flash == "" {
		data.Flash = flash(l, r)
	}
	if s.readRequests(w, r, actor, "approvals", &data, provisioning.RequestQuery{List: provisioning.ListApprovals}) {
		s.render(w, r, status, "approvals", data)
	}
}

// queueList maps the queue page's one "show" choice onto a list and a status: the queue
// (all of it or one status), closed requests, every request, or one status outside the
// queue, so that IT can find any request from here.
func queueList(show string) (list, status string) {
	switch {
	case show == "":
		return provisioning.ListQueue, ""
	case show == "all":
		return provisioning.ListAll, ""
	case slices.Contains(provisioning.QueueStatuses, show):
		return provisioning.ListQueue, show
	case show == provisioning.FilterClosed || slices.Contains(provisioning.RequestStatuses, show):
		return provisioning.ListAll, show
	}
	return provisioning.ListQueue, show // refused by the domain, said at the field
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	l := s.localizer(r)
	v := readList(r, "/queue")
	v.StatusLabel, v.Sorts, v.UnitFilter = "queue.filter", sortOptions(l), true
	v.Statuses = append([]option{{"", l.T("queue.all")}}, statusOptions(l, provisioning.QueueStatuses)...)
	v.Statuses = append(v.Statuses, option{"closed", l.T("start.closed")}, option{"all", l.T("list.all")})
	for _, st := range provisioning.RequestStatuses {
		if !slices.Contains(provisioning.QueueStatuses, st) {
			v.Statuses = append(v.Statuses, option{st, l.T("status." + st)})
		}
	}
	list, status := queueList(v.Status)
	data := pageData{Actor: &actor, Section: "queue", List: &v, Flash: flash(l, r), AllRequests: list == provisioning.ListAll}
	if !s.readRequests(w, r, actor, "queue", &data, provisioning.RequestQuery{List: list, Status: status}) {
		return
	}
	var err error
	if data.Removals, err = s.service.ManualRemovals(r.Context(), actor); err != nil {
		s.domainError(w, r, err)
		return
	}
	if run, found, err := s.service.LastReconcile(r.Context(), actor); err != nil {
		s.domainError(w, r, err)
		return
	} else if found {
		data.Reconcile = &run
	}
	s.render(w, r, http.StatusOK, "queue", data)
}

// persons is IT's list of every person, searched by name or personnummer.
func (s *Server) persons(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	v := readList(r, "/persons")
	data := pageData{Actor: &actor, Section: "persons", List: &v, Flash: flash(s.localizer(r), r)}
	page, err := s.service.ListPersons(r.Context(), actor, v.Q, v.Cursor)
	if err != nil {
		s.listFailed(w, r, "persons", data, err)
		return
	}
	v.links(page.Next)
	data.Persons = page.Persons
	s.render(w, r, http.StatusOK, "persons", data)
}
