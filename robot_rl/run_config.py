"""Run configs (`TrainConfig`, `PracticeConfig`) and the training checkpoint: what every entry point reads.

`robot-rl train`, the network learner and its actors, the ROS actor, practice, export, the reward
tools and the benchmarks all load runs; they import this module, not the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_rl.config import from_dict, param
from robot_rl.errors import ConfigError, Described, RobotRLError


@dataclass(kw_only=True)
class TrainConfig:
    """One training run on a twin task."""

    robot: str = param("panda", doc="robot spec name or path")
    task: str = param("reach", doc="task of that robot")
    preset: str = param("rlpd", doc="learner preset: rlpd, sac or droq")
    agent: dict[str, Any] = param({}, doc="overrides of the preset's SACConfig fields")
    steps: int = param(20_000, doc="environment steps to train for", gt=0)
    start_steps: int = param(
        1_000, doc="uniform-random steps before the policy acts (and updates start)", ge=0
    )
    demos: str | None = param(None, doc="demonstration folder (robot-rl demos); None: no demonstrations")
    eval_every: int = param(2_000, doc="env steps between evaluations", gt=0)
    eval_episodes: int = param(10, doc="deterministic-policy episodes per evaluation", gt=0)
    checkpoint_every: int = param(5_000, doc="env steps between checkpoints", gt=0)
    buffer_capacity: int = param(1_000_000, doc="online replay capacity (transitions)", gt=0)
    randomize: bool = param(False, doc="domain randomization in the training env")
    cameras: tuple[str, ...] = param((), doc="spec cameras the agent sees (pixels); (): state only")
    pretrain: dict[str, Any] = param(
        {}, doc="offline pretraining on the demos, PretrainConfig fields (method: none, bc or calql)"
    )
    expert_interventions: float = param(
        0.0, doc="chance per policy step that the scripted expert takes over (a simulated human)", ge=0, le=1
    )
    intervention_steps: int = param(10, doc="policy steps each takeover lasts", gt=0)
    reward: str = param("task", doc="task: the task reward; rlif: -1 when a takeover starts, else 0")
    transport: dict[str, Any] = param(
        {}, doc="actor/learner settings for robot-rl learner / actor / train --async (TransportConfig fields)"
    )
    tensorboard: bool = param(
        True, doc="also write TensorBoard events under tb/ (when tensorboard is installed)"
    )
    seed: int = param(0, doc="seeds torch, numpy and the env")
    safety: bool | None = param(
        None,
        doc="every training and evaluation action through the safety layer the robot's controller runs "
        "(SafeEnv), so a policy learns under the robot's limits; the replay buffer stores the action "
        "sent; rows get safety_<reason> counts. false: the bare twin; None: the robot spec's "
        "safety.train_behind_layer (true but for the quadrotor)",
    )

    def behind_layer(self, spec: Any) -> bool:
        """Whether this run trains behind the safety layer, for the robot `spec`."""
        return spec.safety.train_behind_layer if self.safety is None else bool(self.safety)

    scripted_resets: bool = param(
        False,
        doc="the robot's scripted reset (controllers.resets) at every episode end before env.reset; "
        "rows get resets, reset_successes, reset_failures, human_resets, reset_time_s",
    )

    def validate(self, source: str, prefix: str) -> None:
        if self.reward not in ("task", "rlif"):
            raise ConfigError(source, f"{prefix}.reward" if prefix else "reward", "task or rlif", self.reward)
        if self.reward == "rlif" and self.expert_interventions == 0:
            raise ConfigError(
                source, "expert_interventions", "> 0 with reward: rlif (RLIF learns from interventions)", 0.0
            )


#: written into every checkpoint; `load_checkpoint` refuses files without it
CHECKPOINT_FORMAT = "robot_rl.checkpoint/1"


def load_train_config(path: str | None, **overrides: Any) -> TrainConfig:
    from robot_rl.config import load_yaml

    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(TrainConfig, data, source=path or Described("command line"))


def load_checkpoint(path: str | Path) -> tuple[TrainConfig, Any]:
    """The run's TrainConfig and its agent (a `SAC`, eval mode) from a checkpoint.pt or its run directory.

    Bad input is one line naming the file and the fix, never a traceback from torch.
    """
    from robot_rl.agents.sac import SAC
    from robot_rl.runtime import configure_torch

    torch = configure_torch()
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise RobotRLError(
            f"no checkpoint at {path}: pass a checkpoint.pt or a run directory from robot-rl train"
        )
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for a torn or foreign file
        raise RobotRLError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}): re-run training"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RobotRLError(f"{path} is not a robot_rl checkpoint (expected format {CHECKPOINT_FORMAT})")
    config = from_dict(TrainConfig, state["train_config"], source=str(path))
    agent = SAC.from_checkpoint(state["agent"]).eval()
    return config, agent


@dataclass(kw_only=True)
class PracticeConfig:
    """One reset-free practice run on a two-direction twin task."""

    robot: str = param("panda", doc="robot spec name")
    task: str = param("pick_place", doc="a task with forward/backward directions")
    task_config: dict[str, Any] = param({}, doc="overrides of the task's Config fields")
    spec_overrides: dict[str, Any] = param(
        {},
        doc="robot spec values for this cell, deep-merged over config/robots/<robot>.yaml, e.g. "
        "{safety: {box_low: [...], box_high: [...]}}: a TCP box inside the tray, as a task's "
        "end-effector limits on the real cell (SERL), so a carried cube is never dropped past the rim",
    )
    preset: str = param("rlpd", doc="learner preset of both policies: rlpd, sac or droq")
    agent: dict[str, Any] = param({}, doc="overrides of the preset's SACConfig fields")
    minutes: float = param(30.0, doc="simulated practice time, arm resets included", unit="min", gt=0)
    start_steps: int = param(200, doc="random-action steps of each policy before it acts and updates", ge=0)
    demo_episodes: int = param(10, doc="scripted-expert demonstrations per direction", ge=0)
    demo_task_config: dict[str, Any] = param(
        {},
        doc="task_config overrides for recording the demonstrations only, e.g. {spawn: around}: demos "
        "from where failed reset-free attempts leave the cube, not only from the bins",
    )
    demo_arm_reset: bool = param(
        False,
        doc="start each demonstration where practice starts the arm: the arm reset (home +/-2 cm) "
        "after the episodic reset, before the expert acts",
    )
    pretrain: dict[str, Any] = param(
        {}, doc="offline pretraining of each policy on its demos, PretrainConfig fields (RoboFuME: calql)"
    )
    practice_noise: float = param(
        0.0,
        doc="0: practice episodes sample the SAC policy; > 0: they act with the policy's deterministic "
        "action plus Gaussian noise of this std (actions in [-1, 1]), so a policy that succeeds in "
        "evaluation also moves the cube in practice and hands the other direction its start",
        ge=0,
    )
    stuck_episodes: int = param(
        0,
        doc="after this many failed episodes in a row that leave the cube where it was (within 1 cm), "
        "the scripted cube reset (CubeReset) carries it into the source bin: a robot's own object "
        "reset, not a person's; counted in `cube_resets`. 0: never",
        ge=0,
    )
    reach_half: float = param(
        0.0,
        doc="a cube left farther than this (in x or y) from both bins' centres is carried into the "
        "source bin by the scripted cube reset before the next episode, while the arm can still reach "
        "it: a failed attempt that starts at the edge of the table tends to push the cube off it. A cube "
        "beyond the workspace is fetched the same way first, and a person puts it back only when that "
        "fails. Counted in `cube_resets`. 0: never (and a cube beyond the workspace is a hand reset)",
        unit="m",
        ge=0,
    )
    eval_every_minutes: float = param(5.0, doc="simulated time between evaluations", unit="min", gt=0)
    eval_episodes: int = param(10, doc="deterministic episodes per direction per evaluation", gt=0)
    arm_reset: bool = param(True, doc="scripted arm home + perturbation between episodes (the cube stays)")
    workspace_low: list[float] = param(
        [0.3, -0.3],
        doc="cube (x, y) the arm can reach, low corner (a task with a tray: its inner edges)",
        unit="m",
    )
    workspace_high: list[float] = param(
        [0.7, 0.3],
        doc="cube (x, y) the arm can reach, high corner (a task with a tray: its inner edges)",
        unit="m",
    )
    seed: int = param(0, doc="seeds torch, numpy and the env")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.workspace_low) != 2 or len(self.workspace_high) != 2:
            raise ConfigError(
                source, "workspace_low/workspace_high", "2 values (x, y) each", self.workspace_low
            )


def load_practice_config(path: str | None, **overrides: Any) -> PracticeConfig:
    from robot_rl.config import load_yaml

    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(PracticeConfig, data, source=path or Described("command line"))
