import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.components.crawl.warc.exchanges import HTML, fetch
from webtext.components.crawl.warc import (
    OPEN_SUFFIX,
    WarcRef,
    WarcWriter,
    iter_responses,
    read_response,
    recover,
)


def crashed_copy(tmp_path, n):
    """Write n pairs, then copy the open file as a killed process would have left it."""
    source, crashed = tmp_path / "live", tmp_path / "crashed"
    crashed.mkdir()
    writer = WarcWriter(source, "crawl-00007")
    refs = [writer.write(fetch(i, os.urandom(500 + 100 * i))) for i in range(n)]
    data = (source / f"{refs[0].file}{OPEN_SUFFIX}").read_bytes()
    writer.close()
    return crashed, crashed / f"{refs[0].file}{OPEN_SUFFIX}", data, refs


def ends(refs):
    return [ref.offset + ref.length for ref in refs]


@pytest.mark.slow
def test_recover_keeps_exactly_the_whole_pairs_before_any_cut(tmp_path):
    crashed, open_path, data, refs = crashed_copy(tmp_path, 4)
    final = crashed / refs[0].file
    for cut in range(0, len(data) + 1, 23):
        open_path.write_bytes(data[:cut])
        kept = [ref for ref in refs if ref.offset + ref.length <= cut]
        assert recover(crashed) == ([final.name] if kept else [])
        assert not open_path.exists()
        if not kept:
            assert not final.exists()
            continue
        assert final.stat().st_size == ends(kept)[-1]
        assert [p.ref for p in iter_responses([final])] == kept
        assert all(read_response(crashed, ref).ref == ref for ref in kept)
        final.unlink()


@pytest.mark.parametrize(
    "tail",
    ["half a member", "a request without its response", "zeros", "one byte short"],
)
def test_recover_cuts_a_torn_tail_back_to_the_last_pair(tmp_path, tail):
    crashed, open_path, data, refs = crashed_copy(tmp_path, 3)
    last = refs[-1]
    request_start = ends(refs)[-2]
    if tail == "half a member":
        torn, kept = data + data[last.offset : last.offset + last.length // 2], refs
    elif tail == "a request without its response":
        torn, kept = data[: last.offset], refs[:-1]
    elif tail == "zeros":  # what a power loss can leave past the last flushed page
        torn, kept = data + bytes(8192), refs
    else:
        torn, kept = data[: len(data) - 1], refs[:-1]
    assert request_start < last.offset
    open_path.write_bytes(torn)
    assert recover(crashed) == [last.file]
    assert (crashed / last.file).read_bytes() == data[: ends(kept)[-1]]
    for ref in kept:
        assert read_response(crashed, ref).ref == ref


def test_recover_leaves_a_live_writer_alone(tmp_path):
    with WarcWriter(tmp_path, "live") as writer:
        ref = writer.write(fetch(1))
        assert recover(tmp_path) == []
        writer.write(fetch(2))
    assert read_response(tmp_path, ref).body == HTML


CHILD = """
import json, os, sys
from datetime import UTC, datetime
from pathlib import Path
from webtext.components.crawl.warc import FetchRecord, WarcWriter

writer = WarcWriter(Path(sys.argv[1]), "killed", max_bytes=150_000)
i = 0
while True:
    body = (b"%06d" % i) * (50 + (i * 7919) % 8000)
    ref = writer.write(FetchRecord(f"http://k.example/{i}", "10.1.2.3", datetime.now(UTC), "GET", [],
                                   200, "OK", "HTTP/1.1", [("Content-Type", "text/html")], body))
    print(json.dumps([i, ref.file, ref.offset, ref.length]), flush=True)
    i += 1
"""


def expected_body(i):
    return (b"%06d" % i) * (50 + (i * 7919) % 8000)


@pytest.mark.parametrize("delay_s", [0.05, 0.2, 0.4])
def test_a_writer_killed_mid_stream_loses_no_ref_it_handed_out(tmp_path, delay_s):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[4]
    )
    lines = []
    started = threading.Event()

    def drain():
        for line in child.stdout:
            lines.append(line)
            started.set()

    reader = threading.Thread(target=drain)
    reader.start()
    assert started.wait(30), "the writer never wrote"
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    printed = []
    for line in lines:
        try:
            i, file, offset, length = json.loads(line)
        except ValueError:
            continue  # the last line, cut by the kill
        printed.append((i, WarcRef(file, offset, length)))
    assert printed
    open_files = [path.name for path in tmp_path.glob(f"*{OPEN_SUFFIX}")]
    assert len(open_files) <= 1  # none when the kill fell between a rotation and the next file
    repaired = recover(tmp_path)
    assert repaired in ([], [name[: -len(OPEN_SUFFIX)] for name in open_files])
    assert not list(tmp_path.glob("*.open"))
    for i, ref in printed:
        assert read_response(tmp_path, ref).body == expected_body(i)
    pages = list(iter_responses(sorted(tmp_path.glob("*.warc.gz"))))
    assert len(pages) >= len(printed)
    assert all(page.body == expected_body(int(page.url.rsplit("/", 1)[1])) for page in pages)
