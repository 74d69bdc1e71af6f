"""Synthetic document pages with line boxes: the detector's and the orientation classifier's data.

``PageSynth`` lays out A4-like documents (headings, paragraphs, lists, one or two
columns, tables and forms with ruling lines), receipts and photo-like signs
with mixed Chinese / English / numbers in Debian fonts, plus clutter the
detector must learn to ignore (rules, boxes, barcodes, stamps, photos,
signatures). ``distort`` then tilts (+-3 deg) and warps (mild perspective) the
page with its boxes and applies scan/photo degradations; ``to_working_page``
brings it to the detector's working size with the pipeline's own function.

A line's box spans its ink horizontally and, vertically, at least the band
[baseline - 0.88 em, baseline + 0.22 em] -- close to the font-metric boxes a
PDF's text layer gives -- so every line of one font size gets the same height
whatever its letters are.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.preprocess import to_working
from training import augment
from training.corpus import DATA_DIR, TextSampler
from training.fonts import Font, cjk_fonts, latin_fonts

ASCENT, DESCENT = 0.88, 0.22  # box band around the baseline, in em
INK_CONTRAST = 40  # grey levels between paper and what counts as ink


@functools.lru_cache(maxsize=1024)
def pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    # basic layout: 3x faster than raqm, and neither script here needs shaping
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


_ADVANCES: dict = {}


def _advance(face: ImageFont.FreeTypeFont, ch: str) -> float:
    key = (face.path, face.index, face.size, ch)
    if key not in _ADVANCES:
        _ADVANCES[key] = face.getlength(ch)
    return _ADVANCES[key]


@dataclass
class Page:
    image: np.ndarray  # uint8 grey (H, W)
    quads: np.ndarray  # (N, 4, 2) float32, clockwise from top-left
    texts: list[str]
    ink: np.ndarray | None = None  # bool (H, W): dark marks of the clean page, text and clutter alike
    kind: str = ""

    def __post_init__(self):
        self.quads = np.asarray(self.quads, dtype=np.float32).reshape(-1, 4, 2)


def box_quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)


@dataclass
class _Canvas:
    """A page being drawn: the image, and the lines written on it so far."""

    img: Image.Image
    paper: int
    quads: list = field(default_factory=list)
    texts: list = field(default_factory=list)

    def __post_init__(self):
        self.draw = ImageDraw.Draw(self.img)

    @property
    def size(self) -> tuple[int, int]:
        return self.img.size

    def text(self, x: float, baseline: float, text: str, font: Font, size: int, fill: int) -> float:
        """Write one line with its left ink edge near ``x``; record its box; return its right edge."""
        face = pil_font(font.path, font.index, size)
        text = text.strip()
        if not any(ch.isalnum() for ch in text):  # a lone mark is not a line anyone reads
            return x
        self.draw.text((x, baseline), text, font=face, fill=fill, anchor="ls")
        left, top, right, bottom = self.draw.textbbox((x, baseline), text, font=face, anchor="ls")
        y0 = min(top, baseline - ASCENT * size)
        y1 = max(bottom, baseline + DESCENT * size)
        self.quads.append(box_quad(left, y0, right, y1))
        self.texts.append(text)
        return right


class PageSynth:
    """Draws random pages; one ``random.Random`` seed reproduces a page exactly.

    ``render_scale`` > 1 draws pages larger than the working size, as scans are,
    so that ``to_working_page`` shrinks them like the pipeline does.
    """

    KINDS = (("document", 0.5), ("form", 0.2), ("receipt", 0.15), ("sign", 0.15))

    def __init__(self, seed: int, data_dir=DATA_DIR):
        self.rng = random.Random(seed)
        self.text = TextSampler("mix", seed, data_dir)
        self.cjk = cjk_fonts()
        self.latin = latin_fonts()
        self.bold = [f for f in self.cjk + self.latin if "Bold" in f.name or "Heavy" in f.name or "Black" in f.name]

    # ---- text --------------------------------------------------------------------------------

    def _prose(self, lang: str, chars: int) -> str:
        rng, pool = self.rng, (self.text.zh if lang == "zh" else self.text.en)
        out = ""
        while len(out) < chars:
            out += rng.choice(pool).strip() + (" " if lang == "en" else "")
        return out

    def _short(self) -> str:
        """A heading, cell or field value: prose spans, dictionary words, mixed, English or generated strings."""
        rng, t = self.rng, self.text
        r = rng.random()
        if r < 0.3:
            return t._span(rng.choice(t.zh), 3, 18)
        if r < 0.5:
            return "".join(rng.choices(t.words_zh, cum_weights=t.cum_weights_zh, k=rng.randint(1, 5)))
        if r < 0.65:
            words = [rng.choices(t.words_zh, cum_weights=t.cum_weights_zh)[0], rng.choice(t.words_en), t._generated()]
            rng.shuffle(words)
            return rng.choice(["", " "]).join(words[: rng.randint(2, 3)])
        if r < 0.85:
            return t._english()
        return t._generated()

    def _font_for(self, text: str, bold: bool = False) -> Font:
        rng = self.rng
        pool = self.latin + self.cjk if text.isascii() else self.cjk
        if bold:
            strong = [f for f in self.bold if f in pool]
            pool = strong or pool
        for _ in range(6):
            font = rng.choice(pool)
            if font.covers(text):
                return font
        return rng.choice(pool)

    @staticmethod
    def _covered(text: str, font: Font) -> str:
        return "".join(ch for ch in text if font.covers(ch))

    def _fit(self, text: str, font: Font, size: int, width: float) -> str:
        """The longest prefix of ``text`` (cut at a space for Latin text) no wider than ``width``."""
        face = pil_font(font.path, font.index, size)
        text = text[: int(width / (0.2 * size)) + 2]  # no glyph is narrower than 0.2 em: measure no more
        widths = np.cumsum([_advance(face, ch) for ch in text])  # basic layout: a line is its advances' sum
        n = int(np.searchsorted(widths, width, side="right"))
        cut = text[:n]
        if n < len(text) and " " in cut and text[n] != " " and cut[-1:].isascii():
            space = cut.rfind(" ")
            if space > len(cut) // 2:
                cut = cut[:space]
        return cut

    # ---- page ---------------------------------------------------------------------------------

    def __call__(
        self, render_scale: float = 1.0, kind: str | None = None, clutter_only: bool = False, clutter: bool = True
    ) -> Page:
        rng = self.rng
        kind = kind or rng.choices([k for k, _ in self.KINDS], [w for _, w in self.KINDS])[0]
        long_side = int(1280 * render_scale)
        if kind == "receipt":
            w, h = int(long_side * rng.uniform(0.3, 0.55)), long_side
        elif kind == "sign":
            a = rng.uniform(0.55, 0.8)
            w, h = (long_side, int(long_side * a)) if rng.random() < 0.6 else (int(long_side * a), long_side)
        else:
            a = rng.uniform(0.68, 0.78)
            w, h = (int(long_side * a), long_side) if rng.random() < 0.9 else (long_side, int(long_side * a))
        paper = rng.randint(200, 255)
        canvas = _Canvas(Image.new("L", (w, h), paper), paper)
        s = render_scale
        if not clutter_only:
            getattr(self, f"_layout_{kind}")(canvas, s)
        for _ in range((rng.choice([0, 0, 1, 1, 2, 3]) if clutter else 0) + (4 if clutter_only else 0)):
            self._clutter(canvas, s)
        img = np.asarray(canvas.img)
        ink = np.abs(img.astype(np.int16) - paper) > INK_CONTRAST
        return Page(
            image=np.array(img), quads=np.array(canvas.quads).reshape(-1, 4, 2), texts=list(canvas.texts), ink=ink, kind=kind
        )

    def _ink_level(self, paper: int) -> int:
        return self.rng.randint(0, max(0, min(110, paper - 100)))

    def _layout_document(self, c: _Canvas, s: float) -> None:
        rng = self.rng
        w, h = c.size
        lang = rng.choice(["zh", "zh", "en", "en", "mix"])
        body = int(round(rng.choice([rng.uniform(7, 12), rng.uniform(10, 18), rng.uniform(14, 26)]) * s))
        margin_x = int(w * rng.uniform(0.04, 0.12))
        top, bottom = int(h * rng.uniform(0.03, 0.1)), int(h * rng.uniform(0.9, 0.97))
        columns = 2 if rng.random() < 0.35 and body < 18 * s else 1
        gutter = int(max(40 * s, body * rng.uniform(1.5, 4)))
        col_w = (w - 2 * margin_x - (columns - 1) * gutter) // columns
        ink = self._ink_level(c.paper)
        if rng.random() < 0.4:  # running header with a rule under it
            y = top
            self._single(c, margin_x, y + body, self._short(), int(body * 0.85), ink, col_w * columns)
            c.draw.line([(margin_x, y + 1.6 * body), (w - margin_x, y + 1.6 * body)], fill=ink, width=max(1, int(s)))
            top += int(2.5 * body)
        if rng.random() < 0.6:  # title across all columns
            size = min(int(body * rng.uniform(1.4, 2.6)), int(72 * s))
            y = top + size
            centred = rng.random() < 0.5
            self._single(c, margin_x, y, self._short(), size, ink, w - 2 * margin_x, bold=rng.random() < 0.6, centre=centred)
            top = int(y + size * rng.uniform(0.8, 1.6))
        for col in range(columns):
            x = margin_x + col * (col_w + gutter)
            y = top
            while y < bottom:
                y = self._block(c, x, y, col_w, bottom, body, ink, lang, s)
        if rng.random() < 0.5:  # page number
            self._single(c, w // 2 - body, int(h * 0.985), str(rng.randint(1, 400)), int(body * 0.9), ink, 6 * body)

    def _block(self, c, x, y, width, bottom, body, ink, lang, s) -> float:
        """Draw one block at the top of the remaining space; return the y where the next one starts."""
        rng = self.rng
        r = rng.random()
        if r < 0.15:  # section heading
            size = min(int(body * rng.uniform(1.15, 1.8)), int(60 * s))
            base = y + size * 1.2
            if base + size * 0.3 > bottom:
                return bottom
            self._single(c, x, base, self._short(), size, ink, width, bold=rng.random() < 0.7)
            return base + size * rng.uniform(0.6, 1.2)
        if r < 0.25:
            return self._table(c, x, y, width, bottom, body, ink, s)
        if r < 0.32:
            return self._figure(c, x, y, width, bottom, body, s)
        if r < 0.42:
            return self._list(c, x, y, width, bottom, body, ink, lang)
        return self._paragraph(c, x, y, width, bottom, body, ink, lang)

    def _single(self, c, x, baseline, text, size, ink, width, bold=False, centre=False, right=False) -> float:
        font = self._font_for(text, bold)
        text = self._fit(self._covered(text, font), font, size, width)
        if not text.strip():
            return x
        if centre or right:
            length = pil_font(font.path, font.index, size).getlength(text)
            x = x + (width - length) / (2 if centre else 1)
        return c.text(x, baseline, text, font, size, ink)

    def _paragraph(self, c, x, y, width, bottom, body, ink, lang) -> float:
        rng = self.rng
        size = max(6, int(body * rng.uniform(0.9, 1.1)))
        lead = size * rng.uniform(1.25, 1.9)
        n = rng.randint(1, 9)
        probe = self._prose("zh" if lang != "en" else "en", 8)
        font = self._font_for(probe if lang != "en" else "abc", bold=rng.random() < 0.05)
        text = self._prose("en" if lang == "en" or (lang == "mix" and rng.random() < 0.3) else "zh", n * 90)
        text = self._covered(text, font)
        base = y + lead
        indent = size * 2 if rng.random() < 0.4 else 0
        for i in range(n):
            if base + DESCENT * size > bottom or not text:
                break
            avail = width - (indent if i == 0 else 0)
            line = self._fit(text, font, size, avail)
            if not line:
                break
            text = text[len(line) :].lstrip()
            if i == n - 1 and rng.random() < 0.7:  # a paragraph's last line is usually short
                line = line[: max(1, int(len(line) * rng.uniform(0.2, 1.0)))]
            c.text(x + (indent if i == 0 else 0), base, line, font, size, ink)
            base += lead
        return base - lead + size * rng.uniform(0.8, 2.0)

    def _list(self, c, x, y, width, bottom, body, ink, lang) -> float:
        rng = self.rng
        size = body
        lead = size * rng.uniform(1.4, 2.0)
        base = y + lead
        style = rng.choice(["•", "-", "num", "（num）", "□"])
        for i in range(rng.randint(2, 6)):
            if base + DESCENT * size > bottom:
                break
            mark = {"num": f"{i + 1}.", "（num）": f"（{i + 1}）"}.get(style, style)
            item = self._short() if rng.random() < 0.6 else self._prose("en" if lang == "en" else "zh", 40)
            self._single(c, x + size, base, f"{mark} {item}", size, ink, width - size)
            base += lead
        return base - lead + size * 1.2

    def _table(self, c, x, y, width, bottom, body, ink, s) -> float:
        """A grid of short cells; cells on one row are kept >= 2 anchor widths apart so they stay separate lines."""
        rng = self.rng
        size = max(6, int(body * rng.uniform(0.8, 1.05)))
        rows, cols = rng.randint(2, 9), rng.randint(2, 5)
        pad = max(int(20 * s), size)
        row_h = int(size * rng.uniform(1.6, 2.4))
        weights = [rng.uniform(0.6, 1.6) for _ in range(cols)]
        widths = [int(width * wt / sum(weights)) for wt in weights]
        if min(widths) < 2 * pad + 2 * size or y + row_h * 2 > bottom:
            return self._paragraph(c, x, y, width, bottom, body, ink, "mix")
        grid = rng.random() < 0.5
        line_w = max(1, int(s * rng.choice([1, 1, 2])))
        top = y + size * 0.5
        yy = top
        for r in range(rows):
            if yy + row_h > bottom:
                break
            xx = x
            for col in range(cols):
                if rng.random() < 0.85:
                    text = self._short() if rng.random() < 0.6 or r == 0 else self.text._generated()
                    align = rng.choice(["left", "left", "right", "centre"])
                    self._single(
                        c,
                        xx + pad,
                        yy + row_h * 0.5 + size * 0.35,
                        text,
                        size,
                        ink,
                        widths[col] - 2 * pad,
                        bold=r == 0 and rng.random() < 0.5,
                        centre=align == "centre",
                        right=align == "right",
                    )
                xx += widths[col]
            if grid or r == 0:
                c.draw.line([(x, yy + row_h), (x + sum(widths), yy + row_h)], fill=ink, width=line_w)
            yy += row_h
        c.draw.line([(x, top), (x + sum(widths), top)], fill=ink, width=line_w)
        c.draw.line([(x, yy), (x + sum(widths), yy)], fill=ink, width=line_w)
        if grid:
            xx = x
            for wcol in [0, *widths]:
                xx += wcol
                c.draw.line([(xx, top), (xx, yy)], fill=ink, width=line_w)
        return yy + size * rng.uniform(1.0, 2.0)

    def _figure(self, c, x, y, width, bottom, body, s) -> float:
        rng = self.rng
        fh = int(min(bottom - y, rng.uniform(0.1, 0.3) * c.size[1]))
        fw = int(width * rng.uniform(0.4, 1.0))
        if fh < 40 * s:
            return bottom
        fx = x + (width - fw) // 2
        self._photo(c, fx, y + body // 2, fw, fh)
        base = y + body // 2 + fh + body * 1.6
        if base < bottom and rng.random() < 0.7:  # caption
            self._single(c, x, base, self._short(), max(6, int(body * 0.9)), self._ink_level(c.paper), width, centre=True)
        return base + body

    def _layout_form(self, c: _Canvas, s: float) -> None:
        rng = self.rng
        w, h = c.size
        body = int(round(rng.uniform(9, 22) * s))
        ink = self._ink_level(c.paper)
        mx = int(w * rng.uniform(0.05, 0.1))
        y = int(h * rng.uniform(0.04, 0.1))
        size = min(int(body * rng.uniform(1.4, 2.2)), int(64 * s))
        self._single(c, mx, y + size, self._short(), size, ink, w - 2 * mx, bold=True, centre=rng.random() < 0.7)
        y += int(size * 2)
        bottom = int(h * 0.95)
        labels_zh = ["姓名", "日期", "地址", "电话", "编号", "金额", "单位", "备注", "签名", "部门", "性别", "邮编"]
        labels_en = ["Name", "Date", "Address", "Phone", "No.", "Amount", "Company", "Remarks", "Signature", "Dept.", "Email"]
        while y < bottom:
            r = rng.random()
            if r < 0.2:
                y = self._table(c, mx, y, w - 2 * mx, bottom, body, ink, s)
                continue
            if r < 0.3:
                y = self._paragraph(c, mx, y, w - 2 * mx, bottom, body, ink, rng.choice(["zh", "en"]))
                continue
            # a row of one or two "label: value" fields, values on an underline or in boxes
            lead = body * rng.uniform(2.0, 3.2)
            base = y + lead
            if base > bottom:
                break
            fields = rng.choice([1, 2, 2])
            span = (w - 2 * mx) / fields
            for f in range(fields):
                fx = mx + f * span
                label = rng.choice(labels_zh if rng.random() < 0.6 else labels_en) + rng.choice(["：", ":", ""])
                end = self._single(c, fx, base, label, body, ink, span * 0.4)
                vx = end + max(body, 34 * s)  # far enough apart to be separate lines
                if rng.random() < 0.5:
                    c.draw.line(
                        [(vx - body * 0.3, base + body * 0.35), (fx + span - 40 * s, base + body * 0.35)],
                        fill=ink,
                        width=max(1, int(s)),
                    )
                if rng.random() < 0.75 and fx + span - 40 * s - vx > 3 * body:
                    self._single(
                        c,
                        vx,
                        base - body * 0.1,
                        self._short(),
                        body,
                        self._ink_level(c.paper),
                        fx + span - 40 * s - vx,
                    )
                elif rng.random() < 0.3:
                    for k in range(rng.randint(2, 6)):  # character boxes
                        bx = vx + k * body * 1.5
                        c.draw.rectangle([bx, base - body, bx + body * 1.2, base + body * 0.3], outline=ink, width=max(1, int(s)))
            y = base + body * 0.4

    def _layout_receipt(self, c: _Canvas, s: float) -> None:
        rng = self.rng
        w, h = c.size
        body = int(round(rng.uniform(11, 24) * s))
        ink = self._ink_level(c.paper)
        mx = int(w * rng.uniform(0.05, 0.1))
        width = w - 2 * mx
        lead = body * rng.uniform(1.3, 1.8)
        base = h * rng.uniform(0.03, 0.08) + body * 1.5
        mono = [f for f in self.cjk + self.latin if "Mono" in f.name] or self.cjk
        for _ in range(rng.randint(1, 3)):  # shop name and address, centred
            size = int(body * rng.uniform(1.0, 1.8))
            self._single(c, mx, base, self._short(), size, ink, width, bold=rng.random() < 0.5, centre=True)
            base += size * 1.6
        while base < h * 0.95:
            r = rng.random()
            if r < 0.12:  # a dashed separator, drawn as graphics
                dash = rng.randint(3, 8)
                for x in range(mx, mx + width, 2 * dash):
                    c.draw.line([(x, base - body * 0.3), (x + dash, base - body * 0.3)], fill=ink, width=max(1, int(s)))
                base += lead
                continue
            if r < 0.18:
                self._barcode(c, mx + width // 4, int(base - body), width // 2, int(body * 2.5))
                base += body * 3.5
                continue
            left = self._short()[: rng.randint(2, 14)]
            price = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
            font = rng.choice(mono) if rng.random() < 0.4 else self._font_for(left)
            left = self._fit(self._covered(left, font), font, body, width * 0.55)
            if left.strip():
                c.text(mx, base, left, font, body, ink)
            pfont = self._font_for(price)
            length = pil_font(pfont.path, pfont.index, body).getlength(price)
            c.text(mx + width - length, base, price, pfont, body, ink)
            base += lead

    def _layout_sign(self, c: _Canvas, s: float) -> None:
        """Few big lines on a textured background: signs, slides, posters, photographed screens."""
        rng = self.rng
        w, h = c.size
        self._photo(c, 0, 0, w, h, soft=True)
        n = rng.randint(1, 8)
        base = h * rng.uniform(0.05, 0.2)
        for _ in range(n):
            size = int(rng.uniform(20, 72) * s)
            base += size * rng.uniform(1.3, 2.0)
            if base > h * 0.95:
                break
            x = rng.uniform(0.02, 0.3) * w
            region = np.asarray(c.img)[max(0, int(base - size)) : int(base), :]
            bg = int(np.median(region)) if region.size else c.paper
            fill = rng.randint(0, 60) if bg > 128 else rng.randint(200, 255)  # contrast with what lies behind
            self._single(
                c, x, base, self._short(), size, fill, w - x - 0.02 * w, bold=rng.random() < 0.5, centre=rng.random() < 0.4
            )

    # ---- clutter: marks that are not text ------------------------------------------------------

    def _free_spot(self, c: _Canvas, fw: float, fh: float, tries: int = 20) -> tuple[float, float] | None:
        """A random top-left corner where an fw x fh mark covers no line: clutter sits beside text, not on it."""
        w, h = c.size
        boxes = np.array(c.quads).reshape(-1, 4, 2)
        lo, hi = boxes.min(1) if len(boxes) else np.zeros((0, 2)), boxes.max(1) if len(boxes) else np.zeros((0, 2))
        for _ in range(tries):
            x, y = self.rng.uniform(0, max(1.0, w - fw)), self.rng.uniform(0, max(1.0, h - fh))
            if not ((lo[:, 0] < x + fw) & (hi[:, 0] > x) & (lo[:, 1] < y + fh) & (hi[:, 1] > y)).any():
                return x, y
        return None

    def _clutter(self, c: _Canvas, s: float) -> None:
        rng = self.rng
        w, h = c.size
        kind = rng.choice(["rule", "box", "barcode", "stamp", "photo", "signature", "specks", "logo"])
        ink = self._ink_level(c.paper)
        x, y = rng.uniform(0, w * 0.9), rng.uniform(0, h * 0.9)
        if kind == "specks":
            for _ in range(rng.randint(20, 300)):
                px, py, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.5, 2.5)
                c.draw.ellipse([px - r, py - r, px + r, py + r], fill=rng.randint(0, 150))
            return
        if kind == "rule":  # rules may cross text: underlines, strike-outs, table borders
            if rng.random() < 0.7:
                c.draw.line([(x, y), (x + rng.uniform(0.1, 0.8) * w, y)], fill=ink, width=rng.randint(1, 4))
            else:
                c.draw.line([(x, y), (x, y + rng.uniform(0.1, 0.6) * h)], fill=ink, width=rng.randint(1, 3))
            return
        size = {
            "box": (rng.uniform(20, 0.5 * w), rng.uniform(20, 0.3 * h)),
            "barcode": (rng.uniform(60, 250) * s, rng.uniform(15, 80) * s),
            "stamp": (rng.uniform(50, 160) * s,) * 2,
            "photo": (rng.uniform(0.1, 0.4) * w, rng.uniform(0.08, 0.3) * h),
            "signature": (rng.uniform(80, 300) * s, rng.uniform(20, 80) * s),
            "logo": (rng.uniform(30, 150) * s, rng.uniform(20, 80) * s),
        }[kind]
        fw, fh = size
        spot = self._free_spot(c, fw, fh)
        if spot is None:
            return
        x, y = spot
        if kind == "box":
            c.draw.rectangle([x, y, x + fw, y + fh], outline=ink, width=rng.randint(1, 3))
        elif kind == "barcode":
            self._barcode(c, int(x), int(y), int(fw), int(fh))
        elif kind == "stamp":
            r = fw / 2
            grey = rng.randint(60, 170)
            c.draw.ellipse([x, y, x + 2 * r, y + 2 * r], outline=grey, width=max(2, int(r / 12)))
            c.draw.ellipse([x + r * 0.2, y + r * 0.2, x + r * 1.8, y + r * 1.8], outline=grey, width=1)
            pts = [
                (
                    x + r + r * 0.5 * math.cos(a) * (1 if i % 2 == 0 else 0.4),
                    y + r + r * 0.5 * math.sin(a) * (1 if i % 2 == 0 else 0.4),
                )
                for i, a in enumerate(np.linspace(-math.pi / 2, 1.5 * math.pi, 11)[:-1])
            ]
            c.draw.polygon(pts, fill=grey)
        elif kind == "photo":
            self._photo(c, int(x), int(y), int(fw), int(fh))
        elif kind == "signature":
            pts = [(x, y + fh / 2)]
            for _ in range(rng.randint(8, 30)):
                px, py = pts[-1]
                pts.append(
                    (
                        float(np.clip(px + rng.uniform(-10, 25) * s, x, x + fw)),
                        float(np.clip(py + rng.uniform(-15, 15) * s, y, y + fh)),
                    )
                )
            c.draw.line(pts, fill=ink, width=rng.randint(1, 3), joint="curve")
        else:  # logo: a few filled shapes
            for _ in range(rng.randint(1, 4)):
                r = min(fh / 2, rng.uniform(8, 40) * s)
                fill = rng.randint(0, 180)
                if rng.random() < 0.5:
                    c.draw.ellipse([x, y, x + 2 * r, y + 2 * r], fill=fill)
                else:
                    c.draw.polygon([(x, y + 2 * r), (x + r, y), (x + 2 * r, y + 2 * r)], fill=fill)
                x += r * rng.uniform(0.5, 1.5)

    def _barcode(self, c: _Canvas, x: int, y: int, width: int, height: int) -> None:
        rng = self.rng
        xx = x
        while xx < x + width:
            bar = rng.randint(1, 4)
            c.draw.rectangle([xx, y, xx + bar - 1, y + height], fill=rng.randint(0, 40))
            xx += bar + rng.randint(1, 4)

    def _photo(self, c: _Canvas, x: int, y: int, width: int, height: int, soft: bool = False) -> None:
        """Smooth random shading with a few blobs and edges: a picture, not text."""
        rng = self.rng
        if width < 4 or height < 4:
            return
        gen = np.random.default_rng(rng.getrandbits(32))
        cells = (max(2, height // rng.randint(20, 120)), max(2, width // rng.randint(20, 120)))
        field_ = cv2.resize(gen.uniform(0, 1, cells).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        lo, hi = (rng.uniform(60, 200), rng.uniform(120, 255)) if soft else (rng.uniform(0, 120), rng.uniform(100, 255))
        pic = np.clip(lo + (hi - lo) * field_, 0, 255).astype(np.uint8)
        for _ in range(rng.randint(0, 6)):
            cx, cy, r = rng.randint(0, width), rng.randint(0, height), rng.randint(5, max(6, min(width, height) // 3))
            cv2.circle(pic, (cx, cy), r, rng.randint(0, 255), -1 if rng.random() < 0.7 else rng.randint(1, 4))
        c.img.paste(Image.fromarray(pic), (int(x), int(y)))


# ---- distortions of a whole page ----------------------------------------------------------------


def _transform_quads(quads: np.ndarray, m: np.ndarray) -> np.ndarray:
    if len(quads) == 0:
        return quads.reshape(-1, 4, 2)
    return cv2.perspectiveTransform(quads.reshape(-1, 1, 2).astype(np.float64), m).reshape(-1, 4, 2).astype(np.float32)


def warp_page(
    page: Page, rng: random.Random, max_tilt: float = 3.0, perspective: float = 0.03, photo_border: float = 0.0
) -> Page:
    """Tilt and mildly warp a page, boxes included; ``photo_border`` > 0 shows it on a darker surface."""
    h, w = page.image.shape
    bx, by = int(w * photo_border), int(h * photo_border)
    out_w, out_h = w + 2 * bx, h + 2 * by
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    t = math.radians(rng.uniform(-max_tilt, max_tilt))
    centre = np.float32([w / 2, h / 2])
    rot = np.float32([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    dst = (src - centre) @ rot.T + centre + np.float32([bx, by])
    dst += np.float32(
        [[rng.uniform(-perspective, perspective) * w, rng.uniform(-perspective, perspective) * h] for _ in range(4)]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    paper = int(np.median(page.image[::8, ::8]))
    if photo_border > 0:
        surface = rng.randint(20, 150)
        gen = np.random.default_rng(rng.getrandbits(32))
        bg = cv2.resize(gen.uniform(-1, 1, (8, 8)).astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_CUBIC)
        canvas = np.clip(surface + 30 * bg, 0, 255).astype(np.uint8)
        warped = cv2.warpPerspective(page.image, m, (out_w, out_h), flags=cv2.INTER_LINEAR)
        inside = cv2.warpPerspective(np.ones((h, w), np.uint8), m, (out_w, out_h), flags=cv2.INTER_NEAREST) > 0
        image = np.where(inside, warped, canvas)
    else:
        image = cv2.warpPerspective(
            page.image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper
        )
    ink = None
    if page.ink is not None:
        ink = cv2.warpPerspective(page.ink.astype(np.uint8), m, (out_w, out_h), flags=cv2.INTER_NEAREST) > 0
    return Page(image=image, quads=_transform_quads(page.quads, m), texts=page.texts, ink=ink, kind=page.kind)


def shadow(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A soft dark region from a hand or a phone over part of the page."""
    h, w = img.shape
    sh, sw = max(2, h // 8), max(2, w // 8)  # drawn and blurred small: a soft shadow has no detail
    mask = np.zeros((sh, sw), np.float32)
    pts = np.array([[rng.uniform(-0.2, 1.2) * sw, rng.uniform(-0.2, 1.2) * sh] for _ in range(rng.randint(3, 5))], np.int32)
    cv2.fillPoly(mask, [pts], 1.0)
    mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.05 * max(sh, sw))), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img.astype(np.float32) * (1 - rng.uniform(0.2, 0.5) * mask), 0, 255).astype(np.uint8)


