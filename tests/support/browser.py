"""Real Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright
for Python (no browser download), and axe-core's accessibility check inside the page.

Missing Chromium is a failure, never a skip: the README's test command installs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
AXE = Path(__file__).parent / "axe" / "axe-4.14.1.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS pixels


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(
            f"the browser tests need Chromium at {CHROMIUM} and it is missing: "
            "apt-get install -y chromium fonts-wqy-zenhei (the README's test command does)")
    return CHROMIUM


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """axe-core's violations of these impacts on the page as it is now.

    axe is evaluated through the DevTools protocol, which the pages' CSP (no inline
    script) does not govern: the page itself stays exactly as served."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text("utf-8"))
    result = page.evaluate("""async () => await window.axe.run(document, {
        resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}
    })""")
    return [v for v in result["violations"] if v["impact"] in impacts]


def assert_accessible(page: Any) -> None:
    bad = axe_violations(page)
    assert not bad, "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5]) for v in bad)
