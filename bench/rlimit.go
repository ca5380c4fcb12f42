//go:build linux

package bench

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RaiseNoFile raises this process's RLIMIT_NOFILE soft limit to its hard
// limit and returns the limit now in force. Both ends of a loopback
// connection hold a descriptor, so the server must run as its own process.
func RaiseNoFile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return 0, fmt.Errorf("setrlimit nofile to %d: %w", r.Max, err)
		}
	}
	return r.Cur, nil
}
