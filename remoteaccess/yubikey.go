package remoteaccess

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/behorig/behorig/auth/yubiotp"
	"github.com/behorig/behorig/internal/audit"
	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/provisioning"
)

// The secret box contexts of a key's sealed values: one each, so that a private id copied
// into the key column (or the other way round) does not open there.
const (
	privateIDContext = "yubikeys.private_id"
	aesKeyContext    = "yubikeys.aes_key"
)

// Key states, as the yubikeys table spells them.
const (
	KeyInStock      = "in_stock"
	KeyHandedOut    = "handed_out"
	KeyToBeReturned = "to_be_returned"
	KeyLost         = "lost"
)

// Reasons a YubiKey's OTP is refused: for the audit log and the tests, never
// for the gateway, which gets the same Reject whatever the cause.
const (
	ReasonOTPFormat    = "otp_format"    // not modhex of 32..64 characters
	ReasonUnknownKey   = "unknown_key"   // no key with this public id handed out to the person with a live factor
	ReasonFactorLocked = "factor_locked" // the person's yubikey factor is locked
	ReasonOTPInvalid   = "otp_invalid"   // CRC or private id wrong: not this key's OTP
	ReasonReplayed     = "otp_replayed"  // (counter, use) not above the last accepted pair
)

// ImportedKey is one Yubico OTP credential read from the personalization log. Its private id
// and AES key never leave this package unsealed.
type ImportedKey struct {
	Line      int   // line in the file, for error messages
	Serial    int64 // 0 when the file does not say (the tool's traditional format)
	PublicID  string
	privateID []byte
	aesKey    []byte
}

// ImportProblem names a line of the file that cannot be imported, and why. It never holds
// the line itself, which holds secrets.
type ImportProblem struct {
	Line   int
	Field  string
	Reason string
}

func (p ImportProblem) String() string {
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Reason)
}

// ImportError lists every line that cannot be imported; nothing was imported.
type ImportError struct{ Problems []ImportProblem }

func (e *ImportError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "yubikey import refused, nothing imported:\n  " + strings.Join(lines, "\n  ")
}

// ImportResult says what an import did.
type ImportResult struct {
	Imported int
	// Skipped counts the log's lines that are not Yubico OTP credentials (LOGGING START,
	// OATH-HOTP, static passwords, challenge-response): they program nothing behorig checks.
	Skipped int
}

// ParseYubiKeyCSV reads the YubiKey Personalization Tool's log or a ykman/YubiCloud CSV, line
// by line whichever format each line has:
//
//	traditional: Yubico OTP,<timestamp>,<slot>,<public id>,<private id>,<AES key>,…
//	Yubico:      <serial>,<public id>,<private id>,<AES key>,<access code>,<timestamp>,
//
// Lines of other event types are skipped. Every bad line is reported (without its content);
// a public id twice in the file is a problem on its second line.
func ParseYubiKeyCSV(r io.Reader) ([]ImportedKey, ImportResult, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // the two formats, and the tool's trailing comma
	cr.ReuseRecord = true
	var (
		keys     []ImportedKey
		res      ImportResult
		problems []ImportProblem
		seen     = map[string]int{}
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			// csv's errors quote no field content, only positions.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				problems = append(problems, ImportProblem{Line: pe.Line, Field: "csv", Reason: pe.Err.Error()})
				continue
			}
			return nil, res, fmt.Errorf("read yubikey csv: %w", err)
		}
		first := strings.TrimSpace(rec[0])
		var serial, public, private, key string
		switch {
		case len(rec) == 1 && first == "":
			continue
		case isDigits(first):
			if len(rec) < 4 {
				problems = append(problems, ImportProblem{Line: line, Field: "line", Reason: "a Yubico format line needs serial, public id, private id and AES key"})
				continue
			}
			serial, public, private, key = first, rec[1], rec[2], rec[3]
		case first == "Yubico OTP":
			if len(rec) < 6 {
				problems = append(problems, ImportProblem{Line: line, Field: "line", Reason: "a Yubico OTP log line needs public id, private id and AES key in fields 4 to 6"})
				continue
			}
			public, private, key = rec[3], rec[4], rec[5]
		default:
			// LOGGING START and the other event types of the tool's log.
			res.Skipped++
			continue
		}
		k, lineProblems := parseImportedKey(line, serial, public, private, key)
		if len(lineProblems) == 0 {
			if prev, dup := seen[k.PublicID]; dup {
				lineProblems = append(lineProblems, ImportProblem{Line: line, Field: "public id",
					Reason: fmt.Sprintf("%s is also on line %d", k.PublicID, prev)})
			}
			seen[k.PublicID] = line
		}
		if len(lineProblems) > 0 {
			problems = append(problems, lineProblems...)
			continue
		}
		keys = append(keys, k)
	}
	if len(problems) > 0 {
		return nil, res, &ImportError{Problems: problems}
	}
	return keys, res, nil
}

