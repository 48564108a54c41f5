"""Huge pages under the index's buffers: the advice takes effect where Linux allows it, changes no data and no
result, follows buffers an add moved, and is a silent no-op where it is not available."""

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from codesift.index import hugepages
from codesift.index.hugepages import HUGE_PAGE, advise, huge_page_bytes, index_buffers
from codesift.index.vectors import HNSWVectors

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
huge_pages_available = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not THP.is_file() or "[never]" in THP.read_text(),
    reason="needs Linux with transparent huge pages not disabled")


def vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@huge_pages_available
def test_advice_backs_the_aligned_range_and_keeps_the_data():
    # A private anonymous mapping (numpy asks for huge pages for its own large arrays), offset by 4 KiB so
    # that the range is not aligned, filled with distinct content.
    memory = mmap.mmap(-1, 48 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buffer = np.frombuffer(memory, dtype=np.uint8)[4096:]
    buffer[:] = np.arange(len(buffer)) % 251
    address = buffer.ctypes.data
    advised = advise(address, buffer.nbytes)
    aligned = ((address + buffer.nbytes) // HUGE_PAGE - -(-address // HUGE_PAGE)) * HUGE_PAGE
    assert advised == aligned == (48 << 20) - HUGE_PAGE
    assert huge_page_bytes(address, buffer.nbytes) >= aligned // 2  # collapsed now, not some day
    assert np.array_equal(buffer, np.arange(len(buffer)) % 251)
    del buffer
    memory.close()


def test_small_buffers_and_platforms_without_madvise_are_left_alone(monkeypatch):
    small = np.ones(1 << 20, dtype=np.uint8)
    assert advise(small.ctypes.data, small.nbytes) == 0
    big = np.ones(32 << 20, dtype=np.uint8)
    monkeypatch.setattr(hugepages, "_madvise", lambda: None)  # not Linux, or no libc
    assert advise(big.ctypes.data, big.nbytes) == 0


@huge_pages_available
@pytest.mark.parametrize("codec", ["float32", "fp16"])
def test_index_buffers_on_huge_pages_after_add_and_load_with_the_same_results(codec, tmp_path, monkeypatch):
    # A test-sized index: 6,000 x 512 is 6 MiB of fp16 codes, so the threshold must sit below that for the advice
    # to be asked at all (above it, the check passed only where the codes shared a mapping with advised memory).
    monkeypatch.setattr(hugepages, "MIN_BYTES", 2 * HUGE_PAGE)
    x, queries = vectors(6000, 512), vectors(50, 512, seed=1)
    index = HNSWVectors(512, ef_construction=40, codec=codec)
    index.add(np.arange(3000), x[:3000])
    index.add(np.arange(3000, 6000), x[3000:])  # the codes buffer grows and moves: advised again
    codes_address, codes_bytes = index_buffers(index.index)[0]
    assert codes_bytes == 6000 * 512 * (4 if codec == "float32" else 2)
    assert huge_page_bytes(codes_address, codes_bytes) >= HUGE_PAGE
    assert index.stats()["huge_page_mib"] >= 2
    found = index.search(queries, 10, 64)
    index.save(tmp_path)
    loaded = HNSWVectors.load(tmp_path)
    assert huge_page_bytes(*index_buffers(loaded.index)[0]) >= HUGE_PAGE
    for a, b in zip(found, loaded.search(queries, 10, 64)):  # the collapse moved the graph's pages, not its data
        np.testing.assert_array_equal(a, b)
