"""Getting images out: generation from a trained generator, post-processing pipelines, image files.

- ``generate``: latents -> uint8 batches (seeded, batch-size independent) -> files through a pipeline
- ``pipeline``: pipeline files and a recipe's ``export.postprocess``: loading, checking on test images,
  running a folder of photos through them, writing each image atomically

The AI-generated provenance record is ``ganzoo.provenance`` (public, plugins use it).
It may import the contract, the host, the recipe and the engine's image helpers.
"""
from ganzoo.export.generate import check_export, generate_batches, write_images
from ganzoo.export.pipeline import Pipeline, PipelineError, load_pipeline, pipeline_of

__all__ = ["Pipeline", "PipelineError", "check_export", "generate_batches", "load_pipeline", "pipeline_of",
           "write_images"]
