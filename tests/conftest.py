from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# one thread per test process: the suite runs in parallel processes (pytest -n auto), and PyTorch's and
# TensorFlow's thread pools would otherwise oversubscribe the cores and make float training order-dependent
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_v, "1")

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))  # the tests' helper modules
from oracle import tflm_available  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"


def shared_baseline() -> list[dict]:
    p = SHARED_MODELS / "baseline.json"
    return json.loads(p.read_text())["models"] if p.is_file() else []


def needs_shared():
    return pytest.mark.skipif(not (SHARED_MODELS / "baseline.json").is_file(),
                              reason=f"shared models not present at {SHARED_MODELS}")


def needs_tflm():
    return pytest.mark.skipif(not tflm_available(), reason="tflite-micro (the TFLM oracle) is not installed: "
                              "pip install '.[test]'")


def tf_available() -> bool:
    try:
        import tensorflow  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def opplan_models(tmp_path_factory):
    """Lazily built TFLite models of the op test plan: name -> path (converted once per session)."""
    if not tf_available():
        pytest.skip("tensorflow-cpu is needed to build the op test plan models: pip install '.[test]'")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import hashlib

    from opplan import PLAN, build_tflite
    # one directory for the whole run: under pytest-xdist every worker's basetemp shares this parent, so a model
    # one worker converted is not converted again by the other (written under a temporary name, then renamed)
    d = tmp_path_factory.getbasetemp().parent / "opplan-models"
    d.mkdir(exist_ok=True)
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            case = next(c for c in PLAN if c["name"] == name)
            # the builders' source is part of the key: the directory outlives the run (a changed builder must
            # not meet a model an older one converted)
            src = (Path(__file__).parent / "support" / "opplan.py").read_bytes()
            key = hashlib.sha256(repr(sorted(case.items())).encode() + src).hexdigest()[:16]
            p = d / f"{name}-{key}.tflite"
            if not p.exists():
                tmp = d / f".{p.name}.{os.getpid()}"
                tmp.write_bytes(build_tflite(case))
                os.replace(tmp, p)
            cache[name] = p
        return cache[name]
    return get


@pytest.fixture(scope="session")
def everything():
    """A PyTorch network with every layer the front end supports, a batch of inputs and its float Graph
    (support/torchnets.py); skips where PyTorch is not installed."""
    from torchnets import make_everything
    return make_everything()
