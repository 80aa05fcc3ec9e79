package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/behorig/behorig/connectors"
)

// The wrappers below time every call to an outside party and count its failures, under the
// party's name and the method's. Each is the port's interface implemented by calling the
// wrapped one through observe: for a new port (BankID, SMS, ...) copy one, name the party,
// and list the errors that are answers rather than failures.

// Directory instruments a connectors.Directory as party "directory".
type Directory struct {
	Inner   connectors.Directory
	Metrics *Metrics
}

var _ connectors.Directory = Directory{}

func (d Directory) observe(op string, start time.Time, err error) {
	if isAnswer(err, connectors.ErrNotFound) {
		err = nil // "no such entry" is the directory answering
	}
	d.Metrics.ObserveCall("directory", op, time.Since(start), err)
}

func (d Directory) LookupAccount(ctx context.Context, username string) (ref connectors.AccountRef, err error) {
	defer func(start time.Time) { d.observe("lookup_account", start, err) }(time.Now())
	return d.Inner.LookupAccount(ctx, username)
}

func (d Directory) LookupAccountByID(ctx context.Context, id string) (ref connectors.AccountRef, err error) {
	defer func(start time.Time) { d.observe("lookup_account_by_id", start, err) }(time.Now())
	return d.Inner.LookupAccountByID(ctx, id)
}

func (d Directory) EnsureAccount(ctx context.Context, a connectors.Account) (ref connectors.AccountRef, err error) {
	defer func(start time.Time) { d.observe("ensure_account", start, err) }(time.Now())
	return d.Inner.EnsureAccount(ctx, a)
}

func (d Directory) DisableAccount(ctx context.Context, dn string) (err error) {
	defer func(start time.Time) { d.observe("disable_account", start, err) }(time.Now())
	return d.Inner.DisableAccount(ctx, dn)
}

func (d Directory) EnsureMember(ctx context.Context, group string, memberDNs ...string) (err error) {
	defer func(start time.Time) { d.observe("ensure_member", start, err) }(time.Now())
	return d.Inner.EnsureMember(ctx, group, memberDNs...)
}

func (d Directory) RemoveMember(ctx context.Context, group string, memberDNs ...string) (err error) {
	defer func(start time.Time) { d.observe("remove_member", start, err) }(time.Now())
	return d.Inner.RemoveMember(ctx, group, memberDNs...)
}

func (d Directory) GroupsOf(ctx context.Context, memberDN string) (groups []string, err error) {
	defer func(start time.Time) { d.observe("groups_of", start, err) }(time.Now())
	return d.Inner.GroupsOf(ctx, memberDN)
}

func (d Directory) FindAccounts(ctx context.Context, usernames, ids []string) (refs []connectors.AccountRef, err error) {
	defer func(start time.Time) { d.observe("find_accounts", start, err) }(time.Now())
	return d.Inner.FindAccounts(ctx, usernames, ids)
}

func (d Directory) CreateAccounts(ctx context.Context, accounts []connectors.Account) []connectors.Created {
	start := time.Now()
	made := d.Inner.CreateAccounts(ctx, accounts)
	var errs []error
	for _, m := range made {
		errs = append(errs, m.Err)
	}
	d.observe("create_accounts", start, errors.Join(errs...))
	return made
}

func (d Directory) DisableAccounts(ctx context.Context, dns []string) []error {
	start := time.Now()
	errs := d.Inner.DisableAccounts(ctx, dns)
	d.observe("disable_accounts", start, errors.Join(errs...))
	return errs
}

func (d Directory) GroupsOfMembers(ctx context.Context, memberDNs []string) (groups map[string][]string, err error) {
	defer func(start time.Time) { d.observe("groups_of_members", start, err) }(time.Now())
	return d.Inner.GroupsOfMembers(ctx, memberDNs)
}

func (d Directory) GroupMembers(ctx context.Context, group string) (members []string, err error) {
	defer func(start time.Time) { d.observe("group_members", start, err) }(time.Now())
	return d.Inner.GroupMembers(ctx, group)
}

// GroupDN computes a DN without calling the directory; it is not timed.
func (d Directory) GroupDN(group string) (string, error) { return d.Inner.GroupDN(group) }

// Mailer instruments a connectors.Mailer as party "smtp".
type Mailer struct {
	Inner   connectors.Mailer
	Metrics *Metrics
}

var _ connectors.Mailer = Mailer{}

func (m Mailer) Send(ctx context.Context, mail connectors.Mail) (err error) {
	defer func(start time.Time) { m.Metrics.ObserveCall("smtp", "send", time.Since(start), err) }(time.Now())
	return m.Inner.Send(ctx, mail)
}

// BankID instruments a connectors.BankID as party "bankid".
type BankID struct {
	Inner   connectors.BankID
	Metrics *Metrics
}

var _ connectors.BankID = BankID{}

func (b BankID) observe(op string, start time.Time, err error) {
	if isAnswer(err, connectors.ErrNotFound) || isAnswer(err, connectors.ErrBankIDInProgress) {
		err = nil // BankID answering that it forgot an order, or that one already runs
	}
	b.Metrics.ObserveCall("bankid", op, time.Since(start), err)
}

func (b BankID) Auth(ctx context.Context, req connectors.BankIDRequest) (order connectors.BankIDOrder, err error) {
	defer func(start time.Time) { b.observe("auth", start, err) }(time.Now())
	return b.Inner.Auth(ctx, req)
}

func (b BankID) Sign(ctx context.Context, req connectors.BankIDRequest) (order connectors.BankIDOrder, err error) {
	defer func(start time.Time) { b.observe("sign", start, err) }(time.Now())
	return b.Inner.Sign(ctx, req)
}

func (b BankID) Collect(ctx context.Context, orderRef string) (result connectors.BankIDResult, err error) {
	defer func(start time.Time) { b.observe("collect", start, err) }(time.Now())
	return b.Inner.Collect(ctx, orderRef)
}

func (b BankID) Cancel(ctx context.Context, orderRef string) (err error) {
	defer func(start time.Time) { b.observe("cancel", start, err) }(time.Now())
	return b.Inner.Cancel(ctx, orderRef)
}

// SetPassword is timed like every call; a password the policy refuses is the directory
// answering, not failing.
func (d Directory) SetPassword(ctx context.Context, dn, password string) (err error) {
	defer func(start time.Time) {
		var refused *connectors.PasswordRefusedError
		if errors.As(err, &refused) {
			d.observe("set_password", start, nil)
			return
		}
		d.observe("set_password", start, err)
	}(time.Now())
	return d.Inner.SetPassword(ctx, dn, password)
}

// CheckPassword is timed like every call; a wrong password is the directory answering.
func (d Directory) CheckPassword(ctx context.Context, dn, password string) (ok bool, err error) {
	defer func(start time.Time) { d.observe("check_password", start, err) }(time.Now())
	return d.Inner.CheckPassword(ctx, dn, password)
}
