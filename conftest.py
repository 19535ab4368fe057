"""Every test session decodes into its own data cache, never the user's ~/.cache/ganzoo/datasets."""
import atexit
import os
import shutil
import tempfile

if not os.environ.get("GANZOO_DATA_CACHE"):
    _folder = tempfile.mkdtemp(prefix="ganzoo-test-data-cache-")
    os.environ["GANZOO_DATA_CACHE"] = _folder
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
