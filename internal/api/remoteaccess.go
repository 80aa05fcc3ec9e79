package api

import (
	"net/http"

	"github.com/behorig/behorig/provisioning"
)

// factors answers a person's second factors for remote access (IT only): {"factors": [...]}.
func (s *Server) factors(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problem(w, r, http.StatusNotFound, "Remote access is not served here", nil)
		return
	}
	factors, err := s.remote.Factors(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": factors})
}

// unlockFactor is IT unlocking a factor that failed logins locked (audited); it answers the
// person's factors as they are now.
func (s *Server) unlockFactor(w http.ResponseWriter, r *http.Request, actor provisioning.Actor) {
	if s.remote == nil {
		s.problem(w, r, http.StatusNotFound, "Remote access is not served here", nil)
		return
	}
	personID, err := s.remote.Unlock(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	factors, err := s.remote.Factors(r.Context(), actor, personID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": factors})
}
