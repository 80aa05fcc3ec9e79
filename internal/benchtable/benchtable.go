// Package benchtable turns `go test -bench` output into the one table `make bench` ends with:
// each workload, behorig's figure, the raw tool's figure on the same machine in the same run, and
// how fast behorig is relative to the tool.
//
// Benchmarks speak to it through metric units (b.ReportMetric), so that a benchmark stays a plain
// Go benchmark that also reads well on its own:
//
//	behorig_ms/op  behorig's time per unit of work (an account, a revocation, a request)
//	raw_ms/op      the raw tool's time for the same unit, measured in the same run
//	target         the least speed relative to the raw tool that the workload must reach
//	p50_ms, p99_ms latency percentiles, for workloads that have no raw tool (list pages)
//	verify_s       seconds per run, for workloads measured as a whole (audit verify)
//
// The raw tool's name is the last element of the benchmark's name, after "vs_":
// BenchmarkProvision/vs_ldapadd compares with ldapadd.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one benchmark result.
type Row struct {
	Package string
	Name    string // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Metrics map[string]float64
}

// Workload is the name without the raw tool's part.
func (r Row) Workload() string {
	name, _, _ := strings.Cut(r.Name, "/vs_")
	return name
}

// RawTool is the tool behorig is compared with, or "" when there is none.
func (r Row) RawTool() string {
	_, tool, _ := strings.Cut(r.Name, "/vs_")
	return tool
}

// Speed is behorig's speed relative to the raw tool: 1 is as fast, 0.5 half as fast.
func (r Row) Speed() (float64, bool) {
	ours, okOurs := r.Metrics["behorig_ms/op"]
	raw, okRaw := r.Metrics["raw_ms/op"]
	if !okOurs || !okRaw || ours <= 0 {
		return 0, false
	}
	return raw / ours, true
}

// Parse reads `go test -bench` output and returns the benchmark lines in order.
func Parse(r io.Reader) ([]Row, error) {
	var rows []Row
	pkg := ""
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if row, ok := parseLine(line); ok {
			row.Package = pkg
			rows = append(rows, row)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return rows, nil
}

// parseLine reads "BenchmarkX/y-2  3  123 ns/op  4.5 unit ...".
func parseLine(line string) (Row, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
		return Row{}, false
	}
	if _, err := strconv.Atoi(fields[1]); err != nil {
		return Row{}, false
	}
	name := strings.TrimPrefix(fields[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	row := Row{Name: name, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(fields); i += 2 {
		value, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Row{}, false
		}
		row.Metrics[fields[i+1]] = value
	}
	return row, true
}

// Write prints the table. A workload with a target that it misses is marked so.
func Write(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tbehorig\traw tool\traw\tspeed vs raw\ttarget\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Workload(), r.ours(), orDash(r.RawTool()), r.raw(), r.speed(), r.target())
	}
	return tw.Flush()
}

func (r Row) ours() string {
	m := r.Metrics
	switch {
	case has(m, "behorig_ms/op"):
		return millis(m["behorig_ms/op"]) + "/op"
	case has(m, "p50_ms") && has(m, "p99_ms"):
		return fmt.Sprintf("p50 %s, p99 %s", millis(m["p50_ms"]), millis(m["p99_ms"]))
	case has(m, "verify_s"):
		return fmt.Sprintf("%.2f s", m["verify_s"])
	case has(m, "ns/op"):
		return millis(m["ns/op"]/1e6) + "/op"
	}
	return "—"
}

func (r Row) raw() string {
	if v, ok := r.Metrics["raw_ms/op"]; ok {
		return millis(v) + "/op"
	}
	return "—"
}

func (r Row) speed() string {
	if s, ok := r.Speed(); ok {
		return fmt.Sprintf("%.2f×", s)
	}
	return "—"
}

func (r Row) target() string {
	target, ok := r.Metrics["target"]
	if !ok {
		return "—"
	}
	s, ok := r.Speed()
	if !ok {
		return fmt.Sprintf("≥ %.2f×", target)
	}
	if s+1e-9 < target {
		return fmt.Sprintf("≥ %.2f× MISSED", target)
	}
	return fmt.Sprintf("≥ %.2f× met", target)
}

func has(m map[string]float64, unit string) bool {
	_, ok := m[unit]
	return ok
}

func millis(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.3f ms", math.Max(ms, 0))
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