func parseImportedKey(line int, serial, public, private, key string) (ImportedKey, []ImportProblem) {
	var problems []ImportProblem
	k := ImportedKey{Line: line}
	if serial != "" {
		n, err := strconv.ParseInt(serial, 10, 64)
		if err != nil || n <= 0 {
			problems = append(problems, ImportProblem{Line: line, Field: "serial", Reason: "is not a positive number"})
		}
		k.Serial = n
	}
	k.PublicID = strings.ToLower(stripSpace(public))
	if _, err := yubiotp.DecodeModhex(k.PublicID); err != nil || k.PublicID == "" || len(k.PublicID) > 2*yubiotp.MaxPublicIDBytes {
		problems = append(problems, ImportProblem{Line: line, Field: "public id",
			Reason: fmt.Sprintf("must be 2 to %d modhex characters", 2*yubiotp.MaxPublicIDBytes)})
	}
	var err error
	if k.privateID, err = hex.DecodeString(stripSpace(private)); err != nil || len(k.privateID) != yubiotp.PrivateIDLen {
		problems = append(problems, ImportProblem{Line: line, Field: "private id", Reason: "must be 12 hex digits"})
	}
	if k.aesKey, err = hex.DecodeString(stripSpace(key)); err != nil || len(k.aesKey) != yubiotp.KeyLen {
		problems = append(problems, ImportProblem{Line: line, Field: "AES key", Reason: "must be 32 hex digits"})
	}
	return k, problems
}

