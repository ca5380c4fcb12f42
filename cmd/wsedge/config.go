package main

import (
	"bytes"
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
	errCheck   = errors.New("check requested") // wrapped around the options' problems, or alone when there are none
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

// parseConfig builds the node's options from the command line, the
// environment and the -config file. Precedence: a flag given in args, else
// its WSEDGE_ variable (when set, even to ""), else the file, else the
// default. It returns errHelp, errVersion or errCheck when asked for those;
// any other error names the flag, the variable or the file line at fault,
// one line per problem (a problems value when there are several).
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
	check := fs.Bool("check", false, "validate the configuration and exit")

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
	envSet := func(name string) bool { _, ok := env(envName(name)); return ok }

	// The file first, so the environment and the command line override it.
	var errs problems
	if !given["config"] {
		if s, ok := env(envName("config")); ok {
			o.ConfigFile = s
		}
	}
	if o.ConfigFile != "" {
		errs = append(errs, loadFile(o.ConfigFile, &o, func(name string) bool { return given[name] || envSet(name) })...)
	}

	fromEnv := map[string]string{} // flag name -> variable that set it
	for _, op := range opts {
		if given[op.name] || op.name == "config" {
			continue
		}
		name := envName(op.name)
		s, ok := env(name)
		if !ok {
			continue
		}
		if err := op.value.Set(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		fromEnv[op.name] = name
	}
	if len(errs) > 0 {
		return o, errs.one()
	}

	for _, sf := range []struct {
		flag string
		dst  *string
		file string
	}{
		{"jwt-hmac-secret", &o.JWTHMACSecret, o.JWTHMACSecretFile},
		{"api-key", &o.APIKey, o.APIKeyFile},
	} {
		if err := readSecretFile(sf.flag, sf.dst, sf.file); err != nil {
			errs = append(errs, blameEnv(err, fromEnv))
		}
	}
	authErrs := o.ValidateAuth()
	if err := o.Validate(); err != nil && (len(authErrs) == 0 || err.Error() != authErrs[0].Error()) {
		errs = append(errs, blameEnv(err, fromEnv))
	}
	for _, err := range authErrs {
		errs = append(errs, blameEnv(err, fromEnv))
	}
	if _, _, err := o.AuthConfig(); err != nil { // reads and parses -jwt-public-key
		errs = append(errs, err)
	}
	if err := errs.one(); err != nil {
		return o, err
	}
	if *check {
		return o, errCheck
	}
	return o, nil
}

// one is nil, the only error, or all of them (one per line).
func (p problems) one() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return p[0]
	}
	return p
}

// readSecretFile fills the secret flag -name from its -name-file, without
// the trailing newline editors and echo add.
func readSecretFile(name string, dst *string, file string) error {
	if file == "" {
		return nil
	}
	if *dst != "" {
		return fmt.Errorf("-%s-file: give it or -%s (%s), not both", name, name, envName(name))
	}
	b, err := readConfig(file)
	if err != nil {
		return fmt.Errorf("-%s-file: %w", name, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return fmt.Errorf("-%s-file: %s is empty", name, file)
	}
	*dst = string(b)
	return nil
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
