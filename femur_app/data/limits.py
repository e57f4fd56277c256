"""Size limits read from an image's header before a single pixel is decoded, so that no input can exhaust memory.

A 97 KB PNG can declare 10000 x 10000 pixels and an 825 KB zlib TIFF 20480 x 20480: decoding them takes
gigabytes. So the loaders first read the header - PNG's ``IHDR`` (and an animated PNG's ``acTL`` frame count),
JPEG's start-of-frame segment, TIFF's image file directories (through tifffile, which reads tags only), DICOM's
``Rows``, ``Columns`` and ``NumberOfFrames`` - and refuse a file whose pixel count, width x height x frames, is
above ``max_pixels``, or whose long side is more than ``MAX_ASPECT`` (4) times its short side. The pixel count
alone does not bound what preprocessing allocates: it pads an image without a lesion box to a square of its long
side (``femur_app.data.preprocess.resize``), so a 1 x 100000 image of 100,000 pixels would become a square of
10**10 pixels; at most 4:1, the square holds at most 4 x ``max_pixels`` pixels. The default, ``MAX_PIXELS`` =
5120 x 5120 = 26,214,400 pixels, is 25 times a 1024 x 1024 MR slice and holds the largest public bone-tumour radiographs (BTXRD's reach 3594 x 4881 = 17.5 million pixels)
with room to spare; a float64 RGBA image of that size decodes to 800 MiB. Every loader takes a ``max_pixels`` argument
to raise it (``None`` means this module's ``MAX_PIXELS``, read when the call is made).

A small header is not enough for compressed data that a decoder inflates in one call: a 200 KB zlib strip of a
10 x 10 TIFF can fill 200 MB, a few megabytes of a deflated DICOM gigabytes. Such data is inflated here first in
1 MiB steps and thrown away, counting bytes against what the header allows (``check_tiff_strips``,
``check_deflated_dicom``).

The format is taken from the file's first bytes (its signature), never from its name: a JPEG called ``.png`` is
checked as a JPEG, and a file that is none of PNG, JPEG or TIFF is refused before any decoder sees it.
"""
from __future__ import annotations

import lzma
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from femur_app.errors import DataError

MAX_PIXELS = 5120 * 5120
MAX_SAMPLES = 4  # grey, grey + alpha, RGB, RGBA: more channels than that is no image this project reads
MAX_ASPECT = 4  # long side / short side: the padded square then holds at most 4 x max_pixels pixels

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...); C4, C8 and CC are not frames
JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header declares: ``kind`` ("PNG", "JPEG", "TIFF"), size, frames and samples per pixel."""

    kind: str
    width: int
    height: int
    frames: int = 1
    samples: int = 1


def limit(max_pixels: int | None) -> int:
    """``max_pixels``, or ``MAX_PIXELS`` when it is None."""
    return MAX_PIXELS if max_pixels is None else int(max_pixels)


def check_pixel_count(path, width: int, height: int, frames: int = 1, samples: int = 1,
                      max_pixels: int | None = None) -> None:
    """DataError unless width x height x frames is between 1 and the limit, ``samples`` is at most 4 and the long
    side is at most ``MAX_ASPECT`` times the short one."""
    cap = limit(max_pixels)
    size = f"{width}x{height}" + (f" x {frames} frames" if frames != 1 else "")
    if min(width, height, frames) < 1:
        raise DataError(f"{path}: declares an empty image ({size} pixels); expected at least 1x1")
    pixels = width * height * frames  # Python ints: no overflow, whatever the header claims
    if pixels > cap:
        raise DataError(f"{path}: {size} = {pixels:,} pixels, more than the limit of {cap:,} (expected at most "
                        f"max_pixels = {cap:,}; raise max_pixels to read a larger image)")
    if samples > MAX_SAMPLES:
        raise DataError(f"{path}: declares {samples} samples per pixel; expected 1 (grey) to {MAX_SAMPLES} (RGBA)")
    long, short = max(width, height), min(width, height)
    if long > MAX_ASPECT * short:
        raise DataError(f"{path}: {width}x{height} pixels, a side ratio of {long / short:,.4g}:1, more than "
                        f"{MAX_ASPECT}:1 (expected at most {MAX_ASPECT} times as long as wide: preprocessing pads an "
                        f"image to a square of its long side, {long:,} x {long:,} pixels here)")


def check_header(path, max_pixels: int | None = None) -> ImageHeader:
    """Read ``path``'s header and check it against the limit; the header, or DataError naming the file."""
    header = read_header(path)
    check_pixel_count(path, header.width, header.height, header.frames, header.samples, max_pixels)
    return header


