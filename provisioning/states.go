package provisioning

// The states of requests, grants and accounts, in one place. Go code names a state only
// through these constants. The schema spells the same words in its CHECK constraints. No
// index names a state in its predicate (migration 020): a state change would then rewrite
// every index of the row instead of updating it in place.

// Request statuses, as DESIGN.md §3 lists them.
const (
	StatusSubmitted        = "submitted"
	StatusAwaitingApproval = "awaiting_approval"
	StatusRejected         = "rejected"
	StatusAwaitingUser     = "awaiting_user"
	StatusAnsweredByUser   = "answered_by_user"
	// StatusAwaitingCertificate is an approved request for a system that needs a training
	// certificate, waiting until IT has verified the person's certificate (certificates.go).
	StatusAwaitingCertificate = "awaiting_certificate"
	StatusAssigned            = "assigned"
	StatusInProgress          = "in_progress"
	StatusWaitingThirdParty   = "waiting_third_party"
	StatusScheduled           = "scheduled"
	StatusCompleted           = "completed"
	StatusCancelled           = "cancelled"
)

// RequestStatuses lists every request status in the order a request passes them, for
// filters and their validation.
var RequestStatuses = []string{StatusSubmitted, StatusAwaitingApproval, StatusRejected, StatusAwaitingUser,
	StatusAwaitingCertificate, StatusAnsweredByUser, StatusAssigned, StatusInProgress, StatusWaitingThirdParty, StatusScheduled,
	StatusCompleted, StatusCancelled}

// closedStatuses end a request; every other status is open.
var closedStatuses = []string{StatusRejected, StatusCompleted, StatusCancelled}

// HandlingStatuses are the statuses IT sets by hand while working on a request.
var HandlingStatuses = []string{StatusAssigned, StatusInProgress, StatusWaitingThirdParty}

// QueueStatuses are the statuses of requests in IT's queue: past the manager, not closed.
var QueueStatuses = []string{StatusAwaitingUser, StatusAwaitingCertificate, StatusAnsweredByUser, StatusAssigned, StatusInProgress,
	StatusWaitingThirdParty, StatusScheduled}

// underwayStatuses are those of an approved request whose work has begun or waits only for
// its date.
var underwayStatuses = []string{StatusInProgress, StatusScheduled, StatusAssigned, StatusWaitingThirdParty}

// Grant states. A manual grant passes through GrantRemovalPending until IT has removed the
// access by hand.
const (
	GrantScheduled      = "scheduled"
	GrantActive         = "active"
	GrantRemovalPending = "removal_pending"
	GrantRevoked        = "revoked"
)

// Account states: reserved is a username chosen but not yet created in the directory.
const (
	AccountReserved = "reserved"
	AccountActive   = "active"
	AccountDisabled = "disabled"
)
