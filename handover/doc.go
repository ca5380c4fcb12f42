// Package handover moves a running node's listening sockets and connections
// to a new process of its binary, so a restart closes nothing: on SIGUSR2
// the old process starts the binary now at its path, hands it everything
// with its state, and exits; clients keep their TCP connections and see no
// gap, loss or duplicate. The package does not know WebSocket: a
// connection is a descriptor plus an opaque state record the server fills
// (Record offers a format that survives version skew); the design, with
// the integration into poller, server, routing and natsbroker, is in
// docs/design.md, "Restart without reconnects".
//
// The old process:
//
//	succ, err := handover.Spawn(ctx, handover.SpawnConfig{})  // exec + wait for HELLO
//	tx, err := succ.Begin(handover.TransferConfig{Listeners: ls, Origin: id, NATS: true})
//	// per connection, on its loop: pause it, then
//	tx.Add(handover.Conn{ID: id, FD: fd, State: record})
//	tx.Write(id, queuedBytes)          // and every later output for it, in order
//	tx.Flush(); tx.Wait(ctx, 4)        // the driver: flow control by batch acks
//	res, err := tx.Prepare(ctx)        // END -> PREPARED: all adopted, none served
//	tx.Commit()                        // or tx.Abort(err, grace) and resume everything
//	// close our copies (close(2) only); relay cluster messages with tx.Relay
//	tx.WaitRunning(ctx); handover.Notify("MAINPID=...") ; handover.NotifyBarrier(t)
//	<-tx.Subscribed(); overlap; unsubscribe; tx.EndNATS(); tx.Close()
//
// The successor:
//
//	pred, err := handover.Inherit()    // nil when not started by a handover
//	st, err := pred.Ready(handover.Hello{Origin: id}, 0)  // after building, before listening
//	out, err := pred.Run(adopter)      // Adopt, Write, Commit, Relayed, NATSEnd
//	// after Commit: subscribe, pred.Subscribed(); a Switch merges the two
//	// sources of cluster messages exactly once
//
// The channel is a SOCK_SEQPACKET Unix socketpair inherited as descriptor 3
// (EnvFD names it): messages in a packed byte stream, descriptors by
// SCM_RIGHTS on the packet holding the start of their message (at most 253
// per packet), batches acknowledged one by one. The transfer is two-phase:
// the successor adopts connections parked and serves nothing until COMMIT,
// so until then the old process can take everything back; it never closes a
// descriptor the successor has not confirmed, and never touches one it
// handed over unless the handover is aborted.
package handover
