"""Export a trained policy to dependency-free C (or ONNX) for microcontrollers.

`export_checkpoint` is what `robot-rl export` runs; `verify_export` compiles a generated policy
on the host and runs its golden vectors (the end of `robot-rl demo`).
"""

from __future__ import annotations

from robot_rl.export.api import ExportResult, export_checkpoint, verify_export
from robot_rl.export.c_gen import MODES, generate_c, write_c
from robot_rl.export.model import EXPORTER_VERSION, PolicyDescription, describe_checkpoint, describe_mlp

__all__ = [
    "EXPORTER_VERSION",
    "MODES",
    "ExportResult",
    "PolicyDescription",
    "describe_checkpoint",
    "describe_mlp",
    "export_checkpoint",
    "generate_c",
    "verify_export",
    "write_c",
]