// stripSpace removes white space anywhere: the tool and hand-edited files group digits.
func stripSpace(s string) string {
	return strings.Join(strings.Fields(s), "")
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// Importer stores imported keys. It needs only the database, the secret box and the audit
// log, so that `behorig yubikey import` runs on a machine without the directory.
type Importer struct {
	DB     *pgxpool.Pool
	Box    *secret.Box
	Audit  *audit.Log
	Logger *slog.Logger
}

// Import reads a CSV (ParseYubiKeyCSV) and stores its keys in stock, private id and AES key
// sealed, in one transaction: a bad line, or a public id or serial already imported, refuses
// the whole file, so that a file is either in or out and can be fixed and run again. The
// replay state of a freshly programmed key is (0, 0). actor names who imported, for the audit.
func (im Importer) Import(ctx context.Context, actor string, r io.Reader) (ImportResult, error) {
	keys, res, err := ParseYubiKeyCSV(r)
	if err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, im.DB, func(tx pgx.Tx) error {
		var problems []ImportProblem
		for _, k := range keys {
			var serial *int64
			if k.Serial != 0 {
				serial = &k.Serial
			}
			// ON CONFLICT DO NOTHING so that one duplicate does not abort the transaction
			// before the others are found and reported.
			tag, err := tx.Exec(ctx, `INSERT INTO yubikeys (serial, public_id, private_id_enc, aes_key_enc)
				VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
				serial, k.PublicID, im.Box.Seal(k.privateID, privateIDContext), im.Box.Seal(k.aesKey, aesKeyContext))
			if err != nil {
				return fmt.Errorf("insert yubikey of line %d: %w", k.Line, err)
			}
			if tag.RowsAffected() == 0 {
				problems = append(problems, ImportProblem{Line: k.Line, Field: "public id",
					Reason: fmt.Sprintf("a key with public id %s or serial %d is already imported", k.PublicID, k.Serial)})
			}
		}
		if len(problems) > 0 {
			return &ImportError{Problems: problems}
		}
		publicIDs := make([]string, len(keys))
		for i, k := range keys {
			publicIDs[i] = k.PublicID
		}
		return im.Audit.Append(ctx, tx, audit.Event{At: time.Now(), Actor: actor, Action: "yubikey.imported",
			Data: map[string]any{"count": len(keys), "publicIds": publicIDs}})
	})
	if err != nil {
		return res, err
	}
	res.Imported = len(keys)
	if im.Logger != nil {
		im.Logger.InfoContext(ctx, "yubikeys imported", "count", res.Imported, "skipped", res.Skipped)
	}
	return res, nil
}

// Importer returns an importer on the service's database, box and audit log.
func (s *Service) Importer() Importer {
	return Importer{DB: s.db, Box: s.box, Audit: s.audit, Logger: s.log}
}

// A YubiKey OTP is accepted when the key is handed out to the person with a live (not
// revoked, not locked) yubikey factor, the OTP decrypts with the key's AES key (modhex, CRC)
// and carries its private id, and its (counter, use) is strictly above the last accepted
// pair. The opening needs no database once this process knows the key (openedKeys); the rest
// is decided by the statement that claims the login's try (login.go, newSubjectReader),
// which moves the pair only when it is greater, so that of two requests with one OTP (a
// gateway's retry, a replay, two replicas) exactly one is accepted, and a key returned or a
// factor revoked a moment ago accepts nothing. Nothing here is written to the log: the OTP
// is a credential.

// openOTP opens an OTP typed by the person's key, reading the key when this process does
// not know it yet. It gives the key and the OTP's token, or the reason it is refused (for
// the audit log); err is for the database only.
func (s *Service) openOTP(ctx context.Context, personID, otp string) (openedKey, yubiotp.Token, string, error) {
	o, err := yubiotp.Parse(otp)
	if err != nil {
		return openedKey{}, yubiotp.Token{}, ReasonOTPFormat, nil
	}
	key, known := s.keys.get(o.PublicID)
	if !known {
		var reason string
		if key, reason, err = s.readKey(ctx, personID, o.PublicID); err != nil || reason != "" {
			return openedKey{}, yubiotp.Token{}, reason, err
		}
		s.keys.put(o.PublicID, key)
	}
	tok, ok := key.open(o)
	if !ok {
		_, reason, err := s.rejection(ctx, personID, o.PublicID, ReasonOTPInvalid)
		return openedKey{}, yubiotp.Token{}, reason, err
	}
	return key, tok, "", nil
}

// openedKey is a key's secrets, opened from the box.
type openedKey struct {
	id        string
	publicID  string
	aesKey    []byte
	privateID []byte
}

// open decrypts an OTP of the key; false when it is not the key's (CRC or private id wrong).
func (k openedKey) open(o yubiotp.OTP) (yubiotp.Token, bool) {
	tok, err := yubiotp.Decrypt(o, k.aesKey)
	if err != nil || subtle.ConstantTimeCompare(tok.PrivateID[:], k.privateID) != 1 {
		return yubiotp.Token{}, false
	}
	return tok, true
}

// openedKeys keeps the keys' opened secrets by public id, so that a login does not read and
// open them again. A key's secrets never change once imported (a public id is never reused,
// the import refuses it), so nothing goes stale; who may use the key is not kept here but
// checked by the statement that accepts an OTP. Holding them opened in memory gives nothing
// away that the process does not already hold: the box's key, which opens them all.
type openedKeys struct {
	mu   sync.RWMutex
	byID map[string]openedKey
	// lengths are the lengths of the public ids known, for typed to find an OTP's start.
	lengths map[int]bool
}

func newOpenedKeys() *openedKeys {
	return &openedKeys{byID: map[string]openedKey{}, lengths: map[int]bool{}}
}

func (c *openedKeys) get(publicID string) (openedKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.byID[publicID]
	return k, ok
}

func (c *openedKeys) put(publicID string, k openedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[publicID] = k
	c.lengths[len(publicID)] = true
}

// typedOTP is a YubiKey OTP found at the end of what was typed and opened with its key.
type typedOTP struct {
	publicID string
	token    yubiotp.Token
}

// typed finds an OTP of a key this process knows at the end of what was typed (the
// password, then the key's output) and opens it; nil when there is none.
func (c *openedKeys) typed(typed string) *typedOTP {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for n := range c.lengths {
		if len(typed) < n+yubiotp.TokenLen {
			continue
		}
		key, known := c.byID[strings.ToLower(typed[len(typed)-n-yubiotp.TokenLen:len(typed)-yubiotp.TokenLen])]
		if !known {
			continue
		}
		_, otp, found := splitOTP(typed, key.publicID)
		if !found {
			continue
		}
		o, err := yubiotp.Parse(otp)
		if err != nil {
			continue
		}
		if tok, ok := key.open(o); ok {
			return &typedOTP{publicID: key.publicID, token: tok}
		}
	}
	return nil
}

// readKey reads and opens the key with this public id if it is handed out to the person with
// a live factor; otherwise it gives the reason it is not usable.
func (s *Service) readKey(ctx context.Context, personID, publicID string) (openedKey, string, error) {
	var (
		key                   openedKey
		privateSealed, aesKey []byte
		locked                bool
	)
	err := s.db.QueryRow(ctx, `SELECT y.id, y.private_id_enc, y.aes_key_enc, a.locked_at IS NOT NULL
		FROM yubikeys y JOIN authenticators a ON a.yubikey_id = y.id
		WHERE y.public_id = $1 AND y.person_id = $2 AND y.state = 'handed_out'
		  AND a.person_id = $2 AND a.kind = 'yubikey' AND a.revoked_at IS NULL`,
		publicID, personID).Scan(&key.id, &privateSealed, &aesKey, &locked)
	key.publicID = publicID
	if errors.Is(err, pgx.ErrNoRows) {
		return openedKey{}, ReasonUnknownKey, nil
	}
	if err != nil {
		return openedKey{}, "", fmt.Errorf("read yubikey: %w", err)
	}
	if locked {
		return openedKey{}, ReasonFactorLocked, nil
	}
	if key.aesKey, err = s.box.Open(aesKey, aesKeyContext); err != nil {
		return openedKey{}, "", fmt.Errorf("yubikey %s: %w", key.id, err)
	}
	if key.privateID, err = s.box.Open(privateSealed, privateIDContext); err != nil {
		return openedKey{}, "", fmt.Errorf("yubikey %s: %w", key.id, err)
	}
	return key, "", nil
}

// rejection names why an OTP was refused: the key is not (or no longer) the person's to use,
// the factor is locked, or else the reason the check found (a wrong OTP, a replay).
func (s *Service) rejection(ctx context.Context, personID, publicID, found string) (bool, string, error) {
	var locked bool
	err := s.db.QueryRow(ctx, `SELECT a.locked_at IS NOT NULL
		FROM yubikeys y JOIN authenticators a ON a.yubikey_id = y.id
		WHERE y.public_id = $1 AND y.person_id = $2 AND y.state = 'handed_out'
		  AND a.person_id = $2 AND a.kind = 'yubikey' AND a.revoked_at IS NULL`, publicID, personID).Scan(&locked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, ReasonUnknownKey, nil
	case err != nil:
		return false, "", fmt.Errorf("read yubikey: %w", err)
	case locked:
		return false, ReasonFactorLocked, nil
	}
	return false, found, nil
}

// YubiKey is a key as IT sees it: never its secrets.
type YubiKey struct {
	ID       string
	Serial   int64 // 0 when the import did not say
	PublicID string
	State    string
	// PersonID, PersonName, HandoutID and HandedOutAt are set while the key is with someone.
	PersonID    string
	PersonName  string
	HandoutID   string
	HandedOutAt time.Time
	ImportedAt  time.Time
}

// Label is what IT reads on the key: the serial, else the public id.
func (k YubiKey) Label() string {
	if k.Serial != 0 {
		return strconv.FormatInt(k.Serial, 10)
	}
	return k.PublicID
}

const keySelect = `SELECT y.id, coalesce(y.serial, 0), y.public_id, y.state, coalesce(y.person_id::text, ''),
	coalesce(p.given_name || ' ' || p.surname, ''), coalesce(h.id::text, ''), coalesce(h.handed_out_at, 'epoch'), y.imported_at
	FROM yubikeys y
	LEFT JOIN persons p ON p.id = y.person_id
	LEFT JOIN yubikey_handouts h ON h.yubikey_id = y.id AND h.returned_at IS NULL`

func scanKeys(rows pgx.Rows) ([]YubiKey, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (YubiKey, error) {
		var k YubiKey
		err := r.Scan(&k.ID, &k.Serial, &k.PublicID, &k.State, &k.PersonID, &k.PersonName, &k.HandoutID, &k.HandedOutAt, &k.ImportedAt)
		return k, err
	})
}

// YubiKeys lists the keys for IT: those to be returned first (IT chases them), then those
// handed out, then the stock, each by serial.
func (s *Service) YubiKeys(ctx context.Context, actor provisioning.Actor) ([]YubiKey, error) {
	if !actor.IT() {
		return nil, ErrForbidden
	}
	rows, err := s.db.Query(ctx, keySelect+`
		ORDER BY array_position(ARRAY['to_be_returned', 'lost', 'handed_out', 'in_stock'], y.state), y.serial NULLS LAST, y.public_id`)
	if err != nil {
		return nil, fmt.Errorf("list yubikeys: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("list yubikeys: %w", err)
	}
	return keys, nil
}

// YubiKeysToBeReturned lists the keys whose holder's remote access ended: IT's list of keys
// to get back, oldest hand-out first.
func (s *Service) YubiKeysToBeReturned(ctx context.Context, actor provisioning.Actor) ([]YubiKey, error) {
	if !actor.IT() {
		return nil, ErrForbidden
	}
	rows, err := s.db.Query(ctx, keySelect+` WHERE y.state = 'to_be_returned' ORDER BY h.handed_out_at, y.public_id`)
	if err != nil {
		return nil, fmt.Errorf("list yubikeys to be returned: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("list yubikeys to be returned: %w", err)
	}
	return keys, nil
}

// PersonYubiKeys lists the keys a person holds (handed out or to be returned), for the person
// page. IT only: the person page's other readers have no use for serials.
func (s *Service) PersonYubiKeys(ctx context.Context, actor provisioning.Actor, personID string) ([]YubiKey, error) {
	if !actor.IT() {
		return nil, ErrForbidden
	}
	rows, err := s.db.Query(ctx, keySelect+` WHERE y.person_id = $1 ORDER BY h.handed_out_at`, personID)
	if err != nil {
		return nil, fmt.Errorf("list the person's yubikeys: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("list the person's yubikeys: %w", err)
	}
	return keys, nil
}

// findKey finds a key by what IT types (keyWhere) and locks its row.
func findKey(ctx context.Context, tx pgx.Tx, label string) (id, state, personID string, err error) {
	where, arg, err := keyWhere(label)
	if err != nil {
		return "", "", "", err
	}
	err = tx.QueryRow(ctx, `SELECT id, state, coalesce(person_id::text, '') FROM yubikeys y WHERE `+where+` FOR UPDATE`, arg).
		Scan(&id, &state, &personID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", fieldError("yubikey", "is not a serial number or public id of an imported key")
	}
	if err != nil {
		return "", "", "", fmt.Errorf("find yubikey: %w", err)
	}
	return id, state, personID, nil
}

// keyWhere is the condition on yubikeys y ($1) that finds a key by what IT types: its serial
// (digits, printed on the key) or its public id (modhex, which has no digits).
func keyWhere(label string) (string, any, error) {
	label = strings.ToLower(strings.TrimSpace(label))
	if !isDigits(label) {
		return "y.public_id = $1", label, nil
	}
	serial, err := strconv.ParseInt(label, 10, 64)
	if err != nil {
		return "", nil, fieldError("yubikey", "is not a serial number or public id of an imported key")
	}
	return "y.serial = $1", serial, nil
}

func fieldError(field, format string, args ...any) error {
	return &provisioning.ValidationError{Errors: []provisioning.FieldError{
		{Field: field, Message: fmt.Sprintf(format, args...), Format: format, Args: args}}}
}

// HandOut gives a key from stock to a person: IT only, and only to a person whose approved
// remote-access order asked for a YubiKey (a remote-access grant, scheduled or active and not
// ended, from a request with factor yubikey). In one transaction it records the hand-out (who,
// when, by whom), puts the key with the person and makes the person's yubikey factor for that
// grant. It returns the hand-out's id, whose receipt the person signs.
func (s *Service) HandOut(ctx context.Context, actor provisioning.Actor, personID, keyLabel, note string) (string, error) {
	if !actor.IT() {
		return "", ErrForbidden
	}
	if _, ok := parseID(personID); !ok {
		return "", fmt.Errorf("person %q: %w", personID, ErrNotFound)
	}
	var handoutID string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		keyID, state, holder, err := findKey(ctx, tx, keyLabel)
		if err != nil {
			return err
		}
		if state == KeyHandedOut && holder == personID {
			// The form sent twice (a double click): the hand-out it made is the answer.
			return tx.QueryRow(ctx, "SELECT id FROM yubikey_handouts WHERE yubikey_id = $1 AND returned_at IS NULL",
				keyID).Scan(&handoutID)
		}
		if state != KeyInStock {
			return fieldError("yubikey", "is not in stock: record its return first")
		}
		now := s.clock.Now()
		grantID, err := yubikeyGrant(ctx, tx, personID, now)
		if err != nil {
			return err
		}
		if grantID != "" {
			// The grant stays as it is until this commits: a revocation recording it waits,
			// and then revokes the factor made here; one that got there first has ended it,
			// and the read below, once the lock is had, sees that.
			err = tx.QueryRow(ctx, `SELECT id FROM grants WHERE id = $1 AND state IN ('scheduled', 'active')
				AND (ends_at IS NULL OR ends_at > $2) FOR SHARE`, grantID, now).Scan(&grantID)
			if errors.Is(err, pgx.ErrNoRows) {
				grantID, err = "", nil
			}
			if err != nil {
				return fmt.Errorf("lock remote-access grant: %w", err)
			}
		}
		if grantID == "" {
			return fieldError("person", "has no approved remote-access order with a YubiKey")
		}
		if _, err := tx.Exec(ctx, `UPDATE yubikeys SET state = 'handed_out', person_id = $2 WHERE id = $1`, keyID, personID); err != nil {
			return fmt.Errorf("hand out yubikey: %w", err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO yubikey_handouts (yubikey_id, person_id, handed_out_at, handed_out_by, note)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, keyID, personID, now, actor.ID, strings.TrimSpace(note)).Scan(&handoutID); err != nil {
			return fmt.Errorf("record hand-out: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO authenticators (person_id, grant_id, kind, yubikey_id, created_at)
			VALUES ($1, $2, 'yubikey', $3, $4)`, personID, grantID, keyID, now); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return fieldError("person", "already has a YubiKey; record its return first")
			}
			return fmt.Errorf("create yubikey factor: %w", err)
		}
		return s.recordKeyEvent(ctx, tx, actor.Subject, "yubikey.handed_out", personID,
			map[string]any{"yubikey": keyID, "handout": handoutID, "grant": grantID})
	})
	if err != nil {
		return "", err
	}
	return handoutID, nil
}

