package limits

import (
	"testing"
	"time"
	"unsafe"
)

func TestMsgBucketSize(t *testing.T) {
	if s := unsafe.Sizeof(MsgBucket{}); s > 16 {
		t.Fatalf("MsgBucket is %d bytes, want <= 16", s)
	}
}

func TestMsgBucketAllow(t *testing.T) {
	cfg := &MsgRateConfig{PerSecond: 10, Burst: 5} // 100ms per message
	var b MsgBucket
	now := int64(5 * time.Second)
	for i := range 5 {
		if !b.Allow(now, cfg) {
			t.Fatalf("burst message %d refused", i)
		}
	}
	if b.Allow(now, cfg) {
		t.Fatal("past burst admitted")
	}
	now += int64(99 * time.Millisecond)
	if b.Allow(now, cfg) {
		t.Fatal("token before 100ms")
	}
	now += int64(time.Millisecond)
	if !b.Allow(now, cfg) || b.Allow(now, cfg) {
		t.Fatal("exactly one token after 100ms")
	}
	// Sustained at the rate: always allowed.
	for range 100 {
		now += int64(100 * time.Millisecond)
		if !b.Allow(now, cfg) {
			t.Fatal("message at the rate refused")
		}
	}
	// Off.
	var off MsgBucket
	for range 1000 {
		if !off.Allow(now, &MsgRateConfig{}) || !off.Allow(now, nil) || off.Check(now, &MsgRateConfig{Burst: 1}) != VerdictAllow {
			t.Fatal("rate 0 is off")
		}
	}
	// Burst 0 means 1.
	var one MsgBucket
	c1 := &MsgRateConfig{PerSecond: 1}
	if !one.Allow(0, c1) || one.Allow(0, c1) {
		t.Fatal("burst 0 acts as 1")
	}
}

func TestMsgBucketCheckStrikes(t *testing.T) {
	cfg := &MsgRateConfig{PerSecond: 1, Burst: 1, MaxStrikes: 3, StrikeWindow: 10 * time.Second}
	var b MsgBucket
	now := int64(time.Hour)
	want := []Verdict{VerdictAllow, VerdictRateLimited, VerdictRateLimited, VerdictClose}
	for i, w := range want {
		if got := b.Check(now, cfg); got != w {
			t.Fatalf("message %d: %v, want %v", i, got, w)
		}
	}

	// Strikes older than the window are forgotten.
	b = MsgBucket{}
	b.Check(now, cfg)
	b.Check(now, cfg) // strike 1
	b.Check(now, cfg) // strike 2
	now += int64(11 * time.Second)
	b.Check(now, cfg) // allowed (refilled)
	if v := b.Check(now, cfg); v != VerdictRateLimited || b.Strikes() != 1 {
		t.Fatalf("after the window: %v strikes=%d, want rate_limited, 1", v, b.Strikes())
	}

	// Allowed messages in between do not clear strikes: a client sending at
	// twice the rate is closed.
	b = MsgBucket{}
	var v Verdict
	for i := 0; v != VerdictClose && i < 100; i++ {
		v = b.Check(now, cfg)
		now += int64(500 * time.Millisecond)
	}
	if v != VerdictClose {
		t.Fatal("twice the rate never closed")
	}

	// Negative MaxStrikes never closes; 0 uses the default.
	never := &MsgRateConfig{PerSecond: 1, Burst: 1, MaxStrikes: -1}
	def := &MsgRateConfig{PerSecond: 1, Burst: 1}
	var bn, bd MsgBucket
	closedAt := 0
	for i := 1; i <= 100; i++ {
		if bn.Check(now, never) == VerdictClose {
			t.Fatal("MaxStrikes < 0 closed")
		}
		if bd.Check(now, def) == VerdictClose && closedAt == 0 {
			closedAt = i
		}
	}
	if closedAt != DefaultMaxStrikes+1 { // 1 allowed + 10 strikes
		t.Fatalf("default closed at message %d, want %d", closedAt, DefaultMaxStrikes+1)
	}
}

func TestMsgBucketNoAlloc(t *testing.T) {
	cfg := &MsgRateConfig{PerSecond: 1000, Burst: 10}
	var b MsgBucket
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() { now += 1e5; b.Check(now, cfg) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
