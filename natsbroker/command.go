package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Commands are how a node acts on, or asks, every other node: a server API call that must
// reach a user's connections wherever they are, or gather presence from all nodes. A command
// has a name and a JSON body; every node runs the CommandHandler registered for the name. The
// broker carries commands to the other nodes only: the caller runs its own node's part itself
// (call the same handler locally), so one code path serves one node and many.
//
// The names the server API uses (issue 13); the broker only carries them.
const (
	CmdSubscribeUser   = "subscribe_user"   // {"user","channel"}: subscribe the user's connections here
	CmdUnsubscribeUser = "unsubscribe_user" // {"user","channel"}
	CmdDisconnectUser  = "disconnect_user"  // {"user","code","reason"}: close the user's connections here
	CmdPresence        = "presence"         // {"channel"} -> {"clients":[…]} of this node
	CmdPresenceStats   = "presence_stats"   // {"channel"} -> {"num_clients","num_users"} of this node
	CmdChannels        = "channels"         // {"pattern"} -> {"channels":{…}} of this node
	CmdInfo            = "info"             // {} -> {"name","num_clients","num_subscriptions","uptime"}
)

// Names the broker handles itself.
const (
	cmdHello = "node.hello" // heartbeat: the sender is a live peer
	cmdBye   = "node.bye"   // the sender is leaving
)

// Command is one command from another node. Body is valid only during the handler call.
type Command struct {
	Name   string
	Origin string // the sending node's name
	Body   []byte
}

// CommandHandler runs a command for this node. Its reply (JSON, or nil) goes back to the
// sender when it gathers replies; an error goes back as the reply's Err text. Handlers run one
// at a time on the broker's command goroutine: keep them short (milliseconds) or hand the work
// off, or later commands wait.
type CommandHandler func(cmd Command) (reply []byte, err error)

// Reply is one node's answer to a Gather.
type Reply struct {
	Node string // the answering node's name
	Data []byte // the handler's reply
	Err  string // the handler's error text, "" when it succeeded
}

// ErrIncomplete is wrapped by Gather's error when the context ended before every peer replied.
var ErrIncomplete = errors.New("natsbroker: not every node replied in time")

// commands is the broker's command state.
type commands struct {
	mu       sync.RWMutex
	handlers map[string]CommandHandler
	peers    map[string]time.Time // other nodes, by name: when last heard from
}

func (c *commands) init() {
	c.handlers = make(map[string]CommandHandler)
	c.peers = make(map[string]time.Time)
}

// HandleCommand registers h for the command name, replacing any earlier handler. Commands
// without a handler are answered with the error "unknown command".
func (b *Broker) HandleCommand(name string, h CommandHandler) {
	b.cmds.mu.Lock()
	b.cmds.handlers[name] = h
	b.cmds.mu.Unlock()
}

