// Command wsedge runs a WebSocket edge node.
//
// Configuration comes from flags, each also read from a WSEDGE_<NAME>
// environment variable (a flag on the command line wins, then the variable,
// then the default); options.go holds the one table that -h, FLAGS.md, the
// environment and the startup log line all follow. main parses it into a
// server.Options, starts the server and the admin listener, logs one line
// with the bound addresses and the effective configuration, then serves until
// SIGTERM/SIGINT (graceful drain, exit 0) and reloads TLS on SIGHUP. A bad
// value exits 2 with one line on stderr naming the flag or the variable.
package main
