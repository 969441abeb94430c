"""The family report in a real browser, on a phone's width and a laptop's: headless Chromium
screenshots the page the service served (English and Spanish), and the PNG must be laid out as
designed: the blue headline band at the top across the page's width, the mastered standard's
green edge, the growth chart's blue result line, and the grey page around the cards."""

import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.integration.test_email_screenshot import CHROMIUM, GREY, Pixels, _near, read_png
from tests.integration.test_family_report import _token, mastery, school

__all__ = ["mastery", "school"]  # the fixtures, shared

BLUE, GREEN = (0x1D, 0x4E, 0xD8), (0x16, 0xA3, 0x4A)
HEIGHT = 1400
# (window width, where the page's cards start and end)
WIDTHS = {"phone": (390, 6, 384), "laptop": (800, 32, 768)}


def _screenshot(page: Path, png: Path, width: int, profile: Path) -> tuple[int, int, Pixels]:
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--screenshot={png}", f"--window-size={width},{HEIGHT}", page.as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    return read_png(png.read_bytes())


def _runs(row: list[tuple[int, int, int]], colour: tuple[int, int, int]) -> list[int]:
    return [x for x, pixel in enumerate(row) if _near(pixel, colour)]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/setup.sh installs it as root)")
@pytest.mark.parametrize("device", ["phone", "laptop"])
@pytest.mark.parametrize("language", ["en", "es"])
async def test_the_report_renders_in_chromium(
    school: str, mastery: AsyncTestClient[Any], language: str, device: str, tmp_path: Path
) -> None:
    answer = await mastery.get(f"/v1/family-reports/{_token(school, language=language)}")
    assert answer.status_code == 200, answer.text
    page = tmp_path / f"report_{language}.html"
    page.write_text(answer.text, encoding="utf-8")
    width, left, right = WIDTHS[device]
    png = tmp_path / f"report_{language}_{device}.png"
    shot_width, shot_height, rows = _screenshot(page, png, width, tmp_path / "profile")
    assert (shot_width, shot_height) == (width, HEIGHT)
    band = next(y for y in range(shot_height) if _near(rows[y][width // 2], BLUE))
    assert band < 40, "the headline band starts at the top"
    blue = _runs(rows[band + 10], BLUE)
    assert abs(blue[0] - left) <= 6, "the band starts at the page's margin"
    assert abs(blue[-1] - right) <= 6, "and ends at the other"
    assert _near(rows[band + 10][2], GREY), "the grey page around it"
    green = next(y for y in range(band, shot_height) if len(_runs(rows[y], GREEN)) > width // 2)
    assert green > band + 100, "the mastered standard's card, under the introduction"
    chart = [y for y in range(green, shot_height) if 0 < len(_runs(rows[y][left:right], BLUE)) < 40]
    assert chart, "the growth chart's blue line"
    title = [pixel for row in rows[green : green + 60] for pixel in row[left:right]]
    assert any(max(pixel) < 80 for pixel in title), "the standard's title in dark text"
