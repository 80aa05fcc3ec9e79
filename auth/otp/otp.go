// Package otp computes and checks one-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238)
// through github.com/pquerna/otp, with what that library leaves to its caller: which counter
// or time step matched, so that the caller can store it and accept each value only once, and
// the random numeric codes sent by SMS.
package otp

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"math/big"
	"time"

	pqotp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Algorithm is the HMAC hash: SHA1 (RFC 4226, and what authenticator apps use), SHA256 or
// SHA512 (RFC 6238).
type Algorithm = pqotp.Algorithm

// The algorithms.
const (
	SHA1   = pqotp.AlgorithmSHA1
	SHA256 = pqotp.AlgorithmSHA256
	SHA512 = pqotp.AlgorithmSHA512
)

// Params say how codes are made. The zero value is the authenticator apps' choice: 6 digits,
// SHA1, 30-second steps.
type Params struct {
	Digits    int // 6 (default) or 8
	Algorithm Algorithm
	// Period is the TOTP time step; default 30 seconds.
	Period time.Duration
}

func (p Params) digits() (pqotp.Digits, error) {
	switch p.Digits {
	case 0, 6:
		return pqotp.DigitsSix, nil
	case 8:
		return pqotp.DigitsEight, nil
	}
	return 0, fmt.Errorf("otp: %d digits; use 6 or 8", p.Digits)
}

func (p Params) period() time.Duration {
	if p.Period <= 0 {
		return 30 * time.Second
	}
	return p.Period
}

func (p Params) hotpOpts() (hotp.ValidateOpts, error) {
	d, err := p.digits()
	return hotp.ValidateOpts{Digits: d, Algorithm: p.Algorithm}, err
}

// encodeSecret gives the library the key as it wants it: base32 text.
func encodeSecret(key []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key)
}

// HOTP is the code for a counter value.
func HOTP(key []byte, counter uint64, p Params) (string, error) {
	opts, err := p.hotpOpts()
	if err != nil {
		return "", err
	}
	code, err := hotp.GenerateCodeCustom(encodeSecret(key), counter, opts)
	if err != nil {
		return "", fmt.Errorf("otp: hotp: %w", err)
	}
	return code, nil
}

// Step is the TOTP time step of t: Unix time divided by the period.
func Step(t time.Time, p Params) uint64 {
	return uint64(t.Unix()) / uint64(p.period()/time.Second)
}

// TOTP is the code for the time step t falls in.
func TOTP(key []byte, t time.Time, p Params) (string, error) {
	d, err := p.digits()
	if err != nil {
		return "", err
	}
	code, err := totp.GenerateCodeCustom(encodeSecret(key), t, totp.ValidateOpts{
		Period: uint(p.period() / time.Second), Digits: d, Algorithm: p.Algorithm})
	if err != nil {
		return "", fmt.Errorf("otp: totp: %w", err)
	}
	return code, nil
}

// VerifyHOTP looks for code at counter values next .. next+window (RFC 4226 §7.4's look-ahead)
// and returns the counter to store, one past the value that matched, so that no value is
// accepted twice. The comparison is constant-time (the library's).
func VerifyHOTP(key []byte, code string, next uint64, window uint, p Params) (newNext uint64, ok bool, err error) {
	opts, err := p.hotpOpts()
	if err != nil {
		return next, false, err
	}
	secret := encodeSecret(key)
	for c := next; c <= next+uint64(window); c++ {
		match, err := hotp.ValidateCustom(code, c, secret, opts)
		if err != nil {
			// A code of the wrong length is a wrong code, not a fault.
			return next, false, nil
		}
		if match {
			return c + 1, true, nil
		}
	}
	return next, false, nil
}

// VerifyTOTP checks code against the time steps around now (skew steps either side, at most
// 1 is wise) and returns the step that matched. A step at or below lastStep is refused even
// when the code is right: a TOTP value is used once, also within its 30 seconds. The caller
// stores the returned step with the acceptance, atomically.
func VerifyTOTP(key []byte, code string, now time.Time, lastStep uint64, skew uint, p Params) (step uint64, ok bool, err error) {
	opts, err := p.hotpOpts()
	if err != nil {
		return 0, false, err
	}
	secret := encodeSecret(key)
	current := Step(now, p)
	for d := -int64(skew); d <= int64(skew); d++ {
		s := uint64(int64(current) + d)
		if int64(current)+d < 0 || s <= lastStep {
			continue
		}
		match, err := hotp.ValidateCustom(code, s, secret, opts)
		if err != nil {
			return 0, false, nil
		}
		if match {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// RandomCode returns a code of n decimal digits from crypto/rand, uniform (no modulo bias):
// the one-time codes sent by SMS.
func RandomCode(n int) (string, error) {
	if n < 6 || n > 18 {
		return "", fmt.Errorf("otp: a code of %d digits; use 6 to 18", n)
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("otp: random code: %w", err)
	}
	return fmt.Sprintf("%0*d", n, v), nil
}
