"""The catalogue's products as drawings: one function per category.

Each function takes a seeded ``random.Random`` and returns a :class:`Design`
in unit coordinates (0..1, y pointing down, product roughly centred): the
``shape`` ops draw the silhouette (the renderer fills it with a colour or
pattern and outlines it), the ``details`` ops draw seams, laces and the like on
top. Keeping the drawings as plain data lets the renderer apply jitter, flips
and scaling in one place.

An op is ``(name, geometry, paint)``; ``name`` is one of ``polygon``,
``ellipse``, ``ring`` (an ellipse outline of a given width), ``rounded``
(a rounded rectangle), ``line`` and ``arc``. ``paint`` is 255/0 in shape ops
(add to / cut from the silhouette) and a colour role in detail ops.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

Op = tuple[str, dict[str, Any], Any]
INK_WIDTH = 0.022  # detail line width: about one pixel at the output resolution


@dataclass
class Design:
    shape: list[Op] = field(default_factory=list)
    details: list[Op] = field(default_factory=list)
    material: str = "fabric"  # the surface drawn above 128 px: fabric, leather or ceramic (_finish)


def _mirror(points):
    """The right half of a left-right symmetric outline, in drawing order."""
    return [(1.0 - x, y) for x, y in reversed(points)]


def tshirt(rng: random.Random) -> Design:
    bw = rng.uniform(0.19, 0.24)       # half body width
    sleeve = rng.uniform(0.13, 0.19)
    cuff = rng.uniform(0.11, 0.14)
    nw, nd = rng.uniform(0.07, 0.095), rng.uniform(0.04, 0.07)  # neck half width, depth
    top, hem = 0.14, rng.uniform(0.84, 0.89)
    ux, uy = -0.8, 0.6                  # sleeve direction: out and down
    shoulder = (0.5 - bw - 0.02, top + 0.02)
    cuff_top = (shoulder[0] + ux * sleeve, shoulder[1] + uy * sleeve)
    cuff_bottom = (cuff_top[0] + 0.6 * cuff, cuff_top[1] + 0.8 * cuff)
    t = (0.5 - bw - cuff_bottom[0]) / 0.8  # walk back along the sleeve to the body side
    armpit = (0.5 - bw, cuff_bottom[1] - 0.6 * t)
    left = [(0.5 - nw, top), shoulder, cuff_top, cuff_bottom, armpit, (0.5 - bw, hem)]
    neck = (0.5 - nw, top - nd, 0.5 + nw, top + nd)
    seam = [(cuff_top[0] + 0.035 * 0.8, cuff_top[1] - 0.035 * 0.6),
            (cuff_bottom[0] + 0.035 * 0.8, cuff_bottom[1] - 0.035 * 0.6)]
    return Design(
        shape=[("polygon", {"points": left + _mirror(left)}, 255), ("ellipse", {"box": neck}, 0)],
        details=[("line", {"points": seam}, "ink"), ("line", {"points": _mirror(seam)}, "ink"),
                 ("arc", {"box": (neck[0] - 0.02, neck[1] - 0.02, neck[2] + 0.02, neck[3] + 0.02),
                          "start": 0, "end": 180}, "ink")],
    )


def trousers(rng: random.Random) -> Design:
    ww = rng.uniform(0.14, 0.18)       # half waist width
    flare = rng.uniform(-0.01, 0.05)   # how far the hems spread beyond the waist
    top, bottom = rng.uniform(0.07, 0.1), rng.uniform(0.88, 0.93)
    crotch = rng.uniform(0.34, 0.4)
    leg = rng.uniform(0.6, 0.75) * (ww + flare)  # hem width, always leaving a gap between legs
    outer = 0.5 - ww - flare
    left = [(0.5 - ww, top), (outer, bottom), (outer + leg, bottom)]
    band = top + 0.055
    return Design(
        shape=[("polygon", {"points": left + [(0.5, crotch)] + _mirror(left)}, 255)],
        details=[("line", {"points": [(0.5 - ww, band), (0.5 + ww, band)]}, "ink"),
                 ("line", {"points": [(0.5, band), (0.5, crotch - 0.07)]}, "ink")],
    )


def dress(rng: random.Random) -> Design:
    bw = rng.uniform(0.09, 0.12)       # half width at the bust
    ww = bw - rng.uniform(0.01, 0.025)  # fitted waist
    top, waist = rng.uniform(0.08, 0.12), rng.uniform(0.37, 0.42)
    hem, hw = rng.uniform(0.85, 0.9), rng.uniform(0.25, 0.34)
    neck = top + rng.uniform(0.07, 0.11)
    strap = rng.uniform(0.03, 0.045)
    left = [(0.5 - bw + 0.005 + strap, top), (0.5 - bw + 0.005, top), (0.5 - bw - 0.012, top + 0.13),
            (0.5 - ww, waist), (0.5 - hw, hem), (0.5 - hw / 2, hem + 0.02)]
    outline = [(0.5, neck)] + left + [(0.5, hem + 0.025)] + _mirror(left)
    belt = "accent" if rng.random() < 0.5 else "ink"
    return Design(
        shape=[("polygon", {"points": outline}, 255)],
        details=[("line", {"points": [(0.5 - ww, waist), (0.5 + ww, waist)],
                           "width": 2 if belt == "accent" else 1}, belt)],
    )


def sneaker(rng: random.Random) -> Design:
    sole, sole_h = rng.uniform(0.62, 0.66), rng.uniform(0.08, 0.1)
    collar = rng.uniform(0.27, 0.35)   # top of the heel: lower is a higher-top shoe
    toe = rng.uniform(0.88, 0.92)
    tongue, instep = (0.45, collar - 0.02), (0.66, sole - 0.16)
    upper = [(0.09, sole + 0.01), (0.07, collar + 0.1), (0.1, collar + 0.01), (0.17, collar - 0.01),
             (0.3, collar + 0.07), (0.38, collar - 0.05), tongue, instep, (0.8, sole - 0.11),
             (toe - 0.02, sole - 0.075), (toe + 0.02, sole - 0.03), (toe + 0.03, sole + 0.01)]
    dx, dy = instep[0] - tongue[0], instep[1] - tongue[1]
    norm = math.hypot(dx, dy)
    nx, ny = -dy / norm, dx / norm     # across the instep, into the shoe
    laces = []
    for t in (0.15, 0.45, 0.75):
        px, py = tongue[0] + t * dx, tongue[1] + t * dy
        laces.append(("line", {"points": [(px, py), (px + 0.1 * nx, py + 0.1 * ny)], "width": 1.5}, "ink"))
    sole_box = (0.06, sole, toe + 0.05, sole + sole_h)
    details = [("rounded", {"box": sole_box, "radius": 0.04}, "sole"),
               ("line", {"points": [(0.74, sole), (0.77, sole - 0.07), (0.83, sole - 0.105)]}, "ink")]
    if rng.random() < 0.5:
        details.append(("line", {"points": [(0.28, sole - 0.03), (0.48, sole - 0.06), (0.64, sole - 0.13)],
                                 "width": 2}, "accent"))
    return Design(shape=[("polygon", {"points": upper}, 255), ("rounded", {"box": sole_box, "radius": 0.04}, 255)],
                  details=details + laces)


def handbag(rng: random.Random) -> Design:
    top, bottom = rng.uniform(0.4, 0.46), rng.uniform(0.84, 0.89)
    tw = rng.uniform(0.21, 0.27)       # half width at the top
    bw = tw + rng.uniform(0.03, 0.08)  # wider at the bottom
    hw, hh = rng.uniform(0.12, 0.17), rng.uniform(0.17, 0.24)  # handle half width, height
    thick = rng.uniform(0.04, 0.055)
    body = [(0.5 - tw, top), (0.5 + tw, top), (0.5 + bw, bottom - 0.04), (0.5 + bw - 0.04, bottom),
            (0.5 - bw + 0.04, bottom), (0.5 - bw, bottom - 0.04)]
    if rng.random() < 0.5:  # a flap with a clasp, or a plain seam
        flap_y = top + rng.uniform(0.13, 0.18)
        details = [("line", {"points": [(0.5 - tw - 0.01, top + 0.01), (0.5, flap_y), (0.5 + tw + 0.01, top + 0.01)]},
                    "ink"),
                   ("rounded", {"box": (0.47, flap_y - 0.02, 0.53, flap_y + 0.03), "radius": 0.01}, "accent")]
    else:
        details = [("line", {"points": [(0.5 - tw - 0.01, top + 0.06), (0.5 + tw + 0.01, top + 0.06)]}, "ink")]
    return Design(
        shape=[("ring", {"box": (0.5 - hw, top - hh, 0.5 + hw, top + hh), "width": thick}, 255),
               ("polygon", {"points": body}, 255)],
        details=details, material="leather",
    )


def mug(rng: random.Random) -> Design:
    cx = 0.43                           # off centre, leaving room for the handle
    bw = rng.uniform(0.17, 0.22)
    top, bottom = rng.uniform(0.2, 0.27), rng.uniform(0.78, 0.84)
    rw, rh = rng.uniform(0.1, 0.14), rng.uniform(0.13, 0.17)
    mid = (top + bottom) / 2 - 0.02
    thick = rng.uniform(0.045, 0.06)
    details = [("line", {"points": [(cx - bw, top + 0.04), (cx + bw, top + 0.04)]}, "ink")]
    return Design(
        shape=[("ring", {"box": (cx + bw - rw, mid - rh, cx + bw + rw, mid + rh), "width": thick}, 255),
               ("rounded", {"box": (cx - bw, top, cx + bw, bottom), "radius": 0.05}, 255)],
        details=details, material="ceramic",
    )


# Order matters: it is the label order, so new categories go at the end.
PRODUCTS: dict[str, Callable[[random.Random], Design]] = {
    "t-shirt": tshirt,
    "trousers": trousers,
    "dress": dress,
    "sneaker": sneaker,
    "handbag": handbag,
    "mug": mug,
}
