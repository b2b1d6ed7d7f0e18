"""Finishing the WARC files a killed writer left open, so that every ref it handed out still reads.

A writer hands out a ref only once both members of its pair are written, so the longest prefix of
whole gzip members that ends on a whole request/response pair holds every such ref. A live writer
holds an flock on its open file; only files no one holds are repaired.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from webtext.components.crawl.warc.records import CHUNK, OPEN_SUFFIX
from webtext.components.crawl.warc.writer import fsync_dir
from webtext.components.errors import InputError


def recover(directory: Path) -> list[str]:
    """Finish the `*.warc.gz.open` files a killed writer left; return the names made readable.

    Each keeps its longest prefix of whole records that ends on a whole request/response pair; a
    file with no such pair is deleted. Files a live writer holds (its flock) are left alone.
    """
    directory = Path(directory)
    repaired = []
    for open_path in sorted(directory.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        try:
            fd = os.open(open_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # finished by its writer meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            if not _same_file(fd, open_path):
                continue  # renamed by its writer between our open and lock
            end, pairs = _complete_prefix(fd)
            final = open_path.with_name(open_path.name[: -len(OPEN_SUFFIX)])
            if pairs == 0:
                open_path.unlink()
            else:
                if final.exists():
                    raise InputError(f"{open_path}: cannot recover, {final.name} already exists")
                os.ftruncate(fd, end)
                os.fsync(fd)
                os.rename(open_path, final)
                repaired.append(final.name)
            fsync_dir(directory)
        finally:
            os.close(fd)
    return repaired


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _complete_prefix(fd: int) -> tuple[int, int]:
    """Length of the longest prefix of whole records ending after a whole pair, and its pair count."""
    end = pairs = 0
    request_pending = False
    for member_end, record_type in _whole_members(fd):
        if record_type == "request":
            request_pending = True
        elif record_type == "response":
            request_pending = False
            pairs += 1
            end = member_end
        elif not request_pending:
            end = member_end
    return end, pairs


def _whole_members(fd: int) -> Iterator[tuple[int, str]]:
    """(end offset, WARC-Type) of each leading gzip member holding one whole WARC record.

    Stops at the first member that is cut, corrupt (zlib checks the gzip CRC and length) or not
    exactly one record. Output is not kept beyond the record head, so memory stays flat.
    """
    os.lseek(fd, 0, os.SEEK_SET)
    data, data_offset = b"", 0  # `data` holds the file bytes from `data_offset` on, unconsumed
    while True:
        inflater = zlib.decompressobj(wbits=31)
        head, size, tail = b"", 0, b""
        while not inflater.eof:
            if not data:
                data = os.read(fd, CHUNK)
                if not data:
                    return  # the file ends here: at a member boundary, or inside a cut member
            try:
                out = inflater.decompress(data)
            except zlib.error:
                return
            if not inflater.eof:
                data_offset += len(data)
                data = b""
            if len(head) < CHUNK:
                head += out[: CHUNK - len(head)]
            size += len(out)
            tail = (tail + out)[-4:]
        member_end = data_offset + len(data) - len(inflater.unused_data)
        data, data_offset = inflater.unused_data, member_end
        record_type = _whole_record_type(head, size, tail)
        if record_type is None:
            return
        yield member_end, record_type


def _whole_record_type(head: bytes, size: int, tail: bytes) -> str | None:
    """The WARC-Type of a decompressed member that is exactly one whole record, else None."""
    head_end = head.find(b"\r\n\r\n")
    if not head.startswith(b"WARC/") or head_end < 0 or tail != b"\r\n\r\n":
        return None
    fields = {}
    for line in head[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    try:
        length = int(fields.get(b"content-length", b""))
    except ValueError:
        return None
    if size != head_end + 4 + length + 4:
        return None
    return fields.get(b"warc-type", b"").decode("ascii", "replace")