// yubikeyGrant is the person's remote-access grant from an approved order that asked for a
// YubiKey, scheduled or active and not ended; "" when there is none.
func yubikeyGrant(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, personID string, now time.Time) (string, error) {
	var grantID string
	err := q.QueryRow(ctx, `SELECT g.id FROM grants g
		JOIN systems sy ON sy.id = g.system_id
		JOIN requests r ON r.id = g.request_id
		WHERE g.person_id = $1 AND sy.remote_access AND r.kind = 'remote_access' AND r.remote_factor = 'yubikey'
		  AND g.state IN ('scheduled', 'active') AND (g.ends_at IS NULL OR g.ends_at > $2)
		ORDER BY g.starts_at DESC LIMIT 1`, personID, now).Scan(&grantID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find remote-access grant: %w", err)
	}
	return grantID, nil
}

// AwaitsYubiKey tells whether the person's approved remote-access order asked for a YubiKey:
// the person page offers IT the hand-out then. IT only.
func (s *Service) AwaitsYubiKey(ctx context.Context, actor provisioning.Actor, personID string) (bool, error) {
	if !actor.IT() {
		return false, ErrForbidden
	}
	grantID, err := yubikeyGrant(ctx, s.db, personID, s.clock.Now())
	return grantID != "", err
}

