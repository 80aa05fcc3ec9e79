package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// remoteAccessPerson makes a person whose approved remote-access order asked for a YubiKey,
// with its active grant (as the order's approval will), and returns the person's id.
func (s *site) remoteAccessPerson(t *testing.T, pnr, given, surname string) string {
	return s.remoteAccessPersonWith(t, "yubikey", pnr, given, surname)
}

// remoteAccessPersonWith is remoteAccessPerson with the order's factor, sms or yubikey.
func (s *site) remoteAccessPersonWith(t *testing.T, factor, pnr, given, surname string) string {
	t.Helper()
	ctx := context.Background()
	db := s.app.Pool
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO systems (id, name, has_roles, group_template, monthly_price_sek, remote_access)
		VALUES ('fjarratkomst', 'Fjärråtkomst', false, 'vpn-users', 130, true) ON CONFLICT DO NOTHING`)
	var personID, requestID, itemID, unitID, managerID string
	digits := strings.ReplaceAll(pnr, "-", "") // stored as the canonical 12 digits
	if err := db.QueryRow(ctx, `INSERT INTO persons (personnummer_enc, personnummer_index, birth_date, given_name, surname, employee_type)
		VALUES ($1, $2, $3, $4, $5, 'consultant') RETURNING id`,
		s.app.Box.Seal([]byte(digits), "persons.personnummer"), s.app.Box.Index([]byte(digits), "persons.personnummer"),
		pnr[:4]+"-"+pnr[4:6]+"-"+pnr[6:8], given, surname).Scan(&personID); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(ctx, `SELECT id FROM units WHERE ansvarskod = '5110'`).Scan(&unitID)
	db.QueryRow(ctx, `SELECT id FROM principals WHERE subject = 'manager'`).Scan(&managerID)
	now := time.Now()
	if err := db.QueryRow(ctx, `INSERT INTO requests (number, kind, status, requester_id, approver_id, person_id, unit_id,
			cost_centre, created_at, updated_at, remote_factor)
		VALUES ($1, 'remote_access', 'completed', $2, $2, $3, $4, '5110', $5, $5, $6) RETURNING id`,
		"F-"+pnr, managerID, personID, unitID, now, factor).Scan(&requestID); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO request_items (request_id, position, system_id, unit_id)
		VALUES ($1, 1, 'fjarratkomst', $2) RETURNING id`, requestID, unitID).Scan(&itemID); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO grants (person_id, request_id, item_id, system_id, unit_id, group_name, group_key, starts_at, state)
		VALUES ($1, $2, $3, 'fjarratkomst', $4, 'vpn-users', 'vpn-users', $5, 'active')`, personID, requestID, itemID, unitID, now.Add(-time.Hour))
	return personID
}

// IT hands a key out on the person page, prints the receipt the person signs, finds the key
// in the list of keys to be returned when the remote access ends, and records its return.
func TestYubiKeyHandOutReceiptAndReturn(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	const csv = "13002245,vvccccdfhlbd,a09aa8bf3dd2,e2a2e4c88067a1e2efe238f8d2d3f76d,,2026-12-01T08:00:00,\n"
	if _, err := s.remote.Importer().Import(ctx, "cli", strings.NewReader(csv)); err != nil {
		t.Fatal(err)
	}
	person := s.remoteAccessPerson(t, "19700101-1233", "Karin", "Konsult")
	it := s.as(t, "ingrid.it")

	page := body(t, it.get(t, "/persons/"+person))
	for _, want := range []string{"<h2 id=\"yubikey-heading\">YubiKey</h2>", "Personen har ingen YubiKey.", "Lämna ut YubiKey"} {
		if !strings.Contains(page, want) {
			t.Errorf("IT's person page lacks %q", want)
		}
	}
	// Someone whose order asked for SMS codes gets no YubiKey block.
	smsPerson := s.remoteAccessPersonWith(t, "sms", "19800101-0001", "Sara", "Sms")
	if page := body(t, it.get(t, "/persons/"+smsPerson)); strings.Contains(page, "yubikey-heading") {
		t.Error("the person page of someone with SMS codes offers a YubiKey")
	}
	// A serial that is no key: the form says so in Swedish, with the field marked.
	resp := it.post(t, "/persons/"+person+"/yubikey", url.Values{"yubikey": {"99999"}})
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "är inte serienumret eller det publika id:t för en inläst nyckel") ||
		!strings.Contains(page, `href="#yubikey-serial"`) || !strings.Contains(page, `value="99999"`) {
		t.Fatalf("unknown serial: %d\n%s", resp.StatusCode, page)
	}
	resp = it.post(t, "/persons/"+person+"/yubikey", url.Values{"yubikey": {"13002245"}, "note": {"Utlämnad i receptionen"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/yubikeys/handouts/") {
		t.Fatalf("hand-out: %d %s", resp.StatusCode, body(t, resp))
	}
	receiptURL, _, _ := strings.Cut(resp.Header.Get("Location"), "?")
	page = body(t, it.get(t, resp.Header.Get("Location")))
	for _, want := range []string{"Kvitto på utlämnad YubiKey", "Nyckeln är utlämnad", "Karin Konsult", "19700101-1233", "13002245",
		"vvccccdfhlbd", "Ingrid IT-handläggare", "Utlämnad i receptionen", "lämnar tillbaka den när min fjärråtkomst upphör", "Underskrift"} {
		if !strings.Contains(page, want) {
			t.Errorf("the receipt lacks %q", want)
		}
	}
	if page := body(t, it.get(t, "/persons/"+person)); !strings.Contains(page, "13002245") || !strings.Contains(page, "Utlämnad") ||
		!strings.Contains(page, `href="`+receiptURL) {
		t.Errorf("the person page does not show the key handed out")
	}

	// Not for managers: the list, the receipt and the hand-out are IT's.
	maria := s.as(t, "maria.chef")
	for _, path := range []string{"/yubikeys", receiptURL} {
		if resp := maria.get(t, path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a manager got %s: %d", path, resp.StatusCode)
		}
	}
	if resp := maria.post(t, "/persons/"+person+"/yubikey", url.Values{"yubikey": {"13002245"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a manager handed out a key: %d", resp.StatusCode)
	}

	// The grant ends (the order's revocation marks the key): it is on IT's list to get back.
	if _, err := s.app.Pool.Exec(ctx, `UPDATE yubikeys SET state = 'to_be_returned' WHERE person_id = $1`, person); err != nil {
		t.Fatal(err)
	}
	page = body(t, it.get(t, "/yubikeys"))
	toReturn, all, _ := strings.Cut(page, `id="all-keys"`)
	if !strings.Contains(toReturn, "13002245") || !strings.Contains(toReturn, "Karin Konsult") || strings.Contains(all, "13002245") {
		t.Fatalf("the key is not (only) under Att återlämna:\n%s", page)
	}
	resp = it.post(t, "/yubikeys/return", url.Values{"yubikey": {"vvccccdfhlbd"}, "note": {"Återlämnad"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/yubikeys?done=yubikey_returned" {
		t.Fatalf("return: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = body(t, it.get(t, "/yubikeys?done=yubikey_returned"))
	if !strings.Contains(page, "Inga nycklar väntar på återlämning.") || !strings.Contains(page, "I lager") || !strings.Contains(page, "Återlämningen är registrerad") {
		t.Errorf("after the return:\n%s", page)
	}
	// Returned twice (a second tab): explained, nothing changes.
	if resp := it.post(t, "/yubikeys/return", url.Values{"yubikey": {"vvccccdfhlbd"}}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body(t, resp), "Nyckeln kan inte återlämnas") {
		t.Errorf("returned twice: %d", resp.StatusCode)
	}
	if page := body(t, it.get(t, receiptURL)); !strings.Contains(page, "Återlämnad") {
		t.Error("the receipt does not show the return")
	}
	if page := body(t, it.get(t, "/persons/"+person)); !strings.Contains(page, "Personen har ingen YubiKey.") {
		t.Error("the person page still shows the key")
	}
}
