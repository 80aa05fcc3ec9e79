package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// IT clicks "Lämna ut" twice (or the browser sends the form again): the second click lands
// on the same receipt instead of an error saying the key is not in stock. A key already with
// someone else is still refused, and a person id that is no id is a page not found.
func TestYubiKeyHandOutTwiceAndBadInput(t *testing.T) {
	s := newSite(t, siteOptions{})
	const csv = "13002245,vvccccdfhlbd,a09aa8bf3dd2,e2a2e4c88067a1e2efe238f8d2d3f76d,,2026-12-01T08:00:00,\n"
	if _, err := s.remote.Importer().Import(context.Background(), "cli", strings.NewReader(csv)); err != nil {
		t.Fatal(err)
	}
	karin := s.remoteAccessPerson(t, "19700101-1233", "Karin", "Konsult")
	olle := s.remoteAccessPerson(t, "19500118-2046", "Olle", "Ohlsson")
	it := s.as(t, "ingrid.it")

	first := it.post(t, "/persons/"+karin+"/yubikey", url.Values{"yubikey": {"13002245"}})
	second := it.post(t, "/persons/"+karin+"/yubikey", url.Values{"yubikey": {"13002245"}})
	if first.StatusCode != http.StatusSeeOther || second.StatusCode != http.StatusSeeOther ||
		second.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("handed out twice: %d %s, then %d %s", first.StatusCode, first.Header.Get("Location"),
			second.StatusCode, second.Header.Get("Location"))
	}
	var handouts int
	if err := s.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM yubikey_handouts WHERE person_id = $1",
		karin).Scan(&handouts); err != nil || handouts != 1 {
		t.Errorf("%d hand-outs recorded (%v)", handouts, err)
	}

	if resp := it.post(t, "/persons/"+olle+"/yubikey", url.Values{"yubikey": {"13002245"}}); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body(t, resp), "är inte i lager") {
		t.Errorf("Karin's key to Olle: %d", resp.StatusCode)
	}
	for _, key := range []string{"*)(uid=*", "13002245' OR '1'='1", strings.Repeat("9", 40)} {
		if resp := it.post(t, "/persons/"+olle+"/yubikey", url.Values{"yubikey": {key}}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("key %q: %d", key, resp.StatusCode)
		}
	}
	if resp := it.post(t, "/persons/not-a-person/yubikey", url.Values{"yubikey": {"13002245"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a person id that is no id: %d", resp.StatusCode)
	}
}
