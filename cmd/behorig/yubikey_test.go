package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/behorig/behorig/internal/secret"
	"github.com/behorig/behorig/internal/testenv"
)

// `behorig yubikey import FILE.csv` puts the keys in stock with their secrets sealed, says how
// many, and refuses the same file a second time, naming the lines.
func TestYubiKeyImportCommand(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgreSQL(t)
	t.Setenv("BEHORIG_CONFIG", "")
	t.Setenv("BEHORIG_DATABASE_URL", url)
	t.Setenv("BEHORIG_SECRET_KEY", secret.NewKey())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	file := filepath.Join(t.TempDir(), "configuration_log.csv")
	const privateID, aesKey = "a09aa8bf3dd1", "e2a2e4c88067a1e2efe238f8d2d3f76c"
	if err := os.WriteFile(file, []byte("LOGGING START,01/04/17 00:00\n"+
		"Yubico OTP,2017-04-01 00:00,1,vvrginnubkjj,"+privateID+","+aesKey+",,,0,0,0,0,0,0,0,0,0,0\n"+
		"13002245,vvccccdfhlbd,a09aa8bf3dd2,e2a2e4c88067a1e2efe238f8d2d3f76d,,2026-12-01T08:00:00,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"yubikey", "import", file}, &out, logger); err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out.String(), "imported 2 YubiKeys") {
		t.Errorf("output %q", out.String())
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var sealed string
	if err := conn.QueryRow(ctx, `SELECT count(*), string_agg(encode(private_id_enc || aes_key_enc, 'hex'), '')
		FROM yubikeys WHERE state = 'in_stock'`).Scan(&n, &sealed); err != nil {
		t.Fatal(err)
	}
	if n != 2 || strings.Contains(sealed, privateID) || strings.Contains(sealed, aesKey) {
		t.Errorf("%d keys in stock (secrets in clear: %v)", n, strings.Contains(sealed, aesKey))
	}
	out.Reset()
	err = run(ctx, []string{"yubikey", "import", file}, &out, logger)
	if err == nil || !strings.Contains(err.Error(), "line 2: public id: a key with public id vvrginnubkjj") ||
		!strings.Contains(err.Error(), "line 3:") || strings.Contains(err.Error(), aesKey) {
		t.Errorf("second import: %v", err)
	}
	if err := run(ctx, []string{"yubikey", "import"}, &out, logger); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no file: %v", err)
	}
}
