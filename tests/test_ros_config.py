"""What the ROS graph checks without DDS: parameter files, launch files, and the pure layers the
nodes wrap (observations from stamped inputs, command shaping, watchdog)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.command_shaping import make_shaper
from robot_rl.controllers.safety_layer import SafetyLayer
from robot_rl.errors import ConfigError
from robot_rl.observations import InputError, ObservationBuilder
from robot_rl.robots import adapter
from robot_rl.rosgraph import NODE_PARAMS, check_params_file, task_inputs
from robot_rl.spec import known_robots, load_robot_spec

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _setup_nodes() -> dict[str, str]:
    """The node console scripts setup.py installs (it reads them from robot_rl/ros_install.py)."""
    from robot_rl.ros_install import NODES

    assert "ros_install.NODES" in (REPO / "setup.py").read_text()
    return NODES


@pytest.mark.parametrize("path", sorted((REPO / "config" / "ros").glob("*.yaml")), ids=lambda p: p.name)
def test_every_parameter_file_parses_and_its_nodes_accept_every_key(path):
    nodes = check_params_file(str(path))
    assert {"twin", "actor", "controller", "reset", "reward"} <= set(nodes)


def test_unknown_parameter_is_refused_naming_node_and_key(tmp_path, ros_domain):
    bad = tmp_path / "bad.yaml"
    bad.write_text("controller:\n  ros__parameters:\n    robot: panda\n    watchdog_hzz: 100\n")
    with pytest.raises(ConfigError, match=r"controller\.watchdog_hzz.*a parameter of node 'controller'"):
        check_params_file(str(bad))
    # the node process itself refuses it too: one line, exit 2, no traceback
    proc = subprocess.run(
        [str(BIN / "controller"), "--ros-args", "--params-file", str(bad)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.startswith("error: ") and "watchdog_hzz" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_every_launched_executable_is_a_console_script_and_every_robot_has_a_launch_file():
    from robot_rl.ros import launch_graph

    nodes = _setup_nodes()
    named = {*launch_graph.GRAPH_NODES, *launch_graph.TWIN_NODES}
    named |= {n for robot in known_robots() for n in launch_graph.hardware_nodes(robot)}
    assert named <= set(nodes), named - set(nodes)
    assert set(nodes) == set(NODE_PARAMS)  # every node's parameters are declared in one table
    for name, target in nodes.items():
        assert (BIN / name).exists(), f"console script {name} not installed: pip install -e ."
        module, func = target.split(":")
        assert func == "main" and (REPO / (module.replace(".", "/") + ".py")).exists()
    for robot in known_robots():
        text = (REPO / "launch" / f"{robot}.launch.py").read_text()
        assert f'generate(robot="{robot}")' in text
        assert (REPO / "config" / "ros" / f"{robot}.yaml").exists()
    assert 'generate(driver="twin")' in (REPO / "launch" / "twin.launch.py").read_text()


def test_observation_builder_lays_out_fields_as_the_spec_and_drops_stale_or_bad_inputs():
    spec = load_robot_spec("racecar")
    b = ObservationBuilder(spec)
    b.update("speed", [1.5], 10.0)
    b.update("yaw_rate", [0.2], 10.0)
    b.update("last_action", [0.1, -0.3], 10.05)
    obs = b.build(10.06)
    np.testing.assert_allclose(obs["state"], [1.5, 0.2, 0.1, -0.3], rtol=1e-6)
    assert obs["state"].dtype == np.float32
    late = 10.0 + spec.safety.sensor_max_age_s + 0.01
    assert b.build(late) is None and b.missing(late)[0].startswith("speed (")
    with pytest.raises(InputError, match="non-finite value in /odom"):
        b.update("speed", [float("nan")], 11.0, source="/odom")
    with pytest.raises(InputError, match="has 2 values, the spec says 1"):
        b.update("speed", [1.0, 2.0], 11.0)
    cams = ObservationBuilder(load_robot_spec("panda"), cameras=["wrist"])
    with pytest.raises(InputError, match=r"64x64x3 uint8.*128x128x3"):
        cams.image("wrist", np.zeros((64, 64, 3), np.uint8), 1.0)


def test_panda_reference_stays_in_the_box_and_near_the_arm():
    spec = load_robot_spec("panda")
    s = make_shaper(spec)
    assert s.channels == ["ee_delta_pos.0", "ee_delta_pos.1", "ee_delta_pos.2", "gripper"]
    assert s.command([1, 0, 0, 0]) == {}  # no measured pose yet: nothing to command
    s.measured("ee_pos", [0.74, 0.0, 0.3])
    for _ in range(20):
        cmd = s.command([1.0, 0.0, -1.0, 1.0])
    assert cmd["position"][0] == pytest.approx(spec.safety.box_high[0])  # clipped into the box
    assert cmd["position"][2] == pytest.approx(0.3 - 0.05)  # within max_reference_lead of the arm
    assert cmd["gripper"] == 0.0
    # the hold (the controller's fallback): a resync and a zero delta stand at the measured pose
    s.measured("ee_pos", [0.5, 0.1, 0.2])
    s.resync()
    hold = s.command(SafetyLayer(spec, action_fields=s.fields).shield.fallback(None))
    np.testing.assert_allclose(hold["position"], [0.5, 0.1, 0.2])
    assert hold["gripper"] is None  # the gripper keeps its last command


def test_car_rate_limit_and_brake_and_quadrotor_land():
    spec = load_robot_spec("racecar")
    car = make_shaper(spec)
    cmd = car.command([1.0, 1.0])
    assert cmd["steer"] == pytest.approx(0.2 * 0.4) and cmd["speed"] == pytest.approx(0.2 * 3.0)
    # the brake is the layer's fallback (steering held, throttle 0) through the same rate limit
    state = np.zeros(spec.obs_size, np.float32)
    state[2:4] = [1.0, 1.0]  # last_action
    for _ in range(10):
        brake = car.command(SafetyLayer(spec).shield.fallback(state))
    assert brake["speed"] == 0.0 and brake["steer"] == pytest.approx(0.4)
    spec = load_robot_spec("crazyflie")
    quad = make_shaper(spec, action_mode="rates")
    hover = spec.model["mass_kg"] * 9.81 / (4 * spec.model["max_thrust_n"])
    # with no state measured the land law sinks open loop: below hover, zero rates
    land = quad.command(SafetyLayer(spec, action_fields=quad.fields).shield.fallback(None))
    assert 0.5 * hover < land["thrust"] < hover and not np.any(land["rates"])
    full = quad.command([1.0, 1.0, -1.0, 0.0])
    assert full["thrust"] == pytest.approx(1.0)
    np.testing.assert_allclose(full["rates"], [6.0, -6.0, 0.0])


@pytest.mark.parametrize("robot", ["panda", "crazyflie", "racecar"])
def test_graph_action_layout_is_the_twin_envs_in_every_mode(robot):
    """The graph acts in the layout the twin (and so `robot-rl train`) uses: by default the twin's
    default options, and in every other mode the twin built with that mode."""
    from robot_rl.sim import make_twin

    spec = load_robot_spec(robot)
    task = next(iter(spec.tasks))
    for mode in ["", *spec.modes[1:]]:
        graph = adapter(spec, mode)
        env = make_twin(robot, task, robot_options=graph.twin_options())
        try:
            twin = [(f.name, f.size) for f in env.unwrapped.action_layout]
            if not mode:  # the default is what training builds: no robot options at all
                default = make_twin(robot, task)
                assert [(f.name, f.size) for f in default.unwrapped.action_layout] == twin
                default.close()
            assert [(f.name, f.size) for f in graph.fields] == twin
            assert len(graph.channels) == env.action_space.shape[0]
        finally:
            env.close()
    with pytest.raises(ConfigError, match="action_mode"):
        adapter(spec, "attitude")


@pytest.mark.parametrize("robot", ["panda", "crazyflie", "racecar"])
def test_task_topics_carry_every_task_observation_of_the_twin(robot):
    """Every twin task's observation fields come from task topics, in the twin's order, and a
    message filled from the twin's values reads back as the same values."""
    from robot_rl.ros import task_messages
    from robot_rl.ros.common import msg_type
    from robot_rl.sim import make_twin
    from robot_rl.sim.factory import tasks_of

    spec = load_robot_spec(robot)
    assert set(spec.tasks) == set(tasks_of(robot))
    for task in tasks_of(robot):
        env = make_twin(robot, task)
        try:
            env.reset(seed=5)  # refuses a task whose observation is not the spec's size
            twin = env.unwrapped.task
            carried = [f for inp in task_inputs(robot, task) for f in inp.fields]
            assert carried == [(f.name, f.size) for f in spec.task(task).observation], f"{robot}/{task}"
            assert twin.observe().size == sum(size for _, size in carried)
            values, i = twin.observe(), 0
            for inp in task_inputs(robot, task):
                n = sum(size for _, size in inp.fields)
                msg = task_messages.fill(inp, msg_type(inp.topic.type)(), values[i : i + n], range_max=4.0)
                back = np.concatenate([np.asarray(v) for v in task_messages.read(inp, msg).values()])
                np.testing.assert_allclose(back, values[i : i + n], atol=1e-6, err_msg=inp.topic.name)
                i += n
        finally:
            env.close()
    with pytest.raises(ConfigError, match="task"):
        task_inputs(robot, "juggle")
    if robot == "racecar":  # the scan's beam angles are the twin's rays
        from robot_rl.rosgraph import WALL_SCAN_ANGLES
        from robot_rl.sim.racecar.tasks import RAY_ANGLES_DEG

        lo, hi, step = np.degrees(WALL_SCAN_ANGLES)
        np.testing.assert_allclose(np.arange(lo, hi + 0.5 * step, step), RAY_ANGLES_DEG, atol=1e-9)


