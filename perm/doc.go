// Package perm decides who may subscribe to, publish on and ask presence of
// a channel: namespaces with their rules, and user-limited channels.
//
// A decision is a one-byte value computed without allocation from the
// channel name, the connection's user ("" = anonymous) and, for publish and
// presence, whether the connection is subscribed. Verifying a subscription
// token (NeedToken) or asking the backend (AskProxy) is the caller's next
// step: this package does no I/O.
//
// Channel grammar (also in docs/auth.md):
//
//	channel   = base [ "#" users ]          1 to MaxChannelLen bytes in all
//	base      = *char                       empty only when "#" follows
//	users     = user *( "," user )
//	user      = 1*char
//	char      = A-Z / a-z / 0-9 / "_" / "." / ":" / "-"
//
// The namespace of a channel is the part of base before its first ":"; a
// base without ":" is in the default namespace (named ""). A channel with
// "#" is user-limited: only the users listed after "#" may subscribe, publish
// or ask presence; an anonymous connection is never listed.
package perm
