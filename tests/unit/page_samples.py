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
