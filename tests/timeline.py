"""The Happy Eyeballs page's timeline, drawn from its transcript.

docs/output/tcp_connect_happy_eyeballs.console is a real run (tests/
test_docs.py replays it); the picture docs/images/happy_eyeballs.svg is
made from that file alone, so it cannot show what the run did not.

    python tests/timeline.py    rewrite the picture from the transcript
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPT = ROOT / "docs" / "output" / "tcp_connect_happy_eyeballs.console"
PICTURE = ROOT / "docs" / "images" / "happy_eyeballs.svg"
ATTEMPT = re.compile(r"^ *(\d+\.\d+) s  (\S+) +(\w[\w ]*?) at (\d+\.\d+) s$")
PLAIN = re.compile(
    r"^connected to (\S+) in (\d+\.\d+) s \(create_connection\)$"
)
COLOURS = {"connected": "#2e7d32", "abandoned": "#9e9e9e"}
LEFT, WIDTH, ROW = 250, 700, 30  # label column, picture, row height


def rows(text: str) -> list[tuple[str, str, float, float, str]]:
    """(group, address, start, end, outcome) for each attempt drawn."""
    found = []
    group = ""
    for line in text.splitlines():
        if line.startswith("$ "):
            group = (
                "create_connection()"
                if "--plain" in line
                else "Happy Eyeballs"
            )
        elif attempt := ATTEMPT.match(line):
            start, address, outcome, end = attempt.groups()
            found.append((group, address, float(start), float(end), outcome))
        elif plain := PLAIN.match(line):
            found.append((group, plain[1], 0.0, float(plain[2]), "connected"))
    return found


def render(text: str) -> str:
    """The SVG timeline of the transcript's attempts."""
    drawn = rows(text)
    span = max(end for *_, end, _ in drawn) * 1.05
    scale = (WIDTH - LEFT - 20) / span
    height = ROW * len(drawn) + 60
    parts = [
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for i, (group, address, start, end, outcome) in enumerate(drawn):
        y = 20 + ROW * i
        x = LEFT + start * scale
        w = max(2.0, (end - start) * scale)
        colour = COLOURS.get(outcome, "#c62828")
        label = f"{group}: {address}"
        parts += [
            f'<text x="{LEFT - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>",
            f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="16" '
            f'fill="{colour}"><title>{escape(outcome)}: {start:.3f} to '
            f"{end:.3f} s</title></rect>",
        ]
        said = f"{escape(outcome)} at {end:.3f} s"
        inside = x + w + 7 * len(said) > WIDTH  # no room after the bar
        where = (
            f'x="{x + w - 6:.1f}" text-anchor="end" fill="#ffffff"'
            if inside
            else f'x="{x + w + 6:.1f}"'
        )
        parts.append(f'<text {where} y="{y + 15}">{said}</text>')
    axis = 20 + ROW * len(drawn) + 10
    parts.append(
        f'<line x1="{LEFT}" y1="{axis}" x2="{WIDTH - 20}" y2="{axis}" '
        'stroke="#555555"/>'
    )
    step = 0.25 if span < 3 else 1.0
    tick = 0.0
    while tick <= span:
        x = LEFT + tick * scale
        parts += [
            f'<line x1="{x:.1f}" y1="{axis}" x2="{x:.1f}" y2="{axis + 5}" '
            'stroke="#555555"/>',
            f'<text x="{x:.1f}" y="{axis + 18}" text-anchor="middle">'
            f"{tick:g} s</text>",
        ]
        tick += step
    title = "Connection attempts to dual.test, from the transcript above"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{title}" font-family="Liberation Sans, sans-serif" '
        f'font-size="12"><title>{title}</title>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


if __name__ == "__main__":
    PICTURE.write_text(render(TRANSCRIPT.read_text()))
    print(f"wrote {PICTURE.relative_to(ROOT)}")
