package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckpointAction is the action of the events that record checkpoints in the log.
const CheckpointAction = "audit.checkpoint"

// Checkpoint vouches for the chain up to one event: that event's seq and hash at a time, with
// a MAC under the checkpoint key. Kept outside the database, it reveals deleted newest events
// and an emptied table, which leave an intact chain behind. An HMAC rather than an Ed25519
// signature: checking the chain needs the secret key anyway, so a public key would let no one
// check more.
type Checkpoint struct {
	Seq  int64     `json:"seq"`
	Hash []byte    `json:"hash"`
	At   time.Time `json:"at"`
	MAC  []byte    `json:"mac"`
}

// CheckpointSink keeps checkpoints outside the database.
type CheckpointSink interface {
	WriteCheckpoint(Checkpoint) error
}

// ErrEmpty is returned by Checkpoint for a log without events: there is nothing to vouch for.
var ErrEmpty = errors.New("the audit log is empty")

// Checkpoint vouches for the newest event now: it writes the checkpoint to sink (unless sink
// is nil) and appends it to the log as an audit.checkpoint event.
func (l *Log) Checkpoint(ctx context.Context, db Beginner, at time.Time, sink CheckpointSink) (Checkpoint, error) {
	c, _, err := l.checkpoint(ctx, db, at, sink, false)
	return c, err
}

// CheckpointIfGrown is Checkpoint when events were appended since the last checkpoint;
// otherwise, and for an empty log, it writes nothing and returns false.
func (l *Log) CheckpointIfGrown(ctx context.Context, db Beginner, at time.Time, sink CheckpointSink) (Checkpoint, bool, error) {
	return l.checkpoint(ctx, db, at, sink, true)
}

func (l *Log) checkpoint(ctx context.Context, db Beginner, at time.Time, sink CheckpointSink, onlyIfGrown bool) (Checkpoint, bool, error) {
	// Seal first, so that the checkpoint vouches for every event committed until now.
	if _, err := l.Seal(ctx, db); err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint: %w", err)
	}
	h, err := vouchedHead(ctx, db)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint: %w", err)
	}
	// Nothing happened since the last checkpoint when the head is a checkpoint of the event
	// right before it. One sealed later than that (events came while its line was written)
	// leaves those events unvouched for: they get a checkpoint of their own.
	if onlyIfGrown && (h.Seq == 0 || h.vouched) {
		return Checkpoint{}, false, nil
	}
	if h.Seq == 0 {
		return Checkpoint{}, false, fmt.Errorf("audit checkpoint: %w", ErrEmpty)
	}
	c := l.sign(h.Seq, h.Hash, at)
	// Written before the event is appended, and holding no lock: a sink that hangs (a stuck
	// mount, a log shipper) holds up the checkpoint, never the appends or the sealing of
	// everyone else. Event h.Seq is sealed, so the line tells the truth whatever happens next.
	if sink != nil {
		if err := sink.WriteCheckpoint(c); err != nil {
			return Checkpoint{}, false, fmt.Errorf("audit checkpoint: write checkpoint of event %d: %w", c.Seq, err)
		}
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return l.insert(ctx, tx, Event{At: c.At, Actor: "system", Action: CheckpointAction, Data: c})
	})
	if err != nil {
		return c, true, fmt.Errorf("audit checkpoint: record checkpoint of event %d: %w", c.Seq, err)
	}
	// Sealed at once, so that the next run finds it at the head when nothing else came.
	if _, err := l.Seal(ctx, db); err != nil {
		return c, true, fmt.Errorf("audit checkpoint: %w", err)
	}
	return c, true, nil
}

// vouchedHead reads the sealed head and whether it is a checkpoint of the event right
// before it.
func vouchedHead(ctx context.Context, db Beginner) (head, error) {
	h := head{Hash: make([]byte, sha256.Size)}
	var data string
	err := db.QueryRow(ctx, "SELECT seq, hash, action, data::text FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").Scan(
		&h.Seq, &h.Hash, &h.Action, &data)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return head{}, fmt.Errorf("read chain head: %w", err)
	}
	if h.Action == CheckpointAction {
		var c Checkpoint
		h.vouched = json.Unmarshal([]byte(data), &c) == nil && c.Seq == h.Seq-1
	}
	return h, nil
}

func (l *Log) sign(seq int64, hash []byte, at time.Time) Checkpoint {
	c := Checkpoint{Seq: seq, Hash: hash, At: at.UTC().Truncate(time.Microsecond)}
	c.MAC = l.checkpointMAC(c)
	return c
}

func (l *Log) checkpointMAC(c Checkpoint) []byte {
	msg := appendInt(nil, c.Seq)
	msg = appendField(msg, c.Hash)
	msg = appendField(msg, []byte(c.At.UTC().Format(time.RFC3339Nano)))
	return appendMAC(nil, hmac.New(sha256.New, l.checkpointKey), msg)
}

func (l *Log) validCheckpoint(c Checkpoint) bool {
	return hmac.Equal(c.MAC, l.checkpointMAC(c))
}

// CheckpointFile appends checkpoints to a file, one JSON object a line. It is only as good as
// the file is out of reach of whoever can change the database: another disk, a log shipper,
// append-only storage.
type CheckpointFile struct {
	Path string
}

// Check creates the file if it is missing and makes sure it can be appended to, so that a
// path that cannot be written is reported at start, not at the first checkpoint.
func (f CheckpointFile) Check() error {
	file, err := f.open()
	if err != nil {
		return err
	}
	return file.Close()
}

// WriteCheckpoint appends c as one line and waits for it to reach the disk.
func (f CheckpointFile) WriteCheckpoint(c Checkpoint) error {
	line, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	file, err := f.open()
	if err != nil {
		return err
	}
	_, err = file.Write(append(line, '\n'))
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("append to checkpoint file %s: %w", f.Path, err)
	}
	return nil
}

func (f CheckpointFile) open() (*os.File, error) {
	file, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint file: %w", err)
	}
	return file, nil
}

// ReadCheckpoints reads a file written by CheckpointFile. A missing file is an error: verifying
// against no checkpoints would hide that the file was deleted.
func ReadCheckpoints(path string) ([]Checkpoint, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer file.Close()
	var out []Checkpoint
	scanner := bufio.NewScanner(file)
	for n := 1; scanner.Scan(); n++ {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		var c Checkpoint
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("read checkpoints: %s line %d: %w", path, n, err)
		}
		out = append(out, c)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints %s: %w", path, err)
	}
	return out, nil
}
