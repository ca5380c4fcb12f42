package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// backendMetrics are the metrics of RPC, deferred calls and join/leave (docs/metrics.md),
// registered in the server's registry beside the others.
type backendMetrics struct {
	rpcOK, rpcError, rpcUnavailable, rpcOverloaded prometheus.Counter
	events                                         prometheus.Counter
}

// RPC outcomes, the values of wsedge_rpc_calls_total's result label.
const (
	rpcResultOK          = "ok"          // the backend's result went to the client
	rpcResultError       = "error"       // the backend's own error object went to the client
	rpcResultUnavailable = "unavailable" // timeout, unreachable, bad answer
	rpcResultOverloaded  = "overloaded"  // a bound of this node refused the call
)

func (b *backend) registerMetrics(r prometheus.Registerer) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wsedge_rpc_calls_total",
		Help: "rpc messages answered, by result: ok, error (the backend's error object), unavailable, overloaded.",
	}, []string{"result"})
	b.m.rpcOK = calls.WithLabelValues(rpcResultOK)
	b.m.rpcError = calls.WithLabelValues(rpcResultError)
	b.m.rpcUnavailable = calls.WithLabelValues(rpcResultUnavailable)
	b.m.rpcOverloaded = calls.WithLabelValues(rpcResultOverloaded)
	b.m.events = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wsedge_join_leave_events_total",
		Help: "join and leave events sent to a channel's subscribers.",
	})
	r.MustRegister(calls, b.m.events,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wsedge_calls_inflight",
			Help: "rpc and cross-node presence calls waiting for their answer (-rpc-inflight).",
		}, func() float64 { return float64(b.inflight.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wsedge_join_leave_dropped_total",
			Help: "join and leave events dropped because their queue (-join-leave-queue) was full.",
		}, func() float64 { return float64(b.dropped.Load()) }),
	)
}
