"""Numbers with their protocol, as one line of text (for the CLI and the progress display)."""
from __future__ import annotations

from typing import Any


def format_scores(scores: dict[str, Any], prefix: str = "") -> str:
    parts = []
    if f"{prefix}fid" in scores:
        parts.append(f"FID {scores[f'{prefix}fid']:.4g}")
    if f"{prefix}kid" in scores:
        spread = scores[f"{prefix}kid_std"]  # 0 when every subset was the whole pool: nothing to show
        parts.append(f"KID {scores[f'{prefix}kid']:.4g}" + (f" ± {spread:.2g}" if spread else ""))
    if f"{prefix}precision" in scores:
        parts.append(f"precision {scores[f'{prefix}precision']:.3f}  recall {scores[f'{prefix}recall']:.3f}")
    if f"{prefix}is" in scores:
        parts.append(f"IS {scores[f'{prefix}is']:.4g} ± {scores[f'{prefix}is_std']:.2g}")
    return "  ".join(parts)


def format_protocol(protocol: dict[str, Any]) -> str:
    """'inception (weights 6726825d, published-comparable), 10,000 EMA fakes vs 6,000 reals (catalogue, all)'."""
    ex = protocol.get("extractor", {})
    weights = ex.get("weights_sha256")
    what = ex.get("kind", "?") + (f" (weights {weights[:8]}" if weights else " (")
    space = ex.get("space", ex.get("kind"))
    what += (", published-comparable)" if ex.get("comparable_to_published")
             else f"{', ' if weights else ''}{space} space, not comparable to published FIDs)")
    fake = protocol.get("fake", {})
    generator = protocol.get("generator")
    fakes = f"{protocol.get('n_fake', 0):,} " + (f"{'EMA' if generator == 'ema' else 'raw'} fakes" if generator
                                                  else fake.get("type", "first-side") + " images")
    real = protocol.get("real", {})
    where = real.get("kind") or real.get("type") or "reference"
    split = protocol.get("split")
    reals = f"{protocol.get('n_real', 0):,} reals ({where}{', ' + str(split) if split else ''})"
    if fake.get("step") is not None:
        fakes += f" at step {fake['step']}"
    return f"{what}, {fakes} vs {reals}"
