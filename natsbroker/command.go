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

// AsyncCommandHandler runs a command without holding the command goroutine: it hands the
// work off (to a goroutine of its own, bounded by the caller) and calls reply exactly once,
// from any goroutine, when done. reply is a no-op for a command nobody waits for (Broadcast).
// cmd.Body is a copy the handler may keep.
type AsyncCommandHandler func(cmd Command, reply func(data []byte, err error))

// handler is one registered command handler, of either form.
type handler struct {
	sync  CommandHandler
	async AsyncCommandHandler
}

// commands is the broker's command state.
type commands struct {
	mu       sync.RWMutex
	handlers map[string]handler
	peers    map[string]time.Time // other nodes, by name: when last heard from
}

func (c *commands) init() {
	c.handlers = make(map[string]handler)
	c.peers = make(map[string]time.Time)
}

// HandleCommand registers h for the command name, replacing any earlier handler. Commands
// without a handler are answered with the error "unknown command".
func (b *Broker) HandleCommand(name string, h CommandHandler) {
	b.cmds.mu.Lock()
	b.cmds.handlers[name] = handler{sync: h}
	b.cmds.mu.Unlock()
}

// HandleCommandAsync registers h, which replies later, for the command name (see
// AsyncCommandHandler), replacing any earlier handler.
func (b *Broker) HandleCommandAsync(name string, h AsyncCommandHandler) {
	b.cmds.mu.Lock()
	b.cmds.handlers[name] = handler{async: h}
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
// It is Scatter followed by Wait.
func (b *Broker) Gather(ctx context.Context, name string, body []byte, fn func(Reply)) (int, error) {
	g, err := b.Scatter(name, body)
	if err != nil {
		return 0, err
	}
	return g.Wait(ctx, fn)
}

// Gathering is a command sent to every other node whose replies are still to be collected
// (Scatter, then Wait exactly once).
type Gathering struct {
	b       *Broker
	name    string
	waiting map[string]bool
	ch      chan *nats.Msg
	sub     *nats.Subscription
}

// Scatter sends a command to every current peer (Peers) and returns at once, so that the
// caller can do its own node's part while the others work, knowing the command went out: an
// error (wrapping ErrUnavailable) means no other node will get it.
func (b *Broker) Scatter(name string, body []byte) (*Gathering, error) {
	g := &Gathering{b: b, name: name, waiting: make(map[string]bool)}
	for _, p := range b.Peers() {
		g.waiting[p] = true
	}
	inbox := b.nc.NewRespInbox()
	g.ch = make(chan *nats.Msg, len(g.waiting)+16) // room for every reply: none is dropped
	var err error
	if g.sub, err = b.nc.ChanSubscribe(inbox, g.ch); err != nil {
		return nil, fmt.Errorf("natsbroker: gather %s: %w: %w", name, ErrUnavailable, err)
	}
	if err := b.sendCommand(name, body, inbox); err != nil {
		_ = g.sub.Unsubscribe()
		return nil, err
	}
	return g, nil
}

// Nodes is how many replies Wait waits for.
func (g *Gathering) Nodes() int { return len(g.waiting) }

// Wait collects the replies of a Scatter as Gather does.
func (g *Gathering) Wait(ctx context.Context, fn func(Reply)) (int, error) {
	defer func() { _ = g.sub.Unsubscribe() }()
	got := 0
	for len(g.waiting) > 0 {
		select {
		case m := <-g.ch:
			var e envelope
			if decodeEnvelope(m.Data, &e) != nil || e.kind != kindReply || e.command != g.name {
				g.b.malformed.Add(1)
				continue
			}
			if !g.waiting[e.origin] {
				continue // a node that started after the command went out, or a repeat
			}
			delete(g.waiting, e.origin)
			got++
			fn(Reply{Node: e.origin, Data: e.payload, Err: e.errText})
		case <-ctx.Done():
			return got, fmt.Errorf("natsbroker: gather %s: %d of %d nodes missing: %w: %w",
				g.name, len(g.waiting), len(g.waiting)+got, ErrIncomplete, ctx.Err())
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
	e := envelope{kind: kindCommand, origin: b.cfg.name, command: name, originID: b.origin}
	if err := b.publish(b.subj.cmd, reply, appendEnvelope(nil, &e, body)); err != nil {
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
	if b.ho.quiet.Load() {
		return // never announced (standby), or the successor serves this name now
	}
	e := envelope{kind: kindCommand, origin: b.cfg.name, command: cmdBye, originID: b.origin}
	if b.nc.IsConnected() {
		_ = b.publish(b.subj.cmd, "", appendEnvelope(nil, &e, nil))
	}
}

// handleCommand runs a command from another node (nats.go's goroutine of the command
// subscription) and answers it when a reply subject is set.
func (b *Broker) handleCommand(m *nats.Msg) {
	var e envelope
	if err := decodeEnvelope(m.Data, &e); err != nil || e.kind != kindCommand {
		if err == errUnknownVersion || err == errCritical {
			b.unknownVersion.Add(1)
		} else {
			b.malformed.Add(1)
		}
		return
	}
	if e.originID != 0 && e.originID == b.ho.ignore.Load() {
		return // the old process of a handover (its heartbeat): this process is that node now
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
	cmd := Command{Name: e.command, Origin: e.origin, Body: e.payload}
	if h.async != nil {
		// m.Data is nats.go's own copy, never reused: the body and names may be kept.
		var once sync.Once
		b.runAsync(h.async, cmd, func(data []byte, err error) {
			once.Do(func() { b.reply(m.Reply, cmd, data, err) })
		})
		return
	}
	reply, herr := b.runHandler(h.sync, cmd)
	b.reply(m.Reply, cmd, reply, herr)
}

// reply answers a command on its reply subject ("" for none). A reply NATS refuses as larger
// than its max_payload is answered with an error instead, so the caller is not left waiting.
func (b *Broker) reply(to string, cmd Command, data []byte, herr error) {
	if to == "" {
		if herr != nil {
			b.log.Debug("command failed", zap.String("command", cmd.Name), zap.String("origin", cmd.Origin), zap.Error(herr))
		}
		return
	}
	r := envelope{kind: kindReply, origin: b.cfg.name, command: cmd.Name}
	if herr != nil {
		r.errText = herr.Error()
		if len(r.errText) > maxField {
			r.errText = r.errText[:maxField]
		}
		data = nil
	}
	err := b.nc.Publish(to, appendEnvelope(nil, &r, data))
	if errors.Is(err, nats.ErrMaxPayload) {
		r.errText = ErrReplyTooLarge.Error()
		err = b.nc.Publish(to, appendEnvelope(nil, &r, nil))
	}
	if err != nil {
		b.log.Debug("command reply not sent", zap.String("command", cmd.Name), zap.Error(err))
	}
}

// ErrReplyTooLarge is the error text of a command reply that NATS refused as larger than its
// max_payload (Reply.Err).
var ErrReplyTooLarge = errors.New("reply too large for the broker (max_payload)")

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

// runAsync starts an asynchronous handler, turning a panic in its synchronous part into an
// error reply.
func (b *Broker) runAsync(h AsyncCommandHandler, cmd Command, reply func([]byte, error)) {
	defer func() {
		if v := recover(); v != nil {
			b.log.Error("command handler panicked", zap.String("command", cmd.Name), zap.Any("panic", v), zap.Stack("stack"))
			reply(nil, errors.New("internal error"))
		}
	}()
	h(cmd, reply)
}
