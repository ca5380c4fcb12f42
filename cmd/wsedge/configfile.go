package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wsedge/wsedge/perm"
	"github.com/wsedge/wsedge/server"
)

// maxConfigFile bounds the config file: a real one is a few KB.
const maxConfigFile = 1 << 20

// problems is every error found in a configuration, one line each.
type problems []error

func (p problems) Error() string {
	lines := make([]string, len(p))
	for i, e := range p {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// loadFile reads the YAML config file at path into o. Keys are flag names
// without the dash; skip(name) says a key is set by a stronger source (the
// command line or the environment): its value is still checked, on a
// scratch copy, but not applied. Every problem is one line
// "FILE:LINE: key: what".
func loadFile(path string, o *server.Options, skip func(name string) bool) problems {
	data, err := readConfig(path)
	if err != nil {
		return problems{fmt.Errorf("-config: %w", err)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return problems{fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return problems{fmt.Errorf("%s:%d: only one YAML document is allowed", path, extra.Line)}
	case !errors.Is(err, io.EOF):
		return problems{fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return problems{fmt.Errorf("%s:%d: the file must be a mapping of flag names (without the dash) to values", path, root.Line)}
	}

	var errs problems
	bad := func(n *yaml.Node, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", path, n.Line, key, fmt.Sprintf(format, args...)))
	}
	scratch := server.Defaults()
	live, shadow := indexOptions(options(o)), indexOptions(options(&scratch))
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		key := k.Value
		if seen[key] {
			bad(k, key, "given twice")
			continue
		}
		seen[key] = true
		if key == "namespaces" {
			nss, nsErrs := namespaces(path, v)
			errs = append(errs, nsErrs...)
			o.Namespaces = nss
			continue
		}
		op, ok := live[key]
		switch {
		case !ok:
			bad(k, key, "unknown key%s", keyHint(key, live))
			continue
		case key == "config":
			bad(k, key, "a config file cannot name another one")
			continue
		}
		s, err := scalar(v, op.arg)
		if err != nil {
			bad(v, key, "%v", err)
			continue
		}
		target := op.value
		if skip(key) {
			target = shadow[key].value
		}
		if err := target.Set(s); err != nil {
			bad(v, key, "%v", err)
		}
	}
	return errs
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxConfigFile)
	}
	return data, nil
}

func indexOptions(opts []option) map[string]option {
	m := make(map[string]option, len(opts))
	for _, op := range opts {
		m[op.name] = op
	}
	return m
}

// resolve follows an alias (*name) to its anchor.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalar is the text of a single value. A list is accepted for the comma
// list flags (-allowed-origins, -trusted-proxies) and joined with commas.
func scalar(v *yaml.Node, arg string) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", errors.New(`no value (write "" for an empty string)`)
		}
		return v.Value, nil
	case yaml.SequenceNode:
		if arg != "LIST" && arg != "CIDRS" {
			return "", errors.New("want a single value, not a list")
		}
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it = resolve(it); it.Kind != yaml.ScalarNode {
				return "", errors.New("list items must be plain values")
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a single value, not a mapping")
}

// keyHint suggests the key meant: flags are written without the dash and
// with dashes, not underscores.
func keyHint(key string, known map[string]option) string {
	for _, guess := range []string{strings.TrimLeft(key, "-"), strings.ReplaceAll(strings.ToLower(key), "_", "-")} {
		if _, ok := known[guess]; ok && guess != key {
			return fmt.Sprintf(" (did you mean %s?)", guess)
		}
	}
	return " (keys are flag names without the dash, see wsedge -h, plus namespaces)"
}

// namespaces reads the list of {name, subscribe, publish, presence,
// join_leave}.
func namespaces(path string, v *yaml.Node) ([]perm.Namespace, problems) {
	var errs problems
	bad := func(n *yaml.Node, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", path, n.Line, key, fmt.Sprintf(format, args...)))
	}
	if v.Kind != yaml.SequenceNode {
		bad(v, "namespaces", "want a list of {name, subscribe, publish, presence, join_leave}")
		return nil, errs
	}
	var out []perm.Namespace
	names := map[string]bool{}
	for i, item := range v.Content {
		item = resolve(item)
		at := fmt.Sprintf("namespaces[%d]", i)
		if item.Kind != yaml.MappingNode {
			bad(item, at, "want a mapping {name, subscribe, publish, presence, join_leave}")
			continue
		}
		ns := perm.Namespace{}
		hasName, nameOK, seen := false, false, map[string]bool{}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, val := item.Content[j], resolve(item.Content[j+1])
			key := at + "." + k.Value
			if seen[k.Value] {
				bad(k, key, "given twice")
				continue
			}
			seen[k.Value] = true
			if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
				bad(val, key, "want a single value")
				continue
			}
			var err error
			switch k.Value {
			case "name":
				hasName, ns.Name = true, val.Value
				if err = perm.ValidNamespaceName(val.Value); err == nil && names[val.Value] {
					err = fmt.Errorf("namespace %q is declared twice", val.Value)
				}
				nameOK = err == nil
				names[val.Value] = true
			case "subscribe":
				ns.Subscribe, err = perm.ParseSubscribe(val.Value)
			case "publish":
				ns.Publish, err = perm.ParsePublish(val.Value)
			case "presence":
				ns.Presence, err = yamlBool(val)
			case "join_leave":
				ns.JoinLeave, err = yamlBool(val)
			default:
				err = errors.New("unknown key (want name, subscribe, publish, presence, join_leave)")
			}
			if err != nil {
				bad(val, key, "%v", err)
			}
		}
		switch {
		case !hasName:
			bad(item, at, `no name (name: "" declares the default namespace)`)
		case nameOK: // a bad or repeated name is reported here, with its line, once
			out = append(out, ns)
		}
	}
	return out, errs
}

func yamlBool(v *yaml.Node) (bool, error) {
	b, err := strconv.ParseBool(v.Value)
	if err != nil || (v.Tag != "!!bool" && v.Style == 0) {
		return false, fmt.Errorf("%q is not a boolean (use true or false)", v.Value)
	}
	return b, nil
}