def test_a_perception_nodes_cube_pose_reads_as_the_twins_upright_cube():
    """A pose estimator reports whichever of the cube's 24 look-alike orientations it fits; the
    actor reads the one the twin observes, so a policy trained in the twin sees the same value."""
    from scipy.spatial.transform import Rotation

    from robot_rl.ros import task_messages
    from robot_rl.ros.common import msg_type

    upright = Rotation.from_euler("z", -0.2)
    for task in ("pick_cube", "pick_place"):
        (inp, *_) = task_inputs("panda", task)
        assert inp.symmetry == "cube"
        for turn in ("x", "y", "z"):
            msg = msg_type(inp.topic.type)()
            q = (upright * Rotation.from_euler(turn, -90, degrees=True)).as_quat()
            o = msg.pose.orientation
            o.x, o.y, o.z, o.w = (float(v) for v in -q)
            np.testing.assert_allclose(
                task_messages.read(inp, msg)["cube_quat"], upright.as_quat(), atol=1e-9
            )


def test_task_inputs_follow_the_state_and_have_their_own_age_limit_and_a_reset_clears_them():
    spec = load_robot_spec("racecar")
    b = ObservationBuilder(spec, task_fields=[("goal", 2)], task_max_age_s=1.0)
    for name, values in (("speed", [1.0]), ("yaw_rate", [0.0]), ("last_action", [0.0, 0.0])):
        b.update(name, values, 10.0)
    assert b.build(10.0) is None and b.missing(10.0) == ["goal (never received)"]
    b.update("goal", [3.0, 4.0], 9.5)  # a slow goal publisher: older than the state's limit, fine
    np.testing.assert_allclose(b.build(10.05)["state"], [1.0, 0.0, 0.0, 0.0, 3.0, 4.0])
    assert b.state_size == 6
    assert not any(m.startswith("goal") for m in b.missing(10.4))  # 0.9 s old: within its 1 s
    assert "goal (1100 ms old)" in b.missing(10.6)
    b.restart(10.1)  # a reset: everything stamped before it shows the old episode
    assert b.build(10.1) is None and "goal (none since the reset)" in b.missing(10.1)
    with pytest.raises(InputError, match="also a racecar state field"):
        ObservationBuilder(spec, task_fields=[("speed", 1)])


def test_quadrotor_lands_in_motor_force_mode_and_refuses_other_modes_of_other_robots():
    spec = load_robot_spec("crazyflie")
    quad = make_shaper(spec)
    hover = spec.model["mass_kg"] * 9.81 / (4 * spec.model["max_thrust_n"])
    assert quad.channels == [f"motor_forces.{i}" for i in range(4)]
    np.testing.assert_allclose(quad.command([-1.0, 0.0, 1.0, 0.5])["forces"], [0.0, 0.5, 1.0, 0.75])
    land = quad.command(SafetyLayer(spec, action_fields=quad.fields).shield.fallback(None))["forces"]
    np.testing.assert_allclose(land, land[0])
    assert 0.5 * hover < land[0] < hover
    with pytest.raises(ConfigError, match="action_mode"):
        make_shaper(load_robot_spec("racecar"), action_mode="rates")
