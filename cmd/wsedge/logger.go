package main

import (
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/wsedge/wsedge/server"
)

// newLogger builds the process logger from -log-level and -log-format
// (both already checked by parseConfig), writing to w.
func newLogger(o *server.Options, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(o.LogLevel)
	if err != nil {
		return nil, err
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if o.LogFormat == "console" {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	// Sampling keeps a storm of identical per-connection lines from
	// flooding the log; distinct messages are never dropped.
	core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100) // per second and message: first 100, then 1 in 100
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}

// configFields puts every option into the startup log line, keyed by flag name.
type configFields struct{ o *server.Options }

func (c configFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, op := range options(c.o) {
		op.value.encode(enc, op.name)
	}
	return nil
}
