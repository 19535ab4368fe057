"""The public API, pinned: what a plugin may import, name by name (as torchvision pins its model registry).

Changing a list here changes what third-party plugins can rely on: add a name
with a "since" note in the docs, and remove one only with a new plugin API major.
"""
import ast
import importlib
from pathlib import Path

import pytest

import ganzoo

ROOT = Path(__file__).resolve().parents[1]

# The statement of the public API lives in ganzoo.api's docstring; these are its modules and their __all__.
PUBLIC = {
    "ganzoo.api": [
        "PLUGIN_API_VERSION", "hookimpl", "PluginConfig", "ImageSpec", "ImageData", "DataCheck", "Dataset",
        "Architecture",
        "Phase", "PhaseInputs", "OptimizerSettings", "PostProcessor", "FeatureExtractor", "GanzooError",
        "GanzooWarning", "PluginError", "RecipeError", "to_float_images", "to_uint8_images", "Inverter",
        "InversionRun", "Inversion"],  # inverters since 1.3
    "ganzoo.host.hookspecs": [
        "hookimpl", "hookspec", "PROJECT", "ganzoo_register_architectures", "ganzoo_register_datasets",
        "ganzoo_register_postprocessors", "ganzoo_register_feature_extractors", "ganzoo_register_inverters"],
    "ganzoo.losses": [
        "nonsaturating_d", "nonsaturating_g", "hinge_d", "hinge_g", "wasserstein_d", "wasserstein_g",
        "gradient_penalty", "r1_penalty", "discriminator_step", "generator_step"],
    "ganzoo.nn": ["ConvDiscriminator", "ConvGenerator", "ProjectionHead", "conv_stages", "conv_widths", "dcgan_init",
                  "spectral_norm"],
    "ganzoo.errors": ["GanzooError", "GanzooWarning", "PluginError", "RecipeError", "UsageError"],
    "ganzoo.metrics": ["cache_root", "InputError", "frechet_distance", "kernel_inception_distance",
                       "precision_recall", "inception_score", "FeatureStats", "sample_indices"],  # IS since 1.1
    "ganzoo.provenance": ["SCHEMA", "TRAINED_ALGORITHMIC_MEDIA", "IPTC_SOURCE_TYPES", "FORMATS", "Provenance",
                          "provenance_record", "read_provenance", "embed", "png_info", "xmp_packet", "describe"],
    "ganzoo.fileio": ["atomic_path", "write_bytes", "write_json", "read_safetensors", "YamlError", "parse_yaml",
                      "YAML_LIMITS"],
    "ganzoo.datacache": ["DataCache", "CachedLoad", "cache_root", "decode_progress", "memory_limit"],  # since 1.4
    "ganzoo.testing": [
        "check_architecture", "check_training_sanity", "check_resume", "check_dataset", "check_postprocessor",
        "check_feature_extractor", "check_plugin", "ganzoo_check_architecture", "ganzoo_check_dataset",
        "ganzoo_check_postprocessor", "ganzoo_check_feature_extractor", "check_inverter", "ganzoo_check_inverter"],
}
TOP_LEVEL = ["__version__", "PLUGIN_API_VERSION"]  # `from ganzoo import ...`


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_module_exports_exactly_the_pinned_names(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module]), f"{module}.__all__ changed: update PUBLIC and the docs"
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names {name}, which it does not define"


def test_api_docstring_names_every_public_module():
    doc = importlib.import_module("ganzoo.api").__doc__
    for module in PUBLIC:
        assert f"``{module}``" in doc, f"ganzoo.api's docstring, the statement of the public API, omits {module}"


@pytest.mark.parametrize("doc", ["plugins/tutorial.md", "plugins/architecture.md"])
def test_docs_name_the_same_public_modules(doc):
    text = (ROOT / "docs" / doc).read_text()
    section = text.split("<!-- public-api -->", 2)
    assert len(section) == 3, f"docs/{doc} needs its public-API list between two <!-- public-api --> markers"
    listed = set(section[1].replace("`", " ").split())
    for module in PUBLIC:
        assert module in listed, f"docs/{doc} does not list the public module {module}"
    for word in listed:
        if word.startswith("ganzoo.") and word.rstrip(".,;:") not in PUBLIC:
            pytest.fail(f"docs/{doc} lists {word} as public, but it is not in the pinned public API")


def test_top_level_names():
    for name in TOP_LEVEL:
        assert hasattr(ganzoo, name)


def _ganzoo_imports(path: Path):
    """(line, module, names) of every `import ganzoo...` / `from ganzoo... import ...` in a file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ganzoo" or alias.name.startswith("ganzoo."):
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                (node.module == "ganzoo" or node.module.startswith("ganzoo.")):
            yield node.lineno, node.module, [alias.name for alias in node.names]


PLUGIN_SOURCES = sorted(p for p in (ROOT / "plugins").glob("*/ganzoo_*/**/*.py"))


def test_there_are_plugin_sources():
    assert len(PLUGIN_SOURCES) > 10


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_first_party_plugins_import_only_the_public_api(path):
    for line, module, names in _ganzoo_imports(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if module == "ganzoo":
            for name in names:
                assert f"ganzoo.{name}" in PUBLIC or name in TOP_LEVEL, f"{where}: ganzoo.{name} is not public"
            continue
        assert module in PUBLIC, f"{where}: {module} is not a public module (public: {', '.join(sorted(PUBLIC))})"
        for name in names:
            assert name in PUBLIC[module], f"{where}: {module}.{name} is not in its __all__"


def test_old_documented_module_paths_still_import():
    for old, new in ganzoo.MOVED_MODULES.items():
        assert importlib.import_module(old) is importlib.import_module(new)
    from ganzoo.api import provenance_record, read_provenance  # plugin API 1.0 had them in ganzoo.api
    from ganzoo.provenance import provenance_record as record
    from ganzoo.provenance import read_provenance as read
    assert (provenance_record, read_provenance) == (record, read)


def test_every_hook_is_typed_and_says_since_which_plugin_api():
    import inspect

    from ganzoo.host import hookspecs
    hooks = [name for name in dir(hookspecs) if name.startswith("ganzoo_")]
    assert hooks
    for name in hooks:
        hook = getattr(hookspecs, name)
        assert "Since 1." in hook.__doc__, f"{name}'s docstring needs a 'Since M.m' note"
        register = inspect.signature(hook).parameters["register"]
        assert "Callable[[type[" in str(register.annotation), f"{name}'s register is not typed"
