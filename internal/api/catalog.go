package api

import (
	"net/http"

	"github.com/behorig/behorig/provisioning"
)

// catalog answers the systems one may apply for, with their roles, and the remote-access
// systems a remote-access order grants, with their price: {"systems": [...], "remoteAccess": [...]}.
func (s *Server) catalog(w http.ResponseWriter, r *http.Request, _ provisioning.Actor) {
	if _, ok := s.query(w, r); !ok {
		return
	}
	systems, err := s.service.Catalog(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	remote, err := s.service.RemoteAccessSystems(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"systems": systems, "remoteAccess": remote})
}

// maxUnits bounds a units answer; a search narrows it.
const maxUnits = 1000

// units answers the units the caller may name, found by ?q= (a part of the name or the start
// of the ansvarskod, as the form's unit search), each with the managers who can attest for
// it: {"units": [...]}.
func (s *Server) units(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	q, ok := s.query(w, r, "q")
	if !ok {
		return
	}
	units, err := s.service.UnitsWithManagers(r.Context(), actor, q["q"], maxUnits)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"units": units})
}
