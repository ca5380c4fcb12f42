package perm

// Decision is the answer to a permission question. The zero value is a
// denial, so a decision never set by mistake allows nothing.
type Decision uint8

// Decisions. Allow, NeedToken and AskProxy are not denials; every Deny*
// names its reason.
const (
	DenyInvalidChannel   Decision = iota // the name breaks the grammar
	Allow                                // go ahead
	NeedToken                            // allowed with a valid subscription token, else denied
	AskProxy                             // the backend decides
	DenyUnknownNamespace                 // auth on and the namespace is not declared
	DenyNotListed                        // user-limited channel, user not listed (or anonymous)
	DenyAnonymous                        // needs a user
	DenyReadOnly                         // publish: none
	DenyNotSubscribed                    // publish: subscribers, or presence, without a subscription
	DenyNoPresence                       // the namespace has presence off
)

var decisionText = [...]string{
	DenyInvalidChannel:   "invalid channel name",
	Allow:                "allowed",
	NeedToken:            "a subscription token is required",
	AskProxy:             "the backend decides",
	DenyUnknownNamespace: "unknown namespace",
	DenyNotListed:        "channel is limited to other users",
	DenyAnonymous:        "an identity is required",
	DenyReadOnly:         "clients may not publish in this namespace",
	DenyNotSubscribed:    "subscribe to the channel first",
	DenyNoPresence:       "presence is off in this namespace",
}

// Denied reports whether d refuses.
func (d Decision) Denied() bool { return d != Allow && d != NeedToken && d != AskProxy }

// String is the human-readable message for a PERMISSION_DENIED error.
func (d Decision) String() string {
	if int(d) < len(decisionText) {
		return decisionText[d]
	}
	return "denied"
}

// Policy holds the namespaces. Immutable once built: safe for concurrent
// use; to change the rules (SIGHUP), build a new Policy and swap it in.
type Policy struct {
	auth  bool
	def   Namespace
	named map[string]Namespace
}

// New builds a policy. With auth on (authOn: any key or the connect proxy
// is configured) the default namespace is subscribe=authenticated,
// publish=none, and channels of undeclared namespaces are refused. With
// auth off the default namespace is subscribe=anyone, publish=anyone (as
// before identities existed) and undeclared namespaces follow it. Declared
// namespaces follow their own rules in both cases; declaring the name ""
// overrides the default namespace. Presence and join/leave are off unless
// declared.
func New(authOn bool, nss []Namespace) (*Policy, error) {
	if err := Check(nss); err != nil {
		return nil, err
	}
	p := &Policy{auth: authOn, named: make(map[string]Namespace, len(nss))}
	if authOn {
		p.def = Namespace{Subscribe: SubscribeAuthenticated, Publish: PublishNone}
	} else {
		p.def = Namespace{Subscribe: SubscribeAnyone, Publish: PublishAnyone}
	}
	for _, ns := range nss {
		if ns.Name == "" {
			p.def = ns
			continue
		}
		p.named[ns.Name] = ns
	}
	return p, nil
}

// AuthOn reports whether the policy was built with identities required.
func (p *Policy) AuthOn() bool { return p.auth }

// Namespace returns the rules that apply to a channel; false when the
// channel is invalid or its namespace undeclared with auth on.
func (p *Policy) Namespace(channel []byte) (Namespace, bool) {
	if !ValidChannel(channel) {
		return Namespace{}, false
	}
	ns, _ := Split(channel)
	return p.lookup(ns)
}

func (p *Policy) lookup(ns []byte) (Namespace, bool) {
	if len(ns) == 0 {
		return p.def, true
	}
	if r, ok := p.named[string(ns)]; ok { // no allocation: the compiler reads the map with the bytes
		return r, true
	}
	if p.auth {
		return Namespace{}, false
	}
	return p.def, true
}

// rules is the common start of every question: the namespace and, for a
// user-limited channel, whether the user is listed.
func (p *Policy) rules(channel []byte, user string) (Namespace, Decision) {
	if !ValidChannel(channel) {
		return Namespace{}, DenyInvalidChannel
	}
	nsName, users := Split(channel)
	ns, ok := p.lookup(nsName)
	if !ok {
		return ns, DenyUnknownNamespace
	}
	if len(users) > 0 && !listedBytes(users, user) {
		return ns, DenyNotListed
	}
	return ns, Allow
}

// Subscribe decides a subscribe by user ("" = anonymous). A listed user of
// a user-limited channel is allowed whatever the namespace's rule: the name
// itself is the grant.
func (p *Policy) Subscribe(channel []byte, user string) Decision {
	ns, d := p.rules(channel, user)
	if d != Allow || Limited(channel) {
		return d
	}
	switch ns.Subscribe {
	case SubscribeAnyone:
		return Allow
	case SubscribeAuthenticated:
		if user == "" {
			return DenyAnonymous
		}
		return Allow
	case SubscribeToken:
		if user == "" {
			return DenyAnonymous // a subscription token names the connection's user
		}
		return NeedToken
	case SubscribeProxy:
		return AskProxy
	}
	return DenyInvalidChannel
}

// Publish decides a client publish. subscribed: the connection is
// subscribed to the channel (for publish=subscribers).
func (p *Policy) Publish(channel []byte, user string, subscribed bool) Decision {
	ns, d := p.rules(channel, user)
	if d != Allow {
		return d
	}
	switch ns.Publish {
	case PublishNone:
		return DenyReadOnly
	case PublishSubscribers:
		if !subscribed {
			return DenyNotSubscribed
		}
		return Allow
	case PublishAuthenticated:
		if user == "" {
			return DenyAnonymous
		}
		return Allow
	case PublishAnyone:
		return Allow
	case PublishProxy:
		return AskProxy
	}
	return DenyInvalidChannel
}

// Presence decides a presence request: the namespace must have presence on,
// and the connection must be subscribed or allowed to subscribe without a
// token or the backend.
func (p *Policy) Presence(channel []byte, user string, subscribed bool) Decision {
	ns, d := p.rules(channel, user)
	switch {
	case d != Allow:
		return d
	case !ns.Presence:
		return DenyNoPresence
	case subscribed:
		return Allow
	}
	if d := p.Subscribe(channel, user); d != Allow {
		if d.Denied() {
			return d
		}
		return DenyNotSubscribed
	}
	return Allow
}

// JoinLeave reports whether subscribers of channel get join/leave events.
func (p *Policy) JoinLeave(channel []byte) bool {
	ns, ok := p.Namespace(channel)
	return ok && ns.JoinLeave
}
