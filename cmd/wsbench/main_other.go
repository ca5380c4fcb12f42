//go:build !linux

// wsbench drives its load from epoll loops, so it runs on Linux only; the
// wsedge server itself runs anywhere (-poller std).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "wsbench: needs Linux (its load generator runs on epoll)")
	os.Exit(2)
}
