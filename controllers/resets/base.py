"""What every reset controller shares: the controller interface, the loop that drives one to the
end (`run_reset`), its report, and the supervisor that counts resets and asks a person after
`max_failures` failures in a row."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ResetReport:
    """The outcome of one reset."""

    kind: str
    success: bool
    duration_s: float  # robot time from start to the end of the reset
    steps: int
    reason: str = ""  # why it failed, or "" on success
    info: dict[str, Any] = field(default_factory=dict)


class ResetController(ABC):
    """A reset manoeuvre: `begin`, then `act(obs)` each policy step until `done`."""

    kind = "reset"
    timeout_s = 10.0

    def __init__(self) -> None:
        self.done = False
        self.success = False
        self.reason = ""

    def begin(self, env: Any, rng: np.random.Generator) -> None:
        self.env, self.rng = env, rng
        self.done, self.success, self.reason = False, False, ""

    def finish(self, success: bool, reason: str = "") -> None:
        self.done, self.success, self.reason = True, success, reason

    def end(self) -> None:  # noqa: B027 - optional hook
        """Called once after the last step, whatever the outcome (restore gains etc.)."""

    @abstractmethod
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The next action in [-1, 1]; set `done` via `finish` when finished."""


def run_reset(
    env: Any, controller: ResetController, rng: np.random.Generator, obs: dict[str, np.ndarray] | None = None
) -> ResetReport:
    """Drive `controller` on `env` until it finishes or times out (robot time)."""
    twin = env.unwrapped
    dt = twin.robot_spec.policy_dt
    if obs is None:
        obs = twin._observation()
    controller.begin(twin, rng)
    max_steps = math.ceil(controller.timeout_s / dt)
    steps = 0
    try:
        while not controller.done and steps < max_steps:
            action = controller.act(obs)
            if controller.done:
                break
            obs, _, _, _, _ = env.step(action)
            steps += 1
        if not controller.done:
            controller.finish(False, "timeout")
    finally:
        controller.end()
    return ResetReport(controller.kind, controller.success, steps * dt, steps, controller.reason)


def terminal_prompt(message: str) -> bool:
    """Ask on the terminal; True when the person says the robot is reset and may continue."""
    answer = input(f"{message} Reset the robot by hand, then type 'y' to continue (anything else stops): ")
    return answer.strip().lower() in ("y", "yes")


class ResetSupervisor:
    """Runs resets, counts them, and after `max_failures` failures in a row stops and asks a person.

    `stop()` makes the robot safe before asking (e.g. latch the e-stop); `ask(message) -> bool`
    is the terminal prompt in sim-only runs and a ROS service client on the robot. `metrics()`
    is what a trainer adds to its metrics rows.
    """

    def __init__(
        self,
        max_failures: int = 3,
        ask: Callable[[str], bool] = terminal_prompt,
        stop: Callable[[], None] | None = None,
    ):
        self.max_failures = max_failures
        self.ask, self.stop = ask, stop
        self.attempts = self.successes = self.failures = self.human_resets = 0
        self.failures_in_row = 0
        self.reset_time_s = 0.0
        self.reports: list[ResetReport] = []

    def record(self, report: ResetReport) -> bool:
        """Count one reset; returns False when a person declined to continue."""
        self.attempts += 1
        self.reset_time_s += report.duration_s
        self.reports.append(report)
        if report.success:
            self.successes += 1
            self.failures_in_row = 0
            return True
        self.failures += 1
        self.failures_in_row += 1
        if self.failures_in_row < self.max_failures:
            return True
        if self.stop is not None:
            self.stop()
        self.human_resets += 1
        self.failures_in_row = 0
        reason = report.reason or "failed"
        return bool(self.ask(f"{self.max_failures} automatic resets failed in a row (last: {reason})."))

    def restore(self, metrics: dict[str, float]) -> None:
        """Continue from the counts `metrics()` gave in an earlier process (a resumed run)."""
        self.attempts, self.successes = int(metrics["resets"]), int(metrics["reset_successes"])
        self.failures, self.human_resets = int(metrics["reset_failures"]), int(metrics["human_resets"])
        self.reset_time_s = float(metrics["reset_time_s"])

    def metrics(self) -> dict[str, float]:
        return {
            "resets": self.attempts,
            "reset_successes": self.successes,
            "reset_failures": self.failures,
            "human_resets": self.human_resets,
            "reset_time_s": round(self.reset_time_s, 3),
        }
