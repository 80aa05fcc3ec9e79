package bankid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// QRData is the content of the animated QR code qrTime seconds after the order was
// answered: "bankid." + qrStartToken + "." + qrTime + "." + HMAC-SHA256(qrStartSecret, qrTime).
// It is computed on the server; the secret never reaches the browser.
func QRData(qrStartToken, qrStartSecret string, qrTime int) string {
	t := strconv.Itoa(qrTime)
	mac := hmac.New(sha256.New, []byte(qrStartSecret))
	mac.Write([]byte(t))
	return "bankid." + qrStartToken + "." + t + "." + hex.EncodeToString(mac.Sum(nil))
}

// QRTime is the whole seconds from the order's answer to now.
func QRTime(answered, now time.Time) int {
	if now.Before(answered) {
		return 0
	}
	return int(now.Sub(answered) / time.Second)
}
