"""Build the documentation site with warnings as errors, then check its internal links.

    python scripts/build_docs.py [--outdir DIR]

``sphinx-build -W --keep-going -b html docs <outdir>`` (default ``docs/_build/html``),
then every ``href`` and ``src`` of the built pages that stays inside the site is
followed: the file must exist and a ``#fragment`` must name an element of it. Links to
other sites are not fetched (the build must not depend on the network). Exits non-zero
when the build warned or a link is broken, listing each broken link with its page.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


class _Page(HTMLParser):
    """The link targets and element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append(value)


def parse(page: Path) -> _Page:
    parsed = _Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    return parsed


def broken_links(site: Path) -> list[str]:
    pages = {page: parse(page) for page in site.rglob("*.html")}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue  # another site (http, https, mailto...): not fetched
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {link}"
            if not target.is_file():
                broken.append(f"{where} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no #{parts.fragment} in {target.relative_to(site)})")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=DOCS / "_build" / "html")
    args = parser.parse_args(argv)
    outdir = args.outdir.resolve()
    shutil.rmtree(outdir, ignore_errors=True)  # no page of an earlier build may satisfy a link
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-b", "html", str(DOCS), str(outdir)]
    print(f"$ {' '.join(cmd)}", flush=True)
    if subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, check=False).returncode != 0:
        print("build_docs: FAILED: sphinx-build warned or failed (see above)", file=sys.stderr, flush=True)
        return 1
    broken = broken_links(outdir)
    if broken:
        print(f"build_docs: FAILED: {len(broken)} broken internal links:", file=sys.stderr)
        for line in broken:
            print(f"  {line}", file=sys.stderr)
        return 1
    pages = sum(1 for _ in outdir.rglob("*.html"))
    print(f"build_docs: {pages} pages built without warnings, internal links resolve: {outdir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
