package provisioning

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Limits of what a request may carry.
const (
	maxCommentLen   = 4000
	MaxAttachment   = 10 << 20 // bytes
	maxAttachments  = 20
	maxFileNameRune = 120
)

// AttachmentTypes are the types accepted, by what the content is, not what its name says.
var AttachmentTypes = map[string]string{"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}

// CommentView is a comment as the reader may see it.
type CommentView struct {
	Author   string    `json:"author"`
	At       time.Time `json:"at"`
	Body     string    `json:"body"`
	Internal bool      `json:"internal"`
}

// AttachmentView describes an attachment without its content.
type AttachmentView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int       `json:"size"`
	UploadedBy  string    `json:"uploadedBy"` // empty: the person, through the link to the terms
	At          time.Time `json:"at"`
}

// visibleRequest locks nothing; it returns the request if the actor may see it.
func (s *Service) visibleRequest(ctx context.Context, q querier, actor Actor, requestID string) (requestRow, error) {
	var r requestRow
	err := q.QueryRow(ctx, "SELECT id::text, number, requester_id::text, person_id::text, unit_id::text FROM requests WHERE id = $1",
		uuidOrNull(requestID)).Scan(&r.id, &r.number, &r.requesterID, &r.personID, &r.unitID)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("request %s: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read request %s: %w", requestID, err)
	}
	ok, err := s.canSee(ctx, q, actor, r)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, fmt.Errorf("request %s: %w", requestID, ErrNotFound)
	}
	return r, nil
}

// AddComment puts a comment on a request the actor may see. Only IT may mark a comment
// internal; internal comments are shown to IT only.
func (s *Service) AddComment(ctx context.Context, actor Actor, requestID, body string, internal bool) error {
	body = strings.TrimSpace(body)
	ve := &ValidationError{}
	switch {
	case body == "":
		ve.add("comment", "is required")
	case len(body) > maxCommentLen:
		ve.add("comment", "is longer than %d characters", maxCommentLen)
	}
	if internal && !actor.IT() {
		ve.add("internal", "only IT may write internal comments")
	}
	if err := ve.err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.visibleRequest(ctx, tx, actor, requestID)
		if err != nil {
			return err
		}
		var commentID string
		if err := tx.QueryRow(ctx, `INSERT INTO comments (request_id, author_id, body, internal, created_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING id::text`, r.id, actor.ID, body, internal, s.clock.Now()).Scan(&commentID); err != nil {
			return fmt.Errorf("comment on %s: %w", r.number, err)
		}
		// The requester hears of an answer from someone else that they may read.
		if !internal && actor.ID != r.requesterID {
			if err := s.notify(ctx, tx, notice{key: "comment:" + commentID, kind: NoticeComment, requestID: r.id,
				personID: r.personID, principalID: r.requesterID, data: map[string]any{"author": actor.Name}}); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE requests SET updated_at = $2 WHERE id = $1", r.id, s.clock.Now()); err != nil {
			return err
		}
		// The audit log keeps that a comment was made, not its words, which may hold personal data.
		if err := s.record(ctx, tx, actor.Subject, "comment.added", r.id, r.personID, map[string]any{"internal": internal}); err != nil {
			return err
		}
		return s.answeredByUser(ctx, tx, actor, r.id)
	})
}

func (s *Service) comments(ctx context.Context, actor Actor, requestID string) ([]CommentView, error) {
	rows, err := s.db.Query(ctx, `SELECT p.display_name, c.created_at, c.body, c.internal FROM comments c
		JOIN principals p ON p.id = c.author_id WHERE c.request_id = $1 AND (NOT c.internal OR $2) ORDER BY c.created_at`,
		requestID, actor.IT())
	if err != nil {
		return nil, fmt.Errorf("read comments of %s: %w", requestID, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[CommentView])
}

// CheckAttachment tells whether a file would be accepted as an attachment, so that a form
// can refuse a bad file before it stores anything else. It returns the cleaned name and the
// type decided from the content.
func CheckAttachment(name string, data []byte) (string, string, error) {
	ve := &ValidationError{}
	contentType := http.DetectContentType(data)
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	switch {
	case len(data) == 0:
		ve.add("file", "is empty")
	case len(data) > MaxAttachment:
		ve.add("file", "is larger than %d MB", MaxAttachment>>20)
	case AttachmentTypes[contentType] == "":
		ve.add("file", "is not a PDF, PNG or JPEG file")
	}
	name = cleanFileName(name)
	if name == "" {
		name = "bilaga" + AttachmentTypes[contentType]
	}
	return name, contentType, ve.err()
}

// AddAttachment stores a file on a request the actor may see. The type is decided from the
// content (PDF, PNG or JPEG); the name is cut to its base and cleaned of control characters.
func (s *Service) AddAttachment(ctx context.Context, actor Actor, requestID, name string, data []byte) (string, error) {
	name, contentType, err := CheckAttachment(name, data)
	if err != nil {
		return "", err
	}
	var id string
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.visibleRequest(ctx, tx, actor, requestID)
		if err != nil {
			return err
		}
		id, err = s.storeAttachment(ctx, tx, actor.Subject, actor.ID, "attachment.added",
			newAttachment{r.id, r.personID, name, contentType, data})
		if err != nil {
			return err
		}
		return s.answeredByUser(ctx, tx, actor, r.id)
	})
	return id, err
}

