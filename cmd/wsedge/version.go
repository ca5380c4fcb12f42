package main

// version is stamped at build time:
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/wsedge
//
// It has to be a var, not a const, for -X to reach it; nothing assigns it at run time.
var version = "dev"
