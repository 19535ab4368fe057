"""ganzoo's first-party feature extractors, shipped as an ordinary plugin distribution.

- ``inception``: the TF-ported Inception-v3 (2015-12-05, pool3, 2048-d) that
  pytorch-fid uses, with pytorch-fid's own network code and input pipeline.
- ``domain``: a small CNN trained on the labelled real data (``ganzoo features
  train domain ...``), for product images Inception never saw; fully offline.
"""

__version__ = "0.1.0"
