"""Reading and verifying IDX files (the MNIST family's format), gzipped or not."""
from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from ganzoo.api import GanzooError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # uint8 data with 3 and 1 dimensions


def read_idx_header(path: Path, magic: int, fix: str) -> tuple[int, ...]:
    """The dimensions an IDX file's header declares, reading only the header (for a cheap check)."""
    ndim = magic & 0xFF
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else path.open("rb")) as stream:
            head = stream.read(4 + 4 * ndim)
    except (OSError, EOFError, zlib.error) as exc:
        raise GanzooError(f"Could not read the Fashion-MNIST file '{path}': {exc}. {fix}") from None
    if len(head) < 4 + 4 * ndim or struct.unpack(">I", head[:4])[0] != magic:
        found = struct.unpack(">I", head[:4])[0] if len(head) >= 4 else None
        raise GanzooError(f"'{path}' is not an IDX file of the expected kind: its header should start with "
                          f"magic number {magic}, found {found}. It may be the wrong file or damaged. {fix}")
    return struct.unpack(f">{ndim}I", head[4:])


def read_idx(path: Path, magic: int, sha256: str, fix: str) -> np.ndarray:
    """The array in ``path``, after checking its header and the SHA-256 of its raw bytes.

    ``fix`` ends every error: it tells the user how to get a good copy.
    """
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise GanzooError(f"Could not read the Fashion-MNIST file '{path}': {exc}. {fix}") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header or struct.unpack(">I", data[:4])[0] != magic:
        found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
        raise GanzooError(f"'{path}' is not an IDX file of the expected kind: its header should start with "
                          f"magic number {magic}, found {found}. It may be the wrong file or damaged. {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) != header + int(np.prod(dims)):
        raise GanzooError(f"'{path}' is truncated or padded: its header promises {'x'.join(map(str, dims))} "
                          f"values but it holds {len(data) - header} bytes of data. {fix}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise GanzooError(f"'{path}' does not match the published Fashion-MNIST data: the SHA-256 of its "
                          f"decompressed bytes is {digest}, expected {sha256}. It is damaged or a different "
                          f"dataset in the same format. {fix}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)
