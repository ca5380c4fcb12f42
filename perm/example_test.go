package perm_test

import (
	"fmt"

	"github.com/wsedge/wsedge/perm"
)

// The router asks before a subscribe or a publish; a denial becomes
// PERMISSION_DENIED with Decision.String() as the message.
func ExamplePolicy() {
	p, _ := perm.New(true, []perm.Namespace{
		{Name: "chat", Subscribe: perm.SubscribeAuthenticated, Publish: perm.PublishSubscribers},
		{Name: "private", Subscribe: perm.SubscribeToken},
	})
	fmt.Println(p.Publish([]byte("user:42"), "", false))                  // anonymous, undeclared namespace
	fmt.Println(p.Subscribe([]byte("notifications#42"), "42"))            // listed user
	fmt.Println(p.Subscribe([]byte("notifications#42"), "43"))            // not listed
	fmt.Println(p.Subscribe([]byte("private:x"), "42") == perm.NeedToken) // verify a subscription token next
	fmt.Println(p.Publish([]byte("chat:r1"), "42", false))
	// Output:
	// unknown namespace
	// allowed
	// channel is limited to other users
	// true
	// subscribe to the channel first
}