// Return records that IT got a key back: the hand-out is closed, the key is in stock again
// and the person's factor with it is revoked. It works for a key handed out, to be returned or
// lost (found again).
func (s *Service) Return(ctx context.Context, actor provisioning.Actor, keyLabel, note string) error {
	if !actor.IT() {
		return ErrForbidden
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// A login (subjectsSQL) and a revocation take a key's factor before the key: so does
		// the return, or a login at the same moment and it deadlock and one of them fails.
		where, arg, err := keyWhere(keyLabel)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT a.id FROM authenticators a JOIN yubikeys y ON y.id = a.yubikey_id
			WHERE `+where+` AND a.revoked_at IS NULL ORDER BY a.id FOR NO KEY UPDATE OF a`, arg); err != nil {
			return fmt.Errorf("hold the key's factor: %w", err)
		}
		keyID, state, personID, err := findKey(ctx, tx, keyLabel)
		if err != nil {
			return err
		}
		if state == KeyInStock {
			return fieldError("yubikey", "is already in stock")
		}
		now := s.clock.Now()
		if _, err := tx.Exec(ctx, `UPDATE yubikey_handouts SET returned_at = $2, returned_to = $3,
			note = CASE WHEN $4 = '' THEN note WHEN note = '' THEN $4 ELSE note || E'\n' || $4 END
			WHERE yubikey_id = $1 AND returned_at IS NULL`, keyID, now, actor.ID, strings.TrimSpace(note)); err != nil {
			return fmt.Errorf("close hand-out: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE authenticators SET revoked_at = $2 WHERE yubikey_id = $1 AND revoked_at IS NULL`, keyID, now); err != nil {
			return fmt.Errorf("revoke yubikey factor: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE yubikeys SET state = 'in_stock', person_id = NULL WHERE id = $1`, keyID); err != nil {
			return fmt.Errorf("return yubikey: %w", err)
		}
		return s.recordKeyEvent(ctx, tx, actor.Subject, "yubikey.returned", personID, map[string]any{"yubikey": keyID, "state": state})
	})
}

