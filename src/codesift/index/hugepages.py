"""Back a faiss HNSW index's large buffers with 2 MiB transparent huge pages.

A graph walk reads a few hundred vectors and neighbour lists scattered over hundreds of MiB. On 4 KiB pages
nearly every one of those reads also misses the TLB (whose reach is a few MiB) and walks the page table; on 2 MiB
pages the same table covers a gigabyte. Linux hands out huge pages only where asked (`enabled` is `madvise` on
most distributions and on this project's machines), so after faiss has allocated its buffers this asks for them:
`MADV_HUGEPAGE` marks the range, `MADV_COLLAPSE` (Linux 6.1+) moves its pages onto huge pages now instead of
whenever the background collapser gets there. At 1M x 384 fp16 vectors this cut p50 and p95 single-query latency
by ~18% with identical results, and by 3-8% at 100k (`codesift bench index --small-pages`, BENCHMARKS.md). Elsewhere (not Linux, THP off, an old
kernel) it does what the kernel allows, and nothing at worst: never an error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20
# Buffers smaller than this stay on small pages: they fit in the TLB's reach anyway, and collapsing costs time.
MIN_BYTES = 16 << 20


@cache
def _madvise():
    """libc's madvise(addr, length, advice) -> 0 or -1 (errno set), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def advise(address: int, nbytes: int) -> int:
    """Ask for huge pages under the 2 MiB-aligned part of [address, address + nbytes); returns the bytes the kernel
    accepted the advice for (0: too small, or refused). The memory must stay allocated for the call."""
    madvise = _madvise()
    start = -(-address // HUGE_PAGE) * HUGE_PAGE
    end = (address + nbytes) // HUGE_PAGE * HUGE_PAGE
    if madvise is None or nbytes < MIN_BYTES or end <= start:
        return 0
    if madvise(start, end - start, MADV_HUGEPAGE) != 0:
        return 0  # THP not built into this kernel, or disabled for the process
    # Best effort: an old kernel rejects MADV_COLLAPSE (the marked range still gets huge pages from the background
    # collapser), and under memory pressure it collapses part of the range.
    madvise(start, end - start, MADV_COLLAPSE)
    return end - start


def index_buffers(index) -> list[tuple[int, int]]:
    """(address, bytes) of the arrays a search of a faiss HNSW index reads at random: the stored vectors or codes,
    the neighbour lists, and each node's offset into them."""
    import faiss

    storage = faiss.downcast_index(index.storage)
    hnsw = index.hnsw
    return [(int(storage.codes.data()), storage.codes.size()),
            (int(hnsw.neighbors.data()), hnsw.neighbors.size() * 4),
            (int(hnsw.offsets.data()), hnsw.offsets.size() * 8)]


def huge_page_bytes(address: int, nbytes: int) -> int:
    """Bytes of huge pages the kernel reports (/proc/self/smaps) in the mappings overlapping the range: whether the
    advice took effect. 0 off Linux."""
    total, overlaps = 0, False
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                field = line.split(maxsplit=2)
                if field[0].endswith(":"):
                    if overlaps and field[0] == "AnonHugePages:":
                        total += int(field[1]) * 1024
                else:  # a mapping's header: "start-end perms offset dev inode [path]"
                    low, high = (int(a, 16) for a in field[0].split("-"))
                    overlaps = low < address + nbytes and address < high
    except OSError:
        return 0
    return total


def use_huge_pages(index) -> int:
    """Back a faiss HNSW index's large buffers with huge pages; returns the bytes advised. Call it again after an
    add, which may have moved a buffer."""
    return sum(advise(address, nbytes) for address, nbytes in index_buffers(index))
