#!/usr/bin/env python3
"""Writes requirements.lock: every package that pyproject.toml's extras need, and theirs, pinned.

`make lock` runs it. pip resolves ``.[dev]`` (every extra) in a throwaway virtualenv with
``pip install --dry-run --ignore-installed --report``, and the lock is that report's list of
packages, each ``name==version``, with the packages that asked for it. Plain pip on purpose: the
torch wheel here comes from pip's local find-links, which uv and poetry do not read, and the lock
must install with plain pip (``pip install -c requirements.lock -e '.[dev]'``, scripts/setup.sh).

The pins already in requirements.lock are kept (given to pip as constraints), so adding a
dependency moves nothing else. To move some or all of them to the newest releases pip allows:

    UPGRADE="celery kombu" make lock     # these packages only
    UPGRADE=1 make lock                  # everything

Then run `make test`: the lock is what the tests pass with, nothing else is.

TORCH_PIP_ARGS (as for scripts/setup.sh, e.g. "--extra-index-url https://download.pytorch.org/whl/cpu")
go to pip too, for a machine without a local torch wheel, where PyPI's torch would bring CUDA.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from pip._vendor.packaging.markers import default_environment
from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PROJECT = "ocr-platform"
# torch first and exactly: the resolve must see the same build `make setup` installs (a looser
# spec pulls GBs of CUDA packages).
TORCH = "torch==2.13.0"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def kept_pins(upgrade: str) -> list[str]:
    """The current lock's pins minus the packages being upgraded ("1": all of them)."""
    if upgrade == "1" or not LOCK.exists():
        return []
    dropped = {canonical(n) for n in upgrade.split()}
    pins = []
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and canonical(line.split("==", 1)[0]) not in dropped:
            pins.append(line)
    return pins


def resolve(constraints: list[str], work: Path) -> list[dict]:
    """pip's resolution of torch and .[dev] in a fresh virtualenv: the report's "install" list."""
    venv.create(work / "venv", with_pip=True)
    (work / "constraints.txt").write_text("".join(f"{c}\n" for c in constraints))
    report = work / "report.json"
    python = str(work / "venv" / "bin" / "python")
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--dry-run", "--ignore-installed",
           "--report", str(report), "-c", str(work / "constraints.txt"), TORCH, f"{ROOT}[dev]",
           *shlex.split(os.environ.get("TORCH_PIP_ARGS", ""))]  # fmt: skip
    done = subprocess.run(cmd, cwd=work)
    if done.returncode != 0:
        sys.exit("lock: pip could not resolve the dependencies with the current pins; "
                 "UPGRADE='<the packages it names>' make lock lets those move")  # fmt: skip
    return json.loads(report.read_text())["install"]


def version_pin(version: str) -> str:
    # A local label names this machine's build (torch's "+cpu" wheel here, the CUDA one elsewhere);
    # "==2.13.0" accepts either, and scripts/setup.sh chooses the build.
    return version.split("+", 1)[0]


def via(installs: list[dict]) -> dict[str, list[str]]:
    """Which installed packages ask for each one, with the extras actually asked for: pytest's
    own "test" extra, say, must not make pytest look needed by every package that has one."""
    metas = {canonical(i["metadata"]["name"]): i["metadata"] for i in installs}
    env = default_environment()
    # The project's extras are all asked for (dev names every one); a package's extras are those
    # some asking package names ("celery[redis]"); "" stands for its unconditional requirements.
    active: dict[str, set[str]] = {n: {""} for n in metas}
    active[PROJECT] |= set(metas[PROJECT].get("provides_extra") or [])
    parents: dict[str, set[str]] = {n: set() for n in metas}
    changed = True
    while changed:
        changed = False
        for parent, meta in metas.items():
            for spec in meta.get("requires_dist") or []:
                req = Requirement(spec)
                child = canonical(req.name)
                if child not in metas:
                    continue
                asking = [e for e in sorted(active[parent]) if not req.marker or req.marker.evaluate({**env, "extra": e})]
                if not asking:
                    continue
                if child != parent:
                    parents[child].add(f"{PROJECT}[{','.join(e for e in asking if e)}]" if parent == PROJECT else parent)
                if not req.extras <= active[child]:
                    active[child] |= set(req.extras)
                    changed = True
    return {n: sorted(p) for n, p in parents.items()}


def render(installs: list[dict]) -> str:
    parents = via(installs)
    head = [
        "# Every package of pyproject.toml's extras, and theirs, at the versions the tests pass with.",
        f"# Written by `make lock` (scripts/lock.py) with Python {sys.version_info.major}.{sys.version_info.minor} "
        f"on {sys.platform}; do not edit by hand.",
        "# Install (scripts/setup.sh):  pip install torch==2.13.0 && pip install -c requirements.lock -e '.[dev]'",
        "# A client only:               pip install -c requirements.lock '.[client]'",
        "",
    ]
    lines = []
    for item in sorted(installs, key=lambda i: canonical(i["metadata"]["name"])):
        name = item["metadata"]["name"]
        if canonical(name) == PROJECT:
            continue
        pin = f"{canonical(name)}=={version_pin(item['metadata']['version'])}"
        asked = parents[canonical(name)]
        lines.append(f"{pin}  # via {', '.join(asked)}" if asked else pin)
    return "\n".join(head + lines) + "\n"


def main() -> None:
    if sys.version_info[:2] != (3, 11):
        print(
            f"lock: warning: Python {sys.version_info.major}.{sys.version_info.minor}; the lock is meant for 3.11",
            file=sys.stderr,
        )
    constraints = kept_pins(os.environ.get("UPGRADE", "").strip())
    with tempfile.TemporaryDirectory(prefix="ocr-lock-") as tmp:
        installs = resolve(constraints, Path(tmp))
    LOCK.write_text(render(installs))
    print(
        f"lock: wrote {LOCK.relative_to(ROOT)} ({sum(1 for i in installs if canonical(i['metadata']['name']) != PROJECT)} packages)"
    )


if __name__ == "__main__":
    main()
