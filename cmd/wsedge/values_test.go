package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"64KiB", 64 << 10, true},
		{"64kib", 64 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"64KB", 64000, true},
		{"64kb", 64000, true},
		{"1MB", 1000000, true},
		{"3GB", 3000000000, true},
		{"100B", 100, true},
		{" 64 KiB ", 64 << 10, true},
		{"8589934591GiB", 8589934591 << 30, true}, // largest whole GiB count in an int64
		{"8589934592GiB", 0, false},
		{"", 0, false},
		{"KiB", 0, false},
		{"12XB", 0, false},
		{"1M", 0, false},
		{"1K", 0, false},
		{"1.5MiB", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"0x10", 0, false},
		{"1_000", 0, false},
		{"1 2KiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0", 1: "1", 1000: "1000", 1024: "1KiB", 64 << 10: "64KiB", 1 << 20: "1MiB",
		3 << 30: "3GiB", 1536: "1536", (1 << 20) + (1 << 10): "1025KiB",
	} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
		if back, err := parseSize(formatSize(in)); err != nil || back != in {
			t.Errorf("round trip of %d: %d, %v", in, back, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 5 * time.Minute: "5m", time.Hour: "1h",
		90 * time.Minute: "1h30m", 500 * time.Millisecond: "500ms", 61 * time.Second: "1m1s",
	} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(in)); err != nil || back != in {
			t.Errorf("round trip of %v: %v, %v", in, back, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64KiB", "1MB", "1048576", "12XB", " 3 gib", "-1", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with value %d", n)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "is") {
				t.Fatalf("bad message %q", msg)
			}
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if back, err := parseSize(formatSize(n)); err != nil || back != n {
			t.Fatalf("formatSize(%d) = %q does not parse back: %d, %v", n, formatSize(n), back, err)
		}
	})
}
