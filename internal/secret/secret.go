// Package secret encrypts sensitive values at rest (personnummer now, OTP seeds later) and
// computes blind indexes so that an encrypted value can still be found by equality.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length of the master key in bytes.
const KeySize = 32

// Box seals and opens values with AES-256-GCM and computes HMAC-SHA-256 blind indexes. Every
// key is derived from one master key with HKDF under its own label, so that no two purposes
// share a key and an operator has one secret to keep.
type Box struct {
	aead      cipher.AEAD
	indexKey  []byte
	auditKeys AuditKeys
}

// AuditKeys key the audit log. They live outside the database, so someone who can write to
// the database can neither recompute the chain after changing an event nor forge a
// checkpoint.
type AuditKeys struct {
	Chain      []byte // the HMAC-SHA-256 key of each event's hash
	Checkpoint []byte // the HMAC-SHA-256 key of checkpoints of the chain's head
}

// NewBox derives the keys from a 32-byte master key.
func NewBox(master []byte) (*Box, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(master))
	}
	encKey, err := hkdf.Key(sha256.New, master, nil, "behorig encryption v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive encryption key: %w", err)
	}
	indexKey, err := hkdf.Key(sha256.New, master, nil, "behorig blind index v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive index key: %w", err)
	}
	auditChainKey, err := hkdf.Key(sha256.New, master, nil, "behorig audit chain v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive audit chain key: %w", err)
	}
	auditCheckpointKey, err := hkdf.Key(sha256.New, master, nil, "behorig audit checkpoint v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive audit checkpoint key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Box{aead: aead, indexKey: indexKey,
		auditKeys: AuditKeys{Chain: auditChainKey, Checkpoint: auditCheckpointKey}}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) master key.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("secret key must decode to %d bytes, got %d", KeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("secret key is not valid base64")
}

// NewKey returns a fresh random master key, base64 encoded.
func NewKey() string {
	key := make([]byte, KeySize)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// Seal encrypts plaintext. context binds the ciphertext to its place (e.g. "person.personnummer")
// so that a value copied into another column does not decrypt there.
func (b *Box) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts a value made by Seal with the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed value: too short")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed value (%s): %w", context, err)
	}
	return plain, nil
}

// Index returns the blind index of a value: equal inputs give equal indexes, and without the
// key the index reveals nothing about the value.
func (b *Box) Index(value []byte, context string) []byte {
	mac := hmac.New(sha256.New, b.indexKey)
	mac.Write([]byte(context))
	mac.Write([]byte{0})
	mac.Write(value)
	return mac.Sum(nil)
}

// AuditKeys returns the keys of the audit log.
func (b *Box) AuditKeys() AuditKeys { return b.auditKeys }
