"""Streaming readers for Reddit dumps: plain, `.zst`, `.xz`, `.bz2`, `.gz` NDJSON, in constant memory.

Every codec goes through the same loop over a decompression object so that a stream that stops
before its end marker is an error. (`zstandard`'s `stream_reader` returns a silent EOF on a
truncated file; a truncated dump must fail, named, rather than load half a month.)
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import zstandard

from webtext.components.errors import InputError

_CHUNK = 1 << 18  # compressed bytes per read (a real dump's chunk inflates to a few MB)
MAX_LINE_BYTES = 64 << 20  # a submission is a few KB; Reddit caps self text at 40,000 characters
# Pushshift and Arctic Shift write .zst with windows up to 2 GiB (`--long=31`).
_ZSTD_MAX_WINDOW = 2**31

_MAGIC = {
    ".zst": b"\x28\xb5\x2f\xfd",
    ".xz": b"\xfd7zXZ\x00",
    ".bz2": b"BZh",
    ".gz": b"\x1f\x8b",
}
_DECOMPRESSORS: dict[str, Callable[[], object]] = {
    ".zst": lambda: zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj(),
    ".xz": lzma.LZMADecompressor,
    ".bz2": bz2.BZ2Decompressor,
    ".gz": lambda: zlib.decompressobj(wbits=31),
}
_ERRORS = (zstandard.ZstdError, lzma.LZMAError, OSError, zlib.error, EOFError, ValueError)


def codec_of(path: Path) -> str | None:
    """The compression suffix of `path`, or None for plain NDJSON."""
    suffix = path.suffix.lower()
    return suffix if suffix in _DECOMPRESSORS else None


def _decompressed(path: Path, codec: str, fh) -> Iterator[bytes]:
    head = fh.read(len(_MAGIC[codec]))
    if head != _MAGIC[codec]:
        raise InputError(f"{path}: not a {codec} file (its first bytes are {head[:8]!r})")
    data = head + fh.read(_CHUNK)
    decompressor = _DECOMPRESSORS[codec]()
    in_frame = False
    while data:
        in_frame = True
        out = decompressor.decompress(data)
        if out:
            yield out
        if decompressor.eof:  # end of one frame/stream; concatenated streams may follow
            data = decompressor.unused_data
            decompressor = _DECOMPRESSORS[codec]()
            in_frame = False
            if data:
                continue
        data = fh.read(_CHUNK)
    if in_frame:
        raise InputError(f"{path}: truncated {codec} stream (ended before its end marker)")


def iter_chunks(path: Path) -> Iterator[bytes]:
    """Decompressed bytes of `path`, chunk by chunk; InputError names the file on any failure."""
    codec = codec_of(path)
    try:
        with open(path, "rb") as fh:
            if codec is None:
                while chunk := fh.read(_CHUNK):
                    yield chunk
            else:
                yield from _decompressed(path, codec, fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except InputError:
        raise
    except _ERRORS as exc:
        raise InputError(f"{path}: cannot decompress ({exc})") from None


def iter_lines(path: Path) -> Iterator[bytes]:
    """The lines of `path` without their newline, empty lines included (they count as malformed).

    A line longer than MAX_LINE_BYTES means the file is not NDJSON (a JSON array, a binary): it
    fails, named, rather than being gathered into memory.
    """
    pieces: list[bytes] = []  # the current line's start, joined once its newline arrives
    pending = 0
    for chunk in iter_chunks(path):
        lines = chunk.split(b"\n")
        if len(lines) == 1:
            pieces.append(chunk)
            pending += len(chunk)
            if pending > MAX_LINE_BYTES:
                raise InputError(f"{path}: a line longer than {MAX_LINE_BYTES:,} bytes; not NDJSON")
            continue
        if pieces:
            lines[0] = b"".join(pieces) + lines[0]
        yield from lines[:-1]
        pieces, pending = [lines[-1]], len(lines[-1])
    if pending:
        yield b"".join(pieces)