// Peers returns the names of the other nodes heard from within three heartbeat intervals,
// sorted.
func (b *Broker) Peers() []string {
	cutoff := time.Now().Add(-3 * b.cfg.heartbeat)
	b.cmds.mu.RLock()
	out := make([]string, 0, len(b.cmds.peers))
	for name, at := range b.cmds.peers {
		if at.After(cutoff) {
			out = append(out, name)
		}
	}
	b.cmds.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Broadcast sends a command to every other node, without waiting for them. An error means
// NATS could not take it (it wraps ErrUnavailable).
func (b *Broker) Broadcast(name string, body []byte) error {
	return b.sendCommand(name, body, "")
}

// Gather sends a command to every other node and calls fn with each reply as it arrives
// (serially, on the calling goroutine). It returns once every current peer (Peers) has
// replied, or when ctx ends: then the error wraps ErrIncomplete and ctx's error, and the
// replies already passed to fn are all there is. It returns how many replies fn got.
func (b *Broker) Gather(ctx context.Context, name string, body []byte, fn func(Reply)) (int, error) {
	waiting := make(map[string]bool)
	for _, p := range b.Peers() {
		waiting[p] = true
	}
	inbox := b.nc.NewRespInbox()
	ch := make(chan *nats.Msg, len(waiting)+16) // room for every reply: none is dropped
	sub, err := b.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, fmt.Errorf("natsbroker: gather %s: %w: %w", name, ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := b.sendCommand(name, body, inbox); err != nil {
		return 0, err
	}
	got := 0
	for len(waiting) > 0 {
		select {
		case m := <-ch:
			var e envelope
			if decodeEnvelope(m.Data, &e) != nil || e.kind != kindReply || e.command != name {
				b.malformed.Add(1)
				continue
			}
			delete(waiting, e.origin)
			got++
			fn(Reply{Node: e.origin, Data: e.payload, Err: e.errText})
		case <-ctx.Done():
			return got, fmt.Errorf("natsbroker: gather %s: %d of %d nodes missing: %w: %w",
				name, len(waiting), len(waiting)+got, ErrIncomplete, ctx.Err())
		}
	}
	return got, nil
}

// sendCommand publishes a command envelope on the command subject, with reply as its NATS
// reply subject ("" for none).
func (b *Broker) sendCommand(name string, body []byte, reply string) error {
	if b.closing.Load() || !b.nc.IsConnected() {
		return fmt.Errorf("natsbroker: command %s: %w: %s", name, ErrUnavailable, b.nc.Status())
	}
	e := envelope{kind: kindCommand, origin: b.cfg.name, command: name}
	msg := appendEnvelope(nil, &e, body)
	var err error
	if reply == "" {
		err = b.nc.Publish(b.subj.cmd, msg)
	} else {
		err = b.nc.PublishRequest(b.subj.cmd, reply, msg)
	}
	if err != nil {
		return fmt.Errorf("natsbroker: command %s: %w: %w", name, ErrUnavailable, err)
	}
	return nil
}

// startCommands subscribes the command subject and starts the heartbeat.
func (b *Broker) startCommands() error {
	sub, err := b.nc.Subscribe(b.subj.cmd, b.onCommand)
	if err != nil {
		return fmt.Errorf("natsbroker: subscribe %s: %w", b.subj.cmd, err)
	}
	b.mu.Lock()
	b.cmdSub = sub
	b.mu.Unlock()
	b.flush()
	_ = b.sendCommand(cmdHello, nil, "") // peers learn of this node at once, if connected
	b.wg.Add(1)
	go b.heartbeat()
	return nil
}

func (b *Broker) heartbeat() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.sendCommand(cmdHello, nil, "") // while disconnected there is nobody to tell
		case <-b.stop:
			return
		}
	}
}

// sayBye tells the peers this node leaves, so their gathers stop waiting for it.
func (b *Broker) sayBye() {
	e := envelope{kind: kindCommand, origin: b.cfg.name, command: cmdBye}
	if b.nc.IsConnected() {
		_ = b.nc.Publish(b.subj.cmd, appendEnvelope(nil, &e, nil))
	}
}

// onCommand runs a command from another node (nats.go's goroutine of the command
// subscription) and answers it when a reply subject is set.
func (b *Broker) onCommand(m *nats.Msg) {
	var e envelope
	if err := decodeEnvelope(m.Data, &e); err != nil || e.kind != kindCommand {
		if err == errUnknownVersion || err == errCritical {
			b.unknownVersion.Add(1)
		} else {
			b.malformed.Add(1)
		}
		return
	}
	b.cmds.mu.Lock()
	switch e.command {
	case cmdHello:
		b.cmds.peers[string([]byte(e.origin))] = time.Now()
		b.cmds.mu.Unlock()
		return
	case cmdBye:
		delete(b.cmds.peers, e.origin)
		b.cmds.mu.Unlock()
		return
	}
	b.cmds.peers[string([]byte(e.origin))] = time.Now() // any command shows the sender is alive
	h := b.cmds.handlers[e.command]
	b.cmds.mu.Unlock()
	b.commandsIn.Add(1)
	reply, herr := b.runHandler(h, Command{Name: e.command, Origin: e.origin, Body: e.payload})
	if m.Reply == "" {
		if herr != nil {
			b.log.Debug("command failed", zap.String("command", e.command), zap.String("origin", e.origin), zap.Error(herr))
		}
		return
	}
	r := envelope{kind: kindReply, origin: b.cfg.name, command: e.command}
	if herr != nil {
		r.errText = herr.Error()
		reply = nil
	}
	if err := b.nc.Publish(m.Reply, appendEnvelope(nil, &r, reply)); err != nil {
		b.log.Debug("command reply not sent", zap.String("command", e.command), zap.Error(err))
	}
}

// runHandler runs h, turning a panic into an error: the command goroutine must live on.
func (b *Broker) runHandler(h CommandHandler, cmd Command) (reply []byte, err error) {
	if h == nil {
		return nil, errors.New("unknown command")
	}
	defer func() {
		if v := recover(); v != nil {
			b.log.Error("command handler panicked", zap.String("command", cmd.Name), zap.Any("panic", v), zap.Stack("stack"))
			reply, err = nil, errors.New("internal error")
		}
	}()
	return h(cmd)
}
