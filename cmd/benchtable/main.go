// Command benchtable reads `go test -bench` output on standard input and prints the table that
// `make bench` ends with (see internal/benchtable).
package main

import (
	"fmt"
	"os"

	"github.com/behorig/behorig/internal/benchtable"
)

func main() {
	rows, err := benchtable.Parse(os.Stdin)
	if err == nil && len(rows) == 0 {
		err = fmt.Errorf("no benchmark results on standard input")
	}
	if err == nil {
		fmt.Println()
		err = benchtable.Write(os.Stdout, rows)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}
