// Package codec is wsedge's RFC 6455 frame codec: an incremental, zero-copy
// decoder that turns socket bytes into messages and control frames, plus the
// encoders for the frames the server (and the load-test client) writes.
//
// The decoder is built for an event loop that reads into one shared buffer per
// loop: Decoder.Feed parses every complete frame in that buffer, unmasks
// payloads in place and hands them to a Handler as subslices of the buffer,
// and reports how many bytes it consumed. The caller keeps only the
// unconsumed tail (an unfinished frame) for the connection and presents it
// again, unchanged and followed by newly read bytes, at the next Feed. The
// decoder unmasks and UTF-8-checks the already-arrived prefix of an unfinished
// frame and remembers how far it got, so a bad text frame or an oversized
// header is refused before the rest arrives. Only fragmented messages are
// copied, into a bytebufferpool buffer held from the first fragment to the
// last; an idle Decoder holds no buffer and is 16 bytes: it keeps no pointer
// to its Config, which every call that needs it takes (one Config serves all
// of a server's decoders).
// All protocol checks (reserved bits and opcodes, masking direction, control
// frame rules, fragmentation order, close codes, UTF-8, message size) end in
// an *Error carrying the close code the connection must be closed with.
//
// permessage-deflate (RFC 7692) is part of the same layer: Deflate.Negotiate
// reads the handshake's offers, Decoder.SetDeflate lets a connection's
// decoder accept RSV1 and inflate (within the message size limit, checked
// while inflating), and Deflate.AppendMessage / AppendShared frame
// compressed messages. Compressors and decompressors are pooled and held for
// one message; a connection keeps at most its peer's LZ77 window, and only
// when the peer uses context takeover. See docs/compression.md.
package codec