// Receipt is what the person signs when they get a key.
type Receipt struct {
	HandoutID     string
	Key           YubiKey
	PersonID      string
	HandedOutAt   time.Time
	HandedOutBy   string // IT's name
	Note          string
	ReturnedAt    *time.Time
	ReturnedTo    string
	RemoteGrantTo *time.Time // the end of the remote-access grant, when it has one
}

// Receipt returns a hand-out's receipt. IT only; the page adds the person's name and
// personnummer from provisioning.
func (s *Service) Receipt(ctx context.Context, actor provisioning.Actor, handoutID string) (Receipt, error) {
	if !actor.IT() {
		return Receipt{}, ErrForbidden
	}
	var r Receipt
	err := s.db.QueryRow(ctx, `SELECT h.id, h.person_id, h.handed_out_at, pr.display_name, h.note, h.returned_at,
			coalesce(rt.display_name, ''), y.id, coalesce(y.serial, 0), y.public_id, y.state
		FROM yubikey_handouts h
		JOIN yubikeys y ON y.id = h.yubikey_id
		JOIN principals pr ON pr.id = h.handed_out_by
		LEFT JOIN principals rt ON rt.id = h.returned_to
		WHERE h.id::text = $1`, handoutID).Scan(&r.HandoutID, &r.PersonID, &r.HandedOutAt, &r.HandedOutBy, &r.Note,
		&r.ReturnedAt, &r.ReturnedTo, &r.Key.ID, &r.Key.Serial, &r.Key.PublicID, &r.Key.State)
	if errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, ErrNotFound
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("read hand-out: %w", err)
	}
	r.Key.HandoutID, r.Key.HandedOutAt, r.Key.PersonID = r.HandoutID, r.HandedOutAt, r.PersonID
	err = s.db.QueryRow(ctx, `SELECT g.ends_at FROM authenticators a JOIN grants g ON g.id = a.grant_id
		WHERE a.yubikey_id = $1 AND a.person_id = $2 ORDER BY a.created_at DESC LIMIT 1`, r.Key.ID, r.PersonID).Scan(&r.RemoteGrantTo)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, fmt.Errorf("read the hand-out's grant: %w", err)
	}
	return r, nil
}

// recordKeyEvent appends an audit event about a key in tx, at the service's clock. The data
// names keys by id and never holds a secret.
func (s *Service) recordKeyEvent(ctx context.Context, tx pgx.Tx, actor, action, personID string, data any) error {
	return s.audit.Append(ctx, tx, audit.Event{At: s.clock.Now(), Actor: actor, Action: action, PersonID: personID, Data: data})
}