def read_header(path) -> ImageHeader:
    """The declared size of a PNG, JPEG or TIFF file, recognised by its signature; nothing is decoded."""
    path = Path(path)
    with open(path, "rb") as f:
        start = f.read(8)
        if len(start) < 8:
            raise DataError(f"{path}: unreadable or truncated image (the file holds only {len(start)} bytes)")
        f.seek(0)
        if start.startswith(PNG_SIGNATURE):
            return _png_header(f, path)
        if start.startswith(JPEG_SIGNATURE):
            return _jpeg_header(f, path)
    if start[:4] in TIFF_SIGNATURES:
        return _tiff_header(path)
    raise DataError(f"{path}: is not a PNG, JPEG or TIFF file (it starts with {start!r}; expected one of their "
                    "signatures)")


def _read_exactly(f, n: int, path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataError(f"{path}: truncated {what} (file ends after {f.tell()} bytes)")
    return data


def _png_header(f, path) -> ImageHeader:
    """IHDR (always the first chunk) gives the size; an ``acTL`` chunk before the image data, the frame count."""
    f.seek(len(PNG_SIGNATURE))
    length, kind = struct.unpack(">I4s", _read_exactly(f, 8, path, "PNG header"))
    if kind != b"IHDR" or length != 13:
        raise DataError(f"{path}: damaged PNG header (first chunk {kind!r} of {length} bytes; expected IHDR of 13)")
    ihdr = _read_exactly(f, 13, path, "PNG header")
    (crc,) = struct.unpack(">I", _read_exactly(f, 4, path, "PNG header"))
    if zlib.crc32(b"IHDR" + ihdr) != crc:
        raise DataError(f"{path}: damaged PNG header (IHDR checksum does not match)")
    width, height, _depth, colour_type = struct.unpack(">IIBB", ihdr[:10])
    samples = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour_type)  # a palette becomes RGB(A) when decoded
    if samples is None:
        raise DataError(f"{path}: damaged PNG header (colour type {colour_type}; expected 0, 2, 3, 4 or 6)")
    frames = 1
    while True:  # walk the chunks up to the image data: each has a length, a type, the data and a checksum
        head = f.read(8)
        if len(head) < 8:
            break  # no image data: the decoder reports the truncation
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"acTL":  # animated PNG: the number of frames comes first
            (frames,) = struct.unpack(">I", _read_exactly(f, 4, path, "PNG acTL chunk"))
            length -= 4
        f.seek(length + 4, 1)
    return ImageHeader("PNG", width, height, frames, samples)


