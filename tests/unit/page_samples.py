"""Page images drawn for the pipeline's stage tests."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def dark_banner_page(font_size: int) -> Image.Image:
    """A photo-sized page whose top half is a dark banner with light lettering, a line of dark print below."""
    img = Image.new("RGB", (1728, 1296), (235, 235, 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1728, 700), fill=(20, 20, 20))
    font = ImageFont.truetype(DEJAVU, font_size)
    draw.text((180, 300), "Turn the power on", font=font, fill=(235, 235, 235))
    draw.text((150, 900), "Human-computer interaction in the year 2020", font=font, fill=(40, 40, 40))
    return img


def street_photo(seed: int = 0) -> Image.Image:
    """A photo-like scene: a graded sky, a textured grey wall, and a light sign with dark lettering."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = 960, 1280
    sky = np.linspace(170, 120, h // 3)[:, None].repeat(w, 1)
    wall = 105 + 25 * np.sin(np.arange(w) / 9.0)[None, :] + rng.normal(0, 18, (h - h // 3, w))
    gray = np.clip(np.vstack([sky, wall]), 0, 255).astype(np.uint8)
    img = Image.fromarray(gray).convert("RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((300, 420, 980, 560), fill=(230, 228, 220))
    draw.text((340, 450), "OPEN DAILY", font=ImageFont.truetype(DEJAVU, 72), fill=(25, 25, 25))
    return img
