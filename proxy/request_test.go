package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// RPCRequest replaces the HTTP POST (NATS request-reply in the server): the same request JSON
// goes out, the same answers come back, and the same bounds apply: a failing or slow
// transport and an oversized or garbled answer are ErrUnavailable; the queue bound holds.
func TestRPCRequest(t *testing.T) {
	var sent CallRequest
	c := newClient(t, Config{
		RPCURL: "nats:app.rpc", Timeout: 200 * time.Millisecond, MaxBody: 64, MaxConcurrent: 1,
		RPCRequest: func(ctx context.Context, body []byte) ([]byte, error) {
			if err := json.Unmarshal(body, &sent); err != nil {
				return nil, err
			}
			switch sent.Method {
			case "sum":
				return []byte(`{"result":3}`), nil
			case "fail":
				return []byte(`{"error":{"code":7,"message":"no"}}`), nil
			case "down":
				return nil, errors.New("nats: no responders available for request")
			case "slow":
				<-ctx.Done()
				return nil, ctx.Err()
			case "huge":
				return []byte(`{"result":"` + strings.Repeat("x", 100) + `"}`), nil
			}
			return []byte(`garbage`), nil
		},
	})
	r, err := c.RPC(bg, &CallRequest{Client: "c1", User: "42", Method: "sum", Data: json.RawMessage(`[1,2]`)})
	if err != nil || string(r.Result) != "3" {
		t.Fatalf("sum: %+v %v", r, err)
	}
	if sent.Client != "c1" || sent.User != "42" || string(sent.Data) != "[1,2]" {
		t.Fatalf("request sent %+v", sent)
	}
	if r, err := c.RPC(bg, &CallRequest{Method: "fail"}); err != nil || r.Error == nil || string(r.Error.Code) != "7" {
		t.Fatalf("fail: %+v %v", r, err)
	}
	for _, m := range []string{"down", "slow", "huge", "other"} {
		if _, err := c.RPC(bg, &CallRequest{Method: m}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", m, err)
		}
	}
	if st := c.Stats(); st.Failures != 4 || st.Admitted != 0 {
		t.Fatalf("stats %+v", st)
	}
	// MaxConcurrent 1 and no queue: a second call while one is in flight is refused at once.
	done := make(chan error, 1)
	if err := c.GoRPC(bg, &CallRequest{Method: "slow"}, func(_ RPCResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := c.RPC(bg, &CallRequest{Method: "sum"}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("second call: %v, want ErrOverloaded", err)
	}
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("slow call: %v", err)
	}
}
