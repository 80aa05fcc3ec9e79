package connectors

import (
	"context"
	"errors"
)

// ErrNotFound is returned (wrapped) when an entry the caller names does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) when an entry the caller would add is already there.
var ErrExists = errors.New("already exists")

// PasswordRefusedError is the directory turning a new password down under its password
// policy (too short, too simple, used before). Reason is the directory's own words, which
// name the rule but never the password.
type PasswordRefusedError struct {
	Reason string
}

func (e *PasswordRefusedError) Error() string {
	return "the directory refused the password: " + e.Reason
}

// Account is what the domain asks a directory to hold for one person.
type Account struct {
	Username     string // the login name: uid in OpenLDAP, sAMAccountName in AD
	GivenName    string
	Surname      string
	Email        string
	Mobile       string
	EmployeeType string // "employee" or "consultant"
	// Identity is the person's personnummer (12 digits). A directory configured with an
	// identity attribute writes it there, so that the entry can be told to be this person's.
	Identity string
}

// AccountRef identifies an account in a directory once it exists.
type AccountRef struct {
	// ID is the directory's stable id of the entry (entryUUID, objectGUID): it survives a
	// rename, and a new entry under an old name has another.
	ID       string
	DN       string
	Username string
	Disabled bool
	// Identity is the value of the directory's identity attribute (often the personnummer),
	// empty when none is configured or the entry has none.
	Identity string
	// CreatedByUs tells that the directory says behorig's own bind identity created the
	// entry, so that an entry found under a username behorig reserved can be told from one
	// someone else made meanwhile.
	CreatedByUs bool
}

// Directory is an account directory such as OpenLDAP or Active Directory. Every method is
// idempotent so that a retried job converges instead of duplicating: EnsureAccount creates
// if absent, EnsureMember adds if missing, RemoveMember and DisableAccount change nothing
// when the state is already reached.
type Directory interface {
	// LookupAccount finds the account with this username; the error wraps ErrNotFound when
	// there is none. The username is matched exactly: it is escaped, never a pattern.
	LookupAccount(ctx context.Context, username string) (AccountRef, error)
	// LookupAccountByID finds the account whose entry has this ID, wherever it was renamed or
	// moved to; the error wraps ErrNotFound when there is none.
	LookupAccountByID(ctx context.Context, id string) (AccountRef, error)
	// FindAccounts finds the accounts with these usernames and those whose entries have
	// these IDs, in one search however many they are (a batch of jobs reads its persons'
	// entries this way); accounts that do not exist are missing from the answer. An account
	// found by username carries the username as asked.
	FindAccounts(ctx context.Context, usernames, ids []string) ([]AccountRef, error)
	// EnsureAccount creates the account when absent and enables it when disabled. An
	// existing account's attributes are left as they are.
	EnsureAccount(ctx context.Context, a Account) (AccountRef, error)
	// CreateAccounts adds the accounts' entries without looking for them first, for a caller
	// that has just searched and found none, not waiting for each answer before the next (a
	// day's starters), and returns each one's DN or error in the order of accounts
	// (FindAccounts reads their IDs). An error wraps ErrExists when an entry is in the way.
	CreateAccounts(ctx context.Context, accounts []Account) []Created
	// DisableAccount disables the account so that it can no longer sign in.
	DisableAccount(ctx context.Context, dn string) error
	// DisableAccounts disables many accounts at once (a mass termination), not waiting for
	// each answer before the next; the errors are in the order of dns.
	DisableAccounts(ctx context.Context, dns []string) []error
	// EnsureMember makes the accounts members of the named group, creating the group when
	// it does not exist yet. Several members go in one change, so that a batch of starters
	// costs the directory one write per group.
	EnsureMember(ctx context.Context, group string, memberDNs ...string) error
	// RemoveMember removes the accounts from the named group where they are members, in one
	// change when it can.
	RemoveMember(ctx context.Context, group string, memberDNs ...string) error
	// GroupsOf lists the names of the groups the account is a member of.
	GroupsOf(ctx context.Context, memberDN string) ([]string, error)
	// GroupsOfMembers lists, for each of the accounts, the names of the groups it is a
	// member of, in one search however many they are (a batch of jobs reads its persons'
	// groups this way). The map is keyed by the DNs as given; an account in no group is
	// missing from it.
	GroupsOfMembers(ctx context.Context, memberDNs []string) (map[string][]string, error)
	// GroupMembers lists the member DNs of the named group as the directory holds them;
	// none when the group does not exist.
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// GroupDN says where the named group lives, or why the name cannot be a group here; it
	// lets the catalog check a group template without touching the directory.
	GroupDN(group string) (string, error)
	// SetPassword sets the account's password, which the directory checks against its own
	// password policy: a refusal is a *PasswordRefusedError. The password is handed to the
	// directory as it is and never logged or kept; the directory hashes it.
	SetPassword(ctx context.Context, dn, password string) error
	// CheckPassword tells whether password is the account's: a bind as the account on a
	// connection of its own, never on the one the other methods share, bounded by ctx and
	// the connector's timeout. A wrong password (also an empty one, a locked or disabled
	// account) is false with no error; an error is the directory not answering. The
	// password is never logged or kept.
	CheckPassword(ctx context.Context, dn, password string) (bool, error)
}

// Mail is one e-mail: plain text, and optionally the same in HTML (sent as
// multipart/alternative, the text first, so that a reader without HTML shows the text).
type Mail struct {
	// ID is unique per message and becomes its Message-ID, so a resent job is recognisable.
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer sends e-mail: SMTP in production, an outbox in dev.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Created is what CreateAccounts did with one account: the entry's DN, or why not.
type Created struct {
	DN  string
	Err error
}
