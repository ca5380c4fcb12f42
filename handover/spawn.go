package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// EnvFD names the variable that tells a new process it is a successor and
// which inherited descriptor is its channel. It is reserved: no flag may map
// to it. Inherit removes it from the environment.
const EnvFD = "WSEDGE_HANDOVER_FD"

// childFD is the channel's descriptor number in the successor: the first
// of exec.Cmd.ExtraFiles.
const childFD = 3

// Errors a failed start wraps; callers branch on them with errors.Is.
var (
	// ErrExited: the successor exited before it was ready (its status is
	// in the StartError).
	ErrExited = errors.New("successor exited before it was ready")
	// ErrNotReady: the successor did not say it was ready within
	// SpawnConfig.ReadyTimeout; it was killed.
	ErrNotReady = errors.New("successor not ready in time")
	// ErrVersion: the successor speaks no protocol version this one does.
	ErrVersion = errors.New("no common protocol version")
)

// StartError says why a successor did not start: the stage, the process
// (if it ran) and how it ended. The old process logs it and serves on.
type StartError struct {
	Stage string           // "exec", "ready"
	PID   int              // 0 if it never ran
	State *os.ProcessState // how it ended, once reaped
	Err   error
}

func (e *StartError) Error() string {
	s := "handover: successor " + e.Stage + ": " + e.Err.Error()
	if e.PID != 0 {
		s += " (pid " + strconv.Itoa(e.PID)
		if e.State != nil {
			s += ", " + e.State.String()
		}
		s += ")"
	}
	return s
}

func (e *StartError) Unwrap() error { return e.Err }

// SpawnConfig says how to start the successor. Zero values pick the
// documented defaults.
type SpawnConfig struct {
	Path string   // the binary; "" means Executable()
	Args []string // argv, argv[0] included; nil means os.Args
	Env  []string // nil means os.Environ(); EnvFD is replaced
	// Stdout and Stderr are inherited as descriptors (nil means the
	// process's own), never copied through a goroutine: the successor
	// outlives this process and must keep its output.
	Stdout, Stderr *os.File
	// ReadyTimeout bounds the wait for HELLO; 0 means 30s.
	ReadyTimeout time.Duration
	// MaxMessage bounds one message on the channel; 0 means 64 MiB.
	MaxMessage int
}

// Successor is a started new process that said it is ready to adopt.
type Successor struct {
	cmd    *exec.Cmd
	ep     *endpoint
	hello  Hello
	exited chan struct{} // closed once the process is reaped
	state  *os.ProcessState
}

// Spawn starts the successor and waits until it is ready (HELLO). On any
// failure the process is killed if needed and reaped, and the error is a
// *StartError saying why; the caller serves on.
func Spawn(ctx context.Context, cfg SpawnConfig) (*Successor, error) {
	path, err := cfg.Path, error(nil)
	if path == "" {
		if path, err = Executable(); err != nil {
			return nil, &StartError{Stage: "exec", Err: fmt.Errorf("own executable: %w", err)}
		}
	}
	args := cfg.Args
	if args == nil {
		args = os.Args
	}
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	ready := cfg.ReadyTimeout
	if ready <= 0 {
		ready = 30 * time.Second
	}

	pf, cf, err := socketpair()
	if err != nil {
		return nil, &StartError{Stage: "exec", Err: err}
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        withChannel(env),
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{cf},
	}
	err = cmd.Start()
	cf.Close() // the child has its copy; ours would hide its exit from reads
	if err != nil {
		pf.Close()
		return nil, &StartError{Stage: "exec", Err: err}
	}
	s := &Successor{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the status is in cmd.ProcessState
		s.state = cmd.ProcessState
		close(s.exited)
	}()
	if s.ep, err = newEndpoint(pf, cfg.MaxMessage); err != nil {
		return nil, s.failStart(err)
	}

	if err := s.awaitHello(ctx, ready); err != nil {
		return nil, s.failStart(err)
	}
	return s, nil
}

// awaitHello reads HELLO and checks the versions.
func (s *Successor) awaitHello(ctx context.Context, ready time.Duration) error {
	readCtx, cancel := context.WithTimeout(ctx, ready)
	defer cancel()
	stop := context.AfterFunc(readCtx, func() { s.ep.c.SetReadDeadline(time.Now()) })
	defer stop()
	m, err := s.ep.read()
	if err != nil {
		switch {
		case errors.Is(err, ErrClosed):
			err = s.exitError(ErrExited)
		case readCtx.Err() != nil && ctx.Err() == nil:
			err = fmt.Errorf("%w (%s)", ErrNotReady, ready)
		case ctx.Err() != nil:
			err = ctx.Err()
		}
		return err
	}
	s.ep.c.SetReadDeadline(time.Time{})
	if m.typ != msgHello {
		closeFDs(m.fds)
		return protoErr("expected HELLO, got %s", msgName(m.typ))
	}
	if s.hello, err = decodeHello(m.payload); err != nil {
		return err
	}
	if s.hello.MaxVersion < MinVersion || s.hello.MinVersion > MaxVersion {
		err = fmt.Errorf("%w: successor speaks %d..%d, this process %d..%d",
			ErrVersion, s.hello.MinVersion, s.hello.MaxVersion, MinVersion, MaxVersion)
		s.ep.abort(err.Error(), time.Second)
		return err
	}
	return nil
}

// withChannel returns env with EnvFD set to the channel's descriptor and no
// other value of it.
func withChannel(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvFD+"=") {
			out = append(out, kv)
		}
	}
	return append(out, EnvFD+"="+strconv.Itoa(childFD))
}

// exitError waits briefly for the exit status of a successor whose channel
// closed, so the error can say how it ended.
func (s *Successor) exitError(err error) error {
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
	}
	return err
}

// failStart kills (if needed) and reaps the successor, closes the channel
// and builds the StartError.
func (s *Successor) failStart(err error) error {
	s.kill(0)
	return &StartError{Stage: "ready", PID: s.PID(), State: s.exitState(), Err: err}
}

// kill waits up to grace for the process to exit by itself, then kills it,
// and reaps it. The channel is closed first, so a successor waiting on it
// sees the end.
func (s *Successor) kill(grace time.Duration) {
	if s.ep != nil {
		s.ep.close()
	}
	if grace > 0 {
		select {
		case <-s.exited:
			return
		case <-time.After(grace):
		}
	}
	if s.cmd == nil { // in-process tests: no process to kill
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// exitState is how the successor ended, or nil while it runs.
func (s *Successor) exitState() *os.ProcessState {
	select {
	case <-s.exited:
		return s.state
	default:
		return nil
	}
}

// PID is the successor's process id.
func (s *Successor) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Hello is what the successor announced.
func (s *Successor) Hello() Hello { return s.hello }

// Exited is closed once the successor has exited and been reaped.
func (s *Successor) Exited() <-chan struct{} { return s.exited }

// Abandon ends a successor that was started but not used (no Begin): the
// channel closes, the successor exits, and it is killed after grace.
func (s *Successor) Abandon(reason string, grace time.Duration) {
	s.ep.abort(reason, time.Second)
	s.kill(grace)
}
