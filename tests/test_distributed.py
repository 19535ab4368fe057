"""Data-parallel training and evaluation on torch.distributed: gloo, 2 CPU processes.

Multi-process tests start workers from tests/distributed_workers.py, through
torch.multiprocessing or torchrun, with one thread each (the machine has 2 cores).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from ganzoo.api import ImageData
from ganzoo.cli import app
from ganzoo.cli.torchrun import check_nproc, torchrun_command
from ganzoo.engine import distributed, syncbn
from ganzoo.engine.batches import BatchStream
from ganzoo.errors import RecipeError, UsageError
from ganzoo.metrics.scores import frechet_distance
from ganzoo.recipe import resolve
from tests.conftest import REPO, tiny_recipe
from tests.distributed_workers import extract_both, free_port, train_keyed

CHILD_ENV = {"OMP_NUM_THREADS": "1", "GANZOO_TENSORBOARD": "0"}


@pytest.fixture
def child_env(monkeypatch, tmp_path):
    """One thread per process, here and in the children (2 cores), and a private cache."""
    for key, value in {**CHILD_ENV, "GANZOO_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def spawn(fn, *args):
    mp.spawn(fn, args=(2, free_port(), *args), nprocs=2)


def torchrun(*args, max_restarts=0, cwd=REPO):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "--max-restarts", str(max_restarts), *args]
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def final_weights(run_dir: Path) -> dict:
    latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    return load_file(str(run_dir / "checkpoints" / latest["weights"]))


# ------------------------------------------------------------------ one process, no group

def test_the_global_batch_is_sharded_without_overlap_and_equals_one_process_batch():
    data = ImageData(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 8, 8).contiguous())
    one = BatchStream(data, 6, 7, torch.device("cpu"))
    ranks = [BatchStream(data, 3, 7, torch.device("cpu"), rank, 2) for rank in range(2)]
    seen = []
    for _ in range(5):  # 30 images: three epochs, and batches that span two of them
        single = one._indices()
        parts = [stream._indices() for stream in ranks]
        assert torch.equal(torch.cat(parts), single)
        seen += torch.cat(parts).tolist()
    for epoch in range(3):  # the ranks' slices together show every image once per epoch
        assert sorted(seen[10 * epoch:10 * epoch + 10]) == list(range(10))
    assert ranks[0].state_dict()["position"] == ranks[1].state_dict()["position"] == one.state_dict()["position"]


def test_rank_seeds_are_distinct_and_reproducible():
    seeds = [distributed.rank_seed(3, rank) for rank in range(8)]
    assert len(set(seeds)) == 8 and seeds == [distributed.rank_seed(3, rank) for rank in range(8)]
    assert distributed.rank_seed(4, 0) != seeds[0]


def test_shards_cover_the_stream_at_batch_boundaries(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    parts = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        parts.append(distributed.shard(70, 8))
    assert parts[0][0] == 0 and parts[-1][1] == 70
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert all(start % 8 == 0 for start, _ in parts)


def test_single_process_helpers_do_nothing():
    assert not distributed.active() and distributed.world_size() == 1
    net = torch.nn.Linear(2, 1)
    net(torch.ones(3, 2)).sum().backward()
    grad = net.weight.grad.clone()
    distributed.GradientAverager()(torch.optim.Adam(net.parameters()))
    assert torch.equal(net.weight.grad, grad)
    assert distributed.shard(70, 8) == (0, 70)


def test_sync_batchnorm_conversion_keeps_parameters_and_state_dict_keys():
    from ganzoo.nn import ConvGenerator
    plain = ConvGenerator(16, 16, 3, 8)
    keys = list(plain.state_dict())
    weights = [p for p in plain.parameters()]
    synced = syncbn.convert(plain)
    layers = [m for m in synced.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.SyncBatchNorm)]
    assert layers and all(type(m) is syncbn.SyncBatchNorm for m in layers)
    assert list(synced.state_dict()) == keys and list(synced.parameters()) == weights
    torch.manual_seed(0)
    z = torch.randn(4, 16)
    reference = ConvGenerator(16, 16, 3, 8)
    reference.load_state_dict(synced.state_dict())
    assert torch.allclose(synced(z), reference(z))  # one process: plain batch norm


def test_sync_batchnorm_must_be_a_boolean(host, tmp_path):
    recipe = tiny_recipe(tmp_path, sync_batchnorm="maybe")
    with pytest.raises(RecipeError, match="train.sync_batchnorm"):
        resolve(recipe, host)


def test_nproc_starts_torchrun_with_the_same_command(monkeypatch):
    command = torchrun_command(4, 2, Path("r.yaml"), ["train.steps=10"], True)
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
                           "--max-restarts", "2", "-m", "ganzoo", "run", "r.yaml", "--set", "train.steps=10", "--fresh"]
    for device in ("cuda:1", "mps"):
        with pytest.raises(UsageError, match="--nproc 2"):
            check_nproc(2, device)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match="1 CUDA GPU"):
        check_nproc(2, "auto")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(UsageError, match="already runs under torchrun"):
        check_nproc(2, "cpu")


@pytest.mark.parametrize("option", [["--nproc", "0"], ["--max-restarts", "-1"], ["--nproc", "two"]])
def test_bad_nproc_values_exit_2(option, tmp_path):
    result = CliRunner().invoke(app, ["run", str(REPO / "recipes" / "quickstart.yaml"), *option])
    assert result.exit_code == 2


# ------------------------------------------------------------------ several processes

def _keyed_recipe(architecture: dict, batch_size: int) -> dict:
    return {"run": {"seed": 3, "threads": 1},
            "data": {"kind": "test-squares", "resolution": 16, "size": 48},
            "architecture": architecture,
            "train": {"steps": 3, "batch_size": batch_size, "log_every": 1, "grid_size": 4, "sync_batchnorm": True}}


def test_two_processes_of_batch_b_train_as_one_process_of_batch_2b(tmp_path, child_env):
    """The standard data-parallel check, for DCGAN and for WGAN-GP's double-backward gradient penalty.

    The latents and penalty interpolates are keyed by position in the global batch (see
    KeyedDraws), and batch norm (in both generators, and in DCGAN's discriminator) is
    synchronised: without it each process normalises by its own 4 images instead of the
    8, and the weights differ by about 20 Adam steps' worth (measured: 4e-3 and 5e-3).
    Adam moves every weight by about lr per step whatever its gradient's size, so a wrong
    gradient shows as differences of order lr; rounding (sums in another order) moves
    weights whose gradient is near zero by a few percent of lr at most (measured: 9e-6
    for DCGAN, 1.5e-7 for WGAN-GP, lr 2e-4 and 1e-4). The tolerance is a tenth of lr.
    """
    architectures = {"dcgan": ({"kind": "dcgan", "width": 8, "z_dim": 16}, 2e-4),
                     "wgan-gp": ({"kind": "wgan-gp", "width": 8, "z_dim": 16, "n_critic": 2}, 1e-4)}
    train_keyed(0, 1, 0, [(_keyed_recipe(arch, 8), str(tmp_path / f"{name}-one.pt"))
                          for name, (arch, _) in architectures.items()])
    spawn(train_keyed, [(_keyed_recipe(arch, 4), str(tmp_path / f"{name}-two.pt"))
                        for name, (arch, _) in architectures.items()])
    for name, (_, lr) in architectures.items():
        one, two = torch.load(tmp_path / f"{name}-one.pt"), torch.load(tmp_path / f"{name}-two.pt")
        assert one.keys() == two.keys() == {"initial_generator", "generator", "discriminator", "generator_ema"}
        for net in ("initial_generator", "generator", "discriminator", "generator_ema"):
            assert one[net].keys() == two[net].keys()
            for key, value in one[net].items():
                assert torch.allclose(value.double(), two[net][key].double(), rtol=0, atol=lr / 10), (name, net, key)
        moved = max((one["generator"][k] - v).abs().max().item() for k, v in one["initial_generator"].items())
        assert moved > 2 * lr  # three steps moved the weights: the check is not vacuous


def test_distributed_feature_statistics_equal_single_process(tmp_path, child_env):
    extract_both(0, 1, 0, str(tmp_path / "one.npz"))
    spawn(extract_both, str(tmp_path / "two.npz"))
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    for side in ("data", "fake"):
        assert int(one[f"{side}_n"]) == int(two[f"{side}_n"])
        np.testing.assert_allclose(two[f"{side}_mean"], one[f"{side}_mean"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(two[f"{side}_sigma"], one[f"{side}_sigma"], rtol=1e-10, atol=1e-15)
        assert np.array_equal(two[f"{side}_features"], one[f"{side}_features"])  # the same sample, same order
    fid_one = frechet_distance(one["fake_mean"], one["fake_sigma"], one["data_mean"], one["data_sigma"])
    fid_two = frechet_distance(two["fake_mean"], two["fake_sigma"], two["data_mean"], two["data_sigma"])
    assert fid_one > 0 and fid_two == pytest.approx(fid_one, rel=1e-9)


def _restart_recipe(tmp_path: Path) -> dict:
    recipe = tiny_recipe(tmp_path, steps=8, batch_size=4, log_every=2, checkpoint_every=4)
    recipe["architecture"] = {"kind": "stylegan-lite", "preset": "tiny", "r1_every": 3, "path_length": 2.0,
                              "path_length_every": 3}
    recipe["eval"] = {"every_images": 24, "n_fake": 20, "n_real": 20, "metrics": ["fid"], "batch_size": 8,
                      "extractor": {"kind": "test-pixels"}}
    return recipe


@pytest.mark.slow
def test_a_killed_rank_restarts_from_the_checkpoint_and_finishes_as_an_uninterrupted_run(tmp_path, child_env):
    """StyleGAN-lite: lazy R1 and path length (double backward, a critic bias without gradient under R1,
    the path-length mean buffer), periodic distributed evaluation, and per-rank random streams."""
    runs = {}
    for name, kill_step in (("straight", 0), ("crashed", 6)):
        recipe_file = tmp_path / f"{name}.json"
        recipe_file.write_text(json.dumps(_restart_recipe(tmp_path / name)))
        torchrun("-m", "tests.distributed_workers", str(recipe_file), str(kill_step), max_restarts=1)
        runs[name] = tmp_path / name / "runs" / "tiny"
    sessions = json.loads((runs["crashed"] / "run.json").read_text())["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]  # rank 1 died once; all came back from step 4
    assert all(s["world_size"] == 2 and s["global_batch_size"] == 8 for s in sessions)

    def comparable(recs):
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "images_per_s", "eval/seconds", "eval/protocol")}
                for r in recs]

    straight, crashed = comparable(records(runs["straight"])), comparable(records(runs["crashed"]))
    assert straight == crashed
    assert [r["step"] for r in straight if "eval/fid" not in r] == [2, 4, 6, 8]  # each record once
    assert sum("eval/fid" in r for r in straight) == 3  # 24 and 48 images, and the end
    wa, wb = final_weights(runs["straight"]), final_weights(runs["crashed"])
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


QUICKSTART_TINY = """\
run: {name: quickstart, output_dir: runs, seed: 0, threads: 1}
data: {kind: catalogue, resolution: 16, size: 64}
architecture: {kind: dcgan, width: 8, z_dim: 16}
train: {steps: 8, batch_size: 4, log_every: 2, sample_every: 4, checkpoint_every: 4, grid_size: 16}
export: {count: 4}
"""


def test_nproc_2_writes_one_run_directory_once(tmp_path, child_env):
    (tmp_path / "quickstart.yaml").write_text(QUICKSTART_TINY)
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ganzoo", "run", "quickstart.yaml", "--nproc", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("Done: step 8") == 1 and "global batch 8" in done.stdout  # rank 0 alone prints
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["quickstart"]
    run_dir = tmp_path / "runs" / "quickstart"
    assert [r["step"] for r in records(run_dir)] == [2, 4, 6, 8]
    assert [r["images_seen"] for r in records(run_dir)] == [16, 32, 48, 64]
    sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
    assert len(sessions) == 1 and sessions[0]["world_size"] == 2 and sessions[0]["backend"] == "gloo"
    assert sessions[0]["global_batch_size"] == 8
    assert len(list((run_dir / "export").iterdir())) == 4
    assert sorted(p.name for p in (run_dir / "grids").iterdir()) == ["fakes00000000.png", "fakes00000004.png",
                                                                      "fakes00000008.png", "reals.png"]


def test_torchrun_processes_share_one_decoded_cache_file(tmp_path, child_env):
    """Data left on disk (memory_share 0): the first process decodes, the other waits and reads the same file,
    and each reads its own slice of every global batch from it."""
    from tests.photos import write_shop_photos
    photos = write_shop_photos(tmp_path / "photos", 24)
    recipe = tiny_recipe(tmp_path, steps=3, batch_size=4, log_every=1, checkpoint_every=3)
    recipe["data"] = {"kind": "folder", "path": str(photos), "resolution": 16, "memory_share": 0,
                      "cache": str(tmp_path / "data-cache")}
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    torchrun("-m", "ganzoo", "run", str(recipe_file))
    assert len(list((tmp_path / "data-cache").iterdir())) == 1  # decoded once, no partial copy left
    info = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    assert info["sessions"][-1]["world_size"] == 2
    assert [r["step"] for r in records(tmp_path / "runs" / "tiny")] == [1, 2, 3]


def test_ranks_read_their_slices_of_the_global_batch_from_the_file(tmp_path):
    images = torch.arange(30 * 3 * 2 * 2, dtype=torch.int32).remainder(251).to(torch.uint8).view(30, 3, 2, 2)
    path = tmp_path / "images.u8"
    images.numpy().tofile(path)
    on_disk = ImageData(torch.from_numpy(np.memmap(path, np.uint8, "c", shape=(30, 3, 2, 2))), file=path)
    one = BatchStream(ImageData(images), 6, 7, torch.device("cpu"))
    ranks = [BatchStream(on_disk, 3, 7, torch.device("cpu"), rank, 2) for rank in range(2)]
    for _ in range(12):  # 72 images: batches span the epochs of 30
        whole = one.next()[0]
        assert torch.equal(torch.cat([r.next()[0] for r in ranks]), whole)
