package server

import (
	"errors"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Descriptors the node keeps for itself below the open-files limit: the
// listeners, each loop's epoll and eventfd, the admin port and its clients,
// NATS, files read at runtime, and sockets of refusals still being answered.
// The global connection cap is lowered so that it answers 503 before the
// kernel answers EMFILE.
func descriptorReserve(limit int) int { return 64 + limit/32 }

// fitMaxConns lowers o.MaxConns (0: off) to what the open-files limit allows,
// and says so. limit <= 0 means unknown (no change).
func fitMaxConns(o *Options, limit int, log *zap.Logger) {
	if limit <= 0 {
		return
	}
	fit := max(limit-descriptorReserve(limit), 1)
	if o.MaxConns != 0 && o.MaxConns <= fit {
		return
	}
	log.Warn("max-conns lowered to fit the open-files limit (raise it with ulimit -n or LimitNOFILE=)",
		zap.Int("max-conns", o.MaxConns), zap.Int("effective", fit),
		zap.Int("open_files_limit", limit), zap.Int("reserved", limit-fit))
	o.MaxConns = fit
}

// errnoNames bounds the errno label of wsedge_accept_errors_total.
var errnoNames = map[syscall.Errno]string{
	syscall.EMFILE:       "EMFILE",
	syscall.ENFILE:       "ENFILE",
	syscall.ENOBUFS:      "ENOBUFS",
	syscall.ENOMEM:       "ENOMEM",
	syscall.ECONNABORTED: "ECONNABORTED",
	syscall.EPERM:        "EPERM",
	syscall.EPROTO:       "EPROTO",
}

func errnoLabel(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		if n, ok := errnoNames[e]; ok {
			return n
		}
	}
	return "other"
}

// acceptFailed counts and logs (sampled) a failed accept. It runs on a loop.
func (s *Server) acceptFailed(err error) {
	s.m.AcceptErrors.WithLabelValues(errnoLabel(err)).Inc()
	if ok, suppressed := s.acceptLog.Allow(0, time.Now().UnixNano()); ok {
		s.log.Warn("accept failed; accepting paused briefly", zap.Error(err), zap.Uint64("suppressed_since_last", suppressed))
	}
}
