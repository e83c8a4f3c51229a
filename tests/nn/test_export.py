"""ONNX export: models with the KS channel (complex FFTs) are refused, and so is a missing onnx package."""

import builtins

import pytest
import torch

from miu2net.errors import InputError
from miu2net.nn import create_model
from miu2net.nn.checkpoint import save_model
from miu2net.nn.export import export_onnx

torch.set_num_threads(1)


def _saved(tmp_path, name, **kwargs):
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    save_model(model, tmp_path / name, pixel_arcmin=0.82, map_size=(32, 32), noise_range=(0.05, 0.05))
    return tmp_path / name


def test_a_model_with_the_ks_channel_is_refused_before_anything_is_written(tmp_path):
    model = _saved(tmp_path, "deepmass", widths=(4, 8), bottleneck=8)  # default input: the KS map
    with pytest.raises(InputError, match="KS channel with complex FFTs, which ONNX cannot express"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_without_onnx_the_export_says_what_to_install(tmp_path, monkeypatch):
    model = _saved(tmp_path, "u2net_small", mid=4, width=8)
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(InputError, match="ONNX export needs the onnx package: pip install onnx onnxscript"):
        export_onnx(model, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u2net_small.json", "u2net_small.safetensors"]


def test_a_model_that_does_not_exist_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        export_onnx(tmp_path / "absent", tmp_path / "m.onnx")


def test_export_writes_a_model_onnx_runs_alike(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    model = _saved(tmp_path, "u2net_small", mid=4, width=8)
    path = export_onnx(model, tmp_path / "m.onnx", batch=1)
    raw = np.random.default_rng(0).standard_normal((2, 4, 32, 32)).astype(np.float32)
    raw[:, 2] = 1.0
    raw[:, 3] = 0.05
    out = ort.InferenceSession(str(path)).run(None, {"raw": raw})[0]
    from miu2net.nn.checkpoint import load_model

    with torch.no_grad():
        expected = load_model(model).model.eval()(torch.from_numpy(raw)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
