// Package peers holds nothing but this comment: each subdirectory is a small
// main program, an echo server on /echo written idiomatically with one peer
// WebSocket library (gorilla, nbio, gws, gnet+gobwas), that `wsbench compare`
// builds and measures next to wsedge. Every peer takes -addr and echoes text
// as text and binary as binary; none has connection limits. This directory
// is a Go module of its own, so the peers' libraries stay out of the
// product's go.mod.
package peers
