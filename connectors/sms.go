package connectors

import (
	"context"
	"errors"
	"strings"
)

// ErrSMSUnavailable is returned (wrapped) when no gateway took the message: every gateway
// configured failed or timed out. The caller tells the person and leaves no code valid.
var ErrSMSUnavailable = errors.New("no SMS gateway took the message")

// SMS is one text message to one mobile.
type SMS struct {
	// ID is unique per message, so that a gateway or an outbox can tell a retry.
	ID string
	// To is the recipient in E.164 (+46701740605).
	To string
	// Text is the message; a one-time code fits one part (160 GSM-7 characters). It is never
	// logged: it may hold a code.
	Text string
}

// SMSReceipt says which gateway took a message and its id there (46elks' s…, Twilio's SM…),
// for the log and for delivery reports.
type SMSReceipt struct {
	Provider  string
	MessageID string
}

// SMSSender sends text messages: 46elks, Twilio or a generic HTTP gateway in production
// (connectors/sms, tried in the configured order), an outbox in dev. Taken by a gateway is
// success: delivery reports are for monitoring, never for gating a login.
type SMSSender interface {
	Send(ctx context.Context, m SMS) (SMSReceipt, error)
}

// ErrSMSRecipient is returned (wrapped) when a gateway says the number itself cannot get the
// message (not a valid mobile, cannot receive SMS). Another gateway would say the same, so it
// is not tried; the caller tells the person to have the number corrected. No gateway took the
// message, so the error wraps ErrSMSUnavailable too: a caller that tells only "no SMS now"
// still leaves no code valid.
var ErrSMSRecipient = errors.New("the number cannot receive SMS")

// MaskMobile shows a number so that its owner recognises it and nobody else learns it, for
// logs, errors and pages: +46701234567 becomes +46 70 *** ** 67. The one masking of a mobile:
// the domain (provisioning.MaskMobile) and the gateways use it alike.
func MaskMobile(e164 string) string {
	if strings.HasPrefix(e164, "+46") && len(e164) == 12 {
		return "+46 " + e164[3:5] + " *** ** " + e164[10:]
	}
	if len(e164) < 6 {
		return strings.Repeat("*", len(e164))
	}
	return e164[:3] + strings.Repeat("*", len(e164)-5) + e164[len(e164)-2:]
}
