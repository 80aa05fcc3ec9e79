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

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := ParseKey("not base64 !!"); err == nil {
		t.Fatal("garbage was accepted")
	}
}
