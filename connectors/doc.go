// Package connectors holds the small interfaces through which the domain reaches the outside
// world: one port per outside party (Directory, Mailer, BankID). Every outside party follows
// the same pattern, and SMS, YubiKey, WebAuthn and RADIUS copy it next:
//
//   - One small interface here, in the domain's words (an order, a result, evidence; an
//     account, a group), with the value types it takes and returns and the sentinel errors a
//     caller acts on (ErrNotFound, ErrBankIDUnavailable, ...). Nothing of the wire format
//     leaks through it.
//   - One concrete package implements it (connectors/ldap, connectors/mail, auth/bankid) and
//     imports nothing of the domain: the domain depends on the port, the adapter on nothing
//     but the port, so a fake-free test can run the adapter against the real thing or a
//     simulator of it, and the domain against the adapter.
//   - The domain calls the port with no transaction open: it reads what it needs, commits,
//     calls the outside party, then records the answer in a short transaction of its own. A
//     hung party then holds no row lock, no audit chain and no pooled connection that pages,
//     sign-in or the API need; it delays only the work that waits for that party. Work that
//     must survive a crash or an outage is a job that converges, never a call inside an HTTP
//     request that holds anything.
//   - Every call is time-bounded by the adapter (its own timeout, and the caller's context)
//     and instrumented: the port is wrapped where the service is assembled by one that times
//     each call and counts its failures under the party's and the method's name
//     (internal/metrics), so that an operator sees a slow or failing party by name. Answers
//     that are not failures (ErrNotFound) are not counted as errors.
//   - The protocol's own rules (BankID's two seconds between collects, a directory's paging)
//     are kept by the adapter, whoever calls it and however often, so that no caller can break
//     them by retrying.
package connectors
