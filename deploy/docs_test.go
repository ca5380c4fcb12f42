package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// anchor is GitHub's anchor for a heading: lower case, spaces to dashes,
// punctuation dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(text string) map[string]bool {
	m := map[string]bool{}
	for _, h := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(text, -1) {
		m[anchor(h[1])] = true
	}
	return m
}

// TestOperationsDocLinks: every relative link of docs/operations.md (and
// of the README line that points to it) reaches a file, and its #anchor a
// heading there.
func TestOperationsDocLinks(t *testing.T) {
	doc := readFile(t, "../docs/operations.md")
	if !strings.Contains(readFile(t, "../README.md"), "](docs/operations.md)") {
		t.Error("README.md does not link docs/operations.md")
	}
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(doc, -1)
	if len(links) < 10 {
		t.Fatalf("only %d links found", len(links))
	}
	for _, l := range links {
		target := l[1]
		if strings.Contains(target, "://") {
			continue
		}
		path, frag, _ := strings.Cut(target, "#")
		file := "../docs/operations.md"
		if path != "" {
			file = filepath.Join("../docs", path)
		}
		st, err := os.Stat(file)
		if err != nil {
			t.Errorf("link %s: %v", target, err)
			continue
		}
		if frag != "" && !st.IsDir() && !anchors(readFile(t, file))[frag] {
			t.Errorf("link %s: %s has no heading for #%s", target, file, frag)
		}
	}
}
