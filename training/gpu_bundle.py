"""Pack what recognizer training needs onto a machine that has none of it (a lent GPU box).

    python -m training.gpu_bundle .gpu/          # ~40 MiB: fonts, corpora, real line crops

Such a machine has PyTorch, Pillow and OpenCV but no Debian fonts, no corpora and no
../shared/data: the bundle carries

- ``fonts.tar.xz``: every face training/fonts.py draws with here, cut down to the
  characters of the mixed charset (the CJK collections are ~150 MiB whole; only the
  SC/TC/CN/TW faces are kept, one file each, names unchanged, so ``discover`` finds the
  same faces with the same Simplified/Traditional split); unpack it into /usr/share/fonts;
- ``data.tar.xz``: training/data/ (the corpora) and jieba's dictionary, the one file of
  jieba the sampler reads (training.corpus);
- ``real_lines.pkl``: the real training and validation line crops
  (training.real_data.load_lines), scaled to the recognizer's input height and
  WebP-encoded; point ``OCR_REAL_LINES`` at it and ``load_lines`` reads it instead of
  ../shared/data/train.

Validation on the GPU box is only a progress report: its Debian-PDF set needs poppler
and is skipped there; bring the weights back and judge them here with the full validation.
"""

from __future__ import annotations

import argparse
import logging
import lzma
import pickle
import tarfile
from pathlib import Path

import cv2
from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from pipeline.charset import Charset
from pipeline.line_image import HEIGHT
from training.corpus import DATA_DIR, jieba_dictionary
from training.fonts import FONT_ROOTS, discover
from training.real_data import load_lines

log = logging.getLogger("gpu_bundle")
MODEL_DIR = Path(__file__).resolve().parents[1] / "models"
# Crops are stored at the input height (prepare_line scales them to it anyway) as lossy WebP:
# the bundle must fit the 64 MiB a device call carries. The shipped crnn_mix reads these 0.1 point
# worse than the originals (validation CER real 15.50 -> 15.58%, receipts 5.29 -> 5.44%).
CROP_HEIGHT = HEIGHT


def _face(path: str, index: int) -> TTFont:
    return TTCollection(path).fonts[index] if path.endswith((".ttc", ".otc")) else TTFont(path)


def subset_fonts(chars: str, out: Path) -> int:
    """Each face ``discover`` uses, keeping only ``chars``, as <package dir>/<file stem>-<index>.<ext>."""
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.glyph_names = False
    unicodes = sorted({ord(c) for c in chars} | {0x20})
    written = 0
    for extra in (False, True):
        for font in discover(extra=extra):
            path = Path(font.path)
            root = next(r for r in FONT_ROOTS if path.is_relative_to(r))
            face = _face(font.path, font.index)
            ext = ".otf" if "CFF " in face else ".ttf"
            target = out / path.parent.relative_to(root) / f"{path.stem}-{font.index}{ext}"
            if target.exists():
                continue
            sub = subset.Subsetter(options)
            sub.populate(unicodes=unicodes)
            sub.subset(face)
            target.parent.mkdir(parents=True, exist_ok=True)
            face.save(str(target))
            written += 1
    return written


def pack_real_lines(charset: Charset, splits: tuple[str, ...]) -> bytes:
    """{split: [(webp bytes, text, case_unknown, source)]} of ``splits``, pickled."""
    packed = {}
    for split in splits:
        rows = []
        for line in load_lines(split, charset):
            img = line.image
            if img.shape[0] > CROP_HEIGHT:
                scale = CROP_HEIGHT / img.shape[0]
                img = cv2.resize(img, (max(1, round(img.shape[1] * scale)), CROP_HEIGHT), interpolation=cv2.INTER_AREA)
            ok, png = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 90])
            assert ok
            rows.append((png.tobytes(), line.text, line.case_unknown, line.source))
        packed[split] = rows
        log.info("%s: %d real lines", split, len(rows))
    return pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)


def _tar_xz(src: Path, target: Path, extra: dict[str, Path] | None = None) -> None:
    with tarfile.open(target, "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
        tar.add(src, arcname=".")
        for name, path in (extra or {}).items():
            tar.add(path, arcname=f"./{name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--lang", default="mix")
    p.add_argument(
        "--splits",
        default="train,val",
        help="real splits to pack; 'train' alone saves ~2 MiB when the bundle is near the 64 MiB a call carries "
        "(the run then validates on synthetic lines only)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    charset = Charset.load(MODEL_DIR / f"charset_{args.lang}.txt")
    chars = "".join(charset.chars)
    staging = args.out.parent / f"{args.out.name}-fonts"  # kept for the next bundle; not carried
    log.info("fonts: %d faces subset", subset_fonts(chars, staging))
    _tar_xz(staging, args.out / "fonts.tar.xz")
    _tar_xz(DATA_DIR, args.out / "data.tar.xz", {"jieba_dict.txt": jieba_dictionary()})
    (args.out / "real_lines.pkl").write_bytes(pack_real_lines(charset, tuple(args.splits.split(","))))
    for f in sorted(args.out.glob("*.*")):
        log.info("%s %.1f MiB", f.name, f.stat().st_size / 2**20)


if __name__ == "__main__":
    main()
