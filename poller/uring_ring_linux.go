package poller

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring instance of one loop, driven through the raw system calls
// (no Go io_uring library in the module proxy fits): a submission ring, a
// completion ring and a ring of provided receive buffers that multishot
// receives pick from. Values from <linux/io_uring.h>; all of them are
// kernel ABI.

const (
	iouSetupCQSize        = 1 << 3
	iouSetupSubmitAll     = 1 << 7
	iouSetupCoopTaskrun   = 1 << 8
	iouSetupRDisabled     = 1 << 6
	iouSetupSingleIssuer  = 1 << 12
	iouSetupDeferTaskrun  = 1 << 13
	iouFeatSingleMmap     = 1 << 0
	iouFeatNoDrop         = 1 << 1
	iouFeatExtArg         = 1 << 8
	iouEnterGetEvents     = 1 << 0
	iouEnterExtArg        = 1 << 3
	iouOpPollAdd          = 6
	iouOpAsyncCancel      = 14
	iouOpRecv             = 27
	iouSqeBufferSelect    = 1 << 5
	iouPollAddMulti       = 1 << 0
	iouRecvMultishot      = 1 << 1
	iouCqeFBuffer         = 1 << 0
	iouCqeFMore           = 1 << 1
	iouCqeBufferShift     = 16
	iouRegisterEnable     = 12
	iouRegisterPbufRing   = 22
	iouOffSqRing          = 0
	iouOffCqRing          = 0x8000000
	iouOffSqes            = 0x10000000
	iouSqeSize            = 64
	iouCqeSize            = 16
	iouBufGroup           = 0
	iouAsyncCancelUserKey = 0 // match on user_data (the default key)
)

type iouSqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	resv2                                                           uint64
}

type iouCqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	resv2                                                           uint64
}

type iouParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  iouSqringOffsets
	cqOff                                                                  iouCqringOffsets
}

type iouSqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufGroup    uint16
	personality uint16
	fileIndex   uint32
	addr3       uint64
	pad2        uint64
}

type iouCqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type iouBufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	pad         uint16
	resv        [3]uint64
}

type iouGeteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	pad       uint32
	ts        uint64
}

var errRingFull = errors.New("poller: io_uring submission queue full")

// ring is one loop's io_uring. Only the loop goroutine (locked to its
// thread: the ring is single-issuer) touches it after enable.
type ring struct {
	fd               int
	sqMem, cqMem     []byte
	sqes             []iouSqe
	sqHead, sqTail   *uint32
	sqMask           uint32
	sqEntries        uint32
	cqHead, cqTail   *uint32
	cqMask           uint32
	cqes             []iouCqe
	pending          uint32 // SQEs written since the last submit
	sqLocalTail      uint32
	bufRing          []byte // the provided-buffer ring (mmap'd): entries of 16 bytes
	bufs             []byte // the buffers themselves (mmap'd), bufCount x bufSize
	bufSize, bufMask uint32
	bufTail          uint16
}

// Ring sizes: submissions per round (the ring is submitted early when full),
// completions (the kernel keeps overflow rather than drop it, FEAT_NODROP),
// and the provided receive buffers shared by a loop's connections: a
// buffer is held only from a receive's completion until its bytes were
// handed to the Handler, in the same round.
const (
	ringSQ       = 1024
	ringCQ       = 8192
	ringBufs     = 128
	ringBufBytes = 16 << 10
)

func newRing() (*ring, error) {
	p := iouParams{cqEntries: ringCQ,
		flags: iouSetupCQSize | iouSetupSubmitAll | iouSetupCoopTaskrun | iouSetupSingleIssuer | iouSetupDeferTaskrun | iouSetupRDisabled}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, ringSQ, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("poller: io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd)}
	if p.features&(iouFeatSingleMmap|iouFeatNoDrop|iouFeatExtArg) != iouFeatSingleMmap|iouFeatNoDrop|iouFeatExtArg {
		r.close()
		return nil, fmt.Errorf("poller: io_uring lacks features (have %#x)", p.features)
	}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*iouCqeSize)
	size := max(sqSize, cqSize)
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, iouOffSqRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("poller: mmap io_uring rings: %w", err)
	}
	r.cqMem = r.sqMem
	sqeMem, err := unix.Mmap(r.fd, iouOffSqes, int(p.sqEntries)*iouSqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("poller: mmap io_uring sqes: %w", err)
	}
	r.sqes = unsafe.Slice((*iouSqe)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.sqMem[off])) }
	r.sqHead, r.sqTail = at(p.sqOff.head), at(p.sqOff.tail)
	r.sqMask, r.sqEntries = *at(p.sqOff.ringMask), p.sqEntries
	r.cqHead, r.cqTail = at(p.cqOff.head), at(p.cqOff.tail)
	r.cqMask = *at(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*iouCqe)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	// The SQ index array maps slot i to SQE i once and for all.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqLocalTail = atomic.LoadUint32(r.sqTail)
	if err := r.setupBuffers(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// setupBuffers registers the provided-buffer ring. Its memory is touched
// here, once: it is the loop's fixed cost (like epoll's read buffer), not a
// cost that grows with connections.
func (r *ring) setupBuffers() error {
	var err error
	if r.bufRing, err = unix.Mmap(-1, 0, ringBufs*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("poller: mmap buffer ring: %w", err)
	}
	if r.bufs, err = unix.Mmap(-1, 0, ringBufs*ringBufBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("poller: mmap receive buffers: %w", err)
	}
	r.bufSize, r.bufMask = ringBufBytes, ringBufs-1
	reg := iouBufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&r.bufRing[0]))), ringEntries: ringBufs, bgid: iouBufGroup}
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), iouRegisterPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); errno != 0 {
		return fmt.Errorf("poller: register buffer ring: %w", errno)
	}
	for i := 0; i < ringBufs; i++ {
		r.provide(uint16(i))
	}
	return nil
}

