"""`robot-rl export`: checkpoint -> C files (or ONNX) plus a JSON report of what was checked."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.export.c_gen import write_c
from robot_rl.export.model import int8_forward, reference_forward, torch_forward

TARGETS = ("c", "onnx")


@dataclass
class ExportResult:
    target: str
    mode: str
    files: list[str]
    model_hash: str = ""
    #: largest |action - PyTorch action| of the exporter's own arithmetic on the golden inputs
    golden_max_abs_error: float | None = None
    #: host gcc build and golden self-test (None: not run)
    host_selftest: bool | None = None
    host_max_abs_error: float | None = None
    #: the host build on 1,000 random observations: max abs action error vs PyTorch fp32
    random_max_abs_error: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    target: str = "c",
    mode: str = "reference",
    int8: bool = False,
    name: str = "policy",
    verify: bool = True,
) -> ExportResult:
    """Write the checkpoint's deterministic policy to `out_dir`; for C, also build and self-test it
    on the host when gcc is present (`verify`)."""
    import shutil

    from robot_rl.export.model import describe_checkpoint

    if target not in TARGETS:
        raise RobotRLError(f"export target {target!r}: use one of {', '.join(TARGETS)}")
    desc, agent = describe_checkpoint(checkpoint)
    out = Path(out_dir)
    if target == "onnx":
        from robot_rl.export.onnx_export import export_onnx

        path = export_onnx(agent, desc, out / f"{name}.onnx")
        result = ExportResult("onnx", "fp32", [str(path)], desc.model_hash)
    else:
        mode = "int8" if int8 else mode
        files = write_c(desc, out, mode, name)
        ours = (
            int8_forward(desc, desc.golden_inputs)
            if mode == "int8"
            else reference_forward(desc, desc.golden_inputs)
        )
        err = float(np.abs(ours - desc.golden_outputs).max())
        result = ExportResult("c", mode, [str(f) for f in files], desc.model_hash, err)
        if verify and shutil.which("gcc"):
            result = _host_check(result, out / f"{name}.c", mode, name, desc)
        elif verify:
            result.notes.append("gcc not found: the host build and self-test were skipped")
    (out / "export.json").write_text(json.dumps(result.as_dict(), indent=2))
    return result


def _host_check(result: ExportResult, c_file: Path, mode: str, name: str, desc) -> ExportResult:
    from robot_rl.export.build import HostPolicy, build_host_library

    lib = build_host_library(c_file, mode, c_file.with_name(f"lib{name}.so"))
    policy = HostPolicy(lib, name, desc.obs_size, desc.action_size)
    ok, err = policy.selftest()
    result.host_selftest, result.host_max_abs_error = ok, err
    result.random_max_abs_error = measured_errors(desc, mode, policy)["vs_pytorch"]
    if not ok:
        raise RobotRLError(
            f"the exported policy in {c_file.parent} fails its golden vectors on the host "
            f"(max error {err:.3g}): report this with the checkpoint"
        )
    return result


def verify_export(run_dir: str | Path, out_dir: str | Path, mode: str = "reference") -> ExportResult:
    """Export a run's policy to C, compile it with host gcc and check its golden vectors: the last
    step of `robot-rl demo`. Raises RobotRLError on a mismatch; without gcc the files are written
    and `host_selftest` stays None (with a note)."""
    return export_checkpoint(run_dir, out_dir, "c", mode, verify=True)


def measured_errors(desc, mode: str, policy, count: int = 1000, seed: int = 1) -> dict[str, float]:
    """Max abs action error of a built policy on `count` random observations: vs PyTorch fp32 and
    vs the float32 sequential reference."""
    from robot_rl.export.model import golden_inputs

    obs = golden_inputs(desc, count, seed)
    c_out = policy.act(obs)
    ref = int8_forward(desc, obs) if mode == "int8" else reference_forward(desc, obs)
    return {
        "vs_pytorch": float(np.abs(c_out - torch_forward(desc, obs)).max()),
        "vs_reference": float(np.abs(c_out - ref).max()),
    }
