"""The IDX file format (MNIST's): read one file, gzip-compressed or raw, with clear errors for bad files.

An IDX file is 2 zero bytes, a type code, the number of dimensions n, then n big-endian uint32
sizes and the array in C order, big-endian. See http://yann.lecun.com/exdb/mnist/ (bottom).
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

__all__ = ["IDX_DTYPES", "load_idx"]

# Type code -> big-endian numpy dtype, as the IDX format defines them.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes per read/decompress step: bounds memory beyond the output array
# Deflate encodes at most 258 bytes in 2 bits, so n compressed bytes never hold more than 1032 * n.
# This bounds a gzip file's content exactly, unlike its ISIZE trailer (size mod 2**32, last member only).
_MAX_DEFLATE_RATIO = 1032


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip or raw, told apart by its first bytes) into a native-endian numpy array."""
    return read_idx(path)


def read_idx(path: str | os.PathLike, on_chunk: Callable[[bytes], Any] | None = None) -> np.ndarray:
    """load_idx, also passing every uncompressed byte, in order, to `on_chunk` (for checksums)."""
    with open(path, "rb") as file:
        head = file.read(2)
        gzipped = head == _GZIP_MAGIC  # by content, not by name: users gunzip files and keep names, or not
        limit = _content_limit(file, gzipped)
        chunks = _gunzip_chunks(path, file, head) if gzipped else _raw_chunks(file, head)
        return _parse(path, _Stream(chunks, on_chunk), limit)


def _content_limit(file: BinaryIO, gzipped: bool) -> tuple[int, bool] | None:
    """(most uncompressed bytes the file can hold, whether exactly that many), known before reading.

    None when the size is unknown (a pipe).
    """
    status = os.fstat(file.fileno())
    if not stat.S_ISREG(status.st_mode):
        return None
    return (status.st_size * _MAX_DEFLATE_RATIO, False) if gzipped else (status.st_size, True)


def _parse(path: str | os.PathLike, stream: _Stream, limit: tuple[int, bool] | None) -> np.ndarray:
    magic = stream.take(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: truncated: an IDX file starts with 4 bytes of magic, found {len(magic)}")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path}: not an IDX file: it starts with bytes {magic[:2].hex(' ')}, "
                         f"expected 00 00")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_DTYPES.items())
        raise ValueError(f"{path}: not an IDX file: unknown data type code 0x{code:02X} (known: {known})")
    dims = stream.take(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{path}: truncated: the header declares {ndim} dimensions ({4 * ndim} bytes) "
                         f"but only {len(dims)} bytes of sizes follow")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    nbytes = math.prod(shape) * dtype.itemsize
    what = f"data for a {shape} {dtype.name} array"
    # Refuse an impossible size before allocating it: a corrupt header must not cost a MemoryError.
    header = 4 + 4 * ndim
    if limit is not None and header + nbytes > limit[0]:
        available, exact = limit[0] - header, limit[1]
        if exact:
            raise ValueError(f"{path}: truncated: expected {nbytes} bytes of {what}, found {available} "
                             f"(the file is cut short or its header is corrupt)")
        raise ValueError(f"{path}: corrupt header or truncated file: it declares a {shape} {dtype.name} array "
                         f"({_human(nbytes)}), more than this gzip file can hold (at most {available} bytes: "
                         f"deflate expands data at most {_MAX_DEFLATE_RATIO}-fold)")
    if nbytes > np.iinfo(np.intp).max:
        raise ValueError(f"{path}: corrupt header: it declares a {shape} {dtype.name} array ({_human(nbytes)}), "
                         f"more than numpy can allocate")

    buffer = np.empty(nbytes, dtype=np.uint8)
    found = stream.readinto(buffer)
    if found < nbytes:
        raise ValueError(f"{path}: truncated: expected {nbytes} bytes of {what}, found {found}")
    # Read to the end even when the array is full: a gzip stream's CRC is only checked at its end.
    extra = stream.drain()
    if extra:
        raise ValueError(f"{path}: {extra} trailing bytes after the {nbytes} bytes of {what}; "
                         f"the file is corrupt or its header is wrong")
    array = buffer.view(dtype).reshape(shape)
    return array if dtype.isnative or dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))


def _human(nbytes: int) -> str:
    """1099511627776 -> '1.0 TiB'."""
    size, unit = float(nbytes), "bytes"
    for bigger in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.3g} {unit}" if unit != "bytes" else f"{nbytes} bytes"


class _Stream:
    """Uncompressed bytes handed out in exact amounts, each chunk also given to `on_chunk` once."""

    def __init__(self, chunks: Iterator[bytes], on_chunk: Callable[[bytes], Any] | None):
        self._chunks = chunks
        self._on_chunk = on_chunk
        self._pending = memoryview(b"")

    def _next(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                if self._on_chunk is not None:
                    self._on_chunk(chunk)
                self._pending = memoryview(chunk)
                return True
        return False

    def take(self, n: int) -> bytes:
        parts = bytearray()
        while len(parts) < n and (self._pending or self._next()):
            piece = self._pending[: n - len(parts)]
            parts += piece
            self._pending = self._pending[len(piece):]
        return bytes(parts)

    def readinto(self, out: np.ndarray) -> int:
        filled = 0
        while filled < out.size and (self._pending or self._next()):
            piece = self._pending[: out.size - filled]
            out[filled: filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            filled += len(piece)
            self._pending = self._pending[len(piece):]
        return filled

    def drain(self) -> int:
        count = len(self._pending)
        self._pending = memoryview(b"")
        while self._next():
            count += len(self._pending)
        self._pending = memoryview(b"")
        return count


def _raw_chunks(file: BinaryIO, head: bytes) -> Iterator[bytes]:
    yield head
    while chunk := file.read(_CHUNK):
        yield chunk


def _gunzip_chunks(path: str | os.PathLike, file: BinaryIO, pending: bytes) -> Iterator[bytes]:
    """Decompress every gzip member of the file; anything else after the last member is an error."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper: checks the CRC-32 and length
    while True:
        if not pending:
            pending = file.read(_CHUNK)
        if not pending:
            try:
                tail = inflater.flush()  # output zlib may still hold back after the last input
            except zlib.error as error:
                raise ValueError(f"{path}: corrupt gzip data ({error})") from None
            yield tail
            if not inflater.eof:
                raise ValueError(f"{path}: truncated: the gzip stream ends early (the file was cut short)")
            return
        try:
            yield inflater.decompress(pending, _CHUNK)
        except zlib.error as error:
            raise ValueError(f"{path}: corrupt gzip data ({error})") from None
        pending = inflater.unconsumed_tail
        if inflater.eof:
            rest = inflater.unused_data  # past the end of a member; unconsumed_tail holds the same bytes
            while len(rest) < len(_GZIP_MAGIC) and (more := file.read(_CHUNK)):
                rest += more
            if not rest:
                return
            if rest.startswith(_GZIP_MAGIC):  # another member: `cat a.gz b.gz` is a valid gzip file
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                pending = rest
                continue
            extra = len(rest) + sum(len(more) for more in iter(lambda: file.read(_CHUNK), b""))
            raise ValueError(f"{path}: {extra} bytes of trailing garbage after the gzip stream")
