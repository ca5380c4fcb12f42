package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/wsedge/wsedge/server"
)

const usageHead = `wsedge: WebSocket edge node, many mostly idle connections per machine.

Usage: wsedge [flags]

Every flag can also come from the environment as WSEDGE_<NAME>: the flag name in
upper case with dashes turned into underscores (-max-conns-per-ip ->
WSEDGE_MAX_CONNS_PER_IP), and from the YAML file given with -config (keys are
the flag names without the dash). The command line wins over the environment,
which wins over the file, which wins over the default. For every count or rate
limit, 0 switches it off.
Sizes: plain bytes (1048576), binary units KiB, MiB, GiB (64KiB = 65536) or
decimal units KB, MB, GB (64KB = 64000). Durations: 500ms, 30s, 5m, 1h30m.
`

const usageTail = `
Other:
  -check                     validate flags, environment and -config file, then exit:
                             0, or 2 with one line per problem
  -version                   print the version and exit
  -h                         show this help

Signals: SIGTERM or SIGINT drains and exits 0 (a second one forces);
SIGHUP re-reads -tls-cert and -tls-key, and -api-tls-cert and -api-tls-key.

Examples:
  wsedge -addr :443 -tls-cert cert.pem -tls-key key.pem -allowed-origins 'https://*.example.com'
  WSEDGE_MAX_CONNS=200000 WSEDGE_LOG_FORMAT=console wsedge -max-message-size 1MiB
`

// printUsage writes -h: the flags in groups, each with one line and its default.
func printUsage(w io.Writer) {
	d := server.Defaults()
	opts := options(&d)
	width := 0
	for _, op := range opts {
		width = max(width, len(op.name)+len(op.arg)+2)
	}
	var b strings.Builder
	b.WriteString(usageHead)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n%s:\n", g)
		for _, op := range opts {
			if op.group != g {
				continue
			}
			flagCol := strings.TrimSpace("-" + op.name + " " + op.arg)
			fmt.Fprintf(&b, "  %-*s  %s (default %s)\n", max(width, 25), flagCol, op.usage, showDefault(op.value))
		}
	}
	b.WriteString(usageTail)
	io.WriteString(w, b.String())
}

// showDefault quotes strings so an empty default is visible.
func showDefault(v value) string {
	switch v.(type) {
	case stringValue, choiceValue, secretValue, urlValue:
		return fmt.Sprintf("%q", v.String())
	}
	return v.String()
}
