"""Look at the built site in a real browser: headless Chromium takes screenshots of a few pages.

    sphinx-build -W --keep-going docs build/site
    python docs/site_screenshots.py build/site --out build/screenshots

The site is served from 127.0.0.1 on a free port for as long as the screenshots take (MathJax's fonts and the
search page need http, not file://). Each shot gives the page's JavaScript (MathJax, the search) time to finish.
Needs a Chromium (Debian: ``apt-get install chromium``); not part of the test suite.
"""
from __future__ import annotations

import argparse
import functools
import html
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote, unquote

# (file name, page and #anchor or ?query, window height): what the course must show a reader
SHOTS = [
    ("batchnorm_equations.png", "batchnorm.html#the-forward-pass-equations-1-8", 1600),
    ("batchnorm_backward.png", "batchnorm.html#the-backward-pass-derived", 2200),
    ("batchnorm_figure.png", "batchnorm.html#what-it-does-to-training-alexnet-against-alexnet-bn", 2000),
    ("convolution_maths.png", "convolution.html#convolution-defined", 1400),
    ("lab_outputs.png", "labs/training_bn_lab.html", 3000),
    ("lab_batchnorm.png", "labs/batchnorm_lab.html", 2400),
    ("search_running_statistics.png", "search.html?q=running+statistics", 1400),
    ("api_batchnorm.png", "api.html#module-minicnn.plain.batchnorm", 1800),
]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The site's files, and /frame?page, a page that shows one page of the site in a full-window frame: a frame
    scrolls to a page's #anchor before the screenshot, where a headless window's own scroll comes out blank."""

    def do_GET(self):
        if not self.path.startswith("/frame?"):
            return super().do_GET()
        page = html.escape(unquote(self.path.split("?", 1)[1]), quote=True)
        body = (f'<!DOCTYPE html><html><body style="margin:0"><iframe src="/{page}" '
                f'style="border:0;width:100vw;height:100vh"></iframe></body></html>').encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built site (sphinx-build's output folder)")
    parser.add_argument("--out", type=Path, default=Path("build/screenshots"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"error: {args.site}: no index.html (expected the output folder of sphinx-build)", file=sys.stderr)
        return 2
    if not args.chromium:
        print("error: chromium: not found (expected Debian's chromium: apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.site)
    try:
        for name, page, height in SHOTS:
            with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
                command = [args.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           f"--window-size={args.width},{height}", "--virtual-time-budget=15000",
                           f"--screenshot={args.out / name}", f"{base}frame?{quote(page, safe='')}"]
                subprocess.run(command, check=True, capture_output=True, timeout=120)
            print(args.out / name)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
