package connectors

import (
	"context"
	"errors"
	"time"
)

// BankID is Sweden's eID as a relying party uses it: an order is started (Auth to identify
// someone, Sign to have them sign a text), the person completes it in the BankID app, and the
// relying party collects the order until it ends. auth/bankid implements it against the RP
// API v6.0, and its simulator plays BankID's side in dev and the tests.
//
// Every method is one call to BankID, bounded by the implementation's timeout and ctx; none
// retries a call that may have made an order.
type BankID interface {
	// Auth starts an identification order (the /password page).
	Auth(ctx context.Context, req BankIDRequest) (BankIDOrder, error)
	// Sign starts an order to sign req.Visible; req.NonVisible goes inside the signature only.
	Sign(ctx context.Context, req BankIDRequest) (BankIDOrder, error)
	// Collect asks once how an order stands. BankID allows one collect of an order every
	// BankIDCollectInterval: an implementation waits out the rest of the interval since its
	// previous collect of the same order (retries after an error included) rather than break
	// the rule. An order BankID no longer knows (it forgets finished and cancelled ones) is an
	// error that wraps ErrNotFound.
	Collect(ctx context.Context, orderRef string) (BankIDResult, error)
	// Cancel ends a pending order. It is safe to repeat; an order BankID does not know is an
	// error that wraps ErrNotFound.
	Cancel(ctx context.Context, orderRef string) error
}

// BankIDCollectInterval is BankID's rule: collect an order at most every two seconds.
const BankIDCollectInterval = 2 * time.Second

// Statuses of an order as Collect reports it.
const (
	BankIDPending  = "pending"
	BankIDFailed   = "failed"
	BankIDComplete = "complete"
)

// Hint codes the domain acts on; BankID has more, which are passed on as they come.
const (
	// BankIDHintOutstanding: the order waits for the app to pick it up, as every new one does.
	BankIDHintOutstanding = "outstandingTransaction"
	// BankIDHintUserCancel: the person cancelled, in the app or by pressing cancel here.
	BankIDHintUserCancel = "userCancel"
	// BankIDHintCancelled: BankID cancelled the order because another was started for the
	// same person.
	BankIDHintCancelled = "cancelled"
	// BankIDHintExpired: the order was not completed within its lifetime, or BankID forgot it.
	BankIDHintExpired = "expiredTransaction"
)

// Errors of a BankID call, wrapped by every implementation so that callers can tell them
// apart with errors.Is.
var (
	// ErrBankIDInProgress: an order for the person is already running; BankID cancelled both.
	ErrBankIDInProgress = errors.New("bankid: an order for this person is already in progress")
	// ErrBankIDUnavailable: BankID did not answer, or answered that it could not handle the
	// call (maintenance, internal error, timeout). Asking again later may succeed.
	ErrBankIDUnavailable = errors.New("bankid: unavailable")
)

// BankIDRequest is what an order is started with.
type BankIDRequest struct {
	// EndUserIP is the address of the person's device, as BankID requires.
	EndUserIP string
	// PersonalNumber (12 digits), when set, is the only person who may complete the order.
	PersonalNumber string
	// Visible is the text shown in the app (simpleMarkdownV1); Sign requires it.
	Visible string
	// NonVisible ends up inside the signature only.
	NonVisible string
}

// BankIDOrder is a started order.
type BankIDOrder struct {
	OrderRef       string
	AutoStartToken string // opens the app on the same device
	QRStartToken   string // with the secret, makes the animated QR code; the secret never leaves the server
	QRStartSecret  string
	// AnsweredAt is when BankID answered: the QR code's time counts from here.
	AnsweredAt time.Time
}

// BankIDResult is how an order stands.
type BankIDResult struct {
	Status string // BankIDPending, BankIDFailed or BankIDComplete
	// Hint is BankID's hint code of a pending or failed order.
	Hint string
	// Evidence is what BankID returned for a complete order.
	Evidence *BankIDEvidence
}

// BankIDEvidence is the proof of a completed order: who completed it, the signature and the
// OCSP response, and the device. Empty fields mean BankID did not return them (or returned
// them undecodable), and the domain refuses evidence without a signature.
type BankIDEvidence struct {
	PersonalNumber  string
	Name            string
	Signature       []byte // the decoded XML signature
	OCSPResponse    []byte
	DeviceIP        string
	DeviceUHI       string
	BankIDIssueDate string
	// Simulated marks evidence from the simulator, which can never pass for real.
	Simulated bool
}
