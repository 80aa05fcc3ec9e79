// Package bankid speaks the BankID Relying Party API v6.0: auth, sign, collect and cancel over
// mutual TLS, and the animated QR code. Its Client is the connectors.BankID port and imports
// nothing of the domain. It also holds a simulator of BankID's side with the same wire format,
// for `behorig dev` and the tests; its signatures are marked as simulated so they can never
// pass for real evidence.
package bankid

import (
	"errors"
	"fmt"
	"strings"

	"github.com/behorig/behorig/connectors"
)

// Hint codes of a pending or failed order.
const (
	HintOutstandingTransaction = connectors.BankIDHintOutstanding
	HintNoClient               = "noClient"
	HintStarted                = "started"
	HintUserMrtd               = "userMrtd"
	HintUserCallConfirm        = "userCallConfirm"
	HintUserSign               = "userSign"
	HintExpiredTransaction     = connectors.BankIDHintExpired
	HintCertificateErr         = "certificateErr"
	HintUserCancel             = connectors.BankIDHintUserCancel
	HintCancelled              = connectors.BankIDHintCancelled
	HintStartFailed            = "startFailed"
	HintUserDeclinedCall       = "userDeclinedCall"
	HintNotSupportedByUserApp  = "notSupportedByUserApp"
	HintTransactionRiskBlocked = "transactionRiskBlocked"
)

// Statuses of an order as collect reports it.
const (
	StatusPending  = connectors.BankIDPending
	StatusFailed   = connectors.BankIDFailed
	StatusComplete = connectors.BankIDComplete
)

// Error codes with the HTTP status BankID answers them with.
const (
	ErrAlreadyInProgress    = "alreadyInProgress"    // 400
	ErrInvalidParameters    = "invalidParameters"    // 400
	ErrUnauthorized         = "unauthorized"         // 401
	ErrNotFound             = "notFound"             // 404
	ErrMethodNotAllowed     = "methodNotAllowed"     // 405
	ErrRequestTimeout       = "requestTimeout"       // 408
	ErrUnsupportedMediaType = "unsupportedMediaType" // 415
	ErrInternalError        = "internalError"        // 500
	ErrMaintenance          = "maintenance"          // 503
)

// ErrorStatus is the HTTP status of each error code.
var ErrorStatus = map[string]int{
	ErrAlreadyInProgress: 400, ErrInvalidParameters: 400, ErrUnauthorized: 401, ErrNotFound: 404,
	ErrMethodNotAllowed: 405, ErrRequestTimeout: 408, ErrUnsupportedMediaType: 415, ErrInternalError: 500,
	ErrMaintenance: 503,
}

// Requirement restricts who may complete an order and how.
type Requirement struct {
	PersonalNumber      string   `json:"personalNumber,omitempty"` // 12 digits
	PinCode             bool     `json:"pinCode,omitempty"`
	Mrtd                bool     `json:"mrtd,omitempty"`
	CertificatePolicies []string `json:"certificatePolicies,omitempty"`
}

// OrderRequest is the body of /auth and /sign. The data fields are base64 of UTF-8 text.
type OrderRequest struct {
	EndUserIP             string       `json:"endUserIp"`
	Requirement           *Requirement `json:"requirement,omitempty"`
	UserVisibleData       string       `json:"userVisibleData,omitempty"`
	UserVisibleDataFormat string       `json:"userVisibleDataFormat,omitempty"`
	UserNonVisibleData    string       `json:"userNonVisibleData,omitempty"`
	ReturnURL             string       `json:"returnUrl,omitempty"`
	ReturnRisk            bool         `json:"returnRisk,omitempty"`
}

// OrderResponse is what /auth and /sign answer.
type OrderResponse struct {
	OrderRef       string `json:"orderRef"`
	AutoStartToken string `json:"autoStartToken"`
	QRStartToken   string `json:"qrStartToken"`
	QRStartSecret  string `json:"qrStartSecret"`
}

