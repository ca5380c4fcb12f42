package handover

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v, %v", sent, err)
	}
	if err := NotifyBarrier(time.Second); err != nil {
		t.Fatalf("barrier without NOTIFY_SOCKET: %v", err)
	}

	t.Setenv("NOTIFY_SOCKET", "relative/path")
	if _, err := Notify("READY=1"); err == nil {
		t.Fatal("a relative NOTIFY_SOCKET was accepted")
	}

	// An abstract socket, as systemd uses in containers.
	name := fmt.Sprintf("@wsedge-handover-test-%d", os.Getpid())
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if sent, err := Notify("MAINPID=42\nSTATUS=x"); !sent || err != nil {
		t.Fatalf("Notify: %v, %v", sent, err)
	}
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(waitFor))
	n, _, err := c.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "MAINPID=42\nSTATUS=x" {
		t.Fatalf("received %q, %v", buf[:n], err)
	}

	// A manager that keeps the barrier's descriptor: the barrier times out.
	start := time.Now()
	err = NotifyBarrier(200 * time.Millisecond)
	if !errors.Is(err, ErrBarrierTimeout) || time.Since(start) > waitFor {
		t.Fatalf("barrier with a manager that never answers: %v after %s", err, time.Since(start))
	}

	// One that processes it (closes the descriptor): the barrier returns.
	go func() {
		oob := make([]byte, 128)
		for {
			_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			closeFDs(parseRights(oob[:oobn]))
		}
	}()
	c.SetReadDeadline(time.Time{})
	if err := NotifyBarrier(waitFor); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

// TestExecutableKeepsSymlink: a process started through a symbolic link
// restarts through the link (a deploy that flips the link starts the new
// target), and falls back to /proc/self/exe when argv[0] leads elsewhere.
func TestExecutableKeepsSymlink(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "wsedge")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	run := func(path, arg0 string) string {
		cmd := exec.Command(path)
		cmd.Args = []string{arg0, "-test.run=^$"}
		cmd.Env = append(os.Environ(), "HANDOVER_TEST_ROLE=exe")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(link, link); got != link+" <nil>" {
		t.Fatalf("started as %s: Executable() = %q, want the link", link, got)
	}
	if got := run(link, "/nonexistent/wsedge"); got != bin+" <nil>" {
		t.Fatalf("argv[0] elsewhere: Executable() = %q, want %s", got, bin)
	}
}
