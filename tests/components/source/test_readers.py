import os

import pytest
import zstandard

from tests.dumps import compress, encode, submission, write_dump
from webtext.components.errors import InputError
from webtext.components.source.readers import iter_lines

RECORDS = [submission(str(i)) for i in range(500)]


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".bz2", ".gz", ".ndjson"])
def test_every_codec_yields_every_line(tmp_path, suffix):
    path = write_dump(tmp_path / f"RS{suffix}", RECORDS)
    assert list(iter_lines(path)) == encode(RECORDS).splitlines()


def test_zstd_with_a_long_window_reads(tmp_path):
    # Pushshift writes with --long=31: a window past zstd's default 128 MiB decoder limit.
    params = zstandard.ZstdCompressionParameters.from_level(1, window_log=31)
    data = encode(RECORDS)
    path = tmp_path / "RS_long.zst"
    path.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(data))
    assert list(iter_lines(path)) == data.splitlines()


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".bz2"])
def test_concatenated_streams_read_to_the_end(tmp_path, suffix):
    first, second = encode(RECORDS[:10]), encode(RECORDS[10:20])
    path = tmp_path / f"RS{suffix}"
    path.write_bytes(compress(first, suffix) + compress(second, suffix))
    assert len(list(iter_lines(path))) == 20


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".bz2", ".gz"])
def test_truncated_file_is_an_error_naming_it(tmp_path, suffix):
    whole = compress(encode(RECORDS), suffix)
    path = tmp_path / f"RS_cut{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="RS_cut"):
        list(iter_lines(path))


def test_random_bytes_with_a_zst_name_are_refused(tmp_path):
    path = tmp_path / "RS_noise.zst"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match=r"RS_noise\.zst: not a \.zst file"):
        list(iter_lines(path))


def test_corrupt_middle_of_a_zst_is_an_error(tmp_path):
    whole = bytearray(compress(encode(RECORDS), ".zst"))
    whole[len(whole) // 2 : len(whole) // 2 + 64] = os.urandom(64)
    path = tmp_path / "RS_bad.zst"
    path.write_bytes(bytes(whole))
    with pytest.raises(InputError, match="RS_bad"):
        list(iter_lines(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="RS_missing.zst: no such file"):
        list(iter_lines(tmp_path / "RS_missing.zst"))


def test_a_file_without_newlines_fails_instead_of_filling_memory(tmp_path, monkeypatch):
    from webtext.components.source import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1 << 20)
    path = tmp_path / "RS_array.json"
    path.write_bytes(b"[" + b'{"id": "a"},' * 200_000 + b"]")
    with pytest.raises(InputError, match="RS_array.json: a line longer than"):
        list(iter_lines(path))


def test_lines_spanning_many_chunks_are_whole(tmp_path):
    long_line = b"x" * (3 * (1 << 18) + 17)
    path = tmp_path / "RS.ndjson"
    path.write_bytes(b"a\n" + long_line + b"\nb")
    assert list(iter_lines(path)) == [b"a", long_line, b"b"]


def test_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "RS.ndjson"
    path.write_bytes(b'{"id": "a"}\n{"id": "b"}')
    assert list(iter_lines(path)) == [b'{"id": "a"}', b'{"id": "b"}']
