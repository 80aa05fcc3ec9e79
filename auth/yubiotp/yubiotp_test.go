package yubiotp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type vector struct {
	AESKey    string `json:"aes_key"`
	OTP       string `json:"otp"`
	PublicID  string `json:"public_id"`
	TokenHex  string `json:"token_hex"`
	PrivateID string `json:"private_id"`
	Counter   uint16 `json:"counter"`
	Timestamp uint32 `json:"timestamp"`
	Use       uint8  `json:"use"`
	Random    uint16 `json:"random"`
}

func loadVector(t testing.TB) vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The spec's vector: a 40-character OTP whose public id is 8 characters, so parsing from the
// left (a fixed 12-character id) would fail.
func TestSpecVector(t *testing.T) {
	v := loadVector(t)
	o, err := Parse(v.OTP)
	if err != nil {
		t.Fatal(err)
	}
	if o.PublicID != v.PublicID {
		t.Errorf("public id %q, want %q", o.PublicID, v.PublicID)
	}
	if got := hex.EncodeToString(o.Token[:]); got != v.TokenHex {
		t.Errorf("token %s, want %s", got, v.TokenHex)
	}
	tok, err := Decrypt(o, mustHex(t, v.AESKey))
	if err != nil {
		t.Fatal(err)
	}
	want := Token{Counter: v.Counter, Timestamp: v.Timestamp, Use: v.Use, Random: v.Random}
	copy(want.PrivateID[:], mustHex(t, v.PrivateID))
	if tok != want {
		t.Errorf("token %+v, want %+v", tok, want)
	}
	// Encoding the fields again gives the very OTP the key typed.
	again, err := Encode(v.PublicID, mustHex(t, v.AESKey), tok)
	if err != nil {
		t.Fatal(err)
	}
	if again != v.OTP {
		t.Errorf("Encode = %s, want %s", again, v.OTP)
	}
}

func TestParseAcceptsWhatAKeyTypes(t *testing.T) {
	v := loadVector(t)
	for _, s := range []string{"  " + v.OTP + "\n", strings.ToUpper(v.OTP)} {
		o, err := Parse(s)
		if err != nil || o.PublicID != v.PublicID {
			t.Errorf("Parse(%q) = %+v, %v", s, o, err)
		}
	}
	// A key without a public id types the token alone.
	o, err := Parse(v.OTP[8:])
	if err != nil || o.PublicID != "" {
		t.Errorf("token alone: %+v, %v", o, err)
	}
}

func TestParseRejects(t *testing.T) {
	v := loadVector(t)
	for name, s := range map[string]string{
		"empty":             "",
		"too short":         v.OTP[9:],
		"odd public id":     "c" + v.OTP,
		"too long":          strings.Repeat("c", 66),
		"hex, not modhex":   "0123456789abcdef0123456789abcdef",
		"a password before": "hunter2" + v.OTP,
		"space inside":      v.OTP[:20] + " " + v.OTP[21:],
	} {
		if _, err := Parse(s); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Parse(%q) err = %v, want ErrFormat", name, s, err)
		}
	}
}

func TestDecryptWithWrongKeyFailsCRC(t *testing.T) {
	v := loadVector(t)
	o, _ := Parse(v.OTP)
	key := mustHex(t, v.AESKey)
	key[0] ^= 1
	if _, err := Decrypt(o, key); !errors.Is(err, ErrCRC) {
		t.Fatalf("err = %v, want ErrCRC", err)
	}
	// The whole 40 characters taken as a token (parsing from the left) fail too.
	var wrong OTP
	b, _ := DecodeModhex(v.OTP[:32])
	copy(wrong.Token[:], b)
	if _, err := Decrypt(wrong, mustHex(t, v.AESKey)); !errors.Is(err, ErrCRC) {
		t.Fatalf("left-parsed token: err = %v, want ErrCRC", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, KeyLen)
	want := Token{PrivateID: [6]byte{1, 2, 3, 4, 5, 6}, Counter: 0x7fff, Timestamp: 0xabcdef, Use: 255, Random: 7}
	s, err := Encode("vvccccccccbb", key, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 44 {
		t.Fatalf("len %d, want 44", len(s))
	}
	o, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(o, key)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || o.PublicID != "vvccccccccbb" {
		t.Fatalf("round trip %+v %q, want %+v", got, o.PublicID, want)
	}
	if _, err := Encode("vvcccccccc", key, Token{Counter: 0x8000}); err == nil {
		t.Error("a counter over 15 bits was encoded")
	}
	if _, err := Encode("0123", key, Token{}); err == nil {
		t.Error("a hex public id was encoded")
	}
}

func TestModhex(t *testing.T) {
	if got := EncodeModhex([]byte{0x2d, 0x34, 0x4e, 0x83}); got != "dteffuje" {
		t.Errorf("EncodeModhex = %q", got)
	}
	b, err := DecodeModhex("DTEFFUJE")
	if err != nil || !bytes.Equal(b, []byte{0x2d, 0x34, 0x4e, 0x83}) {
		t.Errorf("DecodeModhex = %x, %v", b, err)
	}
}

// FuzzParse feeds the parser anything a gateway could relay: it must never panic, and what it
// accepts must be modhex that encodes back to the same (normalised) string.
func FuzzParse(f *testing.F) {
	v := loadVector(f)
	f.Add(v.OTP)
	f.Add(strings.ToUpper(v.OTP))
	f.Add("")
	f.Add("vvccccccccbb" + strings.Repeat("c", 32))
	f.Add(strings.Repeat("ü", 40))
	key := mustHex(f, v.AESKey)
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil {
			return
		}
		if got, want := o.PublicID+EncodeModhex(o.Token[:]), strings.ToLower(strings.TrimSpace(s)); got != want {
			t.Fatalf("Parse(%q) gives %q", s, got)
		}
		// What decrypts (a CRC match by chance) must encode back to a token with the same
		// fields: the counter's flag bit is masked away, so compare fields, not strings.
		if tok, err := Decrypt(o, key); err == nil {
			again, err := Encode(o.PublicID, key, tok)
			if err != nil {
				t.Fatalf("Encode of %+v: %v", tok, err)
			}
			ao, err := Parse(again)
			if err != nil {
				t.Fatalf("Parse(Encode) = %v", err)
			}
			if t2, err := Decrypt(ao, key); err != nil || t2 != tok {
				t.Fatalf("re-encoding %q gives %+v, %v", s, t2, err)
			}
		}
	})
}
