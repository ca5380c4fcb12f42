package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wsedge/wsedge/server"
)

var update = flag.Bool("update", false, "rewrite FLAGS.md from the flag table")

const flagsMDHead = `# wsedge flags

<!-- Generated from cmd/wsedge/options.go by: go test ./cmd/wsedge -run TestFlagsMarkdown -update -->

Every flag can also be set in the environment as ` + "`WSEDGE_<NAME>`" + `: the flag name in upper
case with dashes turned into underscores (` + "`-max-conns-per-ip` -> `WSEDGE_MAX_CONNS_PER_IP`" + `).
They can also be set in the YAML file given with ` + "`-config`" + ` (keys are the flag names without the
dash, plus ` + "`namespaces:`" + `; see [docs/auth.md](../../docs/auth.md#config-file)). A flag given on the
command line wins over the environment, which wins over the file, which wins over the default. A
variable that is set but empty counts as set (` + "`WSEDGE_ADMIN_ADDR=`" + ` disables the admin listener).
For every count or rate limit, 0 switches that limit off.

- **Sizes**: plain bytes (` + "`1048576`" + `), binary units ` + "`KiB`, `MiB`, `GiB`" + ` (` + "`64KiB`" + ` = 65536) or decimal
  units ` + "`KB`, `MB`, `GB`" + ` (` + "`64KB`" + ` = 64000); units ignore case; whole numbers only; a bare ` + "`K`/`M`/`G`" + `
  is refused as ambiguous.
- **Durations**: Go syntax, ` + "`500ms`, `30s`, `5m`, `1h30m`" + `.
- **Rates**: decimal numbers, ` + "`60`, `0.5`" + `.
- ` + "`-h`" + ` prints the flags grouped as below; ` + "`-version`" + ` prints the version and exits 0;
  ` + "`-check`" + ` validates the flags, the environment and the file and exits 0, or 2 with one line per problem.
- Secrets: ` + "`-jwt-hmac-secret`" + ` also comes from a file (` + "`-jwt-hmac-secret-file`" + `) or the environment, and the
  startup log shows it as ` + "`\"<redacted>\"`" + `.
- A bad value exits with status 2 and one line on stderr naming the flag or the variable, e.g.
  ` + "`wsedge: -max-message-size: \"12XB\" is not a size (use e.g. 64KiB, 1MiB or 1048576)`" + `.
- Signals: SIGTERM or SIGINT first start the lame duck when ` + "`-lameduck`" + ` is set (admin ` + "`/ready`" + ` and
  ` + "`/health`" + ` on ` + "`-addr`" + ` answer 503 at once while the node keeps serving for that long; another stop
  signal cuts it short), then drain the node (stop accepting, close 1012 spread over ` + "`-drain-spread`" + `,
  wait up to ` + "`-shutdown-timeout`" + ` in all, then force) and exit 0; a stop signal during the drain closes
  at once and exits 1.
  SIGHUP re-reads ` + "`-tls-cert`" + ` and ` + "`-tls-key`" + `, and ` + "`-api-tls-cert`" + ` and ` + "`-api-tls-key`" + `.
`

func flagsMarkdown() string {
	d := server.Defaults()
	opts := options(&d)
	var b strings.Builder
	b.WriteString(flagsMDHead)
	esc := strings.NewReplacer("*", `\*`, "|", `\|`)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n## %s\n\n| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n", g)
		for _, op := range opts {
			if op.group == g {
				fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", strings.TrimSpace("-"+op.name+" "+op.arg), envName(op.name), showDefault(op.value), esc.Replace(op.usage))
			}
		}
	}
	return b.String()
}

func TestFlagsMarkdown(t *testing.T) {
	want := flagsMarkdown()
	if *update {
		if err := os.WriteFile("FLAGS.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("FLAGS.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Error("FLAGS.md is out of date with options.go: run go test ./cmd/wsedge -run TestFlagsMarkdown -update")
	}
}
