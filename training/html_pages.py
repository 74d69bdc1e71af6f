"""Document pages typeset by a browser: newspapers, magazines, textbooks, slides, exam papers, tables.

``PageSynth`` (training.pages) draws lines one by one onto blank pages; real pages
have layouts it never makes: 3-6 narrow justified columns of 8-pt text, headlines
over several columns, figures with captions and axis labels, formulas, tinted boxes,
light-on-dark banners, table headers and slides. ``HtmlPageSynth`` writes such pages
as HTML/CSS with text from the corpora on this machine (Simplified and Traditional
Chinese, English), Chromium lays them out and renders them at 72-300 dpi (the
device scale factor), and every text line's box is read back from the DOM.

Boxes follow the detector's convention (training.pages: [baseline - 0.88 em,
baseline + 0.22 em] vertically, the glyph advances horizontally): each face is
declared with ``ascent-override: 88%; descent-override: 22%``, so the content area
Chromium reports for a run of text is exactly that band. A Range over each
character gives its rect; characters on one visual line of one text node form a
fragment, and the fragments of one visual line in one block and column (a paragraph
with bold words, superscripts) merge into one line. Text the page clips (overflowing columns,
the page's bottom edge) is dropped when unseen and marked ``IGNORE`` (don't care)
when cut; so are display formulas and lines without a letter or digit.

One Chromium per process (``Browser``), started on first use (after DataLoader
workers fork) and reused; ``HtmlPagePool`` keeps rendered pages in memory so that
a training worker reuses each with fresh distortions and renders a new one now
and then. ``line_crops`` cuts (line image, text) pairs for the recognizer.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
import random
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.recognizer import crop_line
from training.corpus import DATA_DIR
from training.fonts import Font, cjk_fonts, latin_fonts
from training.pages import ASCENT, DESCENT, INK_CONTRAST, Page, box_quad
from training.real_data import IGNORE

log = logging.getLogger(__name__)
CSS_DPI = 96  # a CSS pixel is 1/96 inch: device scale factor = dpi / 96
A4 = (794, 1123)  # CSS pixels
DPIS = (72, 96, 100, 120, 150, 200, 250, 300)
DPI_WEIGHTS = (3, 2, 3, 2, 3, 3, 1, 1)  # low resolution is where detection fails today; 300 dpi costs 9x the pixels of 100
# Fragments of one visual line of one block merge across gaps up to this many line heights: justified
# narrow columns spread words 2-3 em apart and are still one line; wider gaps part separate texts.
MERGE_GAP = 4.0


# ---- text ------------------------------------------------------------------------------------------


class Texts:
    """Prose, headings and short strings from training/data/corpus_{zh,zh_tw,en}.txt."""

    def __init__(self, rng: random.Random, data_dir=DATA_DIR):
        self.rng = rng
        self.lines = {
            lang: (data_dir / f"corpus_{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("zh", "zh_tw", "en")
        }
        try:  # Taiwan print uses other words too (软件 -> 軟體); the zh_TW man pages alone say little else
            import opencc

            self.to_tw = opencc.OpenCC("s2twp").convert
        except ImportError:
            self.to_tw = None

    def _run(self, lang: str, chars: int) -> str:
        """Consecutive corpus lines from a random place: man pages and manuals read as connected prose."""
        source = "zh" if lang == "zh_tw" and self.to_tw and self.rng.random() < 0.35 else lang
        pool = self.lines[source]
        i = self.rng.randrange(len(pool))
        out, sep = [], " " if lang == "en" else ""
        n = 0
        while n < chars:
            line = pool[i % len(pool)].strip()
            out.append(line)
            n += len(line) + len(sep)
            i += 1
        text = sep.join(out)[: max(chars, 1)]
        return self.to_tw(text) if source != lang else text

    def prose(self, lang: str, chars: int) -> str:
        text = self._run(lang, chars)
        if lang == "en":  # end at a word
            cut = text.rfind(" ")
            text = text[:cut] if cut > chars // 2 else text
            return text.rstrip(",;:") + "."
        return text.rstrip("，、；：,;:") + "。"

    def phrase(self, lang: str, lo: int, hi: int) -> str:
        """A heading, caption or cell: a span of one line, whole words in English."""
        if lang == "en":
            words = self._run("en", 8 * hi).split()
            k = max(1, self.rng.randint(lo, hi) // 6)
            start = self.rng.randrange(max(1, len(words) - k))
            out = " ".join(words[start : start + k]).strip(".,;:()[]")
            return out[:1].upper() + out[1:] if out else "Summary"
        text = self._run(lang, hi + 4).strip()
        n = self.rng.randint(lo, hi)
        start = self.rng.randint(0, max(0, len(text) - n))
        return text[start : start + n].strip("，。、；：,.;: ") or text[:n]

    def number(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return f"{rng.randint(0, 99999):,}"
        if r < 0.6:
            return f"{rng.uniform(-100, 1000):.{rng.randint(1, 2)}f}"
        if r < 0.75:
            return f"{rng.uniform(0, 100):.1f}%"
        if r < 0.9:
            return f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return str(rng.randint(1, 500))


# ---- fonts and colours -----------------------------------------------------------------------------


@functools.cache
def _postscript_name(font: Font) -> str:
    from fontTools.ttLib import TTCollection, TTFont

    face = (
        TTCollection(font.path, lazy=True).fonts[font.index]
        if font.path.endswith((".ttc", ".otc"))
        else TTFont(font.path, lazy=True)
    )
    return face["name"].getDebugName(6) or font.name


def _regular(fonts: list[Font]) -> list[Font]:
    return [f for f in fonts if not any(s in f.name for s in ("Bold", "Oblique", "Italic", "Mono", "Sharp"))]


def _bold_of(font: Font, fonts: list[Font]) -> Font | None:
    return next((f for f in fonts if f.name == font.name + " Bold"), None)


def face_css(family: str, font: Font, weight: int) -> str:
    # the overrides make every run's content area the detector's box band, whatever the face's own metrics
    local = f'local("{_postscript_name(font)}"), local("{font.name}")'
    return (
        f"@font-face {{ font-family: {family}; src: {local}; font-weight: {weight}; "
        f"ascent-override: {ASCENT:.0%}; descent-override: {DESCENT:.0%}; line-gap-override: 0%; }}\n"
    )


def luma(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def _css(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


# ---- the page writer -----------------------------------------------------------------------------


@dataclass
class HtmlDoc:
    html: str
    width: int  # CSS pixels
    height: int
    kind: str
    lang: str


class HtmlPageSynth:
    """Writes random HTML pages; one seed reproduces the same documents."""

    KINDS = (("newspaper", 0.22), ("magazine", 0.14), ("textbook", 0.2), ("slide", 0.12), ("exam", 0.16), ("table", 0.16))
    LANGS = (("zh", 0.42), ("zh_tw", 0.23), ("en", 0.35))

    def __init__(self, seed: int, data_dir=DATA_DIR):
        self.rng = random.Random(seed)
        self.text = Texts(self.rng, data_dir)
        self.latin_all = latin_fonts()
        self.latin = _regular(self.latin_all)
        self.cjk_all = {False: cjk_fonts(False), True: cjk_fonts(True)}
        self.cjk = {k: _regular(v) for k, v in self.cjk_all.items()}

    def __call__(self, kind: str | None = None, lang: str | None = None, plain: bool = False) -> HtmlDoc:
        """A page of ``kind``; ``plain``: black on white without pictures or rules, for checks of the boxes."""
        rng = self.rng
        kind = kind or rng.choices([k for k, _ in self.KINDS], [p for _, p in self.KINDS])[0]
        lang = lang or rng.choices([k for k, _ in self.LANGS], [p for _, p in self.LANGS])[0]
        self.lang, self.plain = lang, plain
        self.ink = (0, 0, 0) if plain else self._colour(0, 70)
        self.accent = (0, 0, 0) if plain else self._colour(20, 110, saturated=True)
        width, height = {"slide": rng.choice([(960, 540), (1024, 768)]), "newspaper": (900, rng.choice([1200, 1300, 1400]))}.get(
            kind, A4
        )
        self.width, self.height = width, height
        body, css = getattr(self, "_" + kind)()
        return HtmlDoc(self._document(body, css, lang), width, height, kind, lang)

    # ---- helpers ----

    def _colour(self, lo: float, hi: float, saturated: bool = False) -> tuple[int, int, int]:
        """A random colour whose grey level lies in [lo, hi]: contrast survives the conversion to grey."""
        rng = self.rng
        for _ in range(50):
            c = tuple(rng.randint(0, 255) for _ in range(3))
            if not saturated:
                m = sum(c) / 3
                c = tuple(int(m + (v - m) * rng.uniform(0, 0.4)) for v in c)
            if lo <= luma(c) <= hi:
                return c
        g = int((lo + hi) / 2)
        return (g, g, g)

    def _fonts_css(self) -> str:
        """Families B (body), H (headings, bold where a bold face exists) and M (monospace), each a Latin face then a CJK one."""
        rng = self.rng
        trad = self.lang == "zh_tw"
        css = ""
        for family in ("B", "H"):
            latin = rng.choice(self.latin)
            cjk = rng.choice(self.cjk[trad])
            for role, font, pool in (("L", latin, self.latin_all), ("C", cjk, self.cjk_all[trad])):
                css += face_css(family + role, font, 400)
                bold = _bold_of(font, pool)
                if bold is not None:
                    css += face_css(family + role, bold, 700)
        mono = [f for f in self.latin_all if "Mono" in f.name and "Bold" not in f.name and "Oblique" not in f.name]
        css += face_css("ML", rng.choice(mono), 400) if mono else ""
        return css

    def _document(self, body: str, css: str, lang: str) -> str:
        html_lang = {"zh": "zh-Hans", "zh_tw": "zh-Hant", "en": "en"}[lang]
        return (
            f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8"><style>\n'
            + self._fonts_css()
            + "html, body { margin: 0; padding: 0; }\n"
            + f"body {{ width: {self.width}px; height: {self.height}px; overflow: hidden; position: relative; "
            + f"font-family: BL, BC; color: {_css(self.ink)}; font-kerning: normal; overflow-wrap: anywhere; }}\n"
            + "h1, h2, h3, h4, .H { font-family: HL, HC; margin: 0; }\n"
            + ".M { font-family: ML, BC; }\n"
            + "p { margin: 0; }\n"
            + ".blank { display: inline-block; border-bottom: 1px solid currentColor; height: 1em; vertical-align: baseline; }\n"
            + ".frac { display: inline-block; vertical-align: middle; text-align: center; margin: 0 0.2em; }\n"
            + ".frac > span { display: block; padding: 0 0.2em; }\n"
            + ".frac > span:first-child { border-bottom: 1px solid currentColor; }\n"
            + css
            + "</style></head>\n<body>"
            + body
            + "</body></html>"
        )

    def _paper_css(self) -> str:
        """The page's background: white, tinted, textured, ruled or a gradient."""
        rng = self.rng
        if self.plain:
            return "background: #fff;"
        r = rng.random()
        if r < 0.45:
            return f"background: {_css(self._colour(238, 255))};"
        if r < 0.65:
            return f"background: {_css(self._colour(205, 250))};"
        if r < 0.8:
            return f"background: {_css(self._colour(215, 250))} url({self._texture()});"
        if r < 0.9:
            step = rng.randint(18, 40)
            line = _css(self._colour(150, 215, saturated=True))
            grid = (
                f", repeating-linear-gradient(90deg, transparent 0 {step - 1}px, {line} {step - 1}px {step}px)"
                if rng.random() < 0.4
                else ""
            )
            return (
                f"background: repeating-linear-gradient(0deg, transparent 0 {step - 1}px, {line} {step - 1}px {step}px){grid}, "
                f"{_css(self._colour(235, 255))};"
            )
        a, b = self._colour(215, 255), self._colour(200, 255)
        return f"background: linear-gradient({rng.randint(0, 360)}deg, {_css(a)}, {_css(b)});"

    def _texture(self) -> str:
        """A tileable speckle of recycled paper as a data URL."""
        rng = self.rng
        gen = np.random.default_rng(rng.getrandbits(32))
        side = 96
        noise = gen.normal(0, 1, (side, side)).astype(np.float32)
        # blurred as a 3 x 3 tiling and cut from the middle: the tile repeats without seams
        noise = cv2.GaussianBlur(np.tile(noise, (3, 3)), (0, 0), rng.uniform(0.6, 3.0))[side : 2 * side, side : 2 * side]
        noise = noise / (noise.std() + 1e-6) * rng.uniform(4, 12)
        base = np.array(self._colour(215, 250), np.float32)[None, None, ::-1]
        img = np.clip(base + noise[..., None], 0, 255).astype(np.uint8)
        return _data_url(img)

    def _picture(self, w: int, h: int) -> str:
        """A photo-like picture (smooth shading, blobs and edges): ink that is not text."""
        rng = self.rng
        gen = np.random.default_rng(rng.getrandbits(32))
        sw, sh = max(8, w // 4), max(8, h // 4)
        cells = (rng.randint(2, 6), rng.randint(2, 6), 3)
        img = cv2.resize(gen.uniform(0, 255, cells).astype(np.float32), (sw, sh), interpolation=cv2.INTER_CUBIC)
        for _ in range(rng.randint(1, 6)):
            colour = tuple(float(v) for v in gen.uniform(0, 255, 3))
            centre = (rng.randrange(sw), rng.randrange(sh))
            if rng.random() < 0.5:
                cv2.circle(img, centre, rng.randint(2, max(3, min(sw, sh) // 3)), colour, -1)
            else:
                cv2.rectangle(img, centre, (centre[0] + rng.randint(2, sw // 2), centre[1] + rng.randint(2, sh // 2)), colour, -1)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
        return (
            f'<img src="{_data_url(np.clip(img, 0, 255).astype(np.uint8))}" style="width: {w}px; height: {h}px; display: block;">'
        )

    def _e(self, text: str) -> str:
        return html.escape(text, quote=False)

    def _size(self, lo_pt: float, hi_pt: float) -> float:
        return round(self.rng.uniform(lo_pt, hi_pt) * 4 / 3, 1)  # points to CSS pixels

    def _prose_chars(self, width: float, height: float, size: float) -> int:
        """How many characters fill a width x height box at this size (a little more: overflow is clipped)."""
        per_line = width / (size * (1.0 if self.lang != "en" else 0.5))
        return int(per_line * height / (size * 1.5) * 1.4) + 20

    def _heading(self, lo: int, hi: int) -> str:
        lang = self.lang
        text = self.text.phrase(lang, lo, hi)
        rng = self.rng
        if rng.random() < 0.4:
            if lang == "en":
                text = f"{rng.randint(1, 12)}.{rng.randint(1, 9)} {text}"
            else:
                text = rng.choice(["一、", "二、", "三、", "第三章 ", "第一節 " if lang == "zh_tw" else "第一节 ", "1.2 "]) + text
        return self._e(text)

    def _formula(self) -> tuple[str, bool]:
        """An inline formula (sup/sub, Greek, operators) or a display one with a stacked fraction (don't care)."""
        rng = self.rng
        v = rng.choice("xyzabtnk")
        a, b, c = (rng.randint(2, 9) for _ in range(3))
        inline = [
            f"f({v}) = {a}{v}<sup>2</sup> + {b}{v} − {c}",
            f"{v}<sub>n+1</sub> = {v}<sub>n</sub> + {a}d",
            "sin<sup>2</sup>θ + cos<sup>2</sup>θ = 1",
            f"∑<sub>i=1</sub><sup>n</sup> {v}<sub>i</sub> = {a}n",
            f"E = mc<sup>2</sup>, Δ{v} ≈ {a}.{b}",
            f"α + β = {a * 10}°, √{a * a} = {a}",
            f"|{v} − {a}| ≤ {b}",
            f"lim<sub>{v}→0</sub> sin {v} / {v} = 1",
            "P(A∪B) = P(A) + P(B) − P(A∩B)",
            f"{v} ∈ [{a}, {a + b}], {v} ≠ {c}",
        ]
        if rng.random() < 0.6:
            return rng.choice(inline), False
        num = rng.choice([f"{a}{v} + {b}", f"d{v}", f"{v}<sup>2</sup> − {c}", "1", "−b ± √(b<sup>2</sup> − 4ac)"])
        den = rng.choice([f"{c}", "d t", f"{v} + {a}", "2a", f"{a}{v}"])
        lhs = rng.choice(["y =", f"f({v}) =", "S =", ""])
        return f'{lhs} <span class="frac"><span>{num}</span><span>{den}</span></span> + {rng.choice(inline)}', True

    def _figure(self, width: int, caption: bool = True) -> str:
        """A photo or a bar chart with axis labels and a legend, with a caption."""
        rng = self.rng
        h = int(width * rng.uniform(0.45, 0.8))
        if self.plain:
            return ""
        if rng.random() < 0.5:
            inner = self._picture(width, h)
        else:
            bars, chart_h = rng.randint(3, 8), int(h * 0.75)
            small = self._size(6, 8)
            bar_html = "".join(
                f'<div style="display: inline-block; vertical-align: bottom; width: {int(width * 0.7 / bars)}px; '
                f"margin-right: {int(width * 0.2 / bars)}px; height: {rng.randint(10, chart_h)}px; "
                f'background: {_css(self._colour(40, 200, saturated=True))};"></div>'
                for _ in range(bars)
            )
            ticks = "".join(
                f'<span style="display: inline-block; width: {int(width * 0.9 / bars)}px;">{self._e(self.text.number())}</span>'
                for _ in range(bars)
            )
            axis = _css(self.ink)
            inner = (
                f'<div style="width: {width}px; font-size: {small}px;">'
                f'<div style="height: {chart_h}px; border-left: 1px solid {axis}; border-bottom: 1px solid {axis}; '
                f'padding-left: 6px; white-space: nowrap; overflow: hidden; line-height: 0;">{bar_html}</div>'
                f'<div style="padding-left: 6px; white-space: nowrap;">{ticks}</div>'
                f'<div style="margin-top: 4px;">■ {self._e(self.text.phrase(self.lang, 2, 8))} '
                f"&nbsp;&nbsp;&nbsp;&nbsp;□ {self._e(self.text.phrase(self.lang, 2, 8))}</div></div>"
            )
        cap = ""
        if caption:
            label = {
                "en": f"Figure {rng.randint(1, 12)}.",
                "zh": f"图 {rng.randint(1, 9)}-{rng.randint(1, 9)}",
                "zh_tw": f"圖 {rng.randint(1, 9)}",
            }[self.lang]
            cap = (
                f'<p style="font-size: 0.85em; margin-top: 4px; text-align: center;">'
                f"{label} {self._e(self.text.phrase(self.lang, 4, 20))}</p>"
            )
        return f'<div style="margin: 0.6em auto; width: {width}px; break-inside: avoid;">{inner}{cap}</div>'

    def _paragraphs(self, width: float, height: float, size: float, indent: bool = True) -> str:
        rng = self.rng
        chars = self._prose_chars(width, height, size)
        out = []
        while chars > 0:
            n = rng.randint(40, 400) if self.lang != "en" else rng.randint(80, 800)
            style = "text-indent: 2em;" if indent and rng.random() < 0.8 else ""
            text = self._e(self.text.prose(self.lang, n))
            if rng.random() < 0.25:  # a bold or coloured run inside the paragraph
                words = text.split(" ") if self.lang == "en" else list(text)
                k = rng.randrange(max(1, len(words) - 4))
                sep = " " if self.lang == "en" else ""
                run = sep.join(words[k : k + rng.randint(1, 4)])
                colour = f' style="color: {_css(self.accent)}"' if rng.random() < 0.5 else ""
                text = sep.join(words[:k]) + sep + f"<b{colour}>{run}</b>" + sep + sep.join(words[k + 4 :])
            out.append(f'<p style="{style}">{text}</p>')
            chars -= n
        return "".join(out)

    def _banner(self, text: str, size: float) -> str:
        """Light text on a dark band: section names, table headers, slide titles."""
        bg = (20, 20, 20) if self.plain else self._colour(0, 90, saturated=True)
        fg = self._colour(215, 255) if not self.plain else (255, 255, 255)
        return (
            f'<div class="H" style="background: {_css(bg)}; color: {_css(fg)}; font-size: {size}px; '
            f'padding: 0.25em 0.5em; margin: 0.4em 0; font-weight: 700;">{text}</div>'
        )

    # ---- layouts ----

    def _newspaper(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        w, h = self.width, self.height
        cols = rng.randint(3, 6)
        size = self._size(7, 9.5)
        margin = rng.randint(18, 40)
        title_size = rng.randint(44, 72)
        mast_bg = rng.random() < 0.3 and not self.plain
        title = {
            "en": rng.choice(["The Daily", "Evening Post", "Herald", "Morning News", "Tribune"]),
            "zh": "日报",
            "zh_tw": "日報",
        }[lang]
        title = self._e(self.text.phrase(lang, 2, 4) + title if lang != "en" else title + " " + self.text.phrase("en", 4, 8))
        mast = (
            self._banner(title, title_size)
            if mast_bg
            else f'<h1 style="font-size: {title_size}px; text-align: center; font-weight: 700;">{title}</h1>'
        )
        date = f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        sub = (
            f'<div style="display: flex; justify-content: space-between; font-size: {size}px; '
            f'border-top: 2px solid; border-bottom: 1px solid; padding: 3px 0; margin: 4px 0 8px;">'
            f"<span>{date}</span><span>{self._e(self.text.phrase(lang, 4, 12))}</span><span>No. {rng.randint(1, 30000)}</span></div>"
        )
        col_w = (w - 2 * margin) / cols
        col_h = h - title_size * 1.6 - 60
        body = []
        chars = self._prose_chars(w - 2 * margin, col_h, size)
        while chars > 0:
            head_size = round(size * rng.uniform(1.3, 2.6), 1)
            span = " column-span: all;" if rng.random() < 0.15 else ""
            body.append(
                f'<h2 style="font-size: {head_size}px; line-height: 1.2; margin: 0.3em 0 0.2em;{span}">{self._heading(6, 24)}</h2>'
            )
            if rng.random() < 0.5:
                body.append(
                    f'<p style="font-size: {size * 0.9:.1f}px; font-style: italic;">{self._e(self.text.phrase(lang, 4, 14))}</p>'
                )
            if rng.random() < 0.2:
                body.append(self._figure(int(col_w - 10)))
            if rng.random() < 0.15:
                body.append(self._banner(self._e(self.text.phrase(lang, 2, 8)), size * 1.2))
            n = rng.randint(200, 1200)
            body.append(self._paragraphs(col_w, n / (col_w / size) * size * 1.5, size))
            chars -= n + 40
        rule = "1px solid #777" if rng.random() < 0.6 else "none"
        css = self._columns_css(margin, cols, rng.randint(8, 18), col_h, size, rng.uniform(1.2, 1.5), rule)
        return f'<div class="page">{mast}{sub}<div class="cols">{"".join(body)}</div></div>', css

    def _columns_css(self, margin: int, cols: int, gap: int, col_h: float, size: float, leading: float, rule: str) -> str:
        """A page of ``cols`` columns filled top to bottom, left to right; what overflows is clipped (and dropped)."""
        align = self.rng.choice(["justify", "justify", "left"])
        return (
            f"body {{ {self._paper_css()} }}\n"
            f".page {{ padding: {margin}px; }}\n"
            f".cols {{ column-count: {cols}; column-gap: {gap}px; column-rule: {rule}; column-fill: auto; "
            f"height: {int(col_h)}px; overflow: hidden; font-size: {size}px; line-height: {leading:.2f}; text-align: {align}; }}\n"
        )

    def _magazine(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        w, h = self.width, self.height
        margin = rng.randint(40, 80)
        size = self._size(8.5, 11)
        cols = rng.choice([2, 2, 3])
        title_size = rng.randint(26, 46)
        parts = [
            f'<h1 style="font-size: {title_size}px; line-height: 1.15; font-weight: 700; color: {_css(self.accent)};">'
            f"{self._e(self.text.phrase(lang, 6, 22))}</h1>"
        ]
        parts.append(
            f'<p style="font-size: {size * 1.4:.1f}px; font-style: italic; margin: 0.4em 0 0.8em;">'
            f"{self._e(self.text.prose(lang, rng.randint(30, 90)))}</p>"
        )
        used = title_size * 2.5 + size * 5
        if rng.random() < 0.7 and not self.plain:
            pic_h = int(h * rng.uniform(0.15, 0.3))
            parts.append(self._picture(w - 2 * margin, pic_h))
            parts.append(
                f'<p style="font-size: {size * 0.8:.1f}px; margin: 3px 0 10px;">{self._e(self.text.phrase(lang, 6, 30))}</p>'
            )
            used += pic_h + size * 3
        col_h = h - 2 * margin - used
        inner = []
        chars = self._prose_chars(w - 2 * margin, col_h, size)
        while chars > 0:
            n = rng.randint(150, 700)
            inner.append(self._paragraphs((w - 2 * margin) / cols, n / ((w - 2 * margin) / cols / size) * size * 1.5, size))
            chars -= n
            r = rng.random()
            if r < 0.2:  # pull quote
                inner.append(
                    f'<div style="font-size: {size * 1.7:.1f}px; line-height: 1.3; margin: 0.6em 0; padding: 0.4em 0; '
                    f"border-top: 2px solid {_css(self.accent)}; border-bottom: 2px solid {_css(self.accent)}; "
                    f'color: {_css(self.accent)}; break-inside: avoid;">{self._e(self.text.prose(lang, rng.randint(20, 60)))}</div>'
                )
            elif r < 0.35:  # sidebar on a tint
                tint = (245, 245, 245) if self.plain else self._colour(195, 245)
                inner.append(
                    f'<div style="background: {_css(tint)}; padding: 0.6em; margin: 0.6em 0; break-inside: avoid;">'
                    f'<h3 style="font-size: {size * 1.2:.1f}px;">{self._heading(4, 12)}</h3>'
                    f"{self._paragraphs((w - 2 * margin) / cols, size * 8, size * 0.95, indent=False)}</div>"
                )
            elif r < 0.45:
                inner.append(f'<h3 style="font-size: {size * 1.3:.1f}px; margin: 0.5em 0 0.2em;">{self._heading(4, 16)}</h3>')
        css = self._columns_css(margin, cols, rng.randint(16, 30), col_h, size, rng.uniform(1.3, 1.6), "none")
        return f'<div class="page">{"".join(parts)}<div class="cols">{"".join(inner)}</div></div>', css

    def _textbook(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        w, h = self.width, self.height
        margin = rng.randint(50, 100)
        size = self._size(9.5, 12)
        text_w = w - 2 * margin
        parts = [
            f'<div style="display: flex; justify-content: space-between; font-size: {size * 0.8:.1f}px; '
            f'border-bottom: 1px solid; margin-bottom: 1.2em; padding-bottom: 2px;">'
            f"<span>{self._e(self.text.phrase(lang, 4, 14))}</span><span>{rng.randint(1, 400)}</span></div>"
        ]
        if rng.random() < 0.5:
            parts.append(f'<h1 style="font-size: {size * 2:.1f}px; margin: 0.4em 0 0.6em;">{self._heading(4, 16)}</h1>')
        y = size * 6
        labels = {
            "en": ("Definition", "Example", "Exercises"),
            "zh": ("定义", "例题", "习题"),
            "zh_tw": ("定義", "例題", "習題"),
        }[lang]
        while y < h:
            r = rng.random()
            if r < 0.15:
                parts.append(f'<h2 style="font-size: {size * 1.35:.1f}px; margin: 0.8em 0 0.4em;">{self._heading(4, 18)}</h2>')
                y += size * 3
            elif r < 0.3:
                formula, display = self._formula()
                attr = ' data-ignore="1"' if display else ""
                parts.append(f'<div{attr} style="text-align: center; margin: 0.6em 0; font-style: italic;">{formula}</div>')
                y += size * 3.5
            elif r < 0.42:
                fw = int(text_w * rng.uniform(0.4, 0.8))
                parts.append(self._figure(fw))
                y += fw * 0.8
            elif r < 0.55:
                tint = (250, 250, 250) if self.plain else self._colour(205, 250)
                formula, _ = self._formula()
                parts.append(
                    f'<div style="background: {_css(tint)}; border-left: 4px solid {_css(self.accent)}; padding: 0.5em 0.8em; margin: 0.6em 0;">'
                    f'<b style="color: {_css(self.accent)}">{rng.choice(labels[:2])} {rng.randint(1, 9)}.{rng.randint(1, 9)}</b> '
                    f"{self._e(self.text.prose(lang, rng.randint(30, 160)))} <i>{formula}</i></div>"
                )
                y += size * 6
            elif r < 0.6:
                code = "\n".join(self.text.phrase("en", 10, 60) for _ in range(rng.randint(2, 6)))
                parts.append(
                    f'<pre class="M" style="font-size: {size * 0.9:.1f}px; line-height: 1.35; margin: 0.5em 0; padding: 0.4em; '
                    f'border: 1px solid;">{self._e(code)}</pre>'
                )
                y += size * 8
            elif r < 0.7:
                items = "".join(
                    f'<p style="padding-left: 1.5em; text-indent: -1.5em;">{k}. {self._e(self.text.prose(lang, rng.randint(15, 90)))}</p>'
                    for k in range(1, rng.randint(3, 6))
                )
                parts.append(f'<div style="margin: 0.5em 0;"><b>{labels[2]}</b>{items}</div>')
                y += size * 8
            else:
                n = rng.randint(100, 500)
                parts.append(self._paragraphs(text_w, n / (text_w / size) * size * 1.6, size))
                y += n / (text_w / size) * size * 1.6 * (2 if lang == "en" else 1) * 0.5 + size
        footnote = ""
        if rng.random() < 0.5:  # footnote in small print, below the text's clipped box
            footnote = (
                f'<div style="position: absolute; left: {margin}px; right: {margin}px; bottom: {margin // 2}px; '
                f'font-size: {size * 0.7:.1f}px; border-top: 1px solid; padding-top: 3px;">'
                f"① {self._e(self.text.prose(lang, rng.randint(30, 120)))}</div>"
            )
        # the flow clips at its own box (no padding): overflow clips at the padding edge, which the DOM reads as the box
        css = (
            f"body {{ {self._paper_css()} }}\n"
            f".page {{ padding: {margin}px; }}\n"
            f".flow {{ height: {h - 2 * margin - size * 4:.0f}px; overflow: hidden; font-size: {size}px; "
            f"line-height: {rng.uniform(1.4, 1.8):.2f}; text-align: {rng.choice(['justify', 'left'])}; }}\n"
        )
        return f'<div class="page"><div class="flow">{"".join(parts)}</div></div>{footnote}', css

    def _slide(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        w, h = self.width, self.height
        dark = rng.random() < 0.35 and not self.plain
        if self.plain:
            bg_css, fg = "background: #fff;", (0, 0, 0)
        elif dark:
            a, b = self._colour(0, 70, saturated=True), self._colour(0, 70, saturated=True)
            bg_css, fg = f"background: linear-gradient({rng.randint(0, 360)}deg, {_css(a)}, {_css(b)});", self._colour(200, 255)
        else:
            bg_css, fg = self._paper_css(), self.ink
        title_size = rng.randint(28, 48)
        size = rng.randint(16, 30)
        pad = rng.randint(30, 60)
        title = self._e(self.text.phrase(lang, 4, 20))
        head = (
            self._banner(title, title_size)
            if rng.random() < 0.35 and not dark
            else f'<h1 style="font-size: {title_size}px; line-height: 1.2; margin-bottom: 0.5em; color: {_css(fg if dark else self.accent)};">{title}</h1>'
        )
        picture = rng.random() < 0.4 and not self.plain
        list_w = (w - 2 * pad) * (0.55 if picture else 1.0)
        items, y = [], title_size * 2.5
        while y < h - pad - size * 3:
            sub = rng.random() < 0.25 and items
            s = size * (0.8 if sub else 1.0)
            text = self._e(self.text.phrase(lang, 6, int(list_w / s * (1 if lang != "en" else 2))))
            items.append(
                f'<p style="font-size: {s:.0f}px; margin: 0.3em 0 0.3em {1.5 if sub else 0}em;">{"–" if sub else "•"} {text}</p>'
            )
            y += s * 1.9 * (2 if len(text) * s * (1 if lang != "en" else 0.5) > list_w else 1)
        right = (
            f'<div style="width: {(w - 2 * pad) * 0.4:.0f}px;">{self._picture(int((w - 2 * pad) * 0.4), int(h * 0.45))}</div>'
            if picture
            else ""
        )
        footer = (
            f'<div style="position: absolute; left: {pad}px; right: {pad}px; bottom: {pad // 3}px; display: flex; '
            f'justify-content: space-between; font-size: {max(9, size // 2)}px; opacity: 1;">'
            f"<span>{self._e(self.text.phrase(lang, 4, 12))}</span><span>{rng.randint(1, 60)}</span></div>"
        )
        css = f"body {{ {bg_css} color: {_css(fg)}; }}\n.page {{ padding: {pad}px; }}\n"
        return (
            f'<div class="page">{head}<div style="display: flex; gap: {pad}px;"><div style="width: {list_w:.0f}px;">'
            f"{''.join(items)}</div>{right}</div></div>{footer}",
            css,
        )

    def _exam(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        h = self.height
        margin = rng.randint(45, 80)
        size = self._size(9.5, 12)
        zh = lang != "en"
        trad = lang == "zh_tw"
        year = rng.randint(2015, 2030)
        if zh:
            subject = rng.choice(["数学", "语文", "物理", "化学", "历史", "地理", "生物"])
            title = f"{year}年{rng.choice(['高一', '高二', '初三', '七年级'])}{subject}{rng.choice(['期末考试', '期中测试', '单元检测'])}试卷"
            if trad:
                title = self.text.to_tw(title) if self.text.to_tw else title
            fields = ["班級", "姓名", "座號", "得分"] if trad else ["班级", "姓名", "学号", "得分"]
            sections = ["一、選擇題", "二、填空題", "三、解答題"] if trad else ["一、选择题", "二、填空题", "三、解答题"]
        else:
            title = f"{rng.choice(['Final', 'Midterm', 'Unit'])} Examination {year} · {rng.choice(['Mathematics', 'English', 'Physics', 'History'])}"
            fields = ["Class", "Name", "No.", "Score"]
            sections = ["Part I Multiple Choice", "Part II Fill in the Blanks", "Part III Questions"]
        parts = [f'<h1 style="font-size: {size * 1.7:.1f}px; text-align: center; margin-bottom: 0.5em;">{self._e(title)}</h1>']
        parts.append(
            '<div style="text-align: center; margin-bottom: 0.8em;">'
            + "".join(
                f'<span style="display: inline-block; margin: 0 1em;">{f}{"：" if zh else ":"}<span class="blank" style="width: {rng.randint(4, 7)}em;"></span></span>'
                for f in fields
            )
            + "</div>"
        )
        if rng.random() < 0.6:  # score table
            head = ["题号", "一", "二", "三", "总分"] if zh else ["Part", "I", "II", "III", "Total"]
            row2 = ["得分" if zh else "Score"] + [""] * 4
            cells = "".join(
                "<tr>"
                + "".join(f'<td style="border: 1px solid; padding: 2px 1.2em; text-align: center;">{c}</td>' for c in row)
                + "</tr>"
                for row in (head, row2)
            )
            parts.append(f'<table style="border-collapse: collapse; margin: 0 auto 0.8em;">{cells}</table>')
        y, q = size * 14, 1
        for sec in sections:
            if y > h:
                break
            points = rng.randint(2, 10)
            note = f"（每小題{points}分）" if trad else f"（每小题{points}分）" if zh else f" ({points} points each)"
            parts.append(f'<h3 style="font-size: {size * 1.1:.1f}px; margin: 0.8em 0 0.4em;">{self._e(sec + note)}</h3>')
            y += size * 3
            for _ in range(rng.randint(2, 6)):
                if y > h:
                    break
                stem = self._e(self.text.prose(lang, rng.randint(20, 110)))
                formula, display = self._formula() if rng.random() < 0.3 else ("", False)
                formula = f' <span data-ignore="1">{formula}</span>' if display else f" {formula}"
                tail = "（　　）" if zh and sec is sections[0] else ' <span class="blank" style="width: 5em;"></span>'
                parts.append(f'<p style="margin-top: 0.4em;">{q}. {stem}{formula}{tail}</p>')
                y += size * 4
                if sec is sections[0]:
                    across = rng.choice([1, 2, 4])
                    opts = "".join(
                        f'<span style="display: inline-block; width: {100 / across - 1:.0f}%; vertical-align: top;">'
                        f"{letter}. {self._e(self.text.phrase(lang, 2, 40 // across + 2) if rng.random() < 0.7 else self.text.number())}</span>"
                        for letter in "ABCD"
                    )
                    parts.append(f'<div style="padding-left: 1.5em;">{opts}</div>')
                    y += size * 1.6 * (4 // across)
                elif sec is sections[2]:
                    parts.append(f'<div style="height: {rng.randint(2, 8) * size:.0f}px;"></div>')
                    y += size * 5
                q += 1
        css = (
            f"body {{ {self._paper_css()} }}\n"
            f".page {{ padding: {margin}px; font-size: {size}px; line-height: {rng.uniform(1.4, 1.8):.2f}; }}\n"
        )
        return f'<div class="page">{"".join(parts)}</div>', css

    def _table(self) -> tuple[str, str]:
        rng, lang = self.rng, self.lang
        h = self.height
        margin = rng.randint(40, 80)
        size = self._size(7.5, 11)
        ncols = rng.randint(3, 8)
        nrows = int((h - 2 * margin - size * 10) / (size * rng.uniform(1.8, 2.6)))
        head_dark = rng.random() < 0.5 and not self.plain
        head_bg = (
            self._colour(0, 90, saturated=True) if head_dark else (self._colour(190, 235) if not self.plain else (255, 255, 255))
        )
        head_fg = self._colour(215, 255) if head_dark else self.ink
        grid = rng.choice(["full", "rows", "none"]) if not self.plain else "none"
        zebra = rng.random() < 0.4 and not self.plain
        zebra_bg = self._colour(220, 248)
        kinds = ["text"] + [rng.choice(["text", "number", "number"]) for _ in range(ncols - 1)]
        cell_border = {"full": "border: 1px solid;", "rows": "border-bottom: 1px solid;", "none": ""}[grid]
        rows = [
            "<tr>"
            + "".join(
                f'<th style="background: {_css(head_bg)}; color: {_css(head_fg)}; padding: 0.3em 0.6em; {cell_border}">'
                f"{self._e(self.text.phrase(lang, 2, 8))}</th>"
                for _ in range(ncols)
            )
            + "</tr>"
        ]
        for r in range(nrows):
            bg = f"background: {_css(zebra_bg)};" if zebra and r % 2 else ""
            cells = "".join(
                f'<td style="padding: 0.25em 0.6em; {cell_border} {bg} text-align: {"right" if k == "number" else "left"};">'
                f"{self._e(self.text.number() if k == 'number' else self.text.phrase(lang, 2, 10))}</td>"
                for k in kinds
            )
            rows.append(f"<tr>{cells}</tr>")
        unit = {"en": "Unit: thousand", "zh": "单位：万元", "zh_tw": "單位：新臺幣千元"}[lang]
        parts = [
            f'<h2 style="font-size: {size * 1.6:.1f}px; text-align: center; margin-bottom: 0.3em;">{self._heading(6, 20)}</h2>',
            f'<p style="text-align: right; font-size: {size * 0.9:.1f}px;">{unit}</p>',
            f'<table style="border-collapse: collapse; width: 100%; font-size: {size}px;">{"".join(rows)}</table>',
            f'<p style="font-size: {size * 0.85:.1f}px; margin-top: 0.6em;">{"Note" if lang == "en" else "注"}: '
            f"{self._e(self.text.prose(lang, rng.randint(30, 150)))}</p>",
        ]
        css = f"body {{ {self._paper_css()} }}\n.page {{ padding: {margin}px; line-height: 1.3; }}\n"
        return f'<div class="page">{"".join(parts)}</div>', css


def _data_url(bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", bgr)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


# ---- the browser ---------------------------------------------------------------------------------

# Per character of every text node: its rect (one per visual line); characters that follow on the
# same visual line (same top, further right, however wide a justified gap) form one fragment.
# Whitespace joins fragments but never sets their extent.
_LINES_JS = """
([pageW, pageH]) => {
  const frags = [], blocks = new Map(), clips = new Map();
  const blockOf = (el) => {
    while (el.parentElement && getComputedStyle(el).display === 'inline') el = el.parentElement;
    return el;
  };
  // a paragraph that runs on into the next column is one block with lines side by side: the column
  // (from the multi-column ancestor's left edge and column pitch) keeps them apart
  const multicols = new Map();
  const multicolOf = (el) => {
    if (multicols.has(el)) return multicols.get(el);
    let m = null;
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.columnCount !== 'auto') {
        const n = parseInt(s.columnCount), pl = parseFloat(s.paddingLeft);
        const width = a.clientWidth - pl - parseFloat(s.paddingRight);
        const gap = s.columnGap === 'normal' ? parseFloat(s.fontSize) : parseFloat(s.columnGap);
        m = [a.getBoundingClientRect().left + a.clientLeft + pl, (width + gap) / n];
        break;
      }
    }
    multicols.set(el, m);
    return m;
  };
  const clipOf = (el) => {
    if (!el || el === document.documentElement) return [0, 0, pageW, pageH];
    if (clips.has(el)) return clips.get(el);
    let c = clipOf(el.parentElement);
    const s = getComputedStyle(el);
    if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
      const r = el.getBoundingClientRect();
      c = [Math.max(c[0], r.left), Math.max(c[1], r.top), Math.min(c[2], r.right), Math.min(c[3], r.bottom)];
    }
    clips.set(el, c);
    return c;
  };
  const range = document.createRange();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement, s = node.data;
    if (!/\\S/.test(s) || getComputedStyle(el).visibility !== 'visible') continue;
    const block = blockOf(el);
    if (!blocks.has(block)) blocks.set(block, blocks.size);
    const mc = multicolOf(block);
    const bid = blocks.get(block), ignore = el.closest('[data-ignore]') !== null, clip = clipOf(el);
    let cur = null;
    for (let i = 0; i < s.length; ) {
      const len = s.codePointAt(i) > 0xffff ? 2 : 1, ch = s.substr(i, len);
      range.setStart(node, i);
      range.setEnd(node, i + len);
      i += len;
      const rects = range.getClientRects();
      if (!rects.length) continue;
      const r = rects[rects.length - 1], space = /\\s/.test(ch);
      const h = cur ? cur[4] - cur[2] : 0;
      if (cur && Math.abs(r.top - cur[2]) < 0.5 * h && r.left > cur[1] - 1) {
        cur[6] += ch;
        if (!space) { cur[3] = Math.max(cur[3], r.right); cur[2] = Math.min(cur[2], r.top); cur[4] = Math.max(cur[4], r.bottom); }
      } else if (!space) {
        const key = mc ? bid + ':' + Math.floor((r.left + 0.5 - mc[0]) / mc[1]) : String(bid);
        cur = [key, r.left, r.top, r.right, r.bottom, ignore, ch, ...clip];
        frags.push(cur);
      }
    }
  }
  return frags;
}
"""


class Browser:
    """One headless Chromium for this process, started on first use and kept for every page.

    Started lazily and re-started after a fork: a DataLoader worker must not share its
    parent's connection to the browser. Every Playwright call runs on one thread of the
    Browser's own: the sync API refuses a thread that already runs an event loop (another
    Playwright user in the same process, such as the browser tests' session fixture), and its
    objects belong to the thread that made them.
    """

    def __init__(self, executable: str | None = None):
        self.executable = executable
        self._pid: int | None = None
        self._thread: ThreadPoolExecutor | None = None

    def call(self, fn, *args):
        """``fn(*args)`` on the browser's thread, with the browser started in this process."""
        if self._pid != os.getpid():
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="chromium")
            self._thread.submit(self._start).result()
        return self._thread.submit(fn, *args).result()

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        from web.local_stack import CHROMIUM_ARGS, chromium_path

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(
            executable_path=self.executable or chromium_path(), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        self._page = self._browser.new_page()
        self._cdp = self._page.context.new_cdp_session(self._page)
        self._pid = os.getpid()

    def cdp(self, method: str, params: dict | None = None) -> dict:
        return self.call(lambda: self._cdp.send(method, params or {}))

    def render(self, doc: HtmlDoc, scale: float) -> tuple[np.ndarray, list]:
        """The page as a grey image at ``scale`` device pixels per CSS pixel, and its text fragments (CSS pixels)."""
        try:
            return self.call(self._render, doc, scale)
        except Exception as exc:  # noqa: BLE001  (a crashed or hung renderer must not end a day-long training run)
            log.warning("Chromium failed on a page (%s: %s); restarting it", type(exc).__name__, exc)
            self.close(force=True)
            return self.call(self._render, doc, scale)

    def _render(self, doc: HtmlDoc, scale: float) -> tuple[np.ndarray, list]:
        page, cdp = self._page, self._cdp
        cdp.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": doc.width, "height": doc.height, "deviceScaleFactor": scale, "mobile": False},
        )
        page.set_content(doc.html, wait_until="load")
        page.evaluate("document.fonts.ready.then(() => 0)")
        frags = page.evaluate(_LINES_JS, [doc.width, doc.height])
        shot = cdp.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "clip": {"x": 0, "y": 0, "width": doc.width, "height": doc.height, "scale": 1},
            },
        )
        image = cv2.imdecode(np.frombuffer(base64.b64decode(shot["data"]), np.uint8), cv2.IMREAD_GRAYSCALE)
        return image, frags

    def print_pdf(self, url: str, path: str, margin: str) -> None:
        """The document at ``url`` printed to ``path`` as a browser prints it (A4, backgrounds on)."""

        def run() -> None:
            self._page.goto(url, wait_until="load")
            self._page.pdf(
                path=path, format="A4", print_background=True, margin=dict.fromkeys(("top", "bottom", "left", "right"), margin)
            )

        self.call(run)

    def fonts_of(self, selector: str) -> list[str]:
        """Family names Chromium really drew the element's text with (fallbacks included)."""
        self.cdp("DOM.enable")
        self.cdp("CSS.enable")
        root = self.cdp("DOM.getDocument")["root"]["nodeId"]
        node = self.cdp("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        return [f["familyName"] for f in self.cdp("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]

    def close(self, force: bool = False) -> None:
        if self._pid == os.getpid():

            def stop() -> None:
                self._browser.close()
                self._pw.stop()

            try:
                self._thread.submit(stop).result()
            except Exception:  # noqa: BLE001  (closing a browser that already died: nothing left to close)
                if not force:
                    raise
            self._thread.shutdown(wait=False)
        self._pid = None


@functools.cache
def browser() -> Browser:
    return Browser()


# ---- fragments to lines --------------------------------------------------------------------------


def merge_lines(frags: list, width: float, height: float) -> list[tuple[tuple[float, float, float, float], str]]:
    """Fragments of one visual line of one block (and column) become one line: (x0, y0, x1, y1) in
    CSS pixels, text. A row of fragments splits where a gap wider than ``MERGE_GAP`` line heights
    separates them.

    Lines the page clips away are dropped; lines it cuts, display formulas and lines
    without a letter or digit get the text ``IGNORE``.
    """
    by_block: dict = {}
    for f in frags:
        by_block.setdefault(f[0], []).append(f)
    lines = []
    for group in by_block.values():
        # rows: fragments that share most of their height (a superscript shares most of its own)
        group.sort(key=lambda f: f[2] + f[4])
        rows: list[list] = []
        for f in group:
            row = rows[-1] if rows else None
            if row and min(f[4], row[1]) - max(f[2], row[0]) > 0.5 * min(f[4] - f[2], row[1] - row[0]):
                row[0], row[1] = min(row[0], f[2]), max(row[1], f[4])
                row[2].append(f)
            else:
                rows.append([f[2], f[4], [f]])
        for top, bottom, row in rows:
            row.sort(key=lambda f: f[1])
            right = row[0][3]
            lines.append([row[0]])
            for f in row[1:]:
                if f[1] - right > MERGE_GAP * (bottom - top):
                    lines.append([f])
                else:
                    lines[-1].append(f)
                right = max(right, f[3])
    out = []
    for parts in lines:
        x0, y0 = min(f[1] for f in parts), min(f[2] for f in parts)
        x1, y1 = max(f[3] for f in parts), max(f[4] for f in parts)
        text = " ".join("".join(f[6] for f in parts).split())
        cx0, cy0 = max(f[7] for f in parts), max(f[8] for f in parts)
        cx1, cy1 = min(f[9] for f in parts), min(f[10] for f in parts)
        vx0, vy0, vx1, vy1 = max(x0, cx0, 0), max(y0, cy0, 0), min(x1, cx1, width), min(y1, cy1, height)
        if vx1 - vx0 < 1 or vy1 - vy0 < 0.5 * (y1 - y0) or not text:
            continue  # clipped away (or nearly): nothing of it shows
        cut = (vx0, vy0, vx1, vy1) != (x0, y0, x1, y1)
        if cut or any(f[5] for f in parts) or not any(ch.isalnum() for ch in text):
            text = IGNORE
        out.append(((vx0, vy0, vx1, vy1), text))
    return out


def _line_ink(image: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Ink inside the line boxes: pixels far from their box's own median, dark or light alike
    (light-on-dark text, tinted boxes). Only line slices read the mask (training.ctpn_targets)."""
    ink = np.zeros(image.shape, bool)
    h, w = image.shape
    for q in quads:
        x0, y0 = np.floor(q.min(0)).astype(int).clip(0)
        x1, y1 = np.ceil(q.max(0)).astype(int)
        x1, y1 = min(x1, w), min(y1, h)
        region = image[y0:y1, x0:x1]
        if region.size:
            ink[y0:y1, x0:x1] |= np.abs(region.astype(np.int16) - int(np.median(region))) > INK_CONTRAST
    return ink


class HtmlPages:
    """Rendered pages as training.pages.Page objects: grey image, line quads in image pixels, texts, kind."""

    def __init__(self, seed: int, data_dir=DATA_DIR, renderer: Browser | None = None):
        self.rng = random.Random(seed + 1)
        self.synth = HtmlPageSynth(seed, data_dir)
        self.browser = renderer or browser()

    def dpi(self) -> float:
        return float(self.rng.choices(DPIS, DPI_WEIGHTS)[0])

    def render(self, doc: HtmlDoc, dpi: float) -> Page:
        scale = dpi / CSS_DPI
        image, frags = self.browser.render(doc, scale)
        lines = merge_lines(frags, doc.width, doc.height)
        quads = np.array([box_quad(*(np.array(box) * scale)) for box, _ in lines], np.float32).reshape(-1, 4, 2)
        return Page(image=image, quads=quads, texts=[t for _, t in lines], ink=_line_ink(image, quads), kind="html-" + doc.kind)

    def __call__(self, kind: str | None = None, lang: str | None = None, dpi: float | None = None, plain: bool = False) -> Page:
        return self.render(self.synth(kind, lang, plain), dpi or self.dpi())


class HtmlPagePool:
    """Rendered pages kept in memory for a training worker: each draw is a stored page (to be
    distorted afresh by the caller), and every ``refresh_every`` draws one page is replaced by a
    new render, so Chromium's cost is paid for a fraction of the pages while the pool still turns over."""

    def __init__(self, seed: int, size: int = 24, refresh_every: int = 4, data_dir=DATA_DIR, pages=None):
        self.pages = pages or HtmlPages(seed, data_dir)  # any () -> Page; HtmlPages by default
        self.size, self.refresh_every = size, refresh_every
        self.pool: list[Page] = []
        self.draws = 0

    def sample(self, rng: random.Random) -> Page:
        self.draws += 1
        if len(self.pool) < self.size:  # filled as it is drawn from: the first batches wait for one render, not a pool
            self.pool.append(self.pages())
            return self.pool[-1]
        if self.draws % self.refresh_every == 0:
            self.pool[rng.randrange(self.size)] = self.pages()
        return rng.choice(self.pool)


def line_crops(pages: Iterable[Page], margin_y: float = 0.15, margin_x: float = 0.3) -> Iterator[tuple[np.ndarray, str]]:
    """(line image, text) for the recognizer: each labelled line straightened out of its page
    (after any distortion: the quads follow), with the pipeline's own cropping."""
    for page in pages:
        for quad, text in zip(page.quads, page.texts, strict=True):
            if text == IGNORE or not text.strip():
                continue
            crop = crop_line(page.image, quad, margin_y=margin_y, margin_x=margin_x)
            if crop.size and crop.shape[0] >= 4:
                yield crop, text


def html_line_crops(seed: int, data_dir=DATA_DIR, distort_share: float = 0.5) -> Iterator[tuple[np.ndarray, str]]:
    """An endless stream of recognizer lines from freshly rendered pages, half of them scanned or photographed."""
    from training.pages import distort, photograph

    pages = HtmlPages(seed, data_dir)
    rng = random.Random(seed + 2)

    def stream():
        while True:
            page = pages()
            if rng.random() < distort_share:
                page = photograph(page, rng) if rng.random() < 0.5 else distort(page, rng)
            yield page

    yield from line_crops(stream())


def measure(n: int = 24, seed: int = 0) -> float:
    """Pages per second of this process, by kind: ``taskset -c 0 python -m training.html_pages``."""
    import time

    pages = HtmlPages(seed)
    pages(kind="slide", dpi=72)  # the browser's start is paid once per process, not per page
    times: dict[str, list[float]] = {}
    lines = 0
    for _ in range(n):
        start = time.perf_counter()
        page = pages()
        times.setdefault(page.kind, []).append(time.perf_counter() - start)
        lines += len(page.quads)
    total = sum(sum(t) for t in times.values())
    for kind, t in sorted(times.items()):
        print(f"{kind:16s} {len(t):3d} pages  {np.mean(t):.2f} s/page")
    print(f"{n / total:.2f} pages/s, {lines / n:.0f} lines per page")
    return n / total


if __name__ == "__main__":
    measure()
