"""The quickstart generator in onnxruntime against PyTorch, both on the CPU.

DCGAN as recipes/quickstart.yaml builds it (width 32, 32x32 RGB, z 100), with
random weights (speed does not depend on training), exported as `ganzoo
export-onnx` does. Images/s at batch 64 and at batch 1, after warm-up, best of
three timed rounds each. Prints a table and, with --write, replaces the
matching section of docs/performance.md.

    python benchmarks/onnx_throughput.py --write
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from perfdoc import report

from ganzoo.api import ImageSpec
from ganzoo.export.onnx import export_generator, model_card
from ganzoo.host import default_host


def best_rate(run, batch: int, images: int) -> float:
    run()  # warm-up
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(images // batch):
            run()
        rates.append(images // batch * batch / (time.perf_counter() - start))
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    parser.add_argument("--section", default="onnx_throughput", help="marked section of docs/performance.md")
    args = parser.parse_args()
    cls = default_host().architectures.get("dcgan").obj
    architecture = cls(cls.Config(width=32), ImageSpec(32, 3))
    torch.manual_seed(0)
    generator = architecture.build_generator().eval()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "quickstart.onnx"
        card = model_card(architecture, which="ema", step=0, images_seen=0, run={}, recipe_digest=None,
                          metrics=None, uint8=False)
        export_generator(architecture, generator, path, card)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch, images in ((64, 2048), (1, 256)):
            z = torch.randn(batch, architecture.z_dim)
            feed = {"z": z.numpy().astype(np.float32)}

            def pytorch():
                with torch.inference_mode():
                    architecture.generate(generator, z)

            torch_rate = best_rate(pytorch, batch, images)
            ort_rate = best_rate(lambda: session.run(None, feed), batch, images)
            rows.append(f"| {batch} | {torch_rate:,.0f} | {ort_rate:,.0f} | {ort_rate / torch_rate:.2f}x |")
            print(rows[-1], flush=True)
    caption = (
        f"DCGAN width 32, 32x32 RGB (the quickstart generator), float32 output; device: CPU ({platform.machine()}, "
        f"{torch.get_num_threads()} threads for both); torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}; measured {time.strftime('%Y-%m-%d')}. Best of three rounds after warm-up."
    )
    header = "| batch | PyTorch images/s | onnxruntime images/s | onnxruntime / PyTorch |"
    report(args.section, caption, header, rows, args.write)


if __name__ == "__main__":
    main()
