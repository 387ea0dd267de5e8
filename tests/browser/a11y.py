"""Accessibility checks run on every screen of the browser journeys.

``assert_accessible(page, screen_name)`` runs axe-core (WCAG 2.0/2.1 A and AA rules) and
fails on any serious or critical violation, checks the two live regions, tabs through
the screen checking each focus ring's contrast, checks that the screen reflows without
horizontal scrolling at 200 % zoom (a 640 px viewport) and at 320 px, and keeps a
screenshot of each. axe-core comes from the committed ``tests/browser/axe`` lock file
(``npm ci``), like the FranceConnect stand-in in ``tests/oidc_provider``.
"""

from __future__ import annotations

from pathlib import Path

from tests import npm

FOLDER = Path(__file__).resolve().parent / "axe"
AXE_JS = FOLDER / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
# 200 % zoom of a 1280 px-wide screen, and WCAG 1.4.10's 320 CSS px.
REFLOW_WIDTHS = {"zoom-200": (640, 720), "320px": (320, 640)}
MAX_TABS = 80


Unavailable = npm.Unavailable


def install_axe(timeout: float) -> str:
    """Run ``npm ci`` from the committed lock file unless done; return axe.min.js's source."""
    npm.install_locked(FOLDER, timeout, needed_for="for the accessibility checks")
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing after npm ci")
    return AXE_JS.read_text(encoding="utf-8")


RUN_AXE = """
async (tags) => {
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}
"""

# The two live regions: present, rendered (never display: none), with fixed roles.
LIVE_REGIONS = """
() => ["message", "alert"].map((id) => {
  const region = document.getElementById(id);
  if (!region) return { id, present: false };
  const style = getComputedStyle(region);
  return {
    id,
    present: true,
    hidden: region.hidden || style.display === "none" || style.visibility === "hidden",
    role: region.getAttribute("role"),
    live: region.getAttribute("aria-live"),
  };
})
"""

# The focused element's ring and its contrast against what is behind it (WCAG 1.4.11).
FOCUS_RING = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let behind = [255, 255, 255];
  for (let node = el.parentElement; node; node = node.parentElement) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length === 3 || (color.length === 4 && color[3] > 0)) {
      behind = color.slice(0, 3);
      break;
    }
  }
  const style = getComputedStyle(el);
  const ring = rgb(style.outlineColor).slice(0, 3);
  const [a, b] = [luminance(ring), luminance(behind)].sort((x, y) => y - x);
  const name = (el.getAttribute("aria-label") || el.textContent || el.id || el.tagName).trim();
  return {
    name: name.slice(0, 60),
    tag: el.tagName,
    outline: style.outlineStyle,
    width: parseFloat(style.outlineWidth) || 0,
    contrast: (a + 0.05) / (b + 0.05),
  };
}
"""

SCROLLS_SIDEWAYS = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)


def run_axe(page) -> list[dict]:
    """Return axe's serious and critical violations on the page as it is now."""
    violations = page.evaluate(RUN_AXE, AXE_TAGS)
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} — {', '.join(v['targets'][:5])}"
        for v in violations
    )


def focus_rings(page) -> list[dict]:
    """Tab through the page once; return the focus ring of every control reached."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: list[dict] = []
    first = None
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring is None:
            break
        key = (ring["tag"], ring["name"])
        if key == first:
            break
        first = first or key
        seen.append(ring)
    return seen


def check_screen(page, screen_name: str, axe_source: str, *, tab_through: bool = True) -> None:
    """Fail on a serious or critical axe violation or any of the checks above; keep screenshots.

    The ``assert_accessible`` fixture (conftest.py) binds ``axe_source``.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{screen_name}.png"), full_page=True)

    blocking = run_axe(page)
    assert not blocking, f"axe on « {screen_name} »:\n{describe(blocking)}"

    regions = page.evaluate(LIVE_REGIONS)
    if any(region["present"] for region in regions):
        expected = {"message": ("status", "polite"), "alert": ("alert", "assertive")}
        for region in regions:
            assert region["present"], f"« {screen_name} »: #{region['id']} is missing"
            assert not region["hidden"], f"« {screen_name} »: #{region['id']} is hidden"
            role_and_live = (region["role"], region["live"])
            assert role_and_live == expected[region["id"]], (screen_name, region)

    if tab_through:
        weak = [
            ring
            for ring in focus_rings(page)
            if ring["outline"] == "none" or ring["width"] < 2 or ring["contrast"] < 3
        ]
        assert not weak, f"« {screen_name} »: focus rings under 3:1 or missing: {weak}"

    viewport = page.viewport_size
    try:
        for label, (width, height) in REFLOW_WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            assert not page.evaluate(SCROLLS_SIDEWAYS), (
                f"« {screen_name} » scrolls sideways at {label} ({width} px)"
            )
            page.screenshot(path=str(ARTIFACTS / f"{screen_name}--{label}.png"), full_page=True)
            blocking = run_axe(page)
            assert not blocking, f"axe on « {screen_name} » at {label}:\n{describe(blocking)}"
    finally:
        page.set_viewport_size(viewport)
