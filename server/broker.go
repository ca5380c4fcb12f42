package server

import (
	"github.com/wsedge/wsedge/metrics"
	"github.com/wsedge/wsedge/natsbroker"
)

// brokerOptions turns the -broker-* and -node-name options into the broker's.
func brokerOptions(o *Options) []natsbroker.Option {
	opts := []natsbroker.Option{natsbroker.Name(o.nodeName())}
	if o.BrokerCreds != "" {
		opts = append(opts, natsbroker.Credentials(o.BrokerCreds))
	}
	if o.BrokerTLSCA != "" || o.BrokerTLSCert != "" {
		opts = append(opts, natsbroker.TLS(o.BrokerTLSCA, o.BrokerTLSCert, o.BrokerTLSKey))
	}
	if o.HandoverSuccessor {
		opts = append(opts, natsbroker.Standby())
	}
	if o.BrokerRetry {
		opts = append(opts, natsbroker.RetryOnFailedConnect())
	}
	return opts
}

// brokerStats is what the wsedge_broker_* metrics read at scrape time.
func brokerStats(b *natsbroker.Broker) metrics.BrokerStats {
	st := b.Stats()
	return metrics.BrokerStats{
		Connected: st.Connected, Subscriptions: st.Subscriptions,
		Published: st.Published, Refused: st.Refused, Received: st.Received,
		Malformed: st.Malformed, UnknownVersion: st.UnknownVersion,
		Delivered: st.Delivered, Dropped: st.Dropped, NATSDropped: st.NATSDropped,
		Commands: st.Commands,
	}
}
