//go:build !unix

package server

// openFilesLimit: no per-process descriptor limit to fit here.
func openFilesLimit() int { return 0 }
