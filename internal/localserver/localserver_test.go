package localserver

import (
	"context"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
)

// tempDir is not t.TempDir: its parent is private to root, and PostgreSQL runs as postgres.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "behorig-localserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func port(t *testing.T) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// make dev promises that a second run finds the data of the first.
func TestPostgresKeepsDataAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir, p := tempDir(t), port(t)
	pg, err := StartPostgres(ctx, dir, p, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "behorig"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "behorig"); err != nil {
		t.Fatalf("creating an existing database again: %v", err)
	}
	execSQL(t, pg.URL("behorig"), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('first run')")
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, pg.URL("behorig")); err == nil {
		t.Fatal("the server still answers after Stop")
	}

	pg, err = StartPostgres(ctx, dir, p, PostgresOptions{})
	if err != nil {
		t.Fatalf("restart on the same directory: %v", err)
	}
	defer pg.Stop()
	conn, err := pgx.Connect(ctx, pg.URL("behorig"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "first run" {
		t.Fatalf("after restart: %q, %v", v, err)
	}
}

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func TestSlapdKeepsDataAndMaintainsMemberOf(t *testing.T) {
	ctx := context.Background()
	dir, p := tempDir(t), port(t)
	s, err := StartSlapd(ctx, dir, p, SlapdOptions{BaseDN: "dc=kommun,dc=se", AdminPassword: "hemligt"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	person := ldap.NewAddRequest("uid=anna,"+s.PeopleDN, nil)
	person.Attribute("objectClass", []string{"inetOrgPerson"})
	person.Attribute("cn", []string{"Anna Berg"})
	person.Attribute("sn", []string{"Berg"})
	group := ldap.NewAddRequest("cn=meddix,"+s.GroupsDN, nil)
	group.Attribute("objectClass", []string{"groupOfNames"})
	group.Attribute("member", []string{"uid=anna," + s.PeopleDN})
	for _, add := range []*ldap.AddRequest{person, group} {
		if err := conn.Add(add); err != nil {
			t.Fatalf("add %s: %v", add.DN, err)
		}
	}
	conn.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s, err = StartSlapd(ctx, dir, p, SlapdOptions{BaseDN: "dc=kommun,dc=se", AdminPassword: "hemligt"})
	if err != nil {
		t.Fatalf("restart on the same directory (must not seed twice): %v", err)
	}
	defer s.Stop()
	conn, err = s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("uid=anna,"+s.PeopleDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil {
		t.Fatalf("the entry is gone after restart: %v", err)
	}
	if got := res.Entries[0].GetAttributeValues("memberOf"); len(got) != 1 || got[0] != "cn=meddix,"+s.GroupsDN {
		t.Fatalf("memberOf = %v", got)
	}
}