def _jpeg_header(f, path) -> ImageHeader:
    """The size is in the start-of-frame segment; the segments before it are skipped by their length."""
    f.seek(2)
    while True:
        byte = _read_exactly(f, 1, path, "JPEG header")
        if byte != b"\xff":
            raise DataError(f"{path}: damaged JPEG header (byte {byte!r} where a marker was expected)")
        marker = _read_exactly(f, 1, path, "JPEG header")[0]
        while marker == 0xFF:  # fill bytes
            marker = _read_exactly(f, 1, path, "JPEG header")[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            continue
        if marker in (0xD9, 0xDA):  # end of image, or start of scan before any frame header
            raise DataError(f"{path}: damaged JPEG header (no frame header before the image data)")
        (length,) = struct.unpack(">H", _read_exactly(f, 2, path, "JPEG header"))
        if length < 2:
            raise DataError(f"{path}: damaged JPEG header (segment length {length})")
        if marker in JPEG_FRAME_MARKERS:
            _precision, height, width, samples = struct.unpack(">BHHB", _read_exactly(f, 6, path, "JPEG header"))
            if height == 0:
                raise DataError(f"{path}: JPEG declares its height later (DNL marker), which is not supported; "
                                "expected the height in the frame header")
            return ImageHeader("JPEG", width, height, 1, samples)
        f.seek(length - 2, 1)


def _tiff_header(path) -> ImageHeader:
    """tifffile reads the image file directories (tags only): the first page's size and the number of pages."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            frames = len(tif.pages) * int(page.imagedepth or 1)
            return ImageHeader("TIFF", int(page.imagewidth), int(page.imagelength), frames,
                               int(page.samplesperpixel or 1))
    except DataError:
        raise
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error ... for damaged headers
        raise DataError(f"{path}: damaged TIFF header ({type(exc).__name__}: {exc})") from exc


def _inflated_size(data: bytes, compression: int, limit: int) -> int:
    """Bytes that ``data`` inflates to (zlib: TIFF compression 8 or 32946; LZMA: 34925; PackBits: 32773),
    counted in 1 MiB steps and thrown away; stops counting once past ``limit``."""
    if compression == 32773:  # PackBits: n < 128 copies n + 1 bytes, n > 128 repeats one byte 257 - n times
        total, i = 0, 0
        while i < len(data) and total <= limit:
            n = data[i]
            total, i = (total + n + 1, i + n + 2) if n < 128 else (total + (257 - n if n > 128 else 0), i + 2)
        return total
    inflater = lzma.LZMADecompressor() if compression == 34925 else zlib.decompressobj()
    total = len(inflater.decompress(data, 2**20))
    while total <= limit and not inflater.eof:
        if compression == 34925:
            if inflater.needs_input:
                break
            piece = inflater.decompress(b"", 2**20)
        else:
            if not inflater.unconsumed_tail:
                break
            piece = inflater.decompress(inflater.unconsumed_tail, 2**20)
        total += len(piece)
    return total


def check_tiff_strips(path) -> None:
    """DataError if a compressed strip or tile of a TIFF's first page inflates to more than twice its declared
    size (plus 64 KiB): tifffile inflates each one whole, so its size must be known before it decodes them."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            compression = int(page.compression)
            if compression not in (8, 32946, 34925, 32773):
                return  # uncompressed, or a codec that decodes into a buffer of the declared size
            declared = math.prod(page.chunks) * page.dtype.itemsize
            limit = 2 * declared + 2**16
            for offset, count in zip(page.dataoffsets, page.databytecounts):
                tif.filehandle.seek(offset)
                inflated = _inflated_size(tif.filehandle.read(count), compression, limit)
                if inflated > limit:
                    raise DataError(f"{path}: a compressed strip or tile inflates to more than {limit:,} bytes, but "
                                    f"the header declares {declared:,} per strip or tile (expected the declared size;"
                                    " a compression bomb or a damaged file)")
    except DataError:
        raise
    except Exception as exc:  # zlib.error, LZMAError, tifffile's own errors for damaged data
        raise DataError(f"{path}: damaged TIFF data ({type(exc).__name__}: {exc})") from exc


def check_deflated_dicom(path, data_offset: int, max_pixels: int | None = None) -> None:
    """DataError if a Deflated Explicit VR Little Endian DICOM inflates to more than its pixels could fill.

    pydicom inflates such a file's whole data set in one call, so a few megabytes of zeros would take
    gigabytes. Here it is inflated in 1 MiB steps and thrown away, counting bytes, up to 8 bytes per allowed
    pixel (64-bit samples) plus 16 MiB for the other elements.
    """
    cap = 8 * limit(max_pixels) + 16 * 2**20
    inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
    try:
        with open(path, "rb") as f:
            f.seek(data_offset)
            while chunk := f.read(2**16):
                while chunk:
                    total += len(inflater.decompress(chunk, 2**20))
                    if total > cap:
                        raise DataError(f"{path}: deflated DICOM data set inflates to more than {cap:,} bytes "
                                        f"(expected at most 8 bytes per pixel of max_pixels = {limit(max_pixels):,};"
                                        " raise max_pixels to read a larger image)")
                    chunk = inflater.unconsumed_tail
    except zlib.error as exc:
        raise DataError(f"{path}: damaged deflated DICOM data ({exc})") from exc
