package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// resultEmpty is the answer of publish and broadcast: the message was handed
// on; how many subscribers receive it is not known at that point in a
// cluster, so no count is claimed.
const resultEmpty = `{"result":{}}` + "\n"

// call checks the decoded request q of method m, calls the node and appends
// the answer to out.
func (h *Handler) call(r *http.Request, m method, q *request, out []byte) ([]byte, *failure) {
	if f := h.check(m, q); f != nil {
		return out, f
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	var (
		res any
		err error
	)
	switch m {
	case mPublish:
		if err = h.node.Publish(ctx, q.channel, q.data); err == nil {
			return append(out, resultEmpty...), nil
		}
	case mBroadcast:
		var n int
		if n, err = h.node.Broadcast(ctx, q.channels, q.data); err == nil {
			return append(out, resultEmpty...), nil
		}
		if n > 0 {
			f := nodeFailure(err)
			f.partial, f.published = true, n
			f.message = "published to the first " + strconv.Itoa(n) + " of " + strconv.Itoa(len(q.channels)) +
				" channels, not to the others: " + f.message
			return out, &f
		}
	case mSubscribe, mUnsubscribe, mDisconnect:
		var a Affected
		switch m {
		case mSubscribe:
			a, err = h.node.Subscribe(ctx, q.user, q.channel)
		case mUnsubscribe:
			a, err = h.node.Unsubscribe(ctx, q.user, q.channel)
		default:
			a, err = h.node.Disconnect(ctx, q.user, q.code, q.reason)
		}
		if err == nil {
			out = append(out, `{"result":{"connections":`...)
			out = strconv.AppendInt(out, int64(a.Connections), 10)
			return append(out, "}}\n"...), nil
		}
	case mPresence:
		var cl []Client
		if cl, err = h.node.Presence(ctx, q.channel); err == nil {
			if cl == nil {
				cl = []Client{}
			}
			res = struct {
				Clients []Client `json:"clients"`
			}{cl}
		}
	case mPresenceStats:
		var st PresenceStats
		if st, err = h.node.PresenceStats(ctx, q.channel); err == nil {
			res = st
		}
	case mChannels:
		var chs map[string]ChannelStats
		if chs, err = h.node.Channels(ctx, Pattern(q.pattern)); err == nil {
			if chs == nil {
				chs = map[string]ChannelStats{}
			}
			res = struct {
				Channels map[string]ChannelStats `json:"channels"`
			}{chs}
		}
	case mInfo:
		var nodes []NodeInfo
		if nodes, err = h.node.Info(ctx); err == nil {
			if nodes == nil {
				nodes = []NodeInfo{}
			}
			res = struct {
				Nodes []NodeInfo `json:"nodes"`
			}{nodes}
		}
	}
	if err != nil {
		f := nodeFailure(err)
		return out, &f
	}
	// The read methods are not the hot path: encoding/json, which also
	// checks the raw info values the node hands over.
	b, err := json.Marshal(struct {
		Result any `json:"result"`
	}{res})
	if err != nil {
		f := nodeFailure(err) // INTERNAL: the node returned something unencodable
		return out, &f
	}
	out = append(out, b...)
	return append(out, '\n'), nil
}

// check refuses arguments the node must never see.
func (h *Handler) check(m method, q *request) *failure {
	switch m {
	case mPublish, mSubscribe, mUnsubscribe, mPresence, mPresenceStats:
		if !h.valid(q.channel) {
			return invalidRequest("invalid channel name " + quote(q.channel))
		}
	case mBroadcast:
		if len(q.channels) == 0 {
			return invalidRequest(`"channels" must not be empty`)
		}
		for i, ch := range q.channels {
			if !h.valid(ch) {
				return invalidRequest("invalid channel name " + quote(ch) + " at channels[" + strconv.Itoa(i) + "]")
			}
		}
		if i, j := repeated(q.channels); i >= 0 {
			return invalidRequest("channels[" + strconv.Itoa(j) + "] repeats channels[" + strconv.Itoa(i) + "] " + quote(q.channels[i]))
		}
	case mChannels:
		if len(q.pattern) > MaxPatternLen {
			return invalidRequest(`"pattern" is longer than ` + strconv.Itoa(MaxPatternLen) + " bytes")
		}
	}
	switch m {
	case mSubscribe, mUnsubscribe, mDisconnect:
		if !validUser(q.user) {
			return invalidRequest(`"user" must be 1 to ` + strconv.Itoa(MaxUserLen) + " bytes")
		}
	}
	if m == mDisconnect {
		if q.seen&fCode == 0 {
			q.code = DisconnectCode
		} else if !ValidCloseCode(q.code) {
			return invalidRequest(`"code" ` + strconv.Itoa(q.code) + " is not allowed: use 4000-4999, 1000, 1001, 1008 or 1012")
		}
		if len(q.reason) > MaxReasonLen {
			return invalidRequest(`"reason" is longer than ` + strconv.Itoa(MaxReasonLen) + " bytes (a close frame's limit)")
		}
	}
	return nil
}

// repeated returns the indexes of the first channel given twice, or -1.
func repeated(chs []string) (int, int) {
	if len(chs) <= 16 {
		for j := 1; j < len(chs); j++ {
			for i := range j {
				if chs[i] == chs[j] {
					return i, j
				}
			}
		}
		return -1, -1
	}
	seen := make(map[string]int, len(chs))
	for j, ch := range chs {
		if i, ok := seen[ch]; ok {
			return i, j
		}
		seen[ch] = j
	}
	return -1, -1
}

// quote writes a value from the request into a message, shortened.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// sizeText prints a byte count as the flags do (1MiB, 64KiB, 1000).
func sizeText(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
