"""Trained models in other formats: ONNX, for inference outside PyTorch."""

from __future__ import annotations

from pathlib import Path

from miu2net.errors import InputError
from miu2net.io.files import atomic_write


def export_onnx(model: str | Path, out: str | Path, *, batch: int = 1) -> Path:
    """Write a trained model as ONNX (opset 17) for a fixed map size; needs the ``onnx`` package.

    Its input ``raw`` is ``[batch, n_raw, ny, nx]``: g1, g2, mask, noise (and, for a whole-field model,
    the Wiener map of the whole field, :data:`miu2net.nn.base.WIENER_FIELD`), as
    :func:`miu2net.nn.base.raw_from_shear` builds them.

    The ``ks`` input channel uses complex FFTs, which ONNX does not express; such models are refused.
    """
    import torch

    from miu2net.nn.checkpoint import load_model

    trained = load_model(model)
    if "ks" in trained.model.inputs:
        raise InputError("this model computes the KS channel with complex FFTs, which ONNX cannot express")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install onnx onnxscript") from None
    ny, nx = trained.map_size
    example = torch.zeros(batch, trained.model.n_raw, ny, nx)

    def write(tmp: str) -> None:
        torch.onnx.export(trained.model.eval(), (example,), tmp, input_names=["raw"], output_names=["kappa"],
                          opset_version=17, dynamic_axes={"raw": {0: "batch"}, "kappa": {0: "batch"}})

    return atomic_write(Path(out), write, suffix=".onnx")