// CollectResponse is what /collect answers.
type CollectResponse struct {
	OrderRef       string          `json:"orderRef"`
	Status         string          `json:"status"`
	HintCode       string          `json:"hintCode,omitempty"`
	CompletionData *CompletionData `json:"completionData,omitempty"`
}

// CompletionData is the evidence of a completed order.
type CompletionData struct {
	User            User    `json:"user"`
	Device          Device  `json:"device"`
	BankIDIssueDate string  `json:"bankIdIssueDate"`
	StepUp          *StepUp `json:"stepUp,omitempty"`
	Signature       string  `json:"signature"`    // base64 XML signature
	OCSPResponse    string  `json:"ocspResponse"` // base64
	Risk            string  `json:"risk,omitempty"`
}

// User is who completed the order.
type User struct {
	PersonalNumber string `json:"personalNumber"`
	Name           string `json:"name"`
	GivenName      string `json:"givenName"`
	Surname        string `json:"surname"`
}

// Device is where the order was completed.
type Device struct {
	IPAddress string `json:"ipAddress"`
	UHI       string `json:"uhi,omitempty"`
}

// StepUp says which extra checks were made.
type StepUp struct {
	Mrtd bool `json:"mrtd"`
}

// Error is an error answer of the RP API. Details are for logs, never for users.
type Error struct {
	HTTPStatus int    `json:"-"`
	Code       string `json:"errorCode"`
	Details    string `json:"details"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("bankid: %d %s: %s", e.HTTPStatus, e.Code, e.Details)
}

// Is lets callers of the port tell the answers they act on apart without knowing the wire
// codes: a running order for the person, and BankID's own trouble.
func (e *Error) Is(target error) bool {
	switch target {
	case connectors.ErrBankIDInProgress:
		return e.Code == ErrAlreadyInProgress
	case connectors.ErrBankIDUnavailable:
		return e.Code == ErrMaintenance || e.Code == ErrInternalError || e.Code == ErrRequestTimeout
	}
	return false
}

// ErrorRFAOf is the user message for an error of a call through the port: RFA4 for a running
// order, RFA5 when BankID is unavailable, else RFA22.
func ErrorRFAOf(err error) string {
	switch {
	case errors.Is(err, connectors.ErrBankIDInProgress):
		return "RFA4"
	case errors.Is(err, connectors.ErrBankIDUnavailable):
		return "RFA5"
	}
	return "RFA22"
}

// RFA is the BankID recommended user message for a collect answer or an error: "RFA1" …
// "RFA23". The UI says it in the user's language with BankID's wording.
func RFA(status, hint string, autostarted bool) string {
	switch status {
	case StatusPending:
		switch hint {
		case HintOutstandingTransaction:
			if autostarted {
				return "RFA13"
			}
			return "RFA1"
		case HintNoClient:
			return "RFA1"
		case HintStarted:
			if autostarted {
				return "RFA14B"
			}
			return "RFA14A"
		case HintUserSign:
			return "RFA9"
		case HintUserMrtd:
			return "RFA23"
		}
		return "RFA21"
	case StatusFailed:
		switch hint {
		case HintUserCancel:
			return "RFA6"
		case HintExpiredTransaction:
			return "RFA8"
		case HintCertificateErr:
			return "RFA16"
		case HintStartFailed:
			if autostarted {
				return "RFA17A"
			}
			return "RFA17B"
		case HintCancelled:
			return "RFA3"
		}
		return "RFA22"
	}
	return ""
}

// ErrorRFA is the user message for an error answer.
func ErrorRFA(code string) string {
	switch code {
	case ErrAlreadyInProgress:
		return "RFA4"
	case ErrRequestTimeout, ErrInternalError, ErrMaintenance:
		return "RFA5"
	}
	return "RFA22"
}

// IsSimulated tells whether a signature came from the simulator, which marks every one.
func IsSimulated(signatureXML []byte) bool {
	return strings.Contains(string(signatureXML), SimulatedMarker)
}
