"""Small files of every kind PyTake carries, made here (their first bytes are what matters), and
a few that lie. No tests here."""

import struct

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0\xf1\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _riff(body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


WEBP = _riff(b"VP8 " + struct.pack("<I", 10) + b"\x00" * 10)
# VP8X with the animation flag (bit 1 of the flags byte), then an ANIM chunk.
WEBP_ANIMATED = _riff(
    b"VP8X" + struct.pack("<I", 10) + b"\x02" + b"\x00" * 9 + b"ANIM" + struct.pack("<I", 6) + b"\x00" * 6
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 32
GP3 = b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x02\x003gp4" + b"\x00" * 32
M4A = b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 32
OGG_OPUS = (
    b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00" + b"\x00" * 32
)
OGG_VORBIS = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis" + b"\x00" * 32
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 64
AMR = b"#!AMR\n" + b"\x00" * 32
AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 32
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
TEXT = "Pedido 123: entregue amanhã.\n".encode()
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
