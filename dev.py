#!/usr/bin/env python3
"""Developer entry point; standard library only, run with the machine's python3.

    python3 dev.py demo [--verbose]     the example DAG against the local simulator (.venv)
    python3 dev.py test [pytest args]   every step of STEPS; with pytest args, only pytest
                                        with those args, once per Airflow environment
    python3 dev.py docs                 the documentation site, in docs/_build/html (.venv)
    python3 dev.py bootstrap            make or refresh every environment of ENVS

Environments are made with uv (installed into .venv with pip) and refreshed by
`uv pip install` on every run, which does nothing when everything is installed already.
An environment with `as_of` resolves as PyPI stood that day (uv --exclude-newer), i.e.
the way a user's install of that Airflow looks; only this provider's own dependency
common-compat comes as of today, as it would for a user adding the provider later.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LINT_DIRS = ["airflow_provider_kaleyra", "tests", "example_dags", "scripts", "benchmarks", "docs"]
NEWEST_AIRFLOW = "apache-airflow>=3.3,<3.4"
COMMON_COMPAT = "apache-airflow-providers-common-compat"


@dataclass(frozen=True)
class Env:
    dir: str
    airflow: str
    as_of: str | None = None  # uv --exclude-newer: the day after that Airflow's release
    python: str = "3"  # "3" is the python3 running dev.py; "3.12" a python3.12 found on PATH or in pyenv

    @property
    def bin(self) -> Path:
        return ROOT / self.dir / "bin"


LATEST = Env(".venv", NEWEST_AIRFLOW)
AIRFLOW_2_11 = Env(".venv-2.11", "apache-airflow==2.11.0", as_of="2025-05-21")
AIRFLOW_3_0 = Env(".venv-3.0", "apache-airflow==3.0.6", as_of="2025-08-29")
AIRFLOW_3_1 = Env(".venv-3.1", "apache-airflow==3.1.0", as_of="2025-10-05")
AIRFLOW_3_2 = Env(".venv-3.2", "apache-airflow==3.2.2", as_of="2026-05-30")
PYTHONS = [Env(f".venv-py{v}", NEWEST_AIRFLOW, python=v) for v in ("3.10", "3.12", "3.13")]
#: The lowest Airflow on the lowest Python: where old interpreters and old Airflow meet.
OLDEST = Env(".venv-2.11-py3.10", AIRFLOW_2_11.airflow, as_of=AIRFLOW_2_11.as_of, python="3.10")
AIRFLOWS = [LATEST, AIRFLOW_2_11, AIRFLOW_3_0, AIRFLOW_3_1, AIRFLOW_3_2]
ENVS = [*AIRFLOWS, *PYTHONS, OLDEST]

PYTEST = ["python", "-m", "pytest"]  # `python -m`: no script shebangs to go stale
UNIT = [*PYTEST, "tests/unit"]
UNIT_INTEGRATION = [*PYTEST, "-m", "not deployment"]
DEPLOYMENT = [*PYTEST, "-m", "deployment"]
# One line per step: (name, environment, command run with the environment's bin first on PATH).
STEPS = [
    ("ruff", LATEST, ["python", "-m", "ruff", "check", *LINT_DIRS]),
    ("mypy", LATEST, ["python", "-m", "mypy"]),
    ("docs: sphinx -W, internal links", LATEST, ["python", "scripts/build_docs.py"]),
    ("dist: wheel, sdist, twine check, LICENSE", LATEST, ["python", "scripts/check_dist.py"]),
    ("unit+integration, Airflow 3.3", LATEST, UNIT_INTEGRATION),
    ("unit+integration, Airflow 2.11.0", AIRFLOW_2_11, UNIT_INTEGRATION),
    ("unit+integration, Airflow 3.0.6", AIRFLOW_3_0, UNIT_INTEGRATION),
    ("unit, Airflow 3.1.0", AIRFLOW_3_1, UNIT),  # its integration suite would add ~7 min
    ("unit, Airflow 3.2.2", AIRFLOW_3_2, UNIT),
    ("deployment+browser, Airflow 3.3", LATEST, DEPLOYMENT),
    ("deployment+browser, Airflow 2.11.0", AIRFLOW_2_11, DEPLOYMENT),
    *((f"unit, Python {e.python}", e, UNIT) for e in PYTHONS),
    ("unit, Airflow 2.11.0 on Python 3.10", OLDEST, UNIT),
]


def find_python(version: str) -> str | None:
    """``python3.12``: from pyenv's versions, else from PATH; one that runs (pyenv's shims may not)."""
    if version == "3":
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    installed = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    candidates = [*installed, shutil.which(f"python{version}")]
    runs = (c for c in candidates if c and not subprocess.call([c, "-c", ""], stderr=subprocess.DEVNULL))
    return next(runs, None)


def run(cmd: list[str], env: Env | None = None, extra: dict[str, str] | None = None, **kwargs: object) -> int:
    environ = dict(os.environ, UV_NO_PROGRESS="1", **(extra or {}))
    if env is not None:
        environ.update(VIRTUAL_ENV=str(env.bin.parent), PATH=f"{env.bin}{os.pathsep}{environ['PATH']}")
    return subprocess.call(cmd, cwd=ROOT, env=environ, stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[arg-type]


def make(env: Env) -> str | None:
    """Create or refresh one environment; the reason it failed, or None."""
    python = find_python(env.python)
    if python is None:
        return f"no python{env.python} on PATH or in pyenv"
    uv = str(LATEST.bin / "uv")
    if not (env.bin / "python").exists():
        made = run([uv, "venv", "-q", "--no-python-downloads", "--python", python, str(env.bin.parent)])
        if made:
            return f"uv venv exited {made}"
    cmd = [uv, "pip", "install", "-q", "--python", str(env.bin / "python"), "-e", ".[dev]", env.airflow]
    if env.as_of:
        # No date limit ("2100-01-01") for common-compat, the one dependency a user adds with this provider.
        cmd += ["--exclude-newer", env.as_of, "--exclude-newer-package", f"{COMMON_COMPAT}=2100-01-01"]
    installed = run(cmd)
    return f"uv pip install exited {installed}" if installed else None


def bootstrap(envs: list[Env]) -> dict[Env, str | None]:
    made = (LATEST.bin / "uv").exists() or not (
        run([sys.executable, "-m", "venv", str(LATEST.bin.parent)])
        or run([str(LATEST.bin / "python"), "-m", "pip", "install", "-q", "uv"])
    )
    if not made:
        sys.exit("[dev] could not make .venv with uv in it (python3 -m venv, then pip install uv)")
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = dict(zip(envs, pool.map(make, envs), strict=True))
    for env, failure in failures.items():
        print(f"[dev] {env.dir} ({env.airflow}, Python {env.python}): {failure or 'ready'}", flush=True)
    return failures


def install_browser() -> int:
    """Debian's chromium and chromedriver (the browser tests drive them), when missing."""
    if all(Path(p).exists() for p in ("/usr/bin/chromium", "/usr/bin/chromedriver")):
        return 0
    packages = ["chromium", "chromium-driver", "fonts-liberation"]  # the font: screenshots show text
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    quiet = {"stdout": subprocess.DEVNULL}
    return run([*sudo, "apt-get", "update"], **quiet) or run(
        [*sudo, "apt-get", "install", "-y", "--no-install-recommends", *packages], **quiet
    )


