"""pyproject.toml declares the dependencies and requirements.lock pins them (issue 12, item 8).

The two must agree (a requirement added without `make lock` would install unpinned), the test
environment must be the lock (so the lock is what the tests pass with), and the client's modules
must import nothing beyond the client extra: tests/integration/test_client_install.py proves the
same with a real install, these catch it in a second.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "ocr-platform"
PARTS = {"client", "server", "worker", "train", "bench", "dev"}  # the extras issue 12 asks for


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> list[tuple[str, Requirement]]:
    """(extra, requirement) for every requirement in pyproject.toml; "" for the base ones."""
    meta = project()
    found = [("", Requirement(r)) for r in meta.get("dependencies", [])]
    for extra, reqs in meta.get("optional-dependencies", {}).items():
        found += [(extra, Requirement(r)) for r in reqs]
    return found


def lock_pins() -> dict[str, str]:
    pins = {}
    for raw in (ROOT / "requirements.lock").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=]+)", line)
            assert match, f"requirements.lock: not an exact name==version pin: {raw!r}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_pyproject_has_the_extras_of_every_part():
    assert set(project()["optional-dependencies"]) >= PARTS


def test_every_declared_requirement_is_locked_at_a_version_it_allows():
    pins, extras = lock_pins(), set(project()["optional-dependencies"])
    problems = []
    for extra, req in declared():
        if canonicalize_name(req.name) == PROJECT:
            problems += [f"[{extra}] names a missing extra: {req}" for e in req.extras if e not in extras]
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"[{extra}] {req}: not in requirements.lock (run `make lock`)")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"[{extra}] {req}: the lock pins {pin} (run `make lock`)")
    assert not problems, "\n".join(problems)


def test_torch_is_pinned_to_exactly_2_13_0_everywhere():
    # A looser spec pulls GBs of CUDA packages; 2.13.0 (CPU) is what setup installs.
    specs = {str(req.specifier) for _, req in declared() if canonicalize_name(req.name) == "torch"}
    assert specs == {"==2.13.0"}
    assert lock_pins()["torch"] == "2.13.0"


def test_this_environment_is_the_lock():
    """make setup installs from the lock, so the tests run on exactly its versions."""
    wrong = []
    for name, version in lock_pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name}=={version}: not installed")
            continue
        # The local label is the build (torch's "+cpu"), which the lock leaves to setup.
        if installed.split("+", 1)[0] != version:
            wrong.append(f"{name}=={version}: {installed} is installed")
    assert not wrong, "run `make setup` (or `make lock` if the new versions are the ones to keep):\n" + "\n".join(wrong)


def closure(names: set[str]) -> set[str]:
    """The installed distributions that ``names`` need, following requirements without extras."""
    env, seen, todo = default_environment(), set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            req = Requirement(spec)
            if not req.marker or req.marker.evaluate({**env, "extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def test_the_client_imports_nothing_beyond_the_client_extra():
    """client/ and what it imports of core/ load only the client extra's packages: not torch,
    numpy, Flask, SQLAlchemy or Celery, which `pip install '.[client]'` does not install."""

    def loaded(imports: str) -> set[str]:
        code = f"import sys{imports}; print('\\n'.join(sys.modules))"
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        return {m.split(".", 1)[0] for m in done.stdout.split()}

    # Less what the interpreter loads by itself (site's .pth hooks such as setuptools' _distutils_hack).
    tops = loaded(", client.cli, client.http, client.bulk, client.inputs") - loaded("") - set(sys.stdlib_module_names)
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert tops & ours <= {"client", "core"}
    client_reqs = {Requirement(r).name for r in project()["optional-dependencies"]["client"]}
    allowed = closure(client_reqs)
    owners = importlib.metadata.packages_distributions()
    outside = {m: owners[m] for m in tops - ours if m in owners and not {canonicalize_name(d) for d in owners[m]} & allowed}
    assert not outside, f"the client imports modules outside the client extra: {outside}"


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party modules imported by the checkout's Python files -> the files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.py"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"tests", "migrations"}
    found: dict[str, set[str]] = {}
    for rel in filter(None, listed):
        if not (ROOT / rel).is_file():  # deleted, not yet committed
            continue
        for node in ast.walk(ast.parse((ROOT / rel).read_bytes(), rel)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {n.split(".", 1)[0] for n in names}:
                if top not in sys.stdlib_module_names and top not in ours:
                    found.setdefault(top, set()).add(rel)
    return found


def test_every_imported_package_is_declared_in_pyproject():
    """A module the code imports comes from a package some extra names itself, not one that
    merely happens to arrive with another (or one only a requirements file of old listed)."""
    direct = {canonicalize_name(req.name) for _, req in declared()}
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in imported_modules().items():
        if module == "pip":  # scripts/lock.py runs pip's own resolver: the installer, not a dependency
            continue
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        if not dists & direct:
            missing[module] = (sorted(dists) or ["not installed"], sorted(files)[:3])
    assert not missing, f"imported but not declared in pyproject.toml (add it to the part's extra, then `make lock`): {missing}"
