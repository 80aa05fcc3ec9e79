// Package localserver runs private PostgreSQL and OpenLDAP servers as child processes, for
// tests (internal/testenv) and for `behorig dev` (internal/devenv).
package localserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// MissingPackages names the Debian packages whose programs are not installed.
func MissingPackages() []string {
	var missing []string
	for pkg, path := range map[string]string{
		"postgresql": filepath.Join(pgBin, "postgres"),
		"slapd":      "/usr/sbin/slapd",
		"ldap-utils": "/usr/bin/ldapsearch",
	} {
		if _, err := os.Stat(path); err != nil {
			missing = append(missing, pkg)
		}
	}
	return missing
}

// process is a server running in the foreground as our child.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProcess(name, logPath string, cmd *exec.Cmd) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, and SIGTERM when we die, so that a killed test leaves nothing behind.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = true, syscall.SIGTERM
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to five seconds, then kills.
func (p *process) stop() error {
	if p == nil || p.exited() {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return nil
}

// logTail returns the end of a server's log, for error messages.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// waitFor polls ready until it succeeds, the process exits, or ctx or the timeout ends.
func waitFor(ctx context.Context, p *process, what string, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited: %s", what, logTail(p.log))
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("%s not ready after %s: %w; log: %s", what, timeout, err, logTail(p.log))
		}
		select {
		case <-ctx.Done():
			p.stop()
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// postgresCommand makes a command that runs as the postgres OS user when we are root:
// PostgreSQL refuses to run as root. The credentials are set on the process itself (not via
// runuser), so that signals reach the server directly.
func postgresCommand(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	if os.Geteuid() != 0 {
		return cmd, nil
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	cmd.Env = append(os.Environ(), "HOME=/var/lib/postgresql", "USER=postgres")
	return cmd, nil
}

func postgresIDs() (uint32, uint32, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, errors.New("running as root needs the postgres OS user (install the postgresql package)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid), nil
}

func chownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return err
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(uid), int(gid))
	})
}

func run(cmd *exec.Cmd, what string) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func discard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
