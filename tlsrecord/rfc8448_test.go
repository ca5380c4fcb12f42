package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"io"
	"strings"
	"testing"
)

// Values from RFC 8448 section 3 ("Simple 1-RTT Handshake",
// TLS_AES_128_GCM_SHA256).
var rfc8448 = struct {
	clientSecret, serverSecret     string // {client,server} derive secret "tls13 c/s ap traffic"
	clientKey, clientIV            string // {client} derive write traffic keys for application data
	serverKey, serverIV            string // {server} derive write traffic keys for application data
	keyInfo, ivInfo                string // the HkdfLabel of "key" and "iv"
	ticket, ticketRecord           string // {server} NewSessionTicket, sent at server seq 0
	appPayload                     string // both sides send the same 50 bytes
	clientAppRecord, serverAppRec  string // client seq 0, server seq 1
	clientAlertRecord, serverAlert string // close_notify: client seq 1, server seq 2
}{
	clientSecret: "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
	serverSecret: "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
	clientKey:    "17422dda596ed5d9acd890e3c63f5051",
	clientIV:     "5b78923dee08579033e523d9",
	serverKey:    "9f02283b6c9c07efc26bb9f2ac92e356",
	serverIV:     "cf782b88dd83549aadf1e984",
	keyInfo:      "001009746c733133206b657900",
	ivInfo:       "000c08746c73313320697600",
	ticket: "040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec9000000" +
		"00262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c9367c09a2be785a" +
		"bc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827" +
		"db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529" +
		"513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea61764" +
		"6fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934a" +
		"e4d3570008002a000400000400",
	ticketRecord: "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d4" +
		"1d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a3" +
		"8efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e0" +
		"9c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406" +
		"f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c8651" +
		"9d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74" +
		"bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf159" +
		"85684f",
	appPayload: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
		"202122232425262728292a2b2c2d2e2f3031",
	clientAppRecord: "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f" +
		"2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae6" +
		"3aeebb21694915e4",
	serverAppRec: "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36" +
		"e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf33254" +
		"0dd032e167c2955d",
	clientAlertRecord: "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3",
	serverAlert:       "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9",
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRFC8448ExpandLabel(t *testing.T) {
	s := &suites[suiteAES128]
	for _, tc := range []struct {
		name, secret, label string
		n                   int
		want                string
	}{
		{"server key", rfc8448.serverSecret, "key", 16, rfc8448.serverKey},
		{"server iv", rfc8448.serverSecret, "iv", 12, rfc8448.serverIV},
		{"client key", rfc8448.clientSecret, "key", 16, rfc8448.clientKey},
		{"client iv", rfc8448.clientSecret, "iv", 12, rfc8448.clientIV},
	} {
		got, err := expandLabel(s, unhex(t, tc.secret), tc.label, tc.n)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: HKDF-Expand-Label = %x, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	// The HkdfLabel encoding itself: capture the info crypto/hkdf gets by
	// recomputing the expansion from the RFC's printed info bytes.
	for _, tc := range []struct{ label, info string }{{"key", rfc8448.keyInfo}, {"iv", rfc8448.ivInfo}} {
		n := int(unhex(t, tc.info)[1])
		want, _ := expandLabel(s, unhex(t, rfc8448.serverSecret), tc.label, n)
		got := hkdfExpandRaw(t, unhex(t, rfc8448.serverSecret), unhex(t, tc.info), n)
		if !bytes.Equal(got, want) {
			t.Errorf("HkdfLabel for %q does not match the RFC's info %s", tc.label, tc.info)
		}
	}
}

func TestRFC8448TrafficKeys(t *testing.T) {
	for _, tc := range []struct{ secret, key, iv string }{
		{rfc8448.serverSecret, rfc8448.serverKey, rfc8448.serverIV},
		{rfc8448.clientSecret, rfc8448.clientKey, rfc8448.clientIV},
	} {
		k, err := deriveKeys(&suites[suiteAES128], unhex(t, tc.secret))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(k.iv[:]) != tc.iv {
			t.Errorf("iv = %x, want %s", k.iv, tc.iv)
		}
		// The AEAD key is not exported by crypto/cipher: check it by
		// sealing with an AEAD built from the RFC's key.
		ref, _ := newGCM(unhex(t, tc.key))
		nonce := make([]byte, 12)
		if !bytes.Equal(k.aead.Seal(nil, nonce, []byte("x"), nil), ref.Seal(nil, nonce, []byte("x"), nil)) {
			t.Errorf("write key for secret %s.. differs from %s", tc.secret[:8], tc.key)
		}
	}
}

// rfc8448Pair returns the server's and the client's record layers at the
// point of the trace where application data starts: the server has sent
// its NewSessionTicket (seq 0), the client nothing.
func rfc8448Pair(t testing.TB) (server, client *Conn) {
	cs, ss := unhex(t, rfc8448.clientSecret), unhex(t, rfc8448.serverSecret)
	server, err := newConn(tls.TLS_AES_128_GCM_SHA256, cs, ss, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	client, err = newConn(tls.TLS_AES_128_GCM_SHA256, ss, cs, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func TestRFC8448Records(t *testing.T) {
	server, client := rfc8448Pair(t)
	payload := unhex(t, rfc8448.appPayload)

	// Sealing reproduces the trace's records byte for byte.
	for _, tc := range []struct {
		name string
		c    *Conn
		want string
	}{
		{"client application_data", client, rfc8448.clientAppRecord},
		{"server application_data", server, rfc8448.serverAppRec},
	} {
		got, err := tc.c.Seal(nil, payload)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: sealed %x, %v\nwant %s", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		c    *Conn
		want string
	}{
		{"client close_notify", client, rfc8448.clientAlertRecord},
		{"server close_notify", server, rfc8448.serverAlert},
	} {
		// The trace sends close_notify with level warning (1), like us.
		got, err := tc.c.SealClose(nil)
		if err != nil || hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: sealed %x, %v\nwant %s", tc.name, got, err, tc.want)
		}
	}

	// Opening: the server reads the client's records, the client the
	// server's ticket (seq 0, via the flight accounting) and records.
	server, client = rfc8448Pair(t)
	in := unhex(t, rfc8448.clientAppRecord+rfc8448.clientAlertRecord)
	n, consumed, err := server.Open(in)
	if err != io.EOF || consumed != len(in) || !bytes.Equal(in[:n], payload) {
		t.Errorf("server Open = %x, %d, %v; want the payload, all consumed, EOF", in[:n], consumed, err)
	}
	sent, _, err := countAppRecords(&suites[suiteAES128], unhex(t, rfc8448.serverSecret), unhex(t, rfc8448.ticketRecord))
	if err != nil || sent != 1 {
		t.Errorf("ticket record: counted %d, %v; want 1", sent, err)
	}
	k, _ := deriveKeys(&suites[suiteAES128], unhex(t, rfc8448.serverSecret))
	rec := unhex(t, rfc8448.ticketRecord)
	plain, err := k.aead.Open(nil, k.nonceFor(0), rec[headerLen:], rec[:headerLen])
	if want := append(unhex(t, rfc8448.ticket), innerHandshake); err != nil || !bytes.Equal(plain, want) {
		t.Errorf("ticket record opens to %x, %v; want the NewSessionTicket and type 22", plain, err)
	}
	in = unhex(t, rfc8448.serverAppRec+rfc8448.serverAlert)
	n, consumed, err = client.Open(in)
	if err != io.EOF || consumed != len(in) || !bytes.Equal(in[:n], payload) {
		t.Errorf("client Open = %x, %d, %v; want the payload, all consumed, EOF", in[:n], consumed, err)
	}
}
