"""Files the bot shared, as the page shows them: PNG and JPEG pictures are previewed inline.

The type of a picture is read from its bytes (never from its name alone), so the preview route
serves only real PNG or JPEG data, with that content type; anything else is only downloaded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they carry the size); C4, C8 and CC are other segments.
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class Picture:
    mimetype: str  # image/png or image/jpeg
    width: int
    height: int


def picture(content: bytes | None) -> Picture | None:
    """The picture in `content` when it is a PNG or a JPEG with a readable size, else None."""
    data = bytes(content or b"")
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return Picture("image/png", width, height) if width and height else None
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    return None


def _jpeg(data: bytes) -> Picture | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in JPEG_SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return Picture("image/jpeg", width, height) if width and height else None
        if marker == 0xDA or length < 2:  # the image data starts: no size found before it
            return None
        i += 2 + length
    return None
