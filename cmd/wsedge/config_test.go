package main

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/server"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(o *server.Options) // applied to Defaults()
	}{
		{"defaults", nil, nil, func(o *server.Options) {}},
		{"env overrides defaults", nil, map[string]string{
			"WSEDGE_MAX_CONNS_PER_IP":  "3",
			"WSEDGE_CONN_RATE":         "0.5",
			"WSEDGE_IDLE_TIMEOUT":      "90s",
			"WSEDGE_MAX_MESSAGE_SIZE":  "1MiB",
			"WSEDGE_WRITE_QUEUE":       "64KB",
			"WSEDGE_ALLOWED_ORIGINS":   "https://*.example.com",
			"WSEDGE_LOG_FORMAT":        "console",
			"WSEDGE_UNRELATED_SETTING": "ignored",
		}, func(o *server.Options) {
			o.MaxConnsPerIP, o.ConnRate, o.IdleTimeout = 3, 0.5, 90*time.Second
			o.MaxMessageSize, o.WriteQueue = 1<<20, 64000
			o.AllowedOrigins, o.LogFormat = "https://*.example.com", "console"
		}},
		{"flags override env", []string{"-max-conns-per-ip", "7", "-idle-timeout=1h30m", "-log-format", "json"},
			map[string]string{"WSEDGE_MAX_CONNS_PER_IP": "3", "WSEDGE_IDLE_TIMEOUT": "90s", "WSEDGE_LOG_FORMAT": "console", "WSEDGE_LOOPS": "2"},
			func(o *server.Options) { o.MaxConnsPerIP, o.IdleTimeout, o.Loops = 7, 90*time.Minute, 2 }},
		{"a flag wins even over a bad env value", []string{"-loops", "4"}, map[string]string{"WSEDGE_LOOPS": "four"},
			func(o *server.Options) { o.Loops = 4 }},
		{"empty env string is a value", nil, map[string]string{"WSEDGE_ADMIN_ADDR": "", "WSEDGE_ECHO_PATH": ""},
			func(o *server.Options) { o.AdminAddr, o.EchoPath = "", "" }},
		{"empty flag string is a value and beats env", []string{"-admin-addr", ""}, map[string]string{"WSEDGE_ADMIN_ADDR": ":1"},
			func(o *server.Options) { o.AdminAddr = "" }},
		{"last flag wins", []string{"-addr", ":1", "-addr", ":2"}, nil, func(o *server.Options) { o.Addr = ":2" }},
		{"double dash flags", []string{"--queue", "10"}, nil, func(o *server.Options) { o.Queue = 10 }},
		{"zero switches limits off", []string{"-max-conns", "0", "-conn-rate", "0", "-max-conns-per-ip", "0"}, nil,
			func(o *server.Options) { o.MaxConns, o.ConnRate, o.MaxConnsPerIP = 0, 0, 0 }},
		{"msg rate with burst", []string{"-msg-rate", "100", "-msg-burst", "20"}, nil,
			func(o *server.Options) { o.MsgRate, o.MsgBurst = 100, 20 }},
		{"tls pair", nil, map[string]string{"WSEDGE_TLS_CERT": "c.pem", "WSEDGE_TLS_KEY": "k.pem"},
			func(o *server.Options) { o.TLSCert, o.TLSKey = "c.pem", "k.pem" }},
		{"every string flag", []string{"-path", "/a", "-echo-path", "/b", "-trusted-proxies", "10.0.0.0/8", "-broker", "nats://127.0.0.1:4222", "-log-level", "debug"}, nil,
			func(o *server.Options) {
				o.Path, o.EchoPath, o.TrustedProxies, o.Broker, o.LogLevel = "/a", "/b", "10.0.0.0/8", "nats://127.0.0.1:4222", "debug"
			}},
		{"every duration flag", []string{"-ping-interval", "1s", "-read-timeout", "2s", "-write-timeout", "3s", "-handshake-timeout", "500ms", "-shutdown-timeout", "1m"}, nil,
			func(o *server.Options) {
				o.PingInterval, o.ReadTimeout, o.WriteTimeout, o.HandshakeTimeout, o.ShutdownTimeout = time.Second, 2*time.Second, 3*time.Second, 500*time.Millisecond, time.Minute
			}},
		{"bool flag alone", []string{"-limit-loopback"}, nil, func(o *server.Options) { o.LimitLoopback = true }},
		{"bool from env", nil, map[string]string{"WSEDGE_LIMIT_LOOPBACK": "1"}, func(o *server.Options) { o.LimitLoopback = true }},
		{"bool flag false beats env", []string{"-limit-loopback=false"}, map[string]string{"WSEDGE_LIMIT_LOOPBACK": "true"},
			func(o *server.Options) {}},
		{"compression flags", []string{"-compression", "context-takeover", "-compression-level", "6", "-compression-min-size", "1KiB", "-compression-window-bits", "10"}, nil,
			func(o *server.Options) {
				o.Compression = codec.Deflate{Mode: codec.ModeContextTakeover, Level: 6, MinSize: 1 << 10, WindowBits: 10}
			}},
		{"compression from env", nil, map[string]string{"WSEDGE_COMPRESSION": "no-context-takeover", "WSEDGE_COMPRESSION_MIN_SIZE": "0"},
			func(o *server.Options) { o.Compression.Mode, o.Compression.MinSize = codec.ModeNoContextTakeover, 0 }},
		{"workers queue burst", []string{"-workers", "16", "-queue", "1", "-conn-burst", "1"}, nil,
			func(o *server.Options) { o.Workers, o.Queue, o.ConnBurst = 16, 1, 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, envOf(tc.env))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			want := server.Defaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	const sizeHint = " is not a size (use e.g. 64KiB, 1MiB or 1048576)"
	const durHint = " is not a duration (use e.g. 500ms, 30s, 5m or 1h30m)"
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-max-message-size", "12XB"}, nil, `-max-message-size: "12XB"` + sizeHint},
		{nil, map[string]string{"WSEDGE_MAX_MESSAGE_SIZE": "12XB"}, `WSEDGE_MAX_MESSAGE_SIZE: "12XB"` + sizeHint},
		{[]string{"-write-queue", "-5"}, nil, `-write-queue: "-5"` + sizeHint},
		{[]string{"-write-queue", "1M"}, nil, `-write-queue: "1M"` + sizeHint},
		{[]string{"-write-queue", "1.5MiB"}, nil, `-write-queue: "1.5MiB"` + sizeHint},
		{[]string{"-max-message-size="}, nil, `-max-message-size: ""` + sizeHint},
		{[]string{"-max-message-size", "99999999999GiB"}, nil, `-max-message-size: "99999999999GiB" is too large`},
		{[]string{"-max-message-size", "99999999999999999999"}, nil, `-max-message-size: "99999999999999999999" is too large`},
		{[]string{"-idle-timeout", "30"}, nil, `-idle-timeout: "30"` + durHint},
		{nil, map[string]string{"WSEDGE_PING_INTERVAL": "soon"}, `WSEDGE_PING_INTERVAL: "soon"` + durHint},
		{[]string{"-loops", "x"}, nil, `-loops: "x" is not a whole number`},
		{[]string{"-queue", "1.5"}, nil, `-queue: "1.5" is not a whole number`},
		{[]string{"-max-conns", "99999999999999999999"}, nil, `-max-conns: "99999999999999999999" is too large`},
		{nil, map[string]string{"WSEDGE_MAX_CONNS_PER_IP": "ten"}, `WSEDGE_MAX_CONNS_PER_IP: "ten" is not a whole number`},
		{[]string{"-conn-rate", "fast"}, nil, `-conn-rate: "fast" is not a number (use e.g. 60 or 0.5)`},
		{[]string{"-msg-rate", "NaN"}, nil, `-msg-rate: "NaN" is not a number (use e.g. 60 or 0.5)`},
		{[]string{"-msg-rate", "+Inf"}, nil, `-msg-rate: "+Inf" is not a number (use e.g. 60 or 0.5)`},
		{[]string{"-log-level", "verbose"}, nil, `-log-level: "verbose" is not one of debug, info, warn, error`},
		{nil, map[string]string{"WSEDGE_LOG_FORMAT": "text"}, `WSEDGE_LOG_FORMAT: "text" is not one of json, console`},
		{[]string{"-limit-loopback=yes"}, nil, `-limit-loopback: "yes" is not a boolean (use true or false)`},
		{nil, map[string]string{"WSEDGE_LIMIT_LOOPBACK": "on"}, `WSEDGE_LIMIT_LOOPBACK: "on" is not a boolean (use true or false)`},
		{[]string{"-compression", "on"}, nil, `-compression: "on" is not one of off, no-context-takeover, context-takeover`},
		{nil, map[string]string{"WSEDGE_COMPRESSION": "gzip"}, `WSEDGE_COMPRESSION: "gzip" is not one of off, no-context-takeover, context-takeover`},
		{[]string{"-compression-level", "10"}, nil, `-compression-level: 10 is outside 1..9`},
		{[]string{"-compression-window-bits", "8"}, nil, `-compression-window-bits: "8" is not a window size from 9 to 15`},
		{[]string{"-compression-min-size", "-1"}, nil, `-compression-min-size: "-1"` + sizeHint},
		{[]string{"-tls-cert", "c.pem"}, nil, `-tls-cert given without -tls-key`},
		{[]string{"-tls-key", "k.pem"}, nil, `-tls-key given without -tls-cert`},
		{nil, map[string]string{"WSEDGE_TLS_CERT": "c.pem"}, `-tls-cert given without -tls-key (set by WSEDGE_TLS_CERT)`},
		{[]string{"-path", "ws"}, nil, `-path: "ws" must start with /`},
		{nil, map[string]string{"WSEDGE_PATH": "ws"}, `-path: "ws" must start with / (set by WSEDGE_PATH)`},
		{[]string{"-max-conns", "-1"}, nil, `-max-conns: must not be negative`},
		{[]string{"-idle-timeout", "577h"}, nil, `-idle-timeout: 577h0m0s is over the 576h (24 days) a connection's timer reaches`},
		{[]string{"-ping-interval", "1000h"}, nil, `-ping-interval: 1000h0m0s is over the 576h (24 days) a connection's timer reaches`},
		{[]string{"-msg-rate", "5"}, nil, `-msg-burst must be at least 1 when -msg-rate is on`},
		{[]string{"-nope"}, nil, `flag provided but not defined: -nope (wsedge -h lists the flags)`},
		{[]string{"-addr"}, nil, `flag needs an argument: -addr (wsedge -h lists the flags)`},
		{[]string{"serve"}, nil, `unexpected argument "serve": wsedge takes only flags (wsedge -h lists them)`},
	} {
		_, err := parseConfig(tc.args, envOf(tc.env))
		if err == nil || err.Error() != tc.want {
			t.Errorf("args %q env %v:\n got  %v\n want %s", tc.args, tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("args %q: message has several lines", tc.args)
		}
	}
}

func TestParseConfigHelpAndVersion(t *testing.T) {
	bad := map[string]string{"WSEDGE_LOOPS": "x"} // must not hide -h or -version
	for _, tc := range []struct {
		args []string
		want error
	}{
		{[]string{"-h"}, errHelp},
		{[]string{"-help"}, errHelp},
		{[]string{"--help"}, errHelp},
		{[]string{"-addr", ":1", "-h"}, errHelp},
		{[]string{"-version"}, errVersion},
		{[]string{"--version"}, errVersion},
	} {
		if _, err := parseConfig(tc.args, envOf(bad)); !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.args, err, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"max-conns-per-ip": "WSEDGE_MAX_CONNS_PER_IP",
		"addr":             "WSEDGE_ADDR",
		"tls-cert":         "WSEDGE_TLS_CERT",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// notFlags are the fields of server.Options deliberately without a flag.
var notFlags = map[string]bool{
	"Tick":              true, // test knob
	"RateTableSize":     true, // not in DESIGN's flag table
	"Namespaces":        true, // config file only (namespaces:)
	"Authenticator":     true, // embedding hook (a Go interface)
	"KeepHeaders":       true, // embedding: headers a session keeps for Go handlers
	"HandoverSuccessor": true, // set by main when started by a handover
}

// leafFields are the fields of server.Options with those of its embedded
// structs (AuthOptions) in place of the struct itself.
// Compression (a codec.Deflate) counts as its fields too: a flag each.
func leafFields() []reflect.StructField {
	var out []reflect.StructField
	for _, f := range reflect.VisibleFields(reflect.TypeOf(server.Options{})) {
		switch {
		case f.Anonymous:
		case f.Name == "Compression":
			for _, g := range reflect.VisibleFields(f.Type) {
				g.Index = append(slices.Clone(f.Index), g.Index...)
				g.Name = f.Name + "." + g.Name
				out = append(out, g)
			}
		default:
			out = append(out, f)
		}
	}
	return out
}

// TestEveryOptionBound checks the flag table against server.Options: each
// flag fills exactly one field, and each field has a flag or is listed in
// notFlags (so a new option cannot silently lack one).
func TestEveryOptionBound(t *testing.T) {
	d := server.Defaults()
	bound := map[string]string{} // field -> flag
	for _, op := range options(&d) {
		sample := map[string]string{"N": "3", "RATE": "2.5", "SIZE": "3KiB", "DUR": "7s", "": "true",
			"LEVEL": "debug", "FORMAT": "console", "MODE": "context-takeover", "BITS": "10"}[op.arg]
		if sample == "" {
			sample = "/x"
		}
		if op.arg == "" && op.value.String() == "true" {
			sample = "false" // a boolean on by default (-ready-broker)
		}
		a, b := server.Defaults(), server.Defaults()
		for _, o := range options(&b) {
			if o.name == op.name {
				if err := o.value.Set(sample); err != nil {
					t.Fatalf("-%s: %v", op.name, err)
				}
			}
		}
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		var changed []string
		for _, f := range leafFields() {
			if !reflect.DeepEqual(va.FieldByIndex(f.Index).Interface(), vb.FieldByIndex(f.Index).Interface()) {
				changed = append(changed, f.Name)
			}
		}
		if len(changed) != 1 {
			t.Errorf("-%s changed fields %v, want exactly one", op.name, changed)
			continue
		}
		if prev, dup := bound[changed[0]]; dup {
			t.Errorf("-%s and -%s both fill %s", prev, op.name, changed[0])
		}
		bound[changed[0]] = op.name
		if !slices.Contains(groups, op.group) || op.usage == "" {
			t.Errorf("-%s: incomplete table entry %+v", op.name, op)
		}
	}
	for _, f := range leafFields() {
		if _, ok := bound[f.Name]; !ok && !notFlags[f.Name] {
			t.Errorf("server.Options.%s has no flag (add one to options.go or to notFlags)", f.Name)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	got := unknownEnv([]string{
		"WSEDGE_IDLE_TIMEOUT=1m", "WSEDGE_IDLE_TIMOUT=1m", "PATH=/bin", "WSEDGE_MAXCONNS=5",
		"WSEDGE_BROKER=", "WSEDGE_=x", "wsedge_addr=:1",
	})
	want := []string{"WSEDGE_", "WSEDGE_IDLE_TIMOUT", "WSEDGE_MAXCONNS"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("unknownEnv = %q, want %q", got, want)
	}
	if v, ok := lookupIn([]string{"A=1", "B=", "A=2"})("A"); !ok || v != "2" {
		t.Fatalf("lookupIn: last value wins: %q %v", v, ok)
	}
	if v, ok := lookupIn([]string{"B="})("B"); !ok || v != "" {
		t.Fatalf("lookupIn: empty value is set: %q %v", v, ok)
	}
}
