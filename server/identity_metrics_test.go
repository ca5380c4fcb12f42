package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsedge/wsedge/auth"
	"github.com/wsedge/wsedge/proxy"
)

// TestAuthCheckResult: each outcome is counted under its result, and counting
// a check allocates nothing (it runs once per connection with identity: a
// ramp's garbage stays as holes among the connections' objects, issue 19).
func TestAuthCheckResult(t *testing.T) {
	var a idState
	a.pool = &authPool{}
	a.registerMetrics(prometheus.NewRegistry())
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, resOK},
		{fmt.Errorf("check: %w", auth.ErrInvalid), resInvalid},
		{fmt.Errorf("check: %w", auth.ErrExpired), resExpired},
		{fmt.Errorf("backend: %w", &proxy.RefusedError{}), resInvalid},
		{errors.New("connection refused"), resUnavailable},
	} {
		before := testutil.ToFloat64(a.m.checks[viaToken][tc.want])
		a.m.result(viaToken, tc.err)
		if got := testutil.ToFloat64(a.m.checks[viaToken][tc.want]) - before; got != 1 {
			t.Errorf("%v: result %s counted %v times, want 1", tc.err, resultNames[tc.want], got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { a.m.result(viaToken, nil) }); n != 0 {
		t.Errorf("counting a successful check: %v allocations, want 0", n)
	}
}