// enable starts the ring from the loop's own (locked) thread, which makes
// it the ring's only submitter.
func (r *ring) enable() error {
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), iouRegisterEnable, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("poller: enable io_uring: %w", errno)
	}
	return nil
}

// buf is provided buffer bid's memory.
func (r *ring) buf(bid uint16) []byte {
	off := int(bid) * int(r.bufSize)
	return r.bufs[off : off+int(r.bufSize) : off+int(r.bufSize)]
}

// provide hands buffer bid (back) to the kernel.
func (r *ring) provide(bid uint16) {
	slot := uint32(r.bufTail) & r.bufMask
	e := unsafe.Pointer(&r.bufRing[slot*16])
	*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&r.bufs[int(bid)*int(r.bufSize)])))
	*(*uint32)(unsafe.Add(e, 8)) = r.bufSize
	*(*uint16)(unsafe.Add(e, 12)) = bid
	r.bufTail++
	// The tail is the u16 at offset 14 of the ring, overlaid on entry 0's
	// reserved field: publish it with a 32-bit release store of entry 0's
	// bid (unchanged) and the new tail.
	word := (*uint32)(unsafe.Pointer(&r.bufRing[12]))
	bid0 := uint32(*(*uint16)(unsafe.Pointer(&r.bufRing[12])))
	atomic.StoreUint32(word, bid0|uint32(r.bufTail)<<16)
}

// sqe returns the next free submission entry, zeroed, submitting first if
// the ring is full; it fails only if the kernel refused that submit.
func (r *ring) sqe() (*iouSqe, error) {
	if r.sqLocalTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		if err := r.submit(); err != nil {
			return nil, err
		}
		if r.sqLocalTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
			return nil, errRingFull
		}
	}
	e := &r.sqes[r.sqLocalTail&r.sqMask]
	*e = iouSqe{}
	r.sqLocalTail++
	r.pending++
	atomic.StoreUint32(r.sqTail, r.sqLocalTail)
	return e, nil
}

// submit hands the written SQEs to the kernel and runs its deferred work,
// without waiting.
func (r *ring) submit() error { return r.enter(false, 0) }

// enter submits what is pending and collects completions: without wait it
// never blocks (a raw system call, so the runtime does not hand the loop's P
// away); with wait it blocks until a completion arrives or timeoutNs passes.
// The kernel takes every SQE before it waits (SUBMIT_ALL), and reports them
// as submitted even when the wait then times out.
func (r *ring) enter(wait bool, timeoutNs int64) error {
	for {
		n := r.pending
		var errno unix.Errno
		var done uintptr
		if !wait {
			done, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), 0, iouEnterGetEvents, 0, 0)
		} else {
			ts := unix.NsecToTimespec(timeoutNs)
			arg := iouGeteventsArg{ts: uint64(uintptr(unsafe.Pointer(&ts)))}
			done, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), 1, iouEnterGetEvents|iouEnterExtArg,
				uintptr(unsafe.Pointer(&arg)), unsafe.Sizeof(arg))
		}
		switch errno {
		case 0:
			r.pending -= min(uint32(done), n)
			return nil
		case unix.ETIME:
			return nil // nothing was submitted (else the count is returned) and nothing completed
		case unix.EINTR:
			if wait {
				return nil
			}
		case unix.EAGAIN, unix.EBUSY:
			// No room for completions (they wait in the kernel's overflow
			// list): the caller reaps, the SQEs go in with the next enter.
			return nil
		default:
			return errno
		}
	}
}

// completions calls fn for each completion ready and marks them seen.
func (r *ring) completions(fn func(*iouCqe)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		fn(&r.cqes[head&r.cqMask])
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// ready reports whether completions wait in the ring.
func (r *ring) ready() bool { return atomic.LoadUint32(r.cqHead) != atomic.LoadUint32(r.cqTail) }

func (r *ring) close() {
	if r.sqes != nil {
		_ = unix.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&r.sqes[0])), len(r.sqes)*iouSqeSize))
		r.sqes = nil
	}
	if r.sqMem != nil {
		_ = unix.Munmap(r.sqMem)
		r.sqMem, r.cqMem = nil, nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	// The buffers go only after the ring: the kernel may write into them
	// until its requests are gone.
	if r.bufs != nil {
		_ = unix.Munmap(r.bufs)
		r.bufs = nil
	}
	if r.bufRing != nil {
		_ = unix.Munmap(r.bufRing)
		r.bufRing = nil
	}
}
