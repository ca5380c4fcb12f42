package perm

import (
	"fmt"
	"strings"
)

// SubscribeRule says who may subscribe in a namespace.
type SubscribeRule uint8

// Subscribe rules; the zero value is the default namespace's rule with auth on.
const (
	SubscribeAuthenticated SubscribeRule = iota // any connection with a user
	SubscribeAnyone                             // anonymous connections too
	SubscribeToken                              // a subscription token for this user and channel
	SubscribeProxy                              // the backend decides (-proxy-subscribe-url)
)

var subscribeNames = []string{"authenticated", "anyone", "token", "proxy"}

func (r SubscribeRule) String() string {
	if int(r) < len(subscribeNames) {
		return subscribeNames[r]
	}
	return fmt.Sprintf("SubscribeRule(%d)", r)
}

// ParseSubscribe reads a subscribe rule as written in the config file.
func ParseSubscribe(s string) (SubscribeRule, error) {
	for i, n := range subscribeNames {
		if s == n {
			return SubscribeRule(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(subscribeNames, ", "))
}

// PublishRule says who may publish on a channel of a namespace.
type PublishRule uint8

// Publish rules; the zero value is the default namespace's rule with auth on.
const (
	PublishNone          PublishRule = iota // clients never publish (the backend does, through the API)
	PublishSubscribers                      // connections subscribed to the channel
	PublishAuthenticated                    // any connection with a user
	PublishAnyone                           // anonymous connections too
	PublishProxy                            // the backend decides (-proxy-publish-url)
)

var publishNames = []string{"none", "subscribers", "authenticated", "anyone", "proxy"}

func (r PublishRule) String() string {
	if int(r) < len(publishNames) {
		return publishNames[r]
	}
	return fmt.Sprintf("PublishRule(%d)", r)
}

// ParsePublish reads a publish rule as written in the config file.
func ParsePublish(s string) (PublishRule, error) {
	for i, n := range publishNames {
		if s == n {
			return PublishRule(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(publishNames, ", "))
}

// Namespace is one entry of the config file's namespaces list.
type Namespace struct {
	Name      string // "" declares the default namespace's rules
	Subscribe SubscribeRule
	Publish   PublishRule
	Presence  bool // the presence message is allowed
	JoinLeave bool // subscribers get join and leave events
}

// ValidNamespaceName: 1 to 64 bytes of A-Z a-z 0-9 _ . - (no ":" or "#",
// which end a namespace in a channel name), or "" for the default one.
func ValidNamespaceName(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("namespace name %q is longer than 64 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isChar(c) || c == ':' {
			return fmt.Errorf("namespace name %q: %q is not allowed (use A-Z a-z 0-9 _ . -)", name, c)
		}
	}
	return nil
}

// Check reports the first problem of a namespace list: a bad or repeated name.
func Check(nss []Namespace) error {
	seen := make(map[string]bool, len(nss))
	for _, ns := range nss {
		if err := ValidNamespaceName(ns.Name); err != nil {
			return err
		}
		if seen[ns.Name] {
			return fmt.Errorf("namespace %q is declared twice", ns.Name)
		}
		seen[ns.Name] = true
		if ns.Subscribe > SubscribeProxy || ns.Publish > PublishProxy {
			return fmt.Errorf("namespace %q: unknown rule", ns.Name)
		}
	}
	return nil
}
