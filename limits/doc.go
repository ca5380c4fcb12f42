// Package limits decides, without touching sockets, whether a connection or
// a message may proceed: the Origin policy (-allowed-origins), the client
// address behind trusted proxies (-trusted-proxies, X-Forwarded-For) and its
// grouping key (IPv4 address, IPv6 /64), a per-key token bucket for new
// connections with bounded memory (-conn-rate, -conn-burst), global and
// per-key connection caps (-max-conns, -max-conns-per-ip), a 16-byte
// per-connection message bucket with a close-after-strikes policy
// (-msg-rate, -msg-burst), the refusal reasons with their HTTP statuses and
// metric labels, and a sampler that keeps a refusal flood out of the log.
// Every count or rate limit is off at 0. All types are safe for concurrent
// use except MsgBucket, which belongs to its connection; the admission path
// does not allocate.
package limits
