#!/usr/bin/env python3
"""Developer entry point. Standard library only; run it with the machine's python3.

    python3 dev.py bootstrap [latest|lowest ...] [--force]
    python3 dev.py test [extra pytest args]
    python3 dev.py demo [--verbose]
    python3 dev.py browser
    python3 dev.py docs

bootstrap  creates or refreshes the virtual environments inside the repo:
             .venv         newest apache-airflow 3.3.x  (lint, type check, tests, demo)
             .venv-lowest  apache-airflow 3.1.0, the lowest version pyproject.toml claims
           Each gets uv (installed with pip) and then the project, editable, with its
           `dev` extra. A stamp file in each venv records what was installed; when
           pyproject.toml and the pins are unchanged the install is skipped.
test       bootstraps both venvs and installs the browser (see below), then runs ruff,
           mypy and pytest in .venv and pytest in .venv-lowest. pytest runs twice per venv:
           the tests without a deployment (`-m "not deployment"`: unit and integration),
           then the deployment tests (`-m deployment`: a real Airflow with API server,
           scheduler, DAG processor and triggerer, and the UI in headless Chromium). With
           extra pytest args, one pytest run per venv gets exactly those args instead.
           Every step runs even if an earlier one failed; a summary table with the
           seconds of each part follows and the exit code is non-zero if any step failed.
           pytest's "no tests collected" (exit code 5) is a failure. Each pytest run gets
           its own fresh temporary directory (removed afterwards) as AIRFLOW_HOME and
           KALEYRA_TEST_AIRFLOW_HOME (the one tests/conftest.py reads).
browser    installs Debian's chromium, chromium-driver and fonts-liberation with apt-get
           when /usr/bin/chromium, /usr/bin/chromedriver or the fonts are missing (needs
           root, or password-less sudo; skipped when all are there). `test` does this
           itself, in parallel with the venv bootstrap.
docs       bootstraps .venv and runs scripts/build_docs.py (the site in docs/_build/html);
           `test` also runs it and scripts/check_dist.py (wheel, sdist, twine check).
demo       bootstraps .venv and runs scripts/demo.py in it (extra args go to the script,
           e.g. --verbose).

Environment knobs:
  DEV_KEEP_AIRFLOW_HOME=1   keep the temporary AIRFLOW_HOME directories of the pytest runs
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = "airflow_provider_kaleyra"
LINT_DIRS = ("airflow_provider_kaleyra", "tests", "example_dags", "scripts", "benchmarks")

# The browser the UI tests drive (Debian packages; Selenium is pointed at these paths).
# Installed without "recommends" (mesa, udev, printing, ...); a font is named explicitly
# so that screenshots kept from failed tests show text.
BROWSER_FILES = (
    Path("/usr/bin/chromium"),
    Path("/usr/bin/chromedriver"),
    Path("/usr/share/fonts/truetype/liberation"),
)
BROWSER_PACKAGES = ("chromium", "chromium-driver", "fonts-liberation")

# Bump when the way a venv is built changes, so that existing stamps go stale.
RECIPE = "1"


@dataclass(frozen=True)
class Venv:
    key: str
    dirname: str
    requirements: tuple[str, ...]
    # uv --exclude-newer: resolve as if PyPI had nothing published after this date.
    # apache-airflow 3.1.0 pins few of its dependencies' upper bounds, so resolving it
    # against today's PyPI pulls releases it does not work with (structlog, ...).
    exclude_newer: str | None = None

    @property
    def path(self) -> Path:
        return ROOT / self.dirname

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def stamp(self) -> Path:
        return self.path / ".dev-bootstrap-stamp"


LATEST = Venv("latest", ".venv", ("apache-airflow>=3.3,<3.4",))
LOWEST = Venv("lowest", ".venv-lowest", ("apache-airflow==3.1.0",), exclude_newer="2025-10-05")
VENVS = {v.key: v for v in (LATEST, LOWEST)}

_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(f"[dev] {msg}", flush=True)


class StepError(Exception):
    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def run_captured(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command with its output captured; raise StepError carrying the output on failure."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        raise StepError(f"could not run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise StepError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}", proc.stdout)
    return proc.stdout


def venv_env(venv: Venv, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process running "inside" the venv (as if it were activated)."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(venv.path)
    env["PATH"] = f"{venv.bin}{os.pathsep}{env.get('PATH', '')}"
    if extra:
        env.update(extra)
    return env


# ----------------------------------------------------------------------------- bootstrap


def stamp_digest(venv: Venv) -> str:
    h = hashlib.sha256()
    h.update(f"recipe={RECIPE}\n".encode())
    h.update(f"python={sys.version_info[:3]}\n".encode())
    h.update(f"requirements={list(venv.requirements)}\n".encode())
    h.update(f"exclude_newer={venv.exclude_newer}\n".encode())
    h.update((ROOT / "pyproject.toml").read_bytes())
    return h.hexdigest()


def editable_ok(venv: Venv) -> tuple[bool, str]:
    """Does the venv import the package from this repo? Checked without importing it."""
    code = (
        "import importlib.util, importlib.metadata as m\n"
        f"s = importlib.util.find_spec({PACKAGE!r})\n"
        "locs = list(s.submodule_search_locations or []) if s else []\n"
        "print(locs[0] if locs else '')\n"
        "print(m.version('apache-airflow'))\n"
    )
    try:
        # Run from inside the venv directory so the current directory cannot mask the install.
        out = run_captured([str(venv.python), "-c", code], cwd=venv.path, env=venv_env(venv))
    except StepError:
        return False, ""
    lines = out.strip().splitlines()
    if len(lines) < 2:
        return False, ""
    location, airflow_version = lines[-2], lines[-1]
    return Path(location).resolve() == (ROOT / PACKAGE).resolve(), airflow_version


def python_works(venv: Venv) -> bool:
    if not venv.python.exists():
        return False
    try:
        run_captured([str(venv.python), "-c", "import sys"], cwd=ROOT)
    except StepError:
        return False
    return True


def bootstrap_one(venv: Venv, force: bool = False) -> None:
    t0 = time.monotonic()
    name = venv.dirname
    if not python_works(venv):
        if venv.path.exists():
            say(f"{name}: its python does not run; recreating it")
            shutil.rmtree(venv.path)
        say(f"{name}: creating virtual environment")
        run_captured([sys.executable, "-m", "venv", str(venv.path)])

    digest = stamp_digest(venv)
    current = venv.stamp.read_text().strip() if venv.stamp.exists() else ""
    if not force and current == digest:
        ok, airflow_version = editable_ok(venv)
        if ok:
            say(f"{name}: up to date (apache-airflow {airflow_version}), {time.monotonic() - t0:.1f}s")
            return
        say(f"{name}: stamp matches but {PACKAGE} is not imported from this repo; reinstalling")

    venv.stamp.unlink(missing_ok=True)
    uv = venv.bin / "uv"
    if not uv.exists():
        say(f"{name}: installing uv with pip")
        run_captured([str(venv.python), "-m", "pip", "install", "--quiet", "uv"], env=venv_env(venv))

    what = " ".join(venv.requirements)
    if venv.exclude_newer:
        what += f", PyPI as of {venv.exclude_newer}"
    say(f"{name}: installing -e .[dev] + {what}")
    cmd = [str(uv), "pip", "install", "--python", str(venv.python), "-e", ".[dev]", *venv.requirements]
    if venv.exclude_newer:
        cmd += ["--exclude-newer", venv.exclude_newer]
    env = venv_env(venv, {"UV_NO_PROGRESS": "1", "NO_COLOR": "1"})
    run_captured(cmd, env=env)

    ok, airflow_version = editable_ok(venv)
    if not ok:
        raise StepError(f"{name}: after installing, {PACKAGE} is still not imported from {ROOT}")
    venv.stamp.write_text(digest + "\n")
    say(f"{name}: ready (apache-airflow {airflow_version}), {time.monotonic() - t0:.1f}s")


def bootstrap(venvs: list[Venv], force: bool = False) -> dict[str, tuple[float, str | None]]:
    """Bootstrap the venvs in parallel. Returns {dirname: (seconds, error or None)}."""

    def task(v: Venv) -> tuple[float, str | None]:
        t0 = time.monotonic()
        try:
            bootstrap_one(v, force=force)
        except StepError as exc:
            with _print_lock:
                print(f"[dev] {v.dirname}: FAILED: {exc}", flush=True)
                if exc.output:
                    print(f"----- output of the failing command ({v.dirname}) -----", flush=True)
                    print(exc.output.rstrip(), flush=True)
                    print("-----", flush=True)
            return time.monotonic() - t0, str(exc)
        return time.monotonic() - t0, None

    with ThreadPoolExecutor(max_workers=len(venvs)) as pool:
        results = list(pool.map(task, venvs))
    return {v.dirname: r for v, r in zip(venvs, results, strict=True)}


# ----------------------------------------------------------------------------- browser


def browser_installed() -> bool:
    return all(p.exists() and os.access(p, os.X_OK) for p in BROWSER_FILES)


def install_browser() -> str:
    """Install chromium and chromium-driver with apt-get unless both are there.

    Idempotent: with both binaries present nothing runs. Returns what it did.
    """
    if browser_installed():
        return "already installed"
    if shutil.which("apt-get") is None:
        raise StepError(f"no apt-get here: install {' and '.join(BROWSER_PACKAGES)} by hand")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise StepError(f"apt-get needs root: run as root or install {' '.join(BROWSER_PACKAGES)}")
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say(f"browser: apt-get install {' '.join(BROWSER_PACKAGES)}")
    run_captured([*prefix, "apt-get", "update"], env=env)
    run_captured(
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *BROWSER_PACKAGES], env=env
    )
    if not browser_installed():
        raise StepError(f"apt-get ran but one of {', '.join(map(str, BROWSER_FILES))} is still missing")
    return "installed with apt-get"


def browser_step() -> tuple[float, str | None, str]:
    """Run install_browser, timed. Returns (seconds, error or None, what it did)."""
    t0 = time.monotonic()
    try:
        done = install_browser()
    except StepError as exc:
        with _print_lock:
            print(f"[dev] browser: FAILED: {exc}", flush=True)
            if exc.output:
                print(exc.output.rstrip()[-4000:], flush=True)
        return time.monotonic() - t0, str(exc), ""
    say(f"browser: {done}")
    return time.monotonic() - t0, None, done


# ----------------------------------------------------------------------------- test


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    status: str = "ok"  # ok | FAILED | skipped
    note: str = ""


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    runs: list[str] = field(default_factory=list)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<body>no tests ran|\d+ \w+(?:, \d+ \w+)*) in [\d.]+s(?: \([^)]*\))?\s*=*$")
_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)")


def run_streamed(cmd: list[str], *, env: dict[str, str]) -> tuple[int, str]:
    """Run a command with its output passed through live; also return the output."""
    sys.stdout.flush()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    chunks: list[bytes] = []
    out = sys.stdout.buffer
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        chunks.append(chunk)
        out.write(chunk)
        out.flush()
    rc = proc.wait()
    return rc, b"".join(chunks).decode("utf-8", errors="replace")


def pytest_counts(output: str) -> dict[str, int] | None:
    for line in reversed(_ANSI.sub("", output).splitlines()):
        m = _PYTEST_SUMMARY.match(line.strip())
        if m:
            counts: dict[str, int] = {}
            for n, kind in _PYTEST_COUNT.findall(m.group("body")):
                kind = {"error": "errors", "warning": "warnings"}.get(kind, kind)
                counts[kind] = counts.get(kind, 0) + int(n)
            return counts
    return None


def banner(title: str) -> None:
    print(f"\n[dev] ===== {title} =====", flush=True)


def run_step(
    steps: list[Step],
    name: str,
    cmd: list[str],
    venv: Venv,
    extra_env: dict[str, str] | None = None,
    tally: Tally | None = None,
) -> None:
    banner(f"{name}: {' '.join(cmd[2:] if cmd[1:2] == ['-m'] else cmd)}")
    step = Step(name)
    t0 = time.monotonic()
    try:
        rc, output = run_streamed(cmd, env=venv_env(venv, extra_env))
    except OSError as exc:
        rc, output = 127, ""
        print(f"[dev] could not run {cmd[0]}: {exc}", flush=True)
    step.seconds = time.monotonic() - t0
    if rc != 0:
        step.status = "FAILED"
        step.note = "no tests collected (exit 5)" if (tally is not None and rc == 5) else f"exit {rc}"
    if tally is not None:
        counts = pytest_counts(output)
        if counts is not None:
            tally.passed += counts.get("passed", 0) + counts.get("xpassed", 0)
            tally.failed += counts.get("failed", 0) + counts.get("errors", 0)
            tally.skipped += counts.get("skipped", 0) + counts.get("xfailed", 0)
            summary = ", ".join(f"{v} {k}" for k, v in counts.items() if k not in ("warnings",))
            step.note = "; ".join(part for part in (summary, step.note) if part)
        elif rc == 0:
            step.status, step.note = "FAILED", "no pytest summary line found"
    steps.append(step)


def run_pytest(steps: list[Step], name: str, venv: Venv, args: list[str], tally: Tally) -> None:
    home = tempfile.mkdtemp(prefix=f"airflow-home-{venv.key}-")
    try:
        # tests/conftest.py takes its AIRFLOW_HOME from KALEYRA_TEST_AIRFLOW_HOME; set both.
        env = {"AIRFLOW_HOME": home, "KALEYRA_TEST_AIRFLOW_HOME": home}
        run_step(steps, name, [str(venv.python), "-m", "pytest", *args], venv, env, tally=tally)
    finally:
        if os.environ.get("DEV_KEEP_AIRFLOW_HOME") == "1":
            print(f"[dev] kept AIRFLOW_HOME {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


def print_summary(steps: list[Step], total: float | None = None) -> None:
    width = max(len(s.name) for s in steps)
    print("\n[dev] ===== summary =====", flush=True)
    print(f"  {'step':<{width}}  {'seconds':>8}  result", flush=True)
    for s in steps:
        note = f"  ({s.note})" if s.note else ""
        print(f"  {s.name:<{width}}  {s.seconds:8.1f}  {s.status}{note}", flush=True)
    if total is not None:
        # The bootstrap steps and the browser install overlap, so this is less than the column's sum.
        print(f"  {'total (wall clock)':<{width}}  {total:8.1f}", flush=True)


#: The two parts of the suite, each its own pytest run (and its own line in the summary).
SUITE_PARTS = (
    ("unit+integration", ["-m", "not deployment"]),
    ("deployment+browser", ["-m", "deployment"]),
)


def cmd_test(pytest_args: list[str]) -> int:
    started = time.monotonic()
    steps: list[Step] = []
    # The venvs and the browser install in parallel: all three mostly wait on the network.
    with ThreadPoolExecutor(max_workers=1) as pool:
        browser_future = pool.submit(browser_step)
        results = bootstrap([LATEST, LOWEST])
        browser_seconds, browser_error, browser_done = browser_future.result()
    for v in (LATEST, LOWEST):
        seconds, error = results[v.dirname]
        steps.append(Step(f"bootstrap {v.dirname}", seconds, "FAILED" if error else "ok"))
    steps.append(Step("browser install", browser_seconds, "FAILED" if browser_error else "ok", browser_done))
    latest_ok = results[LATEST.dirname][1] is None
    lowest_ok = results[LOWEST.dirname][1] is None
    tally = Tally()
    # With explicit pytest args the caller chooses the tests: one run with exactly those.
    parts = [("", pytest_args)] if pytest_args else list(SUITE_PARTS)

    def pytest_steps(venv: Venv) -> None:
        for label, args in parts:
            name = f"pytest {label} ({venv.dirname})" if label else f"pytest ({venv.dirname})"
            run_pytest(steps, name, venv, args, tally)

    def skipped(venv: Venv) -> list[Step]:
        return [
            Step(f"pytest {label} ({venv.dirname})" if label else f"pytest ({venv.dirname})", status="skipped",
                 note="bootstrap failed")
            for label, _ in parts
        ]

    py = str(LATEST.python)
    lint_dirs = [d for d in LINT_DIRS if (ROOT / d).is_dir()]
    if latest_ok:
        run_step(steps, "ruff (.venv)", [py, "-m", "ruff", "check", *lint_dirs], LATEST)
        run_step(steps, "mypy (.venv)", [py, "-m", "mypy"], LATEST)
        run_step(steps, "docs (.venv)", [py, str(ROOT / "scripts" / "build_docs.py")], LATEST)
        run_step(steps, "dist (.venv)", [py, str(ROOT / "scripts" / "check_dist.py")], LATEST)
        pytest_steps(LATEST)
    else:
        steps += [Step(n, status="skipped", note="bootstrap failed") for n in ("ruff (.venv)", "mypy (.venv)")]
        steps += skipped(LATEST)
    if lowest_ok:
        pytest_steps(LOWEST)
    else:
        steps += skipped(LOWEST)

    print_summary(steps, total=time.monotonic() - started)
    failed = [s for s in steps if s.status != "ok"]
    # One closing line with the test counts of all pytest runs together.
    line = f"tests: {tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        line += f", {tally.skipped} skipped"
    print(line, flush=True)
    if failed:
        print(f"[dev] FAILED steps: {', '.join(s.name for s in failed)}", flush=True)
        return 1
    return 0


# ----------------------------------------------------------------------------- main


def cmd_bootstrap(args: list[str]) -> int:
    force = "--force" in args
    names = [a for a in args if a != "--force"] or list(VENVS)
    unknown = [n for n in names if n not in VENVS]
    if unknown:
        print(f"unknown venv {unknown}; choose from {list(VENVS)}", file=sys.stderr)
        return 2
    results = bootstrap([VENVS[n] for n in names], force=force)
    return 1 if any(err for _, err in results.values()) else 0


def cmd_demo(args: list[str]) -> int:
    if bootstrap([LATEST])[LATEST.dirname][1] is not None:
        return 1
    banner("demo: scripts/demo.py")
    sys.stdout.flush()
    cmd = [str(LATEST.python), str(ROOT / "scripts" / "demo.py"), *args]
    return subprocess.call(cmd, cwd=ROOT, env=venv_env(LATEST))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if command == "bootstrap":
        return cmd_bootstrap(rest)
    if command == "test":
        return cmd_test(rest)
    if command == "demo":
        return cmd_demo(rest)
    if command == "docs":
        ok = bootstrap([LATEST])[LATEST.dirname][1] is None
        return subprocess.call([str(LATEST.python), str(ROOT / "scripts" / "build_docs.py")], cwd=ROOT) if ok else 1
    if command == "browser":
        return 1 if browser_step()[1] else 0
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