def test(pytest_args: list[str]) -> int:
    started = time.monotonic()
    steps = [(f"pytest, {e.dir}", e, [*PYTEST, *pytest_args]) for e in AIRFLOWS] if pytest_args else STEPS
    envs = list(dict.fromkeys(env for _, env, _ in steps))
    with ThreadPoolExecutor(max_workers=1) as pool:
        browser = pool.submit(install_browser)
        failures = bootstrap(envs)
        results = [("bootstrap and browser install", time.monotonic() - started, browser.result())]
    for name, env, cmd in steps:
        if failures[env]:
            results.append((name, 0.0, f"skipped: {failures[env]}"))
            continue
        print(f"\n[dev] ===== {name}: {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:  # tests/conftest.py reads it
            code = run(cmd, env, {"AIRFLOW_HOME": home, "KALEYRA_TEST_AIRFLOW_HOME": home})
        results.append((name, time.monotonic() - t0, code))
    print("\n[dev] ===== summary (seconds, exit code)", flush=True)
    for name, seconds, code in results:
        print(f"  {seconds:7.1f}  {code!s:<4} {name}", flush=True)
    print(f"  {time.monotonic() - started:7.1f}  total", flush=True)
    # A missing interpreter is a printed note, not a failure; any other non-zero result is.
    return int(any(code != 0 and not str(code).startswith("skipped: no python") for _, _, code in results))


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "test":
        return test(rest)
    if command == "bootstrap":
        return int(any(bootstrap(ENVS).values()))
    if command == "demo":
        if bootstrap([LATEST])[LATEST]:
            return 1
        return run(["python", "scripts/demo.py", *rest], LATEST)
    if command == "docs":
        return 1 if bootstrap([LATEST])[LATEST] else run(["python", "scripts/build_docs.py"], LATEST)
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
