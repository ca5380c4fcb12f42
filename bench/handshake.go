//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
)

// The client sends one fixed upgrade request; its key is fixed too, so the
// expected Sec-WebSocket-Accept is a constant (RFC 6455 section 1.3's example).
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	// maxResponse bounds an upgrade response; longer ones are refused.
	maxResponse = 4096
)

// errIncomplete means the response header has not fully arrived yet.
var errIncomplete = errors.New("upgrade response incomplete")

// StatusError is a non-101 answer to the upgrade request.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("http %d", e.Code) }

// upgradeRequest returns the upgrade request for a target, with an
// Authorization: Bearer header when bearer is set and a
// Sec-WebSocket-Extensions offer when ext is; the Origin is the target's
// own (https for wss).
func upgradeRequest(host, path, bearer string, secure bool, ext string) []byte {
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	auth := ""
	if bearer != "" {
		auth = "Authorization: Bearer " + bearer + "\r\n"
	}
	if ext != "" {
		auth += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	return []byte("GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" + auth +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Origin: " + scheme + host + "\r\n\r\n")
}

// parseUpgradeResponse checks an HTTP upgrade response at the start of b. It
// returns the header length (bytes after it are WebSocket frames), or
// errIncomplete, a *StatusError for another status, or a malformed-response
// error. Only what proves the upgrade is checked: the status line and the
// Sec-WebSocket-Accept value; nothing is allocated on success.
func parseUpgradeResponse(b []byte) (int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= maxResponse {
			return 0, errors.New("upgrade response: header too long")
		}
		return 0, errIncomplete
	}
	hdr := b[:end+2]
	line, rest, _ := bytes.Cut(hdr, []byte("\r\n"))
	// "HTTP/1.1 101 Switching Protocols"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("upgrade response: bad status line %q", truncate(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("upgrade response: bad status line %q", truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return 0, fmt.Errorf("upgrade response: bad status line %q", truncate(line))
	}
	if code != 101 {
		return 0, &StatusError{Code: code}
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(v)) != wsAccept {
				return 0, errors.New("upgrade response: wrong Sec-WebSocket-Accept")
			}
			return end + 4, nil
		}
	}
	return 0, errors.New("upgrade response: no Sec-WebSocket-Accept")
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// headerValue returns the value of the named header in an HTTP head ("" if
// absent; repeated headers are joined with ", " as RFC 9110 allows).
func headerValue(head []byte, name string) string {
	var out []byte
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			if len(out) > 0 {
				out = append(out, ", "...)
			}
			out = append(out, bytes.TrimSpace(v)...)
		}
	}
	return string(out)
}
