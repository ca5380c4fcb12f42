package handover

import (
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The binary to start is found when the process starts, not when the
// handover begins: by then a deploy has usually replaced the file, and the
// new file is what must start. os.Executable follows /proc/self/exe, which
// names the file this process runs even after it was replaced (Go strips
// the " (deleted)" the kernel appends), and resolves symbolic links. A
// deploy that flips a symbolic link (/usr/local/bin/wsedge ->
// /opt/wsedge-1.2/wsedge) would then start the old target again, so when
// argv[0] leads to the same file as /proc/self/exe at start-up, its path is
// kept unresolved: a link flipped since then starts the new target.
var startExe, startExeErr = resolveExecutable()

func resolveExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if len(os.Args) == 0 || os.Args[0] == "" {
		return exe, nil
	}
	arg0 := os.Args[0]
	if filepath.Base(arg0) == arg0 {
		// A bare name was found through PATH.
		p, err := exec.LookPath(arg0)
		if err != nil {
			return exe, nil
		}
		arg0 = p
	}
	abs, err := filepath.Abs(arg0)
	if err != nil || !sameFile(abs, exe) {
		return exe, nil
	}
	return abs, nil
}

func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// Executable returns the path of the binary this process was started from,
// resolved at start-up (see above): the path a handover starts.
func Executable() (string, error) { return startExe, startExeErr }
