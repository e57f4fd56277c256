"""Pixel-count caps, checked on tiny files whose headers declare huge images: nothing is decoded or allocated.

tracemalloc sees every NumPy allocation; a peak of a few MiB proves that a 20480 x 20480 image (400 MiB at one
byte per pixel) was refused from its header.
"""
import struct
import tracemalloc
import zlib

import imageio.v3 as iio
import numpy as np
import pytest

from femur_app.data import DataError, limits
from femur_app.data.loaders import read_image

HUGE = 20480
CAP = f"{limits.MAX_PIXELS:,}"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width, height, frames=None) -> bytes:
    """A PNG signature, an IHDR for 8-bit grey, an optional acTL (animated PNG), one empty IDAT and IEND."""
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))]
    if frames is not None:
        chunks.append(_chunk(b"acTL", struct.pack(">II", frames, 0)))
    chunks += [_chunk(b"IDAT", zlib.compress(b"")), _chunk(b"IEND", b"")]
    return limits.PNG_SIGNATURE + b"".join(chunks)


def jpeg_declaring(width, height) -> bytes:
    """SOI, an APP0 segment (skipped by its length), a baseline SOF0 for one component, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def tiff_with_strip(width, height, strip: bytes, compression=8, bits=16) -> bytes:
    """A little-endian TIFF: one grey page of ``bits`` bits, ``compression`` (8 = zlib), one strip of ``strip``."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, bits), (259, 3, compression), (262, 3, 1), (273, 4, 8),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + len(strip)) + strip + ifd


def zlib_tiff_declaring(width, height) -> bytes:
    """A zlib TIFF declaring width x height 16-bit pixels that holds 100 bytes of strip data."""
    return tiff_with_strip(width, height, zlib.compress(bytes(1000))[:100].ljust(100, b"\0"))


