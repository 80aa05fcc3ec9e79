package provisioning

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/connectors"
)

// The remote-access order ("Beställning fjärråtkomst"). Remote access is a grant like any
// other: a catalog system flagged remote_access, with its own directory group and monthly
// price, approved and provisioned as every request is. What the order adds is the person's
// second factor: the mobile number the SMS codes go to and the kind of factor. Nothing of it
// takes effect before approval; the sms factor is made in the transaction that makes the
// grant, and every factor of the grant is revoked in the transaction that ends it. Package
// remoteaccess reads these rows at login; this file only writes them, so that provisioning
// needs nothing of remoteaccess.

// KindRemoteAccess is the remote-access order.
const KindRemoteAccess = "remote_access"

// The second factors a remote-access order chooses between ("Typ av fjärråtkomst"), as the
// authenticators table spells them.
const (
	RemoteFactorSMS     = "sms"
	RemoteFactorYubiKey = "yubikey"
)

// NormalizeMobile turns a mobile number as people write it into E.164, the form the SMS
// gateways take and the authenticators table stores: a Swedish mobile as 07…, +467…, 00467…
// or 467… becomes +467… (nine digits after the country code); a number abroad must be given
// with its country code (+… or 00…). Spaces, hyphens, dots and brackets are ignored. Swedish
// numbers that are not mobile numbers (08…, 031…) are refused: a code sent there never
// arrives.
func NormalizeMobile(s string) (string, error) {
	e164, problem := normalizeMobile(s)
	if problem != "" {
		return "", fmt.Errorf(problem, s)
	}
	return e164, nil
}

// What is wrong with a mobile number, as validation messages (with the number typed).
const (
	mobileNotANumber  = "%q is not a phone number"
	mobileNotMobile   = "%q is not a Swedish mobile number (07x xxx xx xx)"
	mobileNoCountry   = "%q: give a Swedish mobile number (07…) or the country code (+…)"
	mobileBadInternat = "%q is not a phone number with its country code"
)

// normalizeMobile returns the number in E.164, or the validation message that says what is
// wrong with it.
func normalizeMobile(s string) (string, string) {
	digits := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	plus := strings.HasPrefix(digits, "+")
	digits = strings.TrimPrefix(digits, "+")
	if digits == "" || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", mobileNotANumber
	}
	var e164 string
	switch {
	case plus:
		e164 = digits
	case strings.HasPrefix(digits, "00"):
		e164 = digits[2:]
	case strings.HasPrefix(digits, "0"):
		e164 = "46" + digits[1:] // a Swedish number written at home
	case strings.HasPrefix(digits, "46"):
		e164 = digits
	default:
		return "", mobileNoCountry
	}
	if strings.HasPrefix(e164, "46") {
		national := strings.TrimPrefix(strings.TrimPrefix(e164, "46"), "0") // +46 (0)70…
		if len(national) != 9 || national[0] != '7' {
			return "", mobileNotMobile
		}
		return "+46" + national, ""
	}
	if len(e164) < 8 || len(e164) > 15 || e164[0] == '0' {
		return "", mobileBadInternat
	}
	return "+" + e164, ""
}

// MaskMobile shows a number so that its owner recognises it and nobody else learns it:
// +46701234567 becomes +46 70 *** ** 67 (connectors.MaskMobile, which the SMS gateways' logs
// use too).
func MaskMobile(e164 string) string { return connectors.MaskMobile(e164) }

// validateRemoteAccess checks a remote-access order: the person as a grant request has
// them, the description of the work done remotely, the mobile number for the codes, the
// kind of second factor, and the one remote-access system it grants.
func (s *Service) validateRemoteAccess(ctx context.Context, in SubmitInput, v *validated, ve *ValidationError) error {
	s.validatePerson(in.Person, v, ve)
	if err := s.validateRequestedUsername(ctx, v, ve); err != nil {
		return err
	}
	s.validateValidity(in, v, ve)
	if in.EffectiveDate != "" {
		ve.add("effectiveDate", "is only for terminate requests; use validFrom and validTo")
	}
	if len(in.End) > 0 {
		ve.add("end", "a remote-access order ends nothing; end remote access with a change request")
	}
	if strings.TrimSpace(in.OtherSystem) != "" {
		ve.add("otherSystem", "a remote-access order names no other system")
	}
	// "Beskrivning *": the work done remotely is what the approver judges the order by.
	if v.description == "" {
		ve.add("description", "is required: describe the work done through remote access")
	}
	switch mobile, problem := normalizeMobile(in.Person.Mobile); {
	case strings.TrimSpace(in.Person.Mobile) == "":
		ve.add("person.mobile", "is required: the codes for remote access are sent to it")
	case problem != "":
		ve.add("person.mobile", problem, in.Person.Mobile)
	default:
		v.person.Mobile = mobile
	}
	switch in.RemoteFactor {
	case RemoteFactorSMS, RemoteFactorYubiKey:
		v.remoteFactor = in.RemoteFactor
	case "":
		ve.add("remoteFactor", "is required (sms or yubikey)")
	default:
		ve.add("remoteFactor", "must be sms or yubikey")
	}
	return s.validateRemoteAccessSystem(ctx, in, v, ve)
}

