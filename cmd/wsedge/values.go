package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/wsedge/wsedge/codec"
	"github.com/wsedge/wsedge/server"
)

// value is a flag.Value that can also put itself into the startup log line.
type value interface {
	String() string
	Set(string) error
	encode(enc zapcore.ObjectEncoder, key string)
}

type stringValue struct{ p *string }

func (v stringValue) String() string                             { return *v.p }
func (v stringValue) Set(s string) error                         { *v.p = s; return nil }
func (v stringValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddString(k, *v.p) }

// urlValue is a URL whose password and token-like query parameters never
// show in the startup log (server.RedactURL).
type urlValue struct{ p *string }

func (v urlValue) String() string     { return *v.p }
func (v urlValue) Set(s string) error { *v.p = s; return nil }
func (v urlValue) encode(enc zapcore.ObjectEncoder, k string) {
	enc.AddString(k, server.RedactURL(*v.p))
}

// secretValue is a string that never shows: the startup log and -h print
// "<redacted>" when it is set.
type secretValue struct{ p *string }

func (v secretValue) String() string {
	if *v.p == "" {
		return ""
	}
	return redacted
}
func (v secretValue) Set(s string) error                         { *v.p = s; return nil }
func (v secretValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddString(k, v.String()) }

const redacted = "<redacted>"

// choiceValue is a string restricted to a fixed set (log level, log format).
type choiceValue struct {
	p       *string
	choices []string
}

func (v choiceValue) String() string                             { return *v.p }
func (v choiceValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddString(k, *v.p) }
func (v choiceValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(v.choices, ", "))
}

type boolValue struct{ p *bool }

func (v boolValue) String() string                             { return strconv.FormatBool(*v.p) }
func (v boolValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddBool(k, *v.p) }
func (v boolValue) IsBoolFlag() bool                           { return true } // -flag alone means true
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a boolean (use true or false)", s)
	}
	*v.p = b
	return nil
}

type intValue struct{ p *int }

func (v intValue) String() string                             { return strconv.Itoa(*v.p) }
func (v intValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddInt(k, *v.p) }
func (v intValue) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is too large", s)
		}
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = int(n)
	return nil
}

type floatValue struct{ p *float64 }

func (v floatValue) String() string                             { return strconv.FormatFloat(*v.p, 'g', -1, 64) }
func (v floatValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddFloat64(k, *v.p) }
func (v floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%q is not a number (use e.g. 60 or 0.5)", s)
	}
	*v.p = f
	return nil
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string { return formatDuration(*v.p) }
func (v durationValue) encode(enc zapcore.ObjectEncoder, k string) {
	enc.AddString(k, formatDuration(*v.p))
}
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (use e.g. 500ms, 30s, 5m or 1h30m)", s)
	}
	*v.p = d
	return nil
}

// formatDuration drops the zero tails time.Duration.String prints ("5m0s" -> "5m").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// sizeValue is a byte count stored in an int64 or an int field.
type sizeValue struct {
	p64 *int64
	p   *int
}

func (v sizeValue) get() int64 {
	if v.p64 != nil {
		return *v.p64
	}
	return int64(*v.p)
}

func (v sizeValue) String() string                             { return formatSize(v.get()) }
func (v sizeValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddInt64(k, v.get()) }
func (v sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if v.p64 != nil {
		*v.p64 = n
	} else {
		if n > math.MaxInt {
			return fmt.Errorf("%q is too large", s)
		}
		*v.p = int(n)
	}
	return nil
}

// Size units: binary KiB/MiB/GiB (powers of 1024), decimal KB/MB/GB
// (powers of 1000), or none/B for plain bytes. Units are matched without
// regard to case; a bare K/M/G is refused because it is ambiguous.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"b", 1},
}

// errSize is the one message every malformed size gets.
func errSize(s string) error {
	return fmt.Errorf("%q is not a size (use e.g. 64KiB, 1MiB or 1048576)", s)
}

// parseSize reads a whole, non-negative number of bytes with an optional unit.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	if t == "" || t[0] < '0' || t[0] > '9' { // also refuses signs
		return 0, errSize(s)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, errSize(s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// formatSize prints n in the largest binary unit that divides it exactly.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// modeValue is -compression: off, no-context-takeover or context-takeover.
type modeValue struct{ p *codec.Mode }

func (v modeValue) String() string                             { return v.p.String() }
func (v modeValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddString(k, v.p.String()) }
func (v modeValue) Set(s string) error {
	m, err := codec.ParseMode(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not one of off, no-context-takeover, context-takeover", s)
	}
	*v.p = m
	return nil
}

// windowBitsValue is -compression-window-bits, a small number kept in a byte.
type windowBitsValue struct{ p *uint8 }

func (v windowBitsValue) String() string                             { return strconv.Itoa(int(*v.p)) }
func (v windowBitsValue) encode(enc zapcore.ObjectEncoder, k string) { enc.AddInt(k, int(*v.p)) }
func (v windowBitsValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 9 || n > 15 {
		return fmt.Errorf("%q is not a window size from 9 to 15", s)
	}
	*v.p = uint8(n)
	return nil
}
