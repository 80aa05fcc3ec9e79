package benchtable

import (
	"strings"
	"testing"
)

const output = `goos: linux
goarch: amd64
pkg: github.com/behorig/behorig/internal/audit
cpu: AMD EPYC
BenchmarkAuditVerify-2   	       1	1183000000 ns/op	         1.183 verify_s	  1024 B/op	      12 allocs/op
PASS
ok  	github.com/behorig/behorig/internal/audit	95.1s
pkg: github.com/behorig/behorig/provisioning
BenchmarkProvision/vs_ldapadd-2         	       3	 412000000 ns/op	         0.61 behorig_ms/op	         0.54 raw_ms/op	         0.8 target
BenchmarkRevoke/vs_ldapmodify-2         	       3	 412000000 ns/op	         1.00 behorig_ms/op	         0.50 raw_ms/op	         0.8 target
BenchmarkListPages/queue-2              	       3	  40000000 ns/op	         0.42 p50_ms	        39.0 p99_ms
--- FAIL: BenchmarkBroken
ok  	github.com/behorig/behorig/provisioning	12.0s
`

func TestTableNamesToolsSpeedsAndMissedTargets(t *testing.T) {
	rows, err := Parse(strings.NewReader(output))
	if err != nil || len(rows) != 4 {
		t.Fatalf("Parse = %d rows, %v; want 4", len(rows), err)
	}
	if rows[1].Package != "github.com/behorig/behorig/provisioning" || rows[1].Workload() != "Provision" || rows[1].RawTool() != "ldapadd" {
		t.Errorf("row 1 = %+v, workload %q, tool %q", rows[1], rows[1].Workload(), rows[1].RawTool())
	}
	if s, ok := rows[2].Speed(); !ok || s != 0.5 {
		t.Errorf("revoke speed = %v, %v; want 0.5 (twice the raw tool's time)", s, ok)
	}
	var table strings.Builder
	if err := Write(&table, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	want := [][]string{
		{"workload", "behorig", "raw tool", "speed vs raw", "target"},
		{"AuditVerify", "1.18 s", "—"},
		{"Provision", "0.610 ms/op", "ldapadd", "0.540 ms/op", "0.89×", "≥ 0.80× met"},
		{"Revoke", "1.0 ms/op", "ldapmodify", "0.50×", "≥ 0.80× MISSED"},
		{"ListPages/queue", "p50 0.420 ms, p99 39.0 ms"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), table.String())
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(lines[i], p) {
				t.Errorf("line %d %q lacks %q", i, lines[i], p)
			}
		}
	}
}

func TestLinesThatAreNotResultsAreIgnored(t *testing.T) {
	for _, line := range []string{
		"BenchmarkX-2 --- FAIL",
		"BenchmarkX-2   three   12 ns/op",
		"Benchmark results follow",
		"    bench_test.go:40: loaded 1000 events",
	} {
		if rows, _ := Parse(strings.NewReader(line)); len(rows) != 0 {
			t.Errorf("%q gave %+v", line, rows)
		}
	}
}