// newAttachment is a checked file on its way into a request.
type newAttachment struct {
	requestID, personID, name, contentType string
	data                                   []byte
}

// storeAttachment stores a file on a request with its audit event, after locking the request
// so that two uploads at once cannot pass the limit together. uploaderID is empty for the
// person, who uploads through the link to the terms and is no principal.
func (s *Service) storeAttachment(ctx context.Context, tx pgx.Tx, auditActor, uploaderID, action string, a newAttachment) (string, error) {
	// The lock first, the count in a statement of its own: a statement counts what was
	// committed when it began, so a count in the locking statement missed the file of an
	// upload it waited for.
	if _, err := tx.Exec(ctx, "SELECT 1 FROM requests WHERE id = $1 FOR NO KEY UPDATE", a.requestID); err != nil {
		return "", fmt.Errorf("lock request %s: %w", a.requestID, err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM attachments WHERE request_id = $1", a.requestID).Scan(&n); err != nil {
		return "", fmt.Errorf("attachments of %s: %w", a.requestID, err)
	}
	if n >= maxAttachments {
		ve := &ValidationError{}
		ve.add("file", "a request holds at most %d attachments", maxAttachments)
		return "", ve
	}
	var id string
	sum := sha256.Sum256(a.data)
	if err := tx.QueryRow(ctx, `INSERT INTO attachments (request_id, name, content_type, size, sha256, data, uploaded_by, via_link, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, '')::uuid, $7 = '', $8) RETURNING id::text`, a.requestID, a.name, a.contentType,
		len(a.data), sum[:], a.data, uploaderID, s.clock.Now()).Scan(&id); err != nil {
		return "", fmt.Errorf("attach %s to %s: %w", a.name, a.requestID, err)
	}
	return id, s.record(ctx, tx, auditActor, action, a.requestID, a.personID,
		map[string]any{"attachment": id, "name": a.name, "type": a.contentType, "size": len(a.data), "sha256": fmt.Sprintf("%x", sum)})
}

// cleanFileName keeps the base name of an upload without control or path characters.
func cleanFileName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	if r := []rune(name); len(r) > maxFileNameRune {
		name = string(r[len(r)-maxFileNameRune:])
	}
	return name
}

func (s *Service) attachments(ctx context.Context, requestID string) ([]AttachmentView, error) {
	rows, err := s.db.Query(ctx, `SELECT a.id::text, a.name, a.content_type, a.size, coalesce(p.display_name, ''), a.created_at
		FROM attachments a LEFT JOIN principals p ON p.id = a.uploaded_by WHERE a.request_id = $1 ORDER BY a.created_at`, requestID)
	if err != nil {
		return nil, fmt.Errorf("read attachments of %s: %w", requestID, err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[AttachmentView])
}

// Attachment returns an attachment and its content, if the actor may see its request.
func (s *Service) Attachment(ctx context.Context, actor Actor, id string) (AttachmentView, []byte, error) {
	var a AttachmentView
	var requestID string
	var data []byte
	err := s.db.QueryRow(ctx, `SELECT a.id::text, a.name, a.content_type, a.size, coalesce(p.display_name, ''), a.created_at,
			a.request_id::text, a.data
		FROM attachments a LEFT JOIN principals p ON p.id = a.uploaded_by WHERE a.id = $1`, uuidOrNull(id)).
		Scan(&a.ID, &a.Name, &a.ContentType, &a.Size, &a.UploadedBy, &a.At, &requestID, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, nil, fmt.Errorf("attachment %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, nil, fmt.Errorf("read attachment %s: %w", id, err)
	}
	if _, err := s.visibleRequest(ctx, s.db, actor, requestID); err != nil {
		return AttachmentView{}, nil, err
	}
	return a, data, nil
}

// AttachSignedForm takes the signed paper form from the person through the link to the
// terms. IT then checks it and records the terms as verified on paper.
func (s *Service) AttachSignedForm(ctx context.Context, token, name string, data []byte) error {
	name, contentType, err := CheckAttachment(name, data)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		l, err := s.link(ctx, tx, token)
		if err != nil {
			return err
		}
		var personID string
		if err := tx.QueryRow(ctx, "SELECT person_id::text FROM requests WHERE id = $1", l.requestID).Scan(&personID); err != nil {
			return err
		}
		_, err = s.storeAttachment(ctx, tx, personActor, "", "terms.paper_uploaded",
			newAttachment{l.requestID, personID, name, contentType, data})
		return err
	})
}
