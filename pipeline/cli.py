"""``ocr``: read one image or PDF with the local pipeline and print the result.

    ocr run FILE [--lang zh|en|mix] [--format json|txt|hocr|pdf] [--pages 1-3]
                 [--dpi 200] [--no-orientation] [--device auto|cpu|cuda]
                 [--runtime auto|torch|onnx] [-o DIR]

The chosen format goes to stdout. With ``-o DIR`` the command also writes
``<stem>.txt``, ``<stem>.json``, the chosen format's file and, per page,
``<stem>-p<N>-detections.png`` (the page with its detected lines drawn).

Errors are one line on stderr: ``ocr: error: <code>: <message>`` and exit
status 2 for anything the user can fix; 1 for an unexpected failure (``--debug``
prints its traceback). The engine (and so torch) is imported only when a page
is actually read, so ``ocr --help`` and bad input are answered at once; on the
ONNX runtime (the default on a CPU) torch is not imported at all.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import traceback
from pathlib import Path

from core.errors import InputError, InvalidOption, NotFound, OcrError, TooManyPages
from core.formats import BY_EXT, EXTENSIONS

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr", description="Chinese and English OCR with the local models.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="read one image or PDF", description="Read one image or PDF and print the result.")
    run.add_argument("file", metavar="FILE", help="PNG, JPEG, TIFF, BMP, WebP or PDF; '-' reads stdin")
    run.add_argument("--lang", choices=("zh", "en", "mix"), default="mix", help="recognition model (default: mix)")
    run.add_argument("--format", choices=EXTENSIONS, default="json", help="what to print (default: json)")
    run.add_argument("--pages", metavar="RANGE", help="pages to read, e.g. 1-3,5 (default: all)")
    run.add_argument("--dpi", type=int, metavar="N", help="PDF rendering resolution (default: OCR_PDF_DPI, 200)")
    run.add_argument("--no-orientation", action="store_true", help="assume pages are upright (skip the 0/90/180/270 classifier)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the networks run (default: OCR_DEVICE)")
    run.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx"),
        help="what runs the networks; auto: ONNX Runtime on the CPU, torch on a GPU (default: OCR_RUNTIME)",
    )
    run.add_argument(
        "-o", "--output", metavar="DIR", type=Path, help="also write text, JSON, the format's file and detection pictures here"
    )
    # SUPPRESS keeps "ocr --debug run ..." working: the subcommand must not reset the flag to False.
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an unexpected error")
    run.set_defaults(handler=run_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except OcrError as exc:
        _fail(f"{exc.code}: {exc.message}")
        return EXIT_USER
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``ocr run x | head``); nothing left to say to it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INTERNAL
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"ocr: internal error: {type(exc).__name__}: {exc}" + ("" if args.debug else " (run with --debug for details)"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run_command(args: argparse.Namespace) -> int:
    from pipeline import loader

    data, stem = _read_input(args.file)
    if BY_EXT[args.format].binary and args.output is None and sys.stdout.isatty():
        raise InvalidOption("A PDF is not printed to a terminal; use -o DIR or redirect stdout to a file.")
    _check_page_budget(loader, data, args.pages)
    pages = loader.iter_pages(data, args.pages, args.dpi)
    # Decode the first page before loading any model: bad input is reported in a moment.
    first = next(pages)
    out_dir = _prepare_output(args.output)

    from pipeline.pipeline import get_pipeline

    engine = get_pipeline(args.lang, device=args.device, runtime=args.runtime)
    doc = _read_pages(engine, itertools.chain([first], pages), args, out_dir, stem)
    rendered = _render(doc, data, args.format)
    if out_dir is not None:
        _write_outputs(doc, rendered, args.format, out_dir, stem)
    if args.format != "pdf" or out_dir is None:
        sys.stdout.buffer.write(rendered if isinstance(rendered, bytes) else rendered.encode("utf-8"))
        sys.stdout.flush()
    return EXIT_OK


def _check_page_budget(loader, data: bytes, page_spec: str | None) -> None:
    """The API's page limit (OCR_MAX_PAGES_PER_JOB) holds here too: a 5,000-page PDF is refused, not read for hours."""
    from core.settings import get_settings
    from pipeline.pages import parse_page_range

    limit = get_settings().max_pages_per_job
    selected = len(parse_page_range(page_spec, loader.count_pages(data)))
    if selected > limit:
        raise TooManyPages(
            f"the document has {selected} page(s) to read; at most {limit} are read at once "
            "(choose some with --pages, or raise OCR_MAX_PAGES_PER_JOB)"
        )


def _read_input(name: str) -> tuple[bytes, str]:
    if name == "-":
        return sys.stdin.buffer.read(), "stdin"
    path = Path(name)
    try:
        return path.read_bytes(), path.stem or "page"
    except FileNotFoundError:
        raise NotFound(f"no such file: {name}") from None
    except IsADirectoryError:
        raise InputError(f"{name} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def _prepare_output(out_dir: Path | None) -> Path | None:
    if out_dir is None:
        return None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidOption(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def _read_pages(engine, pages, args, out_dir: Path | None, stem: str):
    from pipeline.result import Document

    doc = Document(pages=[], lang=args.lang)
    file_name = None if args.file == "-" else Path(args.file).name
    for index, (number, image) in enumerate(pages, start=1):
        page = engine.run_page(image, page_number=index, detect_orientation=not args.no_orientation)
        page.source_page, page.file_name, page.file_index = number, file_name, 0
        doc.pages.append(page)
        if out_dir is not None:
            from pipeline.draw import draw_detections

            _save(out_dir / f"{stem}-p{number}-detections.png", lambda f, im=image, p=page: draw_detections(im, p).save(f, "PNG"))
    return doc


def _render(doc, source: bytes, fmt: str) -> str | bytes:
    """``doc`` as ``fmt``; the searchable PDF is ``source`` itself (the input's bytes) with the text grafted on."""
    from pipeline import formats
    from pipeline.formats.json_doc import dumps

    if fmt == "json":
        return dumps(doc) + "\n"
    if fmt == "txt":
        return formats.to_text(doc)
    if fmt == "hocr":
        return formats.to_hocr(doc)
    from pipeline.formats.graft import GraftPage, graft_pdf_bytes

    pages = [GraftPage("input", page.source_page or page.page_number, page) for page in doc.pages]
    return graft_pdf_bytes(pages, lambda _: source)  # the CLI reads one file


def _write_outputs(doc, rendered: str | bytes, fmt: str, out_dir: Path, stem: str) -> None:
    from pipeline import formats
    from pipeline.formats.json_doc import dumps

    files = {".txt": formats.to_text(doc), ".json": dumps(doc) + "\n", BY_EXT[fmt].suffix: rendered}
    for suffix, content in files.items():
        payload = content if isinstance(content, bytes) else content.encode("utf-8")
        _save(out_dir / f"{stem}{suffix}", lambda f, b=payload: f.write(b))


def _save(path: Path, write) -> None:
    try:
        with open(path, "wb") as f:
            write(f)
    except OSError as exc:
        raise InvalidOption(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"ocr: wrote {path}", file=sys.stderr)


def _fail(message: str) -> None:
    print(f"ocr: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
