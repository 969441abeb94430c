"""The golden HTML emails and unsubscribe pages in a real browser: headless Chromium screenshots
them, and the PNG (read with zlib and struct only) must be the window's size, not blank, and laid
out as designed: the blue headline band across a centred white card on a grey page."""

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
WIDTH, HEIGHT = 800, 1200
BLUE, WHITE, GREY = (0x1D, 0x4E, 0xD8), (0xFF, 0xFF, 0xFF), (0xF3, 0xF4, 0xF6)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

Pixels = list[list[tuple[int, int, int]]]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, prior: bytes, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = prior[i], prior[i - bpp] if i >= bpp else 0
        add = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
        line[i] = (line[i] + add) & 0xFF


def read_png(data: bytes) -> tuple[int, int, Pixels]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks += [body] if kind == b"IDAT" else []
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    assert colour in (2, 6)
    bpp, raw = (3 if colour == 2 else 4), zlib.decompress(b"".join(chunks))
    stride, prior, rows = width * bpp, bytes(width * bpp), []
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, prior, bpp)
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        prior = bytes(line)
    return width, height, rows  # type: ignore[return-value]


def _near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(pixel, colour, strict=True))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/setup.sh installs it as root)")
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("page", ["change", "changes", "policy", "digest", "unsubscribe"])
def test_the_golden_html_email_renders_in_chromium(
    page: str, language: str, tmp_path: Path
) -> None:
    png = tmp_path / f"{page}_{language}.png"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         f"--window-size={WIDTH},{HEIGHT}", (GOLDEN / f"{page}_{language}.html").as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    width, height, rows = read_png(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert len({pixel for row in rows[::10] for pixel in row[::10]}) > 5  # not one colour
    band = next(y for y in range(height) if _near(rows[y][WIDTH // 2], BLUE))
    assert band < 60, "the headline band starts at the top"
    blue = [x for x in range(width) if _near(rows[band + 5][x], BLUE)]
    assert 560 <= len(blue) <= 620, "a 600 px card"
    assert 80 <= blue[0] <= 120, "centred"
    assert _near(rows[band + 5][10], GREY), "the grey page around it"
    body = band + 120
    assert any(_near(pixel, WHITE) for pixel in rows[body][blue[0] + 5 : blue[-1] - 5])
    assert any(not _near(pixel, WHITE) for row in rows[body : body + 300] for pixel in row[120:680])
