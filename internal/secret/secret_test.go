package secret

import (
	"bytes"
	"testing"
)

func testBox(t *testing.T) *Box {
	t.Helper()
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func TestSealOpen(t *testing.T) {
	box := testBox(t)
	sealed := box.Seal([]byte("195001182046"), "person.personnummer")
	if bytes.Contains(sealed, []byte("195001182046")) {
		t.Fatal("sealed value contains the plaintext")
	}
	plain, err := box.Open(sealed, "person.personnummer")
	if err != nil || string(plain) != "195001182046" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if _, err := box.Open(sealed, "other.column"); err == nil {
		t.Fatal("a value opened under another context")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed, "person.personnummer"); err == nil {
		t.Fatal("a tampered value opened")
	}
}

func TestSealIsRandomised(t *testing.T) {
	box := testBox(t)
	a := box.Seal([]byte("x"), "c")
	b := box.Seal([]byte("x"), "c")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are equal: the ciphertext would reveal equality")
	}
}

func TestIndex(t *testing.T) {
	box := testBox(t)
	if !bytes.Equal(box.Index([]byte("v"), "c"), box.Index([]byte("v"), "c")) {
		t.Fatal("index is not deterministic")
	}
	if bytes.Equal(box.Index([]byte("v"), "c"), box.Index([]byte("w"), "c")) {
		t.Fatal("different values share an index")
	}
	other := testBox(t)
	if bytes.Equal(box.Index([]byte("v"), "c"), other.Index([]byte("v"), "c")) {
		t.Fatal("index does not depend on the key")
	}
}

// The audit keys are fixed by the master key, differ from each other and from the index key,
// and differ between master keys.
func TestAuditKeys(t *testing.T) {
	master, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewBox(master)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewBox(master)
	if err != nil {
		t.Fatal(err)
	}
	keys := a.AuditKeys()
	if !bytes.Equal(keys.Chain, again.AuditKeys().Chain) || !bytes.Equal(keys.Checkpoint, again.AuditKeys().Checkpoint) {
		t.Fatal("the audit keys are not derived from the master key alone")
	}
	if len(keys.Chain) != KeySize || bytes.Equal(keys.Chain, keys.Checkpoint) ||
		bytes.Equal(keys.Chain, a.indexKey) || bytes.Equal(keys.Checkpoint, a.indexKey) {
		t.Fatal("the audit keys are not distinct keys of their own")
	}
	if bytes.Equal(keys.Chain, testBox(t).AuditKeys().Chain) {
		t.Fatal("the audit chain key does not depend on the master key")
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := ParseKey("not base64 !!"); err == nil {
		t.Fatal("garbage was accepted")
	}
}
