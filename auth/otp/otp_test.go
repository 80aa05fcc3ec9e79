package otp

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

type rfcVectors struct {
	HOTPKey  string            `json:"hotp_key_ascii"`
	HOTP     []string          `json:"hotp"`
	TOTPKeys map[string]string `json:"totp_keys_ascii"`
	TOTP     []map[string]any  `json:"totp"`
}

func loadRFC(t *testing.T) rfcVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

var algorithms = map[string]Algorithm{"SHA1": SHA1, "SHA256": SHA256, "SHA512": SHA512}

func TestHOTPRFC4226(t *testing.T) {
	v := loadRFC(t)
	for counter, want := range v.HOTP {
		got, err := HOTP([]byte(v.HOTPKey), uint64(counter), Params{})
		if err != nil || got != want {
			t.Errorf("HOTP(count %d) = %s, %v; want %s", counter, got, err, want)
		}
	}
}

func TestTOTPRFC6238(t *testing.T) {
	v := loadRFC(t)
	for _, row := range v.TOTP {
		at := time.Unix(int64(row["unix"].(float64)), 0)
		for name, alg := range algorithms {
			got, err := TOTP([]byte(v.TOTPKeys[name]), at, Params{Digits: 8, Algorithm: alg})
			if err != nil || got != row[name] {
				t.Errorf("TOTP %s at %d = %s, %v; want %s", name, at.Unix(), got, err, row[name])
			}
		}
	}
}

func oathtool(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("oathtool", args...).Output()
	if err != nil {
		t.Fatalf("oathtool %s: %v (install it: bash scripts/deps.sh)", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// The same codes as oathtool for keys and times the RFCs do not cover: a random-looking
// 20-byte key, 6 and 8 digits, all three hashes, and a time of our own.
func TestAgainstOathtool(t *testing.T) {
	key, _ := hex.DecodeString("8a1f2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d")
	hexKey := hex.EncodeToString(key)
	codes := oathtool(t, "--hotp", "-c", "1000", "-w", "4", hexKey)
	for i, want := range codes {
		got, err := HOTP(key, uint64(1000+i), Params{})
		if err != nil || got != want {
			t.Errorf("HOTP(%d) = %s, %v; oathtool says %s", 1000+i, got, err, want)
		}
	}
	at := time.Date(2026, 12, 2, 7, 30, 15, 0, time.UTC)
	for _, digits := range []int{6, 8} {
		for name, alg := range algorithms {
			want := oathtool(t, "--totp="+strings.ToLower(name), "-d", fmt.Sprint(digits), "--now", at.Format("2006-01-02 15:04:05 UTC"), hexKey)[0]
			got, err := TOTP(key, at, Params{Digits: digits, Algorithm: alg})
			if err != nil || got != want {
				t.Errorf("TOTP %s/%d = %s, %v; oathtool says %s", name, digits, got, err, want)
			}
		}
	}
}

func TestVerifyHOTPMovesTheCounter(t *testing.T) {
	v := loadRFC(t)
	key := []byte(v.HOTPKey)
	// The person pressed twice without logging in: code 2 is inside the look-ahead.
	next, ok, err := VerifyHOTP(key, v.HOTP[2], 0, 3, Params{})
	if err != nil || !ok || next != 3 {
		t.Fatalf("VerifyHOTP(code 2 from 0) = %d, %v, %v", next, ok, err)
	}
	// The same code again, or an older one, is refused.
	for _, code := range []string{v.HOTP[2], v.HOTP[1]} {
		if n, ok, _ := VerifyHOTP(key, code, next, 3, Params{}); ok || n != next {
			t.Errorf("reused code %s accepted (%d)", code, n)
		}
	}
	// Beyond the window.
	if _, ok, _ := VerifyHOTP(key, v.HOTP[9], next, 3, Params{}); ok {
		t.Error("code 9 accepted from counter 3 with window 3")
	}
	if _, ok, err := VerifyHOTP(key, "12345", 0, 3, Params{}); ok || err != nil {
		t.Errorf("a short code: %v, %v", ok, err)
	}
}

func TestVerifyTOTPOncePerStep(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	code, _ := TOTP(key, now, Params{})
	step, ok, err := VerifyTOTP(key, code, now, 0, 1, Params{})
	if err != nil || !ok || step != Step(now, Params{}) {
		t.Fatalf("VerifyTOTP = %d, %v, %v", step, ok, err)
	}
	// Within the same 30 seconds the code is spent.
	if _, ok, _ := VerifyTOTP(key, code, now.Add(5*time.Second), step, 1, Params{}); ok {
		t.Error("a TOTP value accepted twice")
	}
	// One step of clock skew either way is accepted, two are not.
	prev, _ := TOTP(key, now.Add(-30*time.Second), Params{})
	if _, ok, _ := VerifyTOTP(key, prev, now, 0, 1, Params{}); !ok {
		t.Error("the previous step's code refused")
	}
	old, _ := TOTP(key, now.Add(-60*time.Second), Params{})
	if _, ok, _ := VerifyTOTP(key, old, now, 0, 1, Params{}); ok {
		t.Error("a code two steps old accepted")
	}
}

func TestRandomCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := RandomCode(6)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	// 200 draws from a million: a repeat is possible but rare (p ≈ 2%); many means a
	// broken generator.
	if len(seen) < 195 {
		t.Errorf("only %d distinct codes in 200", len(seen))
	}
	if _, err := RandomCode(4); err == nil {
		t.Error("a 4-digit code was made (below NIST's 20 bits)")
	}
}
