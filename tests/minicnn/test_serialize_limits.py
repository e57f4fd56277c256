"""minicnn.serialize.load checks the zip directory before reading: a zip bomb, a lying .npy header, too many
members, non-array members and metadata that is not a JSON object are refused, each message naming the file.

tracemalloc sees every NumPy allocation and the zip reader's buffers: a peak of a few MiB proves that a member
declaring gigabytes was never decompressed.
"""
import io
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

from minicnn import serialize

MiB = 2**20


def _npy_header(shape, dtype) -> bytes:
    """The bytes ``np.save`` writes before the data of an array of ``shape`` and ``dtype`` (format 1.0)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def write_zip_bomb(path, inflated_mib: int) -> int:
    """One deflated member ``x.npy``: a true .npy header for uint8 zeros, then ``inflated_mib`` MiB of zeros.

    Each MiB is compressed once and ended with a full flush, which resets the compressor, so every further MiB
    is the same ~1 KiB of deflate data written again: a few MiB on disk declaring gigabytes. The CRC is left 0:
    a reader that decompressed the member would only find that out after inflating all of it.
    Returns the declared uncompressed size.
    """
    zeros = inflated_mib * MiB
    header = _npy_header((zeros,), np.uint8)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflater.compress(header) + deflater.flush(zlib.Z_FULL_FLUSH)
    block = deflater.compress(bytes(MiB)) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert deflater.compress(bytes(MiB)) + deflater.flush(zlib.Z_FULL_FLUSH) == block  # the same bytes every MiB
    data = head + block * inflated_mib + deflater.flush()
    size, name = len(header) + zeros, b"x.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return size


def refused(path, match, **kwargs):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as info:
            serialize.load(path, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(f"{path}: not a readable minicnn .npz file (")
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB allocated before refusing"
    return str(info.value)


def test_round_trip_keeps_every_array_and_the_metadata(tmp_path):
    rng = np.random.default_rng(0)
    state = {"conv1.weight": rng.standard_normal((5, 3, 3, 3)).astype(np.float32),
             "3.running_mean": np.arange(7, dtype=np.float64), "empty": np.zeros((0, 4), np.int64),
             "names": np.array(["a", "bcd"])}
    serialize.save(tmp_path / "m.npz", state, {"epoch": 3, "lr": [0.1, 0.01]})
    loaded, metadata = serialize.load(tmp_path / "m.npz")
    assert metadata == {"epoch": 3, "lr": [0.1, 0.01]} and sorted(loaded) == sorted(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array)


def test_a_4_mib_zip_bomb_declaring_4_gib_is_refused_from_its_directory(tmp_path):
    path = tmp_path / "bomb.npz"
    declared = write_zip_bomb(path, 4000)
    assert path.stat().st_size < 5 * MiB and declared == 4000 * MiB + 128
    refused(path, rf"its members declare {declared:,} bytes uncompressed; expected at most "
                  rf"{serialize.MAX_NPZ_BYTES:,} \(max_bytes")


def test_max_bytes_is_the_exact_boundary_of_the_declared_sizes(tmp_path):
    path = serialize.save(tmp_path / "m.npz", {"w": np.ones((10, 10)), "b": np.zeros(3, np.float32)}, {"k": 1})
    with zipfile.ZipFile(path) as archive:
        total = sum(info.file_size for info in archive.infolist())
    assert total == 3 * 128 + 800 + 12 + np.array('{"k": 1}').nbytes  # three .npy headers of 128 bytes
    assert serialize.load(path, max_bytes=total)[1] == {"k": 1}
    refused(path, rf"declare {total:,} bytes uncompressed; expected at most {total - 1:,}", max_bytes=total - 1)


def test_max_members_counts_every_member(tmp_path):
    path = serialize.save(tmp_path / "m.npz", {f"a{i}": np.zeros(2) for i in range(3)}, {"k": 1})
    assert len(serialize.load(path, max_members=4)[0]) == 3
    refused(path, r"holds 4 members; expected at most 3 arrays \(max_members\)", max_members=3)


def test_a_npy_header_larger_than_its_member_is_refused_before_allocating(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _npy_header((10**10,), np.float64) + bytes(16))
    refused(path, r"member 'w.npy' declares shape \(10000000000,\) of float64 \(80,000,000,000 bytes\) but holds 16;")


@pytest.mark.parametrize("members, problem", [
    ({"notes.txt": b"hello"}, r"member 'notes.txt' is not a .npy array"),
    ({"x.npy": _npy_header((2,), object) + bytes(16)}, r"member 'x.npy' holds Python objects, which would need pickle"),
    ({"x.npy": b"\x93NUMPY\x03\x00" + bytes(10)}, r"member 'x.npy' has .npy format version \(3, 0\)"),
])
def test_members_that_are_not_plain_arrays_are_refused(tmp_path, members, problem):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    refused(path, problem)


def test_a_member_stored_twice_is_refused(tmp_path):
    path = tmp_path / "twice.npz"
    one = _npy_header((1,), np.float64) + bytes(8)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it writes
        archive.writestr("w.npy", one)
        archive.writestr("w.npy", one)
    refused(path, r"member 'w.npy' appears twice")


@pytest.mark.parametrize("stored, problem", [
    (np.array("[1, 2]"), r"__metadata__ is a JSON list; expected a JSON object"),
    (np.array("{not json"), r"__metadata__ is not valid JSON"),
    (np.array([1.0, 2.0]), r"__metadata__ is a float64 array of shape \(2,\); expected one JSON string"),
])
def test_metadata_must_be_one_json_object(tmp_path, stored, problem):
    path = tmp_path / "meta.npz"
    np.savez(path, w=np.zeros(2), __metadata__=stored)
    refused(path, problem)


def test_files_that_are_not_zips_name_the_file(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))  # np.load would return an array, not an archive
    refused(tmp_path / "plain.npy", r"File is not a zip file")
    (tmp_path / "empty.npz").write_bytes(b"")
    refused(tmp_path / "empty.npz", r"BadZipFile")
    with pytest.raises(FileNotFoundError, match=r"gone.npz: no such file"):
        serialize.load(tmp_path / "gone.npz")


def test_follow_symlinks_false_refuses_a_link_as_it_opens(tmp_path):
    """A link is followed by default (a user's own ``latest.npz``); a run folder's file is opened with O_NOFOLLOW,
    so a link swapped in after any earlier check is still refused, unread."""
    target = tmp_path / "weights.npz"
    serialize.save(target, {"w": np.arange(3.0)}, {"epoch": 1})
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    state, metadata = serialize.load(link)
    assert state["w"].tolist() == [0.0, 1.0, 2.0] and metadata == {"epoch": 1}
    with pytest.raises(ValueError, match=rf"^{link}: is a symbolic link \(expected the file itself"):
        serialize.load(link, follow_symlinks=False)
    assert serialize.load(target, follow_symlinks=False)[1] == {"epoch": 1}
