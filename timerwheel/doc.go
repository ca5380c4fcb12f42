// Package timerwheel is a hierarchical timing wheel that lets one event loop
// drive the heartbeats and timeouts of up to millions of connections without
// a time.Timer or a goroutine per connection.
//
// # Structure
//
// Time is counted in ticks (a fixed duration chosen at New) since the wheel's
// origin. The wheel has 11 levels of 64 slots; level L holds entries whose
// expiry tick differs from the current tick first in the L-th group of 6
// bits, i.e. entries due between 64^L and 64^(L+1) ticks ahead, filed in the
// slot named by that group of bits. Slots are intrusive doubly linked lists
// threaded through the Entry that the owner (a connection) embeds, so
// Schedule, a reschedule and Cancel are O(1) and allocate nothing. A 64-bit
// bitmap per level marks the non-empty slots and a bitmask marks the
// non-empty levels, so the next tick at which anything happens is found with
// two trailing-zero counts: Advance over ticks where nothing is due costs the
// same whatever the number of entries, and a long jump of the clock (a stalled
// loop) visits only the non-empty slots, never every tick in between. When the
// clock reaches a slot of level L > 0, that slot's entries are cascaded: each
// is re-filed by its exact expiry tick relative to the new current tick, into
// a lower level (or fired if it is due exactly then). Each entry cascades at
// most once per level it starts above level 0: at a 10 ms tick a 30 s ping
// cascades once and a 5 min idle timeout twice.
//
// Eleven levels of 6 bits cover every 64-bit tick distance, so no deadline is
// ever clamped or re-queued: even at a 1 ns tick, math.MaxInt64 is a
// representable deadline. The price is 706 list heads (5.6 KiB) per wheel.
// The cost of the exactness is that a cascade moves a whole slot at once: a
// loop whose timers are all in one upper-level slot pays for re-filing them
// in the Advance that reaches it (a few ns per entry, spread over the ticks
// because deadlines are spread).
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
// the time of the last Advance) fires at the next Advance, whatever its now.
// Within one Advance entries fire in order of expiry tick; entries of the
// same tick fire in unspecified order. A time earlier than that of a previous
// Advance does not move the wheel backwards.
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
