//go:build unix

package server

import "syscall"

// openFilesLimit is the process's open-files limit (RLIMIT_NOFILE), 0 if unknown.
func openFilesLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}