// validateRemoteAccessSystem finds the system the order grants: the one the input names,
// which must be a remote-access system, or, when it names none, the catalog's only one.
func (s *Service) validateRemoteAccessSystem(ctx context.Context, in SubmitInput, v *validated, ve *ValidationError) error {
	if len(in.Items) > 1 {
		ve.add("items", "a remote-access order grants one remote-access system")
		return nil
	}
	systems, err := s.RemoteAccessSystems(ctx)
	if err != nil {
		return err
	}
	var chosen *SystemView
	switch {
	case len(in.Items) == 1:
		item := in.Items[0]
		for i := range systems {
			if systems[i].ID == strings.TrimSpace(item.System) {
				chosen = &systems[i]
			}
		}
		if chosen == nil {
			ve.add("items[0].system", "%q is not a remote-access system of the catalog", item.System)
			return nil
		}
		if item.Role != "" || item.Unit != "" {
			ve.add("items[0]", "remote access has no role and is for the order's unit")
			return nil
		}
	case len(systems) == 1:
		chosen = &systems[0]
	case len(systems) == 0:
		ve.add("items", "the catalog has no remote-access system; IT must add one first")
		return nil
	default:
		ve.add("items", "choose one of the catalog's remote-access systems")
		return nil
	}
	if v.unitID == "" {
		return nil
	}
	v.items = []validItem{{systemID: chosen.ID, unitID: v.unitID}}
	v.termsRequired = chosen.NeedsTerms
	return nil
}

// RemoteAccessSystems lists the catalog's remote-access systems with their monthly price,
// for the order form; the request form's Catalog leaves them out.
func (s *Service) RemoteAccessSystems(ctx context.Context) ([]SystemView, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, needs_terms, needs_certificate, training_url, monthly_price_sek
		FROM systems WHERE remote_access ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read the remote-access systems: %w", err)
	}
	systems, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SystemView, error) {
		v := SystemView{RemoteAccess: true, Roles: []RoleView{}}
		return v, row.Scan(&v.ID, &v.Name, &v.NeedsTerms, &v.NeedsCertificate, &v.TrainingURL, &v.MonthlyPriceSEK)
	})
	if err != nil {
		return nil, fmt.Errorf("read the remote-access systems: %w", err)
	}
	return systems, nil
}

// createRemoteFactors makes the sms factor of a remote-access order whose grant was just
// made, in the grant's transaction: the codes go to the mobile number the approved order
// gave. A yubikey factor is made when IT hands out a key. A person who has a live sms factor
// already (an earlier order) keeps it, moved to the new grant and number: its failures and
// lock stay, for only IT unlocks.
func (s *Service) createRemoteFactors(ctx context.Context, tx pgx.Tx, actor string, r requestRow) error {
	rows, err := tx.Query(ctx, `INSERT INTO authenticators (person_id, grant_id, kind, mobile)
		SELECT r.person_id, g.id, $2, r.person_mobile
		FROM requests r JOIN grants g ON g.request_id = r.id JOIN systems sy ON sy.id = g.system_id
		WHERE r.id = $1 AND r.remote_factor = $2 AND sy.remote_access AND r.person_mobile <> ''
		ON CONFLICT (person_id, kind) WHERE revoked_at IS NULL
			DO UPDATE SET grant_id = EXCLUDED.grant_id, mobile = EXCLUDED.mobile
		RETURNING id::text, grant_id::text, mobile`, r.id, RemoteFactorSMS)
	if err != nil {
		return fmt.Errorf("make the sms factor of %s: %w", r.number, err)
	}
	type made struct{ id, grant, mobile string }
	factors, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (made, error) {
		var m made
		return m, row.Scan(&m.id, &m.grant, &m.mobile)
	})
	if err != nil {
		return fmt.Errorf("make the sms factor of %s: %w", r.number, err)
	}
	for _, f := range factors {
		if err := s.record(ctx, tx, actor, "remote_access.factor_created", r.id, r.personID, map[string]any{
			"factor": f.id, "kind": RemoteFactorSMS, "grant": f.grant, "mobile": MaskMobile(f.mobile)}); err != nil {
			return err
		}
	}
	return nil
}

// revokeFactorsSQL revokes the live factors of the grants ($1) at $2 and marks their
// handed-out YubiKeys to be returned. Revoking twice changes nothing, so every path that
// ends a grant may run it.
const revokeFactorsSQL = `WITH revoked AS (
		UPDATE authenticators SET revoked_at = $2 WHERE grant_id = ANY($1::uuid[]) AND revoked_at IS NULL
		RETURNING id, kind, yubikey_id),
	keys AS (
		UPDATE yubikeys y SET state = 'to_be_returned' FROM revoked
		WHERE y.id = revoked.yubikey_id AND y.state = 'handed_out' RETURNING y.serial)
	SELECT (SELECT count(*) FROM revoked), coalesce((SELECT array_agg(serial) FROM keys), '{}')`

// revokeFactorsNow ends the factors of the grants that end by now, in the transaction that
// ends them: a login checks the grant anyway, and this makes the person page say so at once,
// release the number and put the key on IT's list of keys to be returned without waiting for
// the directory. Grants that end later are handled when the revocation records them
// (recordGrant).
func (s *Service) revokeFactorsNow(ctx context.Context, tx pgx.Tx, actor string, r requestRow, ends []grantEnd) error {
	now := s.clock.Now()
	var due []string
	for _, e := range ends {
		if !e.at.After(now) {
			due = append(due, e.id)
		}
	}
	if len(due) == 0 {
		return nil
	}
	var n int
	var serials []*int64
	if err := tx.QueryRow(ctx, revokeFactorsSQL, due, now).Scan(&n, &serials); err != nil {
		return fmt.Errorf("revoke the factors of the grants %s ends: %w", r.number, err)
	}
	if n == 0 {
		return nil
	}
	keys := make([]int64, 0, len(serials))
	for _, k := range serials {
		if k != nil {
			keys = append(keys, *k)
		}
	}
	return s.record(ctx, tx, actor, "remote_access.factors_revoked", r.id, r.personID,
		map[string]any{"grants": due, "factors": n, "yubikeysToReturn": keys})
}
