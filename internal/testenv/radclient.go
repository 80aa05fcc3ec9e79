package testenv

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RadiusReply is what FreeRADIUS's radclient printed of the answer to one Access-Request.
type RadiusReply struct {
	// Code is "Access-Accept", "Access-Reject", "Access-Challenge", or "" when no answer
	// came (the server dropped the request).
	Code string
	// Attributes are the answer's attributes as radclient names and prints them, e.g.
	// State "0x7a…", Reply-Message "\"Ange koden\"", Session-Timeout "3600"; in order.
	Attributes []RadiusAttribute
	// Output is radclient's whole output, for failure messages.
	Output string
}

// RadiusAttribute is one attribute of an answer.
type RadiusAttribute struct{ Name, Value string }

// Get returns the value of the first attribute so named, unquoted, and whether there is one.
func (r RadiusReply) Get(name string) (string, bool) {
	for _, a := range r.Attributes {
		if a.Name == name {
			return strings.Trim(a.Value, `"`), true
		}
	}
	return "", false
}

// Radclient sends one Access-Request with FreeRADIUS's radclient to addr (host:port) under
// the shared secret and returns the answer, waiting timeout for it (one try: no
// retransmission). attrs are radclient's input, e.g. `User-Name = "alice"`, and
// Message-Authenticator = 0x00 for radclient to compute a real one.
func Radclient(t testing.TB, addr, secret string, timeout time.Duration, attrs ...string) RadiusReply {
	t.Helper()
	if _, err := exec.LookPath("radclient"); err != nil {
		t.Fatal("radclient is missing: run `bash scripts/deps.sh` as root (package freeradius-utils)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "radclient", "-x", "-r", "1", "-t", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64),
		addr, "auth", secret)
	cmd.Stdin = strings.NewReader(strings.Join(attrs, ",") + "\n")
	// radclient exits 1 for anything but an Access-Accept; the answer is in its output.
	out, _ := cmd.CombinedOutput()
	return parseRadclient(string(out))
}

// parseRadclient reads `radclient -x` output: after the "Received <Code> Id …" line, one
// attribute per indented line, "Name = Value".
func parseRadclient(out string) RadiusReply {
	reply := RadiusReply{Output: out}
	received := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Received "); ok {
			reply.Code, _, _ = strings.Cut(rest, " ")
			received = true
			continue
		}
		if !received || !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, " ") {
			if received && line != "" {
				received = false
			}
			continue
		}
		name, value, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if ok {
			reply.Attributes = append(reply.Attributes, RadiusAttribute{Name: name, Value: value})
		}
	}
	return reply
}
