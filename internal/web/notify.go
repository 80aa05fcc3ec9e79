package web

import (
	"net/http"

	"github.com/behorig/behorig/provisioning"
)

// noticeLine is one line of the start page's notice: what waits, linked to where it is done.
type noticeLine struct {
	Href, Text string
}

// waitingNotice words what waits for the user; nothing when nothing does.
func waitingNotice(l Localizer, w provisioning.Waiting) []noticeLine {
	var lines []noticeLine
	add := func(n int, key, href string) {
		switch {
		case n == 1:
			lines = append(lines, noticeLine{href, l.T(key + ".one")})
		case n > 1:
			lines = append(lines, noticeLine{href, l.T(key, n)})
		}
	}
	add(w.Approvals, "waiting.approvals", "/approvals")
	add(w.AwaitingUser, "waiting.awaiting_user", "/?status="+provisioning.StatusAwaitingUser)
	add(w.Untaken, "waiting.untaken", "/queue")
	return lines
}

// rememberLang keeps the language the user signed in or switched to, so that their e-mail
// is written in it. A failure costs only the language of an e-mail: it is logged.
func (s *Server) rememberLang(r *http.Request, principalID string, lang Lang) {
	if err := s.service.SetLanguage(r.Context(), principalID, string(lang)); err != nil {
		s.log.ErrorContext(r.Context(), "remember the language", "err", err)
	}
}
