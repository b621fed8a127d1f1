"""`--target onnx`: the same deterministic policy as an ONNX graph, for people who use ONNX tooling.

Input `state` (batch, obs) float32 in the spec's units; outputs `action` (batch, action) in
[-1, 1] (what the twin and `agent.policy` take) and `action_physical` in the spec's units.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from robot_rl.errors import require
from robot_rl.export.model import PolicyDescription


def export_onnx(agent: Any, desc: PolicyDescription, path: str | Path) -> Path:
    import torch

    require("onnx", "export", "ONNX export")
    require("onnxscript", "export", "ONNX export")

    class Deterministic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.actor = agent.encoder, agent.actor
            self.register_buffer("scale", torch.from_numpy(desc.action_scale.copy()))
            self.register_buffer("bias", torch.from_numpy(desc.action_bias.copy()))

        def forward(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            action = self.actor.deterministic(self.encoder({"state": state}))
            return action, action * self.scale + self.bias

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = Deterministic().eval()
    example = torch.zeros(1, desc.obs_size)
    # the torch.export-based exporter reports progress on stdout; keep stdout for the CLI's JSON
    with contextlib.redirect_stdout(sys.stderr):
        program = torch.onnx.export(
            module,
            (example,),
            input_names=["state"],
            output_names=["action", "action_physical"],
            dynamic_shapes={"state": {0: torch.export.Dim("batch")}},
            dynamo=True,
            verbose=False,
        )
        program.save(str(path))
    return path