def dicom_declaring(path, rows, columns, frames=1):
    """An uncompressed MR DICOM whose header declares rows x columns x frames and holds 64 bytes of pixels."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, meta.MediaStorageSOPInstanceUID, "MR"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames != 1:
        ds.NumberOfFrames = frames
    ds.PixelData = bytes(64)
    ds.save_as(path, enforce_file_format=True)
    return path


def refused_without_allocating(path, match, **kwargs):
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=match) as info:
            read_image(path, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(str(path))
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB allocated before refusing"
    return str(info.value)


@pytest.mark.parametrize("name, data", [
    ("huge.png", png_declaring(HUGE, HUGE)),
    ("huge.jpg", jpeg_declaring(HUGE, HUGE)),
    ("huge.tif", zlib_tiff_declaring(HUGE, HUGE)),
    ("jpeg_named.png", jpeg_declaring(HUGE, HUGE)),  # the signature decides, not the name
])
def test_a_tiny_file_declaring_20480_squared_pixels_is_refused_from_its_header(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    assert len(data) < 400
    message = refused_without_allocating(
        tmp_path / name, rf"{name}: 20480x20480 = 419,430,400 pixels, more than the limit of {CAP} "
                         rf"\(expected at most max_pixels = {CAP}; raise max_pixels")
    assert "unknown error" not in message and "pillow" not in message.lower()


def test_the_hand_made_headers_read_back_exactly(tmp_path):
    for name, data, kind in (("a.png", png_declaring(31, 17), "PNG"), ("a.jpg", jpeg_declaring(31, 17), "JPEG"),
                             ("a.tif", zlib_tiff_declaring(31, 17), "TIFF")):
        (tmp_path / name).write_bytes(data)
        assert limits.read_header(tmp_path / name) == limits.ImageHeader(kind, 31, 17, 1, 1)


def test_real_files_headers_match_their_decoded_shape(tmp_path):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 255, (23, 41), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", grey)
    iio.imwrite(tmp_path / "a.jpg", grey)
    iio.imwrite(tmp_path / "a.tif", grey.astype(np.uint16))
    iio.imwrite(tmp_path / "rgb.png", np.stack([grey] * 3, axis=-1))
    assert limits.read_header(tmp_path / "a.png") == limits.ImageHeader("PNG", 41, 23, 1, 1)
    assert limits.read_header(tmp_path / "a.jpg") == limits.ImageHeader("JPEG", 41, 23, 1, 1)
    assert limits.read_header(tmp_path / "a.tif") == limits.ImageHeader("TIFF", 41, 23, 1, 1)
    assert limits.read_header(tmp_path / "rgb.png") == limits.ImageHeader("PNG", 41, 23, 1, 3)


def test_max_pixels_is_the_exact_boundary_and_the_module_constant_is_the_default(tmp_path, monkeypatch):
    image = np.tile(np.arange(30, dtype=np.uint8), (20, 1))  # 30 x 20 = 600 pixels
    iio.imwrite(tmp_path / "a.png", image)
    assert np.array_equal(read_image(tmp_path / "a.png", max_pixels=600)[0], image)
    with pytest.raises(DataError, match=r"a.png: 30x20 = 600 pixels, more than the limit of 599 "):
        read_image(tmp_path / "a.png", max_pixels=599)
    monkeypatch.setattr(limits, "MAX_PIXELS", 599)
    with pytest.raises(DataError, match=r"more than the limit of 599"):
        read_image(tmp_path / "a.png")


def test_raising_max_pixels_above_pillows_own_limit_decodes_and_restores_pillows_limit(tmp_path, monkeypatch):
    from PIL import Image

    image = np.tile(np.arange(30, dtype=np.uint8), (20, 1))
    iio.imwrite(tmp_path / "a.png", image)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone refuses 600 pixels (> 2 x 100)
    with pytest.raises(OSError, match="unknown error occurred while initializing plugin `pillow`"):
        iio.imread(tmp_path / "a.png", plugin="pillow")  # the message users saw for a 20000 x 20000 PNG
    assert np.array_equal(read_image(tmp_path / "a.png", max_pixels=1000)[0], image)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_an_animated_png_counts_its_frames(tmp_path):
    (tmp_path / "anim.png").write_bytes(png_declaring(2000, 2000, frames=10))
    refused_without_allocating(tmp_path / "anim.png", r"anim.png: 2000x2000 x 10 frames = 40,000,000 pixels")
    (tmp_path / "two.png").write_bytes(png_declaring(20, 20, frames=2))
    with pytest.raises(DataError, match=r"two.png: has 2 frames; expected a single frame"):
        read_image(tmp_path / "two.png")


def test_a_multi_page_tiff_counts_every_page(tmp_path):
    iio.imwrite(tmp_path / "stack.tif", np.zeros((5, 20, 30), np.uint16))
    with pytest.raises(DataError, match=r"stack.tif: 30x20 x 5 frames = 3,000 pixels, more than the limit of 2,999"):
        read_image(tmp_path / "stack.tif", max_pixels=2999)


def test_a_header_declaring_an_empty_image_or_too_many_samples(tmp_path):
    (tmp_path / "empty.png").write_bytes(png_declaring(0, 10))
    with pytest.raises(DataError, match=r"empty.png: declares an empty image \(0x10 pixels\)"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(DataError, match=r"x.tif: declares 5 samples per pixel; expected 1 \(grey\) to 4"):
        limits.check_pixel_count("x.tif", 10, 10, 1, 5)


def test_dicom_rows_columns_and_frames_are_capped_before_the_pixels_are_read(tmp_path):
    refused_without_allocating(dicom_declaring(tmp_path / "big.dcm", HUGE, HUGE),
                               rf"big.dcm: 20480x20480 = 419,430,400 pixels, more than the limit of {CAP}")
    refused_without_allocating(dicom_declaring(tmp_path / "frames.dcm", 512, 512, frames=101),
                               r"frames.dcm: 512x512 x 101 frames = 26,476,544 pixels, more than the limit")


def _deflated_dicom(path, inflated_bytes: int):
    """A DICOM file meta group declaring Deflated Explicit VR Little Endian, then ``inflated_bytes`` of zeros
    deflated in 1 MiB pieces (a few KiB on disk)."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_file_meta_info(buffer, meta, enforce_standard=True)
    deflater, piece = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS), bytes(2**20)
    with open(path, "wb") as f:
        f.write(bytes(128) + b"DICM" + buffer.getvalue())
        for _ in range(inflated_bytes // 2**20):
            f.write(deflater.compress(piece))
        f.write(deflater.flush())
    return path


def test_a_deflated_dicom_bomb_is_measured_streaming_and_refused(tmp_path):
    # max_pixels = 1000 allows 8 x 1000 bytes + 16 MiB inflated; 32 MiB of zeros is more
    path = _deflated_dicom(tmp_path / "bomb.dcm", 32 * 2**20)
    assert path.stat().st_size < 64 * 2**10
    message = refused_without_allocating(path, r"bomb.dcm: deflated DICOM data set inflates to more than "
                                               r"16,785,216 bytes", max_pixels=1000)
    assert "raise max_pixels" in message


def test_a_genuine_deflated_dicom_still_loads(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    source = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    image, spacing = read_image(tmp_path / "deflated.dcm")
    assert np.array_equal(image, pydicom.dcmread(source).pixel_array.astype(np.float32))


def test_a_compressed_strip_is_measured_against_its_declared_size_before_decoding(tmp_path):
    # 200 KiB of zlib data that inflates to 200 MiB, in a file declaring a 10 x 10 image of 100 bytes
    (tmp_path / "zlib_bomb.tif").write_bytes(tiff_with_strip(10, 10, zlib.compress(bytes(200 * 2**20), 9), bits=8))
    refused_without_allocating(tmp_path / "zlib_bomb.tif", r"zlib_bomb.tif: a compressed strip or tile inflates to "
                               r"more than 65,736 bytes, but the header declares 100 per strip or tile")
    # PackBits: the byte 0x81 repeats the next byte 128 times, so 20,000 bytes make 1,280,000
    (tmp_path / "packbits_bomb.tif").write_bytes(tiff_with_strip(10, 10, b"\x81\x00" * 10_000, 32773, bits=8))
    refused_without_allocating(tmp_path / "packbits_bomb.tif", r"packbits_bomb.tif: a compressed strip or tile")


def test_honest_compressed_strips_decode_exactly(tmp_path):
    import tifffile

    image = (np.add.outer(np.arange(10), np.arange(10)) * 7 % 256).astype(np.uint8)
    packbits = bytes([99]) + image.tobytes()  # one literal run: 0x63 = copy the next 100 bytes
    (tmp_path / "packbits.tif").write_bytes(tiff_with_strip(10, 10, packbits, 32773, bits=8))
    assert np.array_equal(read_image(tmp_path / "packbits.tif")[0], image)
    ramp = (np.add.outer(np.arange(50), np.arange(70)) % 251).astype(np.uint16)
    for compression in ("zlib", "lzma"):
        tifffile.imwrite(tmp_path / "strips.tif", ramp, compression=compression, rowsperstrip=16)
        assert np.array_equal(read_image(tmp_path / "strips.tif")[0], ramp)
        tifffile.imwrite(tmp_path / "tiles.tif", ramp, compression=compression, tile=(16, 32))
        assert np.array_equal(read_image(tmp_path / "tiles.tif")[0], ramp)


@pytest.mark.parametrize("width, height, ratio", [(1, 100000, "1e+05"), (2, 13_000_000, "6.5e+06"),
                                                  (1_000_000, 20, "5e+04"), (401, 100, "4.01")])
def test_an_extreme_side_ratio_is_refused_from_the_header_before_decoding(tmp_path, width, height, ratio):
    """Each passes the pixel cap (at most 26 million pixels) but would be padded to a square of its long side."""
    path = tmp_path / "long.png"
    path.write_bytes(png_declaring(width, height))
    tracemalloc.start()
    with pytest.raises(DataError) as error:
        read_image(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    long = max(width, height)
    assert str(error.value) == (f"{path}: {width}x{height} pixels, a side ratio of {ratio}:1, more than 4:1 (expected "
                                "at most 4 times as long as wide: preprocessing pads an image to a square of its "
                                f"long side, {long:,} x {long:,} pixels here)")
    assert peak < 2**20


def test_a_side_ratio_of_exactly_4_is_read(tmp_path):
    path = tmp_path / "four.png"
    iio.imwrite(path, np.arange(4 * 16 * 16, dtype=np.uint16).reshape(16, 64))
    assert read_image(path)[0].shape == (16, 64)
