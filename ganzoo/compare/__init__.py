"""``ganzoo compare``: several architectures trained and evaluated under one protocol, and a report.

- ``recipe``: the compare recipe (typed), turned into one ordinary recipe per entry and seed
- ``run``: checks everything before training, then trains what is not finished (one after another,
  or one run per GPU)
- ``results``: what each finished run directory says (scores, curves, speed, memory, sizes), per entry
- ``report``: report.md and a self-contained report.html (tables in ``tables``, curves in ``plots``)
"""
