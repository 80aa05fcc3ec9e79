package provisioning

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
)

// SendNotification mails one notification, once: the job may run again after a crash or a
// failed attempt, and a notification already sent (or skipped) is not sent again.
//
// As for the terms e-mail (SendTermsMail), no transaction is open while the mail server is
// asked: the row and what the text needs are read, the mail sent, and sent_at recorded in a
// short transaction that only sets it when still unset. A crash between the send and the
// commit sends it again on the retry with the same Message-ID, which a mail system may use to
// drop the copy; a job that ran to the end never sends twice.
func (s *Service) SendNotification(ctx context.Context, id string) error {
	if s.mailer == nil {
		return fmt.Errorf("notification %s: %w", id, errNoMailer)
	}
	n, err := s.readNotification(ctx, id)
	if err != nil {
		return err
	}
	if n.done {
		return nil
	}
	m, skip, err := s.composeNotification(ctx, n)
	if err != nil {
		return err
	}
	if skip == "" {
		if err := s.mailer.Send(ctx, m); err != nil {
			return fmt.Errorf("mail notification %s (%s): %w", id, n.kind, err)
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE notifications SET sent_at = CASE WHEN $3 = '' THEN $2::timestamptz END, skipped = $3
			WHERE id = $1 AND sent_at IS NULL AND skipped = ''`, id, s.clock.Now(), skip)
		if err != nil {
			return fmt.Errorf("record notification %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // another run recorded it first
		}
		data := map[string]any{"notification": id, "kind": n.kind}
		action := "notification.sent"
		if skip != "" {
			action, data["reason"] = "notification.skipped", skip
		} else {
			data["to"] = maskEmail(m.To)
		}
		return s.record(ctx, tx, systemActor, action, n.requestID, n.personID, data)
	})
}

// notificationRow is a notification with what its text needs.
type notificationRow struct {
	id, kind, requestID, personID, principalID string
	data                                       map[string]any
	done                                       bool
	// the recipient principal
	toName, toEmail, lang string
	// the request
	number, requestKind, status, reason, requester, approver string
	// the person
	given, surname, personEmail string
	pnrSealed                   []byte
}

func (s *Service) readNotification(ctx context.Context, id string) (notificationRow, error) {
	n := notificationRow{id: id}
	err := s.db.QueryRow(ctx, `SELECT n.kind, coalesce(n.request_id::text, ''), coalesce(p.id::text, ''),
			coalesce(n.principal_id::text, ''), n.data, n.sent_at IS NOT NULL OR n.skipped <> '',
			coalesce(pr.display_name, ''), coalesce(pr.email, ''), coalesce(pr.lang, 'sv'),
			coalesce(r.number, ''), coalesce(r.kind, ''), coalesce(r.status, ''), coalesce(r.decision_reason, ''),
			coalesce(rq.display_name, ''), coalesce(ap.display_name, ''),
			coalesce(p.given_name, ''), coalesce(p.surname, ''), coalesce(p.email, ''), p.personnummer_enc
		FROM notifications n LEFT JOIN principals pr ON pr.id = n.principal_id
			LEFT JOIN requests r ON r.id = n.request_id
			LEFT JOIN principals rq ON rq.id = r.requester_id LEFT JOIN principals ap ON ap.id = r.approver_id
			LEFT JOIN persons p ON p.id = coalesce(n.person_id, r.person_id)
		WHERE n.id = $1`, uuidOrNull(id)).Scan(&n.kind, &n.requestID, &n.personID, &n.principalID, &n.data, &n.done,
		&n.toName, &n.toEmail, &n.lang, &n.number, &n.requestKind, &n.status, &n.reason, &n.requester, &n.approver,
		&n.given, &n.surname, &n.personEmail, &n.pnrSealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return n, fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return n, fmt.Errorf("notification %s: %w", id, err)
	}
	return n, nil
}

// block is one part of an e-mail: a paragraph, a list, or a link with its label.
type block struct {
	Text string
	List []string
	Link string
}

// letter is an e-mail before it is written out as text and HTML.
type letter struct {
	Lang    string
	Subject string
	Blocks  []block
}

// composeNotification writes the e-mail. skip, when not empty, says why none is sent (the
// recipient has no address, or nothing is left to tell).
func (s *Service) composeNotification(ctx context.Context, n notificationRow) (connectors.Mail, string, error) {
	m := connectors.Mail{ID: "notice-" + n.id}
	who := strings.TrimSpace(n.given + " " + n.surname)
	if n.pnrSealed != nil {
		if masked, err := s.showPersonnummer(Actor{}, n.pnrSealed); err == nil {
			who += " (" + masked + ")"
		}
	}
	link := s.baseURL + "/requests/" + n.requestID
	t := func(sv, en string) string {
		if n.lang == "en" {
			return en
		}
		return sv
	}
	l := letter{Lang: t("sv", "en")}
	hello := block{Text: t("Hej ", "Hello ") + n.toName + "!"}
	switch n.kind {
	case NoticeReceived:
		l.Subject = t("Vi har tagit emot ärende ", "We have received request ") + n.number
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("Ditt ärende %s gällande %s har skickats till %s för godkännande.",
				"Your request %s concerning %s has been sent to %s for approval."), n.number, who, n.approver)},
			{Text: t("Du får e-post när ärendet godkänns eller avslås, när vi begär kompletteringar och när det är klart.",
				"You will get an e-mail when it is approved or rejected, when we ask for more information, and when it is done.")},
			{Text: t("Se ärendet", "See the request"), Link: link}}
	case NoticeApproval:
		l.Subject = fmt.Sprintf(t("%s väntar på ditt godkännande", "%s is waiting for your approval"), n.number)
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("%s har skickat ärende %s gällande %s. Det väntar på ditt godkännande.",
				"%s has sent request %s concerning %s. It is waiting for your approval."), n.requester, n.number, who)},
			{Text: t("Godkänn eller avslå ärendet", "Approve or reject the request"), Link: link}}
		if n.status != StatusAwaitingApproval {
			return m, "decided", nil // decided before the e-mail went out: nothing waits any more
		}
	case NoticeRejected:
		l.Subject = t("Ärende ", "Request ") + n.number + t(" har avslagits", " was rejected")
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("Ditt ärende %s gällande %s har avslagits av %s.", "Your request %s concerning %s was rejected by %s."),
				n.number, who, n.approver)},
			{Text: t("Skäl: ", "Reason: ") + maskNumbers(n.reason)},
			{Text: t("Se ärendet", "See the request"), Link: link}}
	case NoticeAwaitingUser:
		l.Subject = t("Komplettering behövs i ärende ", "More information is needed for request ") + n.number
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("Ärende %s gällande %s väntar på komplettering.", "Request %s concerning %s is waiting for more information."),
				n.number, who)}}
		if note, _ := n.data["note"].(string); note != "" {
			l.Blocks = append(l.Blocks, block{Text: t("IT skriver: ", "IT writes: ") + maskNumbers(note)})
		} else if n.requestKind == KindGrant {
			l.Blocks = append(l.Blocks, block{Text: t(
				"Personen har fått ett mail med en länk för att godkänna villkoren med BankID. Saknar personen BankID kan villkoren skrivas under på en blankett som laddas upp i ärendet.",
				"The person has been sent a link to accept the terms with BankID. Without BankID, the terms can be signed on a paper form and uploaded to the request.")})
		}
		l.Blocks = append(l.Blocks, block{Text: t("Se ärendet", "See the request"), Link: link})
	case NoticeComment:
		author, _ := n.data["author"].(string)
		l.Subject = t("Ny kommentar i ärende ", "New comment on request ") + n.number
		// The comment's words stay in behorig: they may hold what an e-mail must not.
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("%s har skrivit en kommentar i ärende %s gällande %s.", "%s has commented on request %s concerning %s."),
				author, n.number, who)},
			{Text: t("Läs och svara i ärendet", "Read and answer in the request"), Link: link}}
	case NoticeCompleted:
		l.Subject = t("Ärende ", "Request ") + n.number + t(" är klart", " is done")
		done := t("Behörigheterna är tilldelade. Personen får sina inloggningsuppgifter med e-post.",
			"The access has been given. The person gets their login details by e-mail.")
		if n.requestKind == KindTerminate {
			done = t("Behörigheterna är borttagna.", "The access has been removed.")
		}
		l.Blocks = []block{hello,
			{Text: fmt.Sprintf(t("Ditt ärende %s gällande %s är klart.", "Your request %s concerning %s is done."), n.number, who)},
			{Text: done},
			{Text: t("Se ärendet", "See the request"), Link: link}}
	case NoticeDigest:
		list, err := s.digestList(ctx, n.principalID)
		if err != nil {
			return m, "", err
		}
		if len(list) == 0 {
			return m, "nothing_waiting", nil
		}
		l.Subject = fmt.Sprintf(t("%d ärenden väntar på ditt godkännande", "%d requests are waiting for your approval"), len(list))
		if len(list) == 1 {
			l.Subject = t("1 ärende väntar på ditt godkännande", "1 request is waiting for your approval")
		}
		l.Blocks = []block{hello,
			{Text: t("Dessa ärenden väntar på ditt godkännande:", "These requests are waiting for your approval:"), List: list},
			{Text: t("Godkännandeöversikt", "Approval overview"), Link: s.baseURL + "/approvals"}}
	case NoticeLogin:
		return s.composeLogin(ctx, n, m)
	default:
		return m, "", fmt.Errorf("notification %s: unknown kind %q", n.id, n.kind)
	}
	if n.toEmail == "" {
		return m, "no_email", nil
	}
	m.To = n.toEmail
	m.Subject, m.Text, m.HTML = l.Subject, letterText(l), letterHTML(l)
	return m, "", nil
}

// composeLogin tells the person their username, how to set the first password, and which
// systems they now have: in Swedish and English, since behorig does not know their language.
func (s *Service) composeLogin(ctx context.Context, n notificationRow, m connectors.Mail) (connectors.Mail, string, error) {
	if n.personEmail == "" {
		return m, "no_email", nil
	}
	username, _ := n.data["username"].(string)
	rows, err := s.db.Query(ctx, `SELECT sy.name || coalesce(' (' || ro.name || ')', '')
		FROM grants g JOIN systems sy ON sy.id = g.system_id LEFT JOIN system_roles ro ON ro.system_id = g.system_id AND ro.id = g.role_id
		WHERE g.person_id = $1 AND g.state = $2 ORDER BY sy.name, ro.name`, n.personID, GrantActive)
	if err != nil {
		return m, "", fmt.Errorf("systems of person %s: %w", n.personID, err)
	}
	systems, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return m, "", fmt.Errorf("systems of person %s: %w", n.personID, err)
	}
	password := s.baseURL + "/password"
	sv := letter{Lang: "sv", Subject: "Dina inloggningsuppgifter – Your login details", Blocks: []block{
		{Text: "Hej " + n.given + "!"},
		{Text: "Ditt konto är klart. Ditt användarnamn är: " + username},
		{Text: "Första gången sätter du själv ditt lösenord: öppna sidan nedan, legitimera dig med BankID och välj ett lösenord. Samma sida hjälper dig om du glömmer lösenordet."},
		{Text: "Sätt ditt lösenord", Link: password},
		{Text: "Du har nu behörighet till:", List: systems},
		{Text: "Vänliga hälsningar\nBehörig"}}}
	en := letter{Lang: "en", Blocks: []block{
		{Text: "Hello " + n.given + "!"},
		{Text: "Your account is ready. Your username is: " + username},
		{Text: "You set your first password yourself: open the page below, identify yourself with BankID and choose a password. The same page helps if you forget it."},
		{Text: "Set your password", Link: password},
		{Text: "You now have access to:", List: systems}}}
	if len(systems) == 0 {
		sv.Blocks = append(sv.Blocks[:4], sv.Blocks[5])
		en.Blocks = en.Blocks[:4]
	}
	m.To, m.Subject = n.personEmail, sv.Subject
	m.Text = letterText(sv) + "--\n\n" + letterText(en)
	m.HTML = letterHTML(sv, en)
	return m, "", nil
}

// digestList names the requests waiting for the principal's attestation, as on /approvals.
func (s *Service) digestList(ctx context.Context, principalID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `WITH RECURSIVE attested AS (
			SELECT unit_id AS id FROM unit_managers WHERE principal_id = $1
			UNION SELECT u.id FROM units u JOIN attested a ON u.parent_id = a.id)
		SELECT r.number || ' – ' || r.person_given_name || ' ' || r.person_surname || ' – ' || rq.display_name
		FROM requests r JOIN principals rq ON rq.id = r.requester_id
		WHERE r.status = 'awaiting_approval' AND r.unit_id IN (SELECT id FROM attested)
		ORDER BY r.number LIMIT 100`, uuidOrNull(principalID))
	if err != nil {
		return nil, fmt.Errorf("requests waiting for %s: %w", principalID, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("requests waiting for %s: %w", principalID, err)
	}
	return list, nil
}

// letterText writes a letter as plain text.
func letterText(l letter) string {
	var b strings.Builder
	for _, bl := range l.Blocks {
		switch {
		case bl.Link != "":
			fmt.Fprintf(&b, "%s: %s\n\n", bl.Text, bl.Link)
		case bl.List != nil:
			b.WriteString(bl.Text + "\n")
			for _, item := range bl.List {
				b.WriteString("- " + item + "\n")
			}
			b.WriteString("\n")
		default:
			b.WriteString(bl.Text + "\n\n")
		}
	}
	return b.String()
}

var letterTemplate = template.Must(template.New("letter").Parse(`<!DOCTYPE html>
<html lang="{{(index . 0).Lang}}"><head><meta charset="utf-8"><title>{{(index . 0).Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
{{range $i, $l := .}}{{if $i}}<hr>{{end}}<div lang="{{$l.Lang}}">
{{range $l.Blocks}}{{if .Link}}<p><a href="{{.Link}}">{{.Text}}</a></p>
{{else if .List}}<p>{{.Text}}</p>
<ul>{{range .List}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p>{{.Text}}</p>
{{end}}{{end}}</div>
{{end}}</body></html>
`))

// letterHTML writes letters (one per language) as one simple HTML document: the same
// paragraphs, lists and links as the text, escaped.
func letterHTML(ls ...letter) string {
	var b strings.Builder
	if err := letterTemplate.Execute(&b, ls); err != nil {
		return "" // the template is fixed and its data plain strings; the text part still goes
	}
	return b.String()
}

// personnummerInText finds what may be a personnummer or samordningsnummer in free text.
var personnummerInText = regexp.MustCompile(`\b((?:19|20)?\d{6})[-+ ]?\d{4}\b`)

// maskNumbers masks anything in free text (a reason, a note) that looks like a personnummer,
// as the UI masks it: the date part stays, the last four digits do not. An e-mail leaves
// behorig's control, so it never carries one in clear.
func maskNumbers(text string) string {
	return personnummerInText.ReplaceAllString(text, "$1-****")
}

// digestTime returns when today's digest goes out.
func (s *Service) digestTime(now time.Time) time.Time {
	return s.startOf(now.In(s.loc)).Add(s.digestAt)
}
