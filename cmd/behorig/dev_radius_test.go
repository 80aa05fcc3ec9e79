package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's radclient examples for remote access work as written against `behorig dev`:
// password and YubiKey (pressed on the dev page) is accepted; password alone is challenged,
// and the code from the SMS outbox with the challenge's State is accepted.
func TestDevREADMERadclientExamples(t *testing.T) {
	for _, tool := range []string{"radclient", "psql", "curl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `bash scripts/deps.sh` as root", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "### Remote access in `behorig dev`")
	if i < 0 {
		t.Fatal("README has no section on remote access in behorig dev")
	}
	section = section[i:]
	start := strings.Index(section, "```sh\n")
	end := strings.Index(section[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the section has no sh example")
	}
	script := section[start+6 : start+6+end]

	work := devWorkDir(t)
	dev := startDev(t, filepath.Join(work, ".dev"), "", nil, nil)
	// .dev/env is written once everything serves, RADIUS included.
	waitUntil(t, "behorig dev to write .dev/env", func() bool {
		dev.mustRun(t)
		env, err := os.ReadFile(filepath.Join(work, ".dev", "env"))
		return err == nil && strings.Contains(string(env), "BEHORIG_RADIUS_ADDR")
	})
	sh := exec.Command("bash", "-c", script)
	sh.Dir = work
	out, _ := sh.CombinedOutput() // radclient exits 1 on the challenge, as the README says
	got := string(out)
	if n := strings.Count(got, "Received Access-Accept"); n != 2 || strings.Count(got, "Received Access-Challenge") != 1 {
		t.Fatalf("%d Access-Accepts and %d challenges, want 2 and 1:\n%s", n, strings.Count(got, "Received Access-Challenge"), got)
	}
}
