"""Build the wheel and the sdist as a release would, and check what is inside them.

    python scripts/check_dist.py [--outdir DIR]

Runs ``python -m build`` (in an isolated build environment, as a release does) into a
fresh directory, then ``twine check --strict`` on both artifacts, then opens them: each
must carry the LICENSE file and the version of ``airflow_provider_kaleyra.__version__``,
and the wheel must register the provider entry point. Exits non-zero on the first
failure, saying which check failed and why.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST_NAME = "airflow_provider_kaleyra"
ENTRY_POINT = "[apache_airflow_provider]\nprovider_info = airflow_provider_kaleyra.get_provider_info:get_provider_info"


class CheckFailed(Exception):
    pass


def source_version() -> str:
    """``__version__`` as written in the package, read without importing it."""
    tree = ast.parse((ROOT / DIST_NAME / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    raise CheckFailed(f"no __version__ string in {DIST_NAME}/__init__.py")


def run(cmd: list[str]) -> None:
    print(f"$ {' '.join(cmd)}", flush=True)
    completed = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, check=False)
    if completed.returncode != 0:
        raise CheckFailed(f"{cmd[2] if cmd[1:2] == ['-m'] else cmd[0]} failed (exit {completed.returncode})")


def only(paths: list[Path], what: str) -> Path:
    if len(paths) != 1:
        raise CheckFailed(f"expected one {what}, found {[p.name for p in paths]}")
    return paths[0]


def check_wheel(wheel: Path, version: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"{DIST_NAME}-{version}.dist-info"
        license_path = f"{dist_info}/licenses/LICENSE"
        if license_path not in names:
            raise CheckFailed(f"{wheel.name} has no {license_path}")
        if "Apache License" not in archive.read(license_path).decode():
            raise CheckFailed(f"{wheel.name}: {license_path} is not the Apache License text")
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    if ENTRY_POINT not in entry_points:
        raise CheckFailed(f"{wheel.name}: entry_points.txt lacks the provider entry point:\n{entry_points}")
    check_metadata(wheel.name, metadata, version)


def check_sdist(sdist: Path, version: str) -> None:
    top = f"{DIST_NAME}-{version}"
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        if f"{top}/LICENSE" not in names:
            raise CheckFailed(f"{sdist.name} has no {top}/LICENSE")
        pkg_info = archive.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        check_metadata(sdist.name, pkg_info.read().decode(), version)


def check_metadata(artifact: str, metadata: str, version: str) -> None:
    """The fields a provider registry and a licence review read."""
    headers = metadata.split("\n\n", 1)[0]
    wanted = {
        "Version": re.escape(version),
        "License-Expression": "Apache-2.0",
        "License-File": "LICENSE",
        "Keywords": ".*airflow-provider.*",
        "Author": ".+",
    }
    for field, pattern in wanted.items():
        if not re.search(rf"^{field}: {pattern}$", headers, re.MULTILINE):
            raise CheckFailed(f"{artifact}: metadata field {field} missing or not /{pattern}/")
    if not re.search(r"^Requires-Dist: httpx", headers, re.MULTILINE):
        raise CheckFailed(f"{artifact}: httpx, imported by the async hook, is not a declared dependency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, help="where to build (default: a fresh temporary directory)")
    args = parser.parse_args(argv)
    try:
        version = source_version()
        with tempfile.TemporaryDirectory(prefix="kaleyra-dist-") as scratch:
            outdir = (args.outdir or Path(scratch)).resolve()
            run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)])
            wheel = only(sorted(outdir.glob(f"{DIST_NAME}-{version}-*.whl")), f"wheel of version {version}")
            sdist = only(sorted(outdir.glob(f"{DIST_NAME}-{version}.tar.gz")), f"sdist of version {version}")
            run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
            check_wheel(wheel, version)
            check_sdist(sdist, version)
            print(f"check_dist: {wheel.name} and {sdist.name} carry LICENSE and complete metadata", flush=True)
    except CheckFailed as failure:
        print(f"check_dist: FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
