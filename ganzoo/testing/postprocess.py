"""The contract check for post-processors."""
from __future__ import annotations

from typing import Any, Iterable

from ganzoo.testing.shared import check_class


def check_postprocessor(cls: type, config: dict[str, Any] | None = None,
                        modes: Iterable[str] = ("L", "RGB", "RGBA")) -> None:
    """Assert that ``cls`` handles generated and file images in each mode, the same way on several threads.

    Runs the step through the trial ganzoo runs before exporting (every test image
    through the step, encoded in memory in the format it asks for), then runs it
    on many threads at once and compares with the one-thread result.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ganzoo.errors import GanzooError
    from ganzoo.export.pipeline import Pipeline, check_pipeline, probe_images

    step = cls(check_class(cls, "PostProcessor", config))
    pipeline = Pipeline([step], [f"{cls.kind}"], f"{cls.__name__} contract check")
    base = {"run_id": "check", "kind": "check", "seed": 0}
    for files in (False, True):
        try:
            check_pipeline(pipeline, probe_images(modes), base, provenance=True, files=files)
        except GanzooError as exc:
            raise AssertionError(str(exc)) from None
    for probe in probe_images(modes):
        def run(_=None, probe=probe):
            meta = {**base, "index": 0, "label": None, "class_name": None, "format": "png", "source": None}
            return step(probe.copy(), meta).tobytes()

        alone = run()
        with ThreadPoolExecutor(4) as pool:
            assert all(out == alone for out in pool.map(run, range(16))), \
                f"{cls.kind}: a {probe.mode} image came out differently when steps ran on several threads at once"
