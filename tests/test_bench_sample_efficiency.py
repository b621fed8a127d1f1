"""bench/sample_efficiency.py: steps to 90% and censoring, the rliable report (reproducible intervals),
skipping finished jobs, and the SB3 runner's checkpoint/resume on a tiny real run."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


se = load("sample_efficiency")
TASK = "panda_pick_cube"


def rows(*pairs, wall_per_step=0.1):
    return [{"step": s, "success_rate": r, "wall_s": s * wall_per_step} for s, r in pairs]


def write_run(out, method, seed, metrics, checkpoint=True):
    run_dir = se.Job(TASK, method, seed, out).run_dir
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    if checkpoint and method == "rlpd":
        (run_dir / "checkpoint.pt").write_bytes(b"")
    elif checkpoint:
        (run_dir / "checkpoint").mkdir()
        (run_dir / "checkpoint" / "state.json").write_text("{}")
    return run_dir


def test_steps_to_threshold_is_the_first_crossing_and_censoring_is_never_a_number():
    curve = rows((1000, 0.5), (2000, 0.9), (3000, 0.7), (4000, 1.0))
    assert se.steps_to_threshold(curve, budget=4000) == {"status": "reached", "steps": 2000}
    assert se.steps_to_threshold(rows((1000, 0.85), (2000, 0.89)), budget=2000) == {
        "status": "censored",
        "steps": None,
        "not_reached_within": 2000,
    }
    # a run still going is pending, not censored at its current step
    assert se.steps_to_threshold(rows((1000, 0.2)), budget=5000) == {
        "status": "pending",
        "steps": None,
        "last_step": 1000,
    }
    assert se.steps_to_threshold([], budget=5000)["status"] == "pending"


def test_resumed_runs_keep_the_later_row_and_sum_session_wall_times(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # killed after evaluating step 2000 but before checkpointing it; resumed from 1000 (wall restarts)
    lines = [
        {"step": 1000, "success_rate": 0.1, "wall_s": 100.0},
        {"step": 2000, "success_rate": 0.3, "wall_s": 200.0},
        {"step": 2000, "success_rate": 0.5, "wall_s": 110.0},
        {"step": 3000, "success_rate": 0.9, "wall_s": 220.0},
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 40')
    got = se.read_rows(run_dir)
    assert [(r["step"], r["success_rate"]) for r in got] == [(1000, 0.1), (2000, 0.5), (3000, 0.9)]
    assert se.wall_seconds(lines) == pytest.approx(200.0 + 220.0)


def test_report_gives_iqm_cis_ratio_and_marks_censored_and_partial_results(tmp_path):
    rlpd_budget, sb3_budget = se.budget(TASK, "rlpd"), se.budget(TASK, "sb3")
    assert rlpd_budget <= se.TARGET_STEPS and sb3_budget >= se.TARGET_RATIO * rlpd_budget
    grid = list(range(1000, rlpd_budget + 1, 1000))
    for seed, reach in enumerate([3000, 4000, 5000, 6000]):
        write_run(tmp_path, "rlpd", seed, rows(*[(s, 1.0 if s >= reach else 0.0) for s in grid]))
    write_run(tmp_path, "rlpd", 4, rows((1000, 0.0), (2000, 0.1)))  # still running
    sb3_grid = list(range(10_000, sb3_budget + 1, 10_000))
    for seed, reach in enumerate([30_000, 40_000, 50_000, 60_000, None]):
        curve = [(s, 1.0 if reach and s >= reach else 0.5) for s in sb3_grid]
        write_run(tmp_path, "sb3", seed, rows(*curve, wall_per_step=0.02))

    results = se.report(tmp_path, [TASK], ["rlpd", "sb3"], seeds=5, reps=300)
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert {"cpu", "cores", "date"} <= set(results["machine"])
    task = results["tasks"][TASK]
    assert task["config"]["rlpd"]["steps"] == rlpd_budget

    rlpd = task["methods"]["rlpd"]
    assert (rlpd["seeds_planned"], rlpd["seeds_settled"], rlpd["seeds_reached"]) == (5, 4, 4)
    assert rlpd["per_seed"]["4"] == {
        "status": "pending", "steps": None, "last_step": 2000,
        "final_success_rate": 0.1, "evaluated_steps": 2000, "wall_s": 200.0,
    }  # fmt: skip
    stats = rlpd["steps_to_threshold"]
    assert stats["iqm"] == pytest.approx(4500.0)  # 25%-trimmed mean of 3000..6000
    assert stats["ci95"][0] <= stats["iqm"] <= stats["ci95"][1] and stats["ci95"][0] < stats["ci95"][1]
    assert stats["lower_bound"] is False
    assert rlpd["wall_s_per_1k_steps_median"] == pytest.approx(100.0)

    sb3 = task["methods"]["sb3"]
    assert sb3["per_seed"]["4"]["status"] == "censored"
    assert sb3["per_seed"]["4"]["not_reached_within"] == sb3_budget
    assert sb3["seeds_censored"] == 1 and sb3["steps_to_threshold"]["lower_bound"] is True

    ratio = task["ratio_sb3_over_rlpd"]
    sb3_iqm = sb3["steps_to_threshold"]["iqm"]
    assert ratio["value"] == pytest.approx(sb3_iqm / 4500.0)
    assert ratio["bound"] == "lower" and ratio["partial"] is True
    assert ratio["ci95"][0] <= ratio["value"] <= ratio["ci95"][1]

    curve = rlpd["curve"]  # the running seed counts until its last evaluation
    assert curve["seeds"] == [0, 1, 2, 3, 4] and curve["steps"] == grid
    assert curve["seeds_at_step"] == [5, 5] + [4] * (len(grid) - 2)
    assert curve["iqm"][:3] == [0.0, 0.0, 0.0] and curve["iqm"][-1] == 1.0
    assert all(lo <= m <= hi for lo, m, hi in zip(curve["ci95_low"], curve["iqm"], curve["ci95_high"]))
    assert sb3["curve"]["iqm"][-1] == pytest.approx(1.0)
    for method, budget in (("rlpd", rlpd_budget), ("sb3", sb3_budget)):
        m = task["methods"][method]
        # success rates are fractions in [0, 1]; steps to 90% are env steps within the method's budget
        assert all(0.0 <= x <= 1.0 for k in ("iqm", "ci95_low", "ci95_high") for x in m["curve"][k]), method
        assert all(0.0 <= r["final_success_rate"] <= 1.0 for r in m["per_seed"].values()), method
        assert all(0 < r["steps"] <= budget for r in m["per_seed"].values() if r["status"] == "reached")
        assert 0 < m["steps_to_threshold"]["ci95"][0] <= m["steps_to_threshold"]["ci95"][1] <= budget

    # the same runs give the same intervals: a results.json can be regenerated and compared
    np.random.seed(12345)  # whatever state numpy's global generator is left in
    again = se.report(tmp_path, [TASK], ["rlpd", "sb3"], seeds=5, reps=300)
    assert again["tasks"] == results["tasks"]


def test_report_command_covers_every_task_and_method_whatever_jobs_were_chosen(tmp_path, capsys):
    # a run of one task's jobs must not drop the other tasks' results from results.json
    write_run(tmp_path, "rlpd", 0, rows((1000, 1.0)))
    assert se.main(["--tasks", TASK, "--methods", "rlpd", "--seeds", "1", "--out", str(tmp_path), "--report",
                    "--reps", "50"]) == 0  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert json.loads(capsys.readouterr().out) == results
    assert set(results["tasks"]) == set(se.TASKS)
    assert all(set(t["methods"]) == set(se.METHODS) for t in results["tasks"].values())
    assert results["tasks"][TASK]["methods"]["rlpd"]["per_seed"]["0"]["status"] == "reached"
    other = next(t for t in se.TASKS if t != TASK)
    assert results["tasks"][other]["methods"]["sb3"]["seeds_settled"] == 0


@pytest.mark.parametrize("task", list(se.TASKS))
def test_every_task_has_a_bench_config_and_an_sb3_budget_that_can_show_the_target_ratio(task):
    rlpd, sb3 = se.budget(task, "rlpd"), se.budget(task, "sb3")
    assert sb3 >= se.TARGET_RATIO * rlpd, (task, rlpd, sb3)


def test_job_list_skips_finished_jobs_and_resumes_partial_ones(tmp_path):
    rlpd_budget, sb3_budget = se.budget(TASK, "rlpd"), se.budget(TASK, "sb3")
    write_run(tmp_path, "rlpd", 0, rows((rlpd_budget // 2, 0.5), (rlpd_budget, 0.95)))
    write_run(tmp_path, "rlpd", 1, rows((rlpd_budget // 2, 0.5)))
    write_run(tmp_path, "sb3", 0, rows((sb3_budget, 0.2)))
    write_run(tmp_path, "sb3", 1, rows((1000, 0.0)), checkpoint=False)  # killed before a checkpoint
    # stopped at its first 90% evaluation, far short of its budget: its figure is settled
    write_run(tmp_path, "sb3", 2, rows((1000, 0.4), (2000, 0.9)))

    todo = se.pending_jobs(se.jobs([TASK], ["rlpd", "sb3"], 4, tmp_path))
    assert [(j.method, j.seed) for j in todo] == [
        ("rlpd", 1),
        ("sb3", 1),
        ("rlpd", 2),
        ("rlpd", 3),
        ("sb3", 3),
    ]
    commands = {(j.method, j.seed): se.command(j) for j in todo}
    assert commands[("rlpd", 1)][-1] == "--resume"
    assert "--resume" not in commands[("sb3", 1)] and "--resume" not in commands[("rlpd", 2)]
    assert commands[("rlpd", 1)][commands[("rlpd", 1)].index("--seed") + 1] == "1"
    assert str(se.TASKS[TASK].config) in commands[("sb3", 3)]
    sb3 = commands[("sb3", 3)]
    assert float(sb3[sb3.index("--stop-at-success") + 1]) == se.THRESHOLD


def test_sb3_runner_checkpoints_and_resumes(tmp_path):
    sb3 = load("sb3_sac")
    config = tmp_path / "tiny.yaml"
    config.write_text("robot: panda\ntask: reach\neval_every: 20\neval_episodes: 1\ncheckpoint_every: 20\n")
    out = tmp_path / "run"
    first = sb3.run(str(config), steps=20, seed=0, out=out, progress=False)
    assert first["steps"] == 20
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] == 20 and (out / "checkpoint" / "replay.pkl").is_file()
    # an evaluation written after the checkpoint, then a kill: the resumed run drops it
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 30, "success_rate": 0.0, "wall_s": 1.0}) + "\n")
    with pytest.raises(Exception, match="is not empty: pass --resume"):
        sb3.run(str(config), steps=40, seed=0, out=out, progress=False)
    second = sb3.run(str(config), steps=40, seed=0, out=out, resume=True, progress=False)
    assert second["steps"] == 40
    got = sb3.read_rows(out / "metrics.jsonl")
    assert [r["step"] for r in got] == [20, 40]
    assert got[1]["wall_s"] >= got[0]["wall_s"] and 0.0 <= got[1]["success_rate"] <= 1.0
    assert json.loads((out / "config.json").read_text())["sb3"]["net_arch"] == [256, 256]


def test_sb3_runner_stops_at_the_first_evaluation_at_the_success_rate(tmp_path):
    sb3 = load("sb3_sac")
    config = tmp_path / "tiny.yaml"
    config.write_text("robot: panda\ntask: reach\neval_every: 20\neval_episodes: 1\ncheckpoint_every: 100\n")
    out = tmp_path / "run"
    # every success rate is >= 0: the run ends at its first evaluation, with a checkpoint there
    first = sb3.run(str(config), steps=100, seed=0, out=out, progress=False, stop_at_success=0.0)
    assert (first["steps"], first["stopped_at_success"]) == (20, True)
    assert json.loads((out / "checkpoint" / "state.json").read_text())["step"] == 20
    again = sb3.run(str(config), steps=100, seed=0, out=out, resume=True, progress=False, stop_at_success=0.0)
    assert again["steps"] == 20 and [r["step"] for r in sb3.read_rows(out / "metrics.jsonl")] == [20]
    with pytest.raises(SystemExit):
        sb3.main(
            [
                "--config",
                str(config),
                "--steps",
                "100",
                "--out",
                str(tmp_path / "x"),
                "--stop-at-success",
                "90",
            ]
        )


def test_sb3_runner_uses_n_step_targets_and_keeps_them_on_resume(tmp_path):
    import pickle

    sb3 = load("sb3_sac")
    config = tmp_path / "tiny.yaml"
    config.write_text("robot: panda\ntask: reach\neval_every: 20\neval_episodes: 1\ncheckpoint_every: 20\n")
    out = tmp_path / "run"
    sb3.run(str(config), steps=20, seed=0, out=out, progress=False, n_step=3)
    sb3.run(str(config), steps=40, seed=0, out=out, resume=True, progress=False)
    assert json.loads((out / "config.json").read_text())["sb3"]["n_steps"] == 3
    with (out / "checkpoint" / "replay.pkl").open("rb") as f:
        buffer = pickle.load(f)
    assert type(buffer).__name__ == "NStepReplayBuffer" and buffer.n_steps == 3
