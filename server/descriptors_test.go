package server

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

func TestFitMaxConns(t *testing.T) {
	for _, tc := range []struct {
		maxConns, limit, want int
	}{
		{1000000, 20000, 20000 - 64 - 625},
		{0, 20000, 20000 - 64 - 625}, // "off" still cannot pass the descriptors
		{5000, 20000, 5000},          // already fits
		{1000000, 256, 256 - 64 - 8},
		{1000000, 0, 1000000}, // limit unknown
		{10, 50, 1},           // never 0, which would mean "off"
	} {
		o := Options{MaxConns: tc.maxConns}
		fitMaxConns(&o, tc.limit, zap.NewNop())
		if o.MaxConns != tc.want {
			t.Errorf("max-conns %d with an open-files limit of %d: %d, want %d", tc.maxConns, tc.limit, o.MaxConns, tc.want)
		}
	}
	s, err := New(testOptions(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lim := openFilesLimit(); lim > 0 && s.Options().MaxConns > lim {
		t.Fatalf("effective max-conns %d above the open-files limit %d", s.Options().MaxConns, lim)
	}
}

func TestErrnoLabel(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("poller: accept: %w", syscall.EMFILE): "EMFILE",
		syscall.ENFILE:          "ENFILE",
		syscall.EINVAL:          "other",
		errors.New("not errno"): "other",
	} {
		if got := errnoLabel(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}
