package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/wsedge/wsedge/server"
)

// Outcomes of parseConfig that are not a configuration to run.
var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// envPrefix starts the name of every environment variable wsedge reads.
const envPrefix = "WSEDGE_"

// envName maps a flag to its variable: -max-conns-per-ip -> WSEDGE_MAX_CONNS_PER_IP.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// lookupIn is os.LookupEnv over environ ("NAME=value" entries; the last
// one of a name wins, as in os.Getenv).
func lookupIn(environ []string) func(string) (string, bool) {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// unknownEnv returns the WSEDGE_ variables of environ that name no flag
// (a typo would otherwise be ignored without a word), sorted.
func unknownEnv(environ []string) []string {
	known := map[string]bool{}
	var o server.Options
	for _, op := range options(&o) {
		known[envName(op.name)] = true
	}
	var unknown []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix) && !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

// parseConfig builds the node's options from the command line and the
// environment. Precedence: a flag given in args, else its WSEDGE_ variable
// (when set, even to ""), else the default. It returns errHelp or errVersion
// when asked for those; any other error is one line naming the flag or the
// variable at fault.
func parseConfig(args []string, env func(string) (string, bool)) (server.Options, error) {
	o := server.Defaults()
	opts := options(&o)

	fs := flag.NewFlagSet("wsedge", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by the caller
	fs.Usage = func() {}
	var badFlag error // the flag package's wording is replaced by ours
	for _, op := range opts {
		fs.Var(namedValue{op.name, op.value, &badFlag}, op.name, op.usage)
	}
	showVersion := fs.Bool("version", false, "print the version and exit")

	if err := fs.Parse(args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return o, errHelp
		case badFlag != nil:
			return o, badFlag
		}
		return o, fmt.Errorf("%v (wsedge -h lists the flags)", err)
	}
	if *showVersion {
		return o, errVersion
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: wsedge takes only flags (wsedge -h lists them)", fs.Arg(0))
	}

	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fromEnv := map[string]string{} // flag name -> variable that set it
	for _, op := range opts {
		if given[op.name] {
			continue
		}
		name := envName(op.name)
		s, ok := env(name)
		if !ok {
			continue
		}
		if err := op.value.Set(s); err != nil {
			return o, fmt.Errorf("%s: %w", name, err)
		}
		fromEnv[op.name] = name
	}

	if err := o.Validate(); err != nil {
		return o, blameEnv(err, fromEnv)
	}
	return o, nil
}

// blameEnv adds the variable to a validation error about a flag whose value
// came from the environment, so the user knows where to look.
func blameEnv(err error, fromEnv map[string]string) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "-") {
		return err
	}
	name, _, _ := strings.Cut(msg[1:], " ")
	name = strings.TrimSuffix(name, ":")
	if v, ok := fromEnv[name]; ok {
		return fmt.Errorf("%w (set by %s)", err, v)
	}
	return err
}

// namedValue puts the flag's name in front of a value's error and keeps the
// error, because flag.Parse would otherwise reword it.
type namedValue struct {
	name string
	value
	bad *error
}

// IsBoolFlag lets a boolean flag stand alone (-limit-loopback).
func (v namedValue) IsBoolFlag() bool {
	b, ok := v.value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (v namedValue) Set(s string) error {
	if err := v.value.Set(s); err != nil {
		*v.bad = fmt.Errorf("-%s: %w", v.name, err)
		return *v.bad
	}
	return nil
}
