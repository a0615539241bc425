"""Image files for tests of the image loaders, and the pixels an image grid shows."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_bomb(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims ``side`` × ``side`` pixels (a decompression bomb): a few bytes on disk, refused
    before anything is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def shown(grid) -> np.ndarray:
    """The pixels an ImageGrid shows now."""
    image = grid.canvas.image
    return np.array(image.constBits(), copy=True).reshape(image.height(), image.bytesPerLine())
