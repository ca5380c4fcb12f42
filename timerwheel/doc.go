// Package timerwheel is a hierarchical timing wheel that lets one event loop
// drive the heartbeats and timeouts of up to millions of connections without
// a time.Timer or a goroutine per connection.
//
// # Structure
//
// Time is counted in ticks (a fixed duration chosen at New) since the wheel's
// origin. The wheel has 11 levels of 64 slots; a slot of level L is a bucket
// of 64^L ticks, and the 64 slots of a level roll round as the clock moves:
// level L holds the entries whose expiry tick lies 1 to 63 of its buckets
// after the bucket holding the current tick, filed at the lowest level that
// reaches them (so level L holds entries up to 64^(L+1) ticks ahead). Slots
// are intrusive doubly linked lists threaded through the Entry that the owner
// (a connection) embeds, so Schedule, a reschedule and Cancel are O(1) and
// allocate nothing. A 64-bit bitmap per level marks the non-empty slots and a
// bitmask marks the non-empty levels, so the next tick at which anything
// happens is found with a rotate and a trailing-zero count per used level:
// Advance over ticks where nothing is due costs the same whatever the number
// of entries, and a long jump of the clock (a stalled loop) visits only the
// non-empty slots, never every tick in between. When the clock reaches the
// start of a bucket of level L > 0, its entries are cascaded: each is
// re-filed by its exact expiry tick relative to the new current tick, at a
// lower level, or fired if it is due exactly then. An entry is re-filed at
// most once per level below the one it starts in: at a 10 ms tick, a 30 s
// ping sits in level 1 (buckets of 640 ms) and a 5 min idle timeout in level
// 2 (41 s buckets).
//
// Filing by distance rather than by the highest differing digit of the tick
// (old Linux style) matters at scale: with digits, every timer that crosses
// a 4096-tick boundary lands in the same level-2 slot, and 1M heartbeats
// cascade in one Advance (measured: a 350 ms stall); by distance, a cascade
// moves one bucket, here 64 ticks' worth of deadlines (~21k entries for 1M
// connections with a 30 s ping), at about one cache miss per entry. Owners
// that need several deadlines should keep one Entry armed for the earliest.
//
// Eleven levels of 6 bits cover every 64-bit tick distance, so no deadline is
// ever clamped or re-queued: even at a 1 ns tick, math.MaxInt64 is a
// representable deadline (one whose tick boundary lies beyond MaxInt64 can
// never be reached by any now, and never fires). The price is 706 list heads
// (5.6 KiB) per wheel.
//
// # Guarantees
//
// A deadline at (nanoseconds on the clock the caller passes to New and
// Advance) becomes the expiry tick E = ceil((at-origin)/tick), i.e. at
// rounded up to the tick grid: B = origin + E*tick, with at <= B < at+tick.
// The entry fires during the first Advance(now) with now >= B, and never
// before: cascading re-files entries by their exact expiry tick, so it loses
// no precision. If Advance is called at least once per tick, an entry fires
// less than two ticks after its deadline (less than one if Advance is called
// on the tick grid). A deadline whose tick the wheel has already passed (B <=
// the latest time the wheel has seen, from New or Advance) fires at the next
// Advance, whatever its now.
// Within one Advance entries fire in order of expiry tick; entries of the
// same tick fire in unspecified order. A time earlier than that of a previous
// Advance does not move the wheel backwards. If fire panics, the entries not
// yet fired stay scheduled and fire at the next Advance.
//
// The fire callback receives an entry already removed from the wheel; it may
// Schedule it again, and may Schedule or Cancel any other entry. During a
// callback the wheel stands at the firing entry's tick: an entry scheduled
// there for a later tick that is still <= now fires in the same Advance, one
// scheduled for that tick or earlier fires at the next Advance (so a callback
// that keeps re-arming into the past cannot loop forever).
//
// A Wheel is not safe for concurrent use: each event loop owns one and calls
// it from its own goroutine only. An Entry belongs to one wheel at a time and
// must not be copied while scheduled.
package timerwheel
