package server

import (
	"encoding/json"
	"testing"

	"github.com/wsedge/wsedge/natsbroker"
)

// FuzzCommandBody feeds arbitrary bodies to the handlers of the other nodes' commands (they
// come over NATS from whoever may publish on the command subject): never a panic; a body is
// either refused as invalid or answered with JSON of the command's reply shape.
func FuzzCommandBody(f *testing.F) {
	for _, s := range []string{
		`{"user":"42","channel":"news"}`, `{"user":"42","code":4003,"reason":"bye"}`, `{"channel":"pres:x","max":3}`,
		`{"pattern":"chat:*"}`, `{}`, `{"user":""}`, `{"user":"42","code":1006}`, `{"channel":"a b"}`, `[]`, `null`,
		`{"user":"42","channel":"dm#42,43"}`, `{"max":-1}`, `{"user":"\ud800"}`,
	} {
		f.Add(s)
	}
	s, err := New(backendOptions(), nil, nil) // not started: the handlers read the hub
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	b := s.be
	users := map[string]func(userCmd) (any, error){
		"subscribe":   func(c userCmd) (any, error) { return affectedReply{b.localSubscribe(c.User, c.Channel)}, nil },
		"unsubscribe": func(c userCmd) (any, error) { return affectedReply{b.localUnsubscribe(c.User, c.Channel)}, nil },
		"disconnect":  func(c userCmd) (any, error) { return affectedReply{b.localDisconnect(c.User, c.Code, c.Reason)}, nil },
	}
	channels := map[string]func(channelCmd) (any, error){
		"presence": func(c channelCmd) (any, error) {
			cl, err := b.localPresence(c.Channel, c.Max)
			return presenceReply{cl}, err
		},
		"stats": func(c channelCmd) (any, error) {
			u := userSet{}
			return statsReply{NumClients: b.localStats(c.Channel, u), Users: encodeUsers(u)}, nil
		},
	}
	f.Fuzz(func(t *testing.T, body string) {
		check := func(name string, reply []byte, err error) {
			if err != nil {
				if err != errBadCommand {
					t.Fatalf("%s(%q): %v", name, body, err)
				}
				return
			}
			if !json.Valid(reply) {
				t.Fatalf("%s(%q) replied %q", name, body, reply)
			}
		}
		for name, h := range users {
			r, err := handle(h)(natsbroker.Command{Name: name, Body: []byte(body)})
			check(name, r, err)
		}
		for name, h := range channels {
			r, err := handle(h)(natsbroker.Command{Name: name, Body: []byte(body)})
			check(name, r, err)
		}
		// A user set from another node: malformed is an error, never a panic; what decodes
		// re-encodes to a set of the same users.
		u := userSet{}
		if decodeUsers(body, u) == nil {
			v := userSet{}
			if err := decodeUsers(encodeUsers(u), v); err != nil || len(v) != len(u) {
				t.Fatalf("user set %q: %d users, re-encoded %d (%v)", body, len(u), len(v), err)
			}
		}
	})
}
