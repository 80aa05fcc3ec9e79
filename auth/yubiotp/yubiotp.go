// Package yubiotp reads and writes Yubico OTPs: the string a YubiKey types when its button is
// pressed, a public id followed by a 16-byte token encrypted with the key's AES-128 key, both
// in modhex. It checks the token's form (modhex, CRC) and returns its fields; whether the
// private id is the key's and the counters are new is the caller's to decide, since that needs
// the key's stored state.
//
// The layout and the test vector are in Yubico's libyubikey (ykparse.c, yubikey.h) and in the
// project's spec (testdata/vector.json).
package yubiotp

import (
	"crypto/aes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Sizes of the parts of an OTP.
const (
	// TokenLen is the modhex length of the encrypted token: 16 bytes.
	TokenLen = 32
	// MaxPublicIDBytes is the longest public id a key can be programmed with.
	MaxPublicIDBytes = 16
	// PrivateIDLen is the length of the private id (uid) in bytes.
	PrivateIDLen = 6
	// KeyLen is the length of the AES-128 key in bytes.
	KeyLen = 16
	// counterMask keeps the session counter's 15 bits; bit 0x8000 is a flag, not counter.
	counterMask = 0x7fff
	// crcResidue is what the CRC over all 16 bytes of a good token comes to.
	crcResidue = 0xf0b8
)

// Errors a caller may tell apart. Each says what is wrong with the string, never a secret.
var (
	ErrFormat = errors.New("yubiotp: not a Yubico OTP (modhex, 32 to 64 characters)")
	ErrCRC    = errors.New("yubiotp: CRC check failed (wrong key or a corrupted OTP)")
)

// modhexAlphabet maps the hex digits 0..f, in that order: letters that sit on the same keys on
// most keyboard layouts, so that a key typing them works whatever layout the computer has.
const modhexAlphabet = "cbdefghijklnrtuv"

// OTP is a parsed OTP before decryption: the public id that names the key, and the token.
type OTP struct {
	PublicID string // modhex, lower case, 0 to 32 characters
	Token    [16]byte
}

// Parse splits an OTP into public id and token. It parses from the right, since the public
// id's length depends on how the key was programmed while the token is always 32 characters.
// Surrounding white space and upper case (a key typing with caps lock on) are accepted.
func Parse(s string) (OTP, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < TokenLen || len(s) > TokenLen+2*MaxPublicIDBytes || len(s)%2 != 0 {
		return OTP{}, ErrFormat
	}
	split := len(s) - TokenLen
	if _, err := DecodeModhex(s[:split]); err != nil {
		return OTP{}, ErrFormat
	}
	token, err := DecodeModhex(s[split:])
	if err != nil {
		return OTP{}, ErrFormat
	}
	var o OTP
	o.PublicID = s[:split]
	copy(o.Token[:], token)
	return o, nil
}

// Token is a decrypted token's fields.
type Token struct {
	PrivateID [PrivateIDLen]byte
	// Counter is the session counter (useCtr & 0x7fff): it grows at each power-up.
	Counter uint16
	// Timestamp is the 24-bit 8 Hz clock, started at a random value at power-up.
	Timestamp uint32
	// Use counts the OTPs within one power-up session.
	Use    uint8
	Random uint16
}

// Decrypt decrypts the token with the key's AES key and checks its CRC. A wrong key gives
// ErrCRC, since AES-ECB has no other way to tell.
func Decrypt(o OTP, key []byte) (Token, error) {
	if len(key) != KeyLen {
		return Token{}, fmt.Errorf("yubiotp: AES key must be %d bytes, got %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return Token{}, fmt.Errorf("yubiotp: aes: %w", err)
	}
	var plain [16]byte
	// One block, so ECB is a single Decrypt.
	block.Decrypt(plain[:], o.Token[:])
	if crc16(plain[:]) != crcResidue {
		return Token{}, ErrCRC
	}
	var t Token
	copy(t.PrivateID[:], plain[0:6])
	t.Counter = binary.LittleEndian.Uint16(plain[6:8]) & counterMask
	t.Timestamp = uint32(plain[8]) | uint32(plain[9])<<8 | uint32(plain[10])<<16
	t.Use = plain[11]
	t.Random = binary.LittleEndian.Uint16(plain[12:14])
	return t, nil
}

// Encode makes the OTP a key with this public id, AES key and token fields would type: the
// inverse of Parse and Decrypt. Tests, the dev page's "press the key" and the benchmark use it
// to play a YubiKey.
func Encode(publicID string, key []byte, t Token) (string, error) {
	if _, err := DecodeModhex(publicID); err != nil || len(publicID) > 2*MaxPublicIDBytes {
		return "", fmt.Errorf("yubiotp: public id %q is not modhex of at most %d bytes", publicID, MaxPublicIDBytes)
	}
	if len(key) != KeyLen {
		return "", fmt.Errorf("yubiotp: AES key must be %d bytes, got %d", KeyLen, len(key))
	}
	if t.Counter > counterMask {
		return "", fmt.Errorf("yubiotp: session counter %d is over %d", t.Counter, counterMask)
	}
	if t.Timestamp > 0xffffff {
		return "", fmt.Errorf("yubiotp: timestamp %d does not fit 24 bits", t.Timestamp)
	}
	var plain [16]byte
	copy(plain[0:6], t.PrivateID[:])
	binary.LittleEndian.PutUint16(plain[6:8], t.Counter)
	plain[8], plain[9], plain[10] = byte(t.Timestamp), byte(t.Timestamp>>8), byte(t.Timestamp>>16)
	plain[11] = t.Use
	binary.LittleEndian.PutUint16(plain[12:14], t.Random)
	binary.LittleEndian.PutUint16(plain[14:16], ^crc16(plain[:14]))
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("yubiotp: aes: %w", err)
	}
	var token [16]byte
	block.Encrypt(token[:], plain[:])
	return strings.ToLower(publicID) + EncodeModhex(token[:]), nil
}

// EncodeModhex writes bytes as modhex.
func EncodeModhex(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = modhexAlphabet[c>>4]
		out[2*i+1] = modhexAlphabet[c&0x0f]
	}
	return string(out)
}

// DecodeModhex reads modhex, either case.
func DecodeModhex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("yubiotp: modhex of odd length")
	}
	out := make([]byte, len(s)/2)
	for i := 0; i < len(s); i += 2 {
		hi, lo := modhexValue(s[i]), modhexValue(s[i+1])
		if hi < 0 || lo < 0 {
			return nil, errors.New("yubiotp: not modhex")
		}
		out[i/2] = byte(hi<<4 | lo)
	}
	return out, nil
}

func modhexValue(c byte) int {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return strings.IndexByte(modhexAlphabet, c)
}

// crc16 is the CRC of ISO 13239 (X.25 without the final XOR) the key computes over the
// token: over all 16 bytes of a good token it leaves the residue 0xf0b8.
func crc16(data []byte) uint16 {
	crc := uint16(0xffff)
	for _, b := range data {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
