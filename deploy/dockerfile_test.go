package deploy

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions (comments and
// blank lines dropped, lines ending in \ joined), grouped by stage.
func parseDockerfile(t *testing.T, text string) [][]instruction {
	t.Helper()
	var stages [][]instruction
	var cur strings.Builder
	start := 0
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, cont := strings.CutSuffix(trimmed, `\`); cont {
			cur.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if cur.Len() > 0 {
		t.Fatal("Dockerfile ends in a continuation line")
	}
	return stages
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// dockerfileUser is the final stage's USER uid.
func dockerfileUser(t *testing.T) string {
	t.Helper()
	stages := parseDockerfile(t, readFile(t, "../Dockerfile"))
	users := find(stages[len(stages)-1], "USER")
	if len(users) != 1 {
		t.Fatalf("final stage has %d USER instructions, want 1", len(users))
	}
	uid, _, _ := strings.Cut(users[0].args, ":")
	return uid
}

// envOf parses ENV arguments: K=V pairs (the K V form is deprecated).
func envOf(t *testing.T, in instruction) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range strings.Fields(in.args) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Errorf("Dockerfile:%d: ENV %q: write K=V", in.line, kv)
			continue
		}
		m[k] = strings.Trim(v, `"`)
	}
	return m
}

// TestDockerfile checks the Dockerfile without a Docker engine (none runs
// here, so the image itself was never built by these tests): a Go build
// stage that runs make build with CGO_ENABLED=0 on the Go version go.mod
// names, a final stage that runs the binary make build wrote, as a
// numeric non-root user, with valid WSEDGE_ settings and the ports they
// listen on exposed.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, readFile(t, "../Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, run)", len(stages))
	}
	build, final := stages[0], stages[1]

	// Build stage: golang:<go.mod's version>, make build, no cgo.
	from := strings.Fields(build[0].args)
	goMod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "../go.mod"))
	if goMod == nil {
		t.Fatal("go.mod has no go directive")
	}
	if len(from) != 3 || !strings.HasPrefix(from[0], "golang:"+goMod[1]+"-") && from[0] != "golang:"+goMod[1] || !strings.EqualFold(from[1], "AS") {
		t.Errorf("build stage FROM %q: want golang:%s[-variant] AS name (go.mod says go %s)", build[0].args, goMod[1], goMod[1])
	}
	stageName := from[len(from)-1]
	var workdir string
	if w := find(build, "WORKDIR"); len(w) == 1 {
		workdir = w[0].args
	} else {
		t.Fatalf("build stage: %d WORKDIR, want 1", len(w))
	}
	made := false
	for _, r := range find(build, "RUN") {
		if strings.Contains(r.args, "make build") {
			made = true
			if !strings.Contains(r.args, "CGO_ENABLED=0") {
				t.Errorf("Dockerfile:%d: make build without CGO_ENABLED=0: the binary would need libc, which distroless/static lacks", r.line)
			}
		}
	}
	if !made {
		t.Error("the build stage does not run make build: the image and a local build could drift")
	}

	// make build writes bin/wsedge from ./cmd/wsedge, stamped with VERSION.
	out, err := exec.Command("make", "-C", "..", "-n", "build", "VERSION=v0-test").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`go build .*-X main.version=v0-test.* -o bin/wsedge \./cmd/wsedge`).Match(out) {
		t.Errorf("make build no longer builds bin/wsedge from ./cmd/wsedge with the version:\n%s", out)
	}

	// Final stage: copies that binary and runs it.
	copies := find(final, "COPY")
	if len(copies) != 1 {
		t.Fatalf("final stage: %d COPY, want 1", len(copies))
	}
	cp := strings.Fields(copies[0].args)
	if len(cp) != 3 || cp[0] != "--from="+stageName || cp[1] != strings.TrimSuffix(workdir, "/")+"/bin/wsedge" {
		t.Errorf("COPY %q: want --from=%s %s/bin/wsedge DEST", copies[0].args, stageName, workdir)
	}
	entry := find(final, "ENTRYPOINT")
	var argv []string
	if len(entry) != 1 || json.Unmarshal([]byte(entry[0].args), &argv) != nil || len(argv) == 0 || argv[0] != cp[len(cp)-1] {
		t.Errorf("ENTRYPOINT %v: want the exec form running %s", entry, cp[len(cp)-1])
	}
	if uid := dockerfileUser(t); uid == "0" || uid == "root" || strings.Trim(uid, "0123456789") != "" {
		t.Errorf("USER %s: want a numeric non-root uid (Kubernetes' runAsNonRoot checks it)", uid)
	}

	// Settings are real flags; exposed ports are the ones they listen on.
	fl := flags(t)
	env := map[string]string{}
	for _, in := range find(final, "ENV") {
		for k, v := range envOf(t, in) {
			env[k] = v
			if f, ok := flagOfEnv(k); ok && !fl[f] {
				t.Errorf("ENV %s: wsedge has no -%s", k, f)
			}
		}
	}
	var exposed []string
	for _, in := range find(final, "EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	want := []string{port(t, cmp(env["WSEDGE_ADDR"], defaultOf(t, "addr"))), port(t, cmp(env["WSEDGE_ADMIN_ADDR"], defaultOf(t, "admin-addr")))}
	slices.Sort(exposed)
	slices.Sort(want)
	if !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, the listeners use %v", exposed, want)
	}
	if _, err := strconv.Atoi(want[0]); err != nil {
		t.Errorf("port %q", want[0])
	}

	// The build context keeps what make build needs and drops .git.
	ignore := strings.Fields(readFile(t, "../.dockerignore"))
	if !slices.Contains(ignore, ".git") {
		t.Error(".dockerignore does not drop .git")
	}
	for _, p := range ignore {
		for _, need := range []string{"go.mod", "go.sum", "Makefile", "cmd", "cmd/"} {
			if p == need {
				t.Errorf(".dockerignore drops %s, which make build needs", need)
			}
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "ARG X=1\n# c\nFROM a AS b\nRUN one \\\n  # inside\n  two\nfrom c\nUSER 1:2\n")
	if len(stages) != 2 || len(stages[0]) != 2 || stages[0][1].args != "one two" || stages[0][1].line != 4 ||
		stages[1][0].cmd != "FROM" || stages[1][1].args != "1:2" {
		t.Errorf("%+v", stages)
	}
}
