package tlsrecord

import "errors"

// countAppRecords returns how many of the server's records, written by
// crypto/tls during the handshake (flight: whole records in order, those
// written after SERVER_TRAFFIC_SECRET_0 was logged), are sealed under the
// server application traffic secret: our first record takes the next
// sequence number. It does not rely on how many tickets crypto/tls sends:
// each record is opened with the application key at the next sequence
// number. Records under the handshake key fail to open; once one opens,
// all later ones must, and everything they carry must be NewSessionTicket
// messages, or the connection stays on crypto/tls (which could, say, have
// sent a KeyUpdate we would not know of). It also returns the cipher state
// it derived, which is the record layer's write state from then on: the
// upgrade response or whatever comes first needs it, and deriving it twice
// would cost every handshake a few microseconds more.
func countAppRecords(s *suite, secret, flight []byte) (uint64, *keys, error) {
	k, err := deriveKeys(s, secret)
	if err != nil {
		return 0, nil, err
	}
	var seq uint64
	var msgs []byte
	for len(flight) > 0 {
		if len(flight) < headerLen {
			return 0, nil, errors.New("partial record in the server flight")
		}
		n := headerLen + (int(flight[3])<<8 | int(flight[4]))
		if len(flight) < n {
			return 0, nil, errors.New("partial record in the server flight")
		}
		rec := flight[:n]
		flight = flight[n:]
		if n < headerLen+tagLen+1 {
			continue
		}
		nonce := k.nonceFor(seq)
		plain, err := k.aead.Open(rec[headerLen:headerLen], nonce, rec[headerLen:], rec[:headerLen])
		if err != nil {
			if seq > 0 {
				return 0, nil, errors.New("server record under an unknown key after the application key")
			}
			continue // under the handshake key
		}
		if testHookNonce != nil {
			testHookNonce(true, secret, nonce)
		}
		seq++
		i := len(plain) - 1
		for i >= 0 && plain[i] == 0 {
			i--
		}
		if i < 0 || plain[i] != innerHandshake {
			return 0, nil, errors.New("crypto/tls sent other than handshake messages under the application key")
		}
		msgs = append(msgs, plain[:i]...)
	}
	for len(msgs) > 0 {
		if len(msgs) < 4 || msgs[0] != msgNewTicket {
			return 0, nil, errors.New("crypto/tls sent a post-handshake message other than NewSessionTicket")
		}
		n := 4 + (int(msgs[1])<<16 | int(msgs[2])<<8 | int(msgs[3]))
		if len(msgs) < n {
			return 0, nil, errors.New("incomplete NewSessionTicket in the server flight")
		}
		msgs = msgs[n:]
	}
	return seq, k, nil
}