def paper_texture(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Low-frequency blotches of recycled or aged paper."""
    h, w = img.shape
    gen = np.random.default_rng(rng.getrandbits(32))
    field_ = cv2.resize(
        gen.uniform(-1, 1, (max(2, h // 64), max(2, w // 64))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(img.astype(np.float32) + rng.uniform(5, 25) * field_, 0, 255).astype(np.uint8)


def distort(page: Page, rng: random.Random, strength: float | None = None) -> Page:
    """A scanned or photographed copy of a clean page: geometry first (boxes follow), then degradations."""
    photo = page.kind in ("receipt", "sign") and rng.random() < 0.6 or rng.random() < 0.15
    if rng.random() < 0.75 or photo:
        page = warp_page(
            page,
            rng,
            max_tilt=3.0 if rng.random() < 0.8 else 0.5,
            perspective=0.03 if photo else 0.01,
            photo_border=rng.uniform(0.02, 0.12) if photo else 0.0,
        )
    img = page.image
    if rng.random() < 0.3:
        img = paper_texture(img, rng)
    if photo and rng.random() < 0.5:
        img = augment.uneven_light(img, rng)
    if rng.random() < 0.15:
        img = shadow(img, rng)
    strength = rng.uniform(0.1, 0.6) if strength is None else strength
    img = augment.degrade(img, rng, strength=strength)
    return Page(image=img, quads=page.quads, texts=page.texts, ink=page.ink, kind=page.kind)


def _bend(x: np.ndarray, y: np.ndarray, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit displacement of a bent page at normalised (x, y): a vertical sag that varies across the
    page (a spine, a curled edge) and changes with height (the sheet is not a perfect cylinder), with
    a little sideways give."""
    c1, p1, c2, p2, k, c3, p3 = terms
    across = c1 * np.sin(np.pi * x + p1) + c2 * np.sin(2 * np.pi * x + p2)
    return c3 * np.sin(np.pi * y + p3), across * (1 + k * (y - 0.5))


def curve_page(page: Page, rng: random.Random, amount: float | None = None, tolerance: float = 0.25) -> Page:
    """Bend the page (a mesh warp); each line's quad becomes the quad through its bent corners.

    A bent line is a curve, not a quad, so the bend is limited: along the top and bottom edge of
    every line, the bent edge stays within ``tolerance`` line heights of the quad's straight edge.
    ``amount`` is the sag wanted, as a fraction of the page height; narrow columns allow more than
    full-width lines.
    """
    h, w = page.image.shape
    terms = np.array(
        [rng.uniform(-1, 1), rng.uniform(0, np.pi), rng.uniform(-0.4, 0.4), rng.uniform(0, 2 * np.pi)]
        + [rng.uniform(-1, 1), rng.uniform(-0.3, 0.3), rng.uniform(0, np.pi)]
    )

    def field(points: np.ndarray) -> np.ndarray:  # pixels -> unit displacement in pixels
        dx, dy = _bend(points[..., 0] / w, points[..., 1] / h, terms)
        return np.stack([dx, dy], -1) * h

    a = rng.uniform(0.005, 0.03) if amount is None else amount
    quads = page.quads.astype(np.float64)
    if len(quads):
        t = np.linspace(0, 1, 9)[None, :, None]
        worst = 0.0
        for i0, i1 in ((0, 1), (3, 2)):  # top edge, bottom edge
            p0, p1 = quads[:, i0, None, :], quads[:, i1, None, :]
            edge = p0 + t * (p1 - p0)
            # displacement is linear in the amount, so its departure from the chord is too
            chord = field(p0) + t * (field(p1) - field(p0))
            off = np.linalg.norm(field(edge) - chord, axis=-1).max(1)
            height = np.linalg.norm(quads[:, 3] - quads[:, 0], axis=-1) + 1e-6
            worst = max(worst, float((off / height).max()))
        a = min(a, tolerance / max(worst, 1e-9))
    # cv2.remap pulls: for each output pixel, the source point that lands there, found by fixed-point
    # iteration of dst = src + a * field(src) on a coarse grid (the field is smooth)
    step = 16
    gy, gx = np.mgrid[0 : h + step : step, 0 : w + step : step].astype(np.float64)
    dst = np.stack([gx, gy], -1)
    src = dst.copy()
    for _ in range(4):
        src = dst - a * field(src)
    full = cv2.resize(src.astype(np.float32), (gx.shape[1] * step, gy.shape[0] * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    paper = int(np.median(page.image[::8, ::8]))
    image = cv2.remap(page.image, full[..., 0], full[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    ink = None
    if page.ink is not None:
        ink = cv2.remap(page.ink.astype(np.uint8), full[..., 0], full[..., 1], cv2.INTER_NEAREST) > 0
    bent = (quads + a * field(quads)).astype(np.float32) if len(quads) else page.quads
    return Page(image=image, quads=bent, texts=page.texts, ink=ink, kind=page.kind)


def photograph(page: Page, rng: random.Random) -> Page:
    """A phone photo of a clean page: perspective, bending, uneven light, shadow, moire, motion blur
    and a low-quality JPEG; the boxes follow the geometry."""
    page = warp_page(
        page, rng, max_tilt=rng.choice([2.0, 6.0]), perspective=rng.uniform(0.01, 0.07), photo_border=rng.uniform(0.0, 0.1)
    )
    if rng.random() < 0.6:
        page = curve_page(page, rng)
    img = page.image
    if rng.random() < 0.7:
        img = augment.uneven_light(img, rng)
    if rng.random() < 0.35:
        img = shadow(img, rng)
    if rng.random() < 0.2:
        img = augment.moire(img, rng)
    if rng.random() < 0.3:
        img = augment.motion_blur(img, rng)
    elif rng.random() < 0.4:
        img = augment.blur(img, rng)
    if rng.random() < 0.5:
        img = augment.noise(img, rng)
    img = augment.jpeg(img, rng, quality=(8, 40)) if rng.random() < 0.7 else img
    return Page(image=img, quads=page.quads, texts=page.texts, ink=page.ink, kind=page.kind)


def to_working_page(page: Page) -> Page:
    """The page as the detector sees it: the pipeline's own scaling, contrast normalisation and padding."""
    working, matrix, (cw, ch), _ = to_working(page.image, skew=0.0)
    ink = None
    if page.ink is not None:
        ink = np.zeros(working.shape, dtype=bool)
        ink[:ch, :cw] = (
            cv2.resize(
                page.ink.astype(np.uint8),
                (cw, ch),
                interpolation=cv2.INTER_AREA if cw < page.image.shape[1] else cv2.INTER_NEAREST,
            )
            > 0
        )
    quads = page.quads.reshape(-1, 2) @ matrix[:2, :2].T.astype(np.float32) + matrix[:2, 2].astype(np.float32)
    return Page(image=working, quads=quads.reshape(-1, 4, 2), texts=page.texts, ink=ink, kind=page.kind)
