"""The ROS 2 node graph as data: the graph's own topics and services, the task-observation topics,
and node parameters. A robot's driver topics and message codecs are its adapter's
(robot_rl.robots.<robot>); which task topics a task uses is its spec's (`tasks`).

Pure Python (no rclpy): the nodes in `robot_rl/ros`, the launch files, the parameter-file checks
and docs/ros.md all read these tables, so a topic name or parameter lives in one place.

State, task inputs and images travel with sensor-data QoS (best effort, keep last 1: a late sample is worth
less than the next one); commands with reliable QoS, depth 1 (the newest command must arrive,
older ones are worthless).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from robot_rl.errors import ConfigError

SENSOR = "sensor"  # best effort, keep last 1
COMMAND = "command"  # reliable, keep last 1


def msg_type(name: str) -> type:
    """'geometry_msgs/PoseStamped' -> the message class (imported when first asked for)."""
    pkg, msg = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), msg)


@dataclass(frozen=True)
class Topic:
    name: str
    type: str  # "pkg/Msg"
    qos: str
    doc: str


#: actor -> controller: normalized policy action, one named channel per action entry
ACTION = Topic(
    "/robot_rl/action",
    "sensor_msgs/JointState",
    COMMAND,
    "policy action in [-1, 1]; name = action channels, position = values, header.stamp = the "
    "time the policy step took its observation",
)
TELEOP = Topic("/robot_rl/teleop", "geometry_msgs/Twist", SENSOR, "teleop input (SpaceMouse, joystick)")
REWARD = Topic("/robot_rl/reward", "std_msgs/Float32", SENSOR, "reward of the newest observation")
REWARD_PROBABILITY = Topic(
    "/robot_rl/reward/probability",
    "std_msgs/Float32",
    SENSOR,
    "reward model's calibrated success probability",
)
SUCCESS = Topic("/robot_rl/success", "std_msgs/Bool", SENSOR, "success of the newest observation")
EPISODE = Topic(
    "/robot_rl/episode",
    "std_msgs/Int32",
    COMMAND,
    "episode index; published at each start (the controller's shaper starts again from the measured state)",
)
CONTROLLER_STATE = Topic(
    "/robot_rl/controller/state",
    "std_msgs/String",
    COMMAND,
    "ok | hold (watchdog) | fault (bad state) | estop (ESTOP_SERVICE)",
)
TWIN_REWARD = Topic("/twin/task_reward", "std_msgs/Float32", SENSOR, "twin only: ground-truth task reward")
TWIN_SUCCESS = Topic("/twin/task_success", "std_msgs/Bool", SENSOR, "twin only: ground-truth success")
RESET_SERVICE = "/robot_rl/reset"  # std_srvs/Trigger, served by the reset node, called by the actor
TWIN_RESET_SERVICE = "/twin/reset"  # std_srvs/Trigger, the twin's (or a robot's) own reset
RESUME_SERVICE = "/robot_rl/controller/resume"  # std_srvs/Trigger: clear a latched fault
ESTOP_SERVICE = "/robot_rl/estop"  # std_srvs/SetBool: true latches the e-stop, false clears it
#: std_srvs/SetBool, served by the reset node: a person's answer after `max_failures` failed resets in a
#: row (true: reset by hand, continue; false: stop)
HUMAN_RESET_SERVICE = "/robot_rl/reset/human"
#: latched (transient local) String topics of the reset node
RESET_HELP = Topic(
    "/robot_rl/reset/help",
    "std_msgs/String",
    COMMAND,
    "what a person must do when automatic resets failed (latched; empty: nobody is needed)",
)
RESET_STATS = Topic(
    "/robot_rl/reset/stats",
    "std_msgs/String",
    COMMAND,
    "JSON reset counters after each reset: resets, reset_successes, reset_failures, human_resets, "
    "reset_time_s (latched)",
)


# -- task observations -------------------------------------------------------------------------
# A task appends fields to the robot's state (the spec's `tasks`): the reach goal, the cube's
# pose, the course ahead of the car. On hardware a perception node or a fixed-goal publisher
# provides them; the twin publishes them from its task at the state rate. One stamped standard
# message per topic, so the actor checks their age like any sensor input.


@dataclass(frozen=True)
class TaskInput:
    """A task-observation topic and the task fields it carries, in observation order (resolved from
    the spec's `tasks.<task>.inputs`: robot_rl.spec.TaskInput)."""

    topic: Topic
    fields: tuple[tuple[str, int], ...]  # (field name, size)
    layout: str  # robot_rl.spec.TaskInput.layout
    symmetry: str = ""  # robot_rl.spec.TaskInput.symmetry


def _task_topic(name: str, type_: str, doc: str) -> Topic:
    return Topic(f"/robot_rl/task/{name}", type_, SENSOR, doc)


GOAL_POS = _task_topic("goal_pos", "geometry_msgs/PointStamped", "reach goal point, base frame (goal_pos)")
CUBE_POSE = _task_topic(
    "cube_pose", "geometry_msgs/PoseStamped", "cube centre and orientation, base frame (cube_pos, cube_quat)"
)
TARGET_POS = _task_topic(
    "target_pos", "geometry_msgs/PointStamped", "target bin centre on the table, base frame (target_pos)"
)
PEG_POSE = _task_topic(
    "peg_pose",
    "geometry_msgs/PoseStamped",
    "centre of the peg's bottom face and peg orientation, base frame (peg_pos, peg_quat)",
)
HOLE_POS = _task_topic("hole_pos", "geometry_msgs/PointStamped", "centre of the hole's opening (hole_pos)")
TARGET_VEL = _task_topic(
    "target_vel", "geometry_msgs/Vector3Stamped", "velocity of the moving target, world frame (target_vel)"
)
POSITION_TARGET = _task_topic(
    "position_target",
    "geometry_msgs/PointStamped",
    "where the vehicle should be, world frame: the Crazyflie's pos_error = position - target. Read by the "
    "actor for tasks whose target moves (spec `tasks.<task>.moving_target`); others use the actor's "
    "`target` parameter",
)
TRACK_POSE = _task_topic(
    "track_pose",
    "geometry_msgs/PoseStamped",
    "car pose relative to the nearest centreline point: position.y = lateral_offset (left +), "
    "yaw = heading_error",
)
CHECKPOINTS = _task_topic(
    "checkpoints", "geometry_msgs/PolygonStamped", "next course checkpoints (x, y), car frame (checkpoints)"
)
WALL_SCAN = _task_topic(
    "wall_scan", "sensor_msgs/LaserScan", "ray distances to the walls, car frame (wall_distances)"
)

#: the task topics by name (a spec's `tasks.<task>.inputs[].topic`)
TASK_TOPICS: dict[str, Topic] = {
    t.name.rsplit("/", 1)[-1]: t
    for t in (
        GOAL_POS,
        CUBE_POSE,
        TARGET_POS,
        PEG_POSE,
        HOLE_POS,
        TARGET_VEL,
        TRACK_POSE,
        CHECKPOINTS,
        WALL_SCAN,
    )
}
#: wall_scan ray directions, car frame, rad (left positive): -60..60 deg in 30 deg steps
WALL_SCAN_ANGLES = (-1.0471975511965976, 1.0471975511965976, 0.5235987755982988)  # min, max, increment


def task_inputs(spec: Any, task: str) -> tuple[TaskInput, ...]:
    """The task-observation topics of a robot's task (empty when the task adds no observation);
    `spec` is a RobotSpec or a robot name."""
    if isinstance(spec, str):
        from robot_rl.spec import load_robot_spec

        spec = load_robot_spec(spec)
    t = spec.task(task)
    sizes = {f.name: f.size for f in t.observation}
    out = []
    for i, inp in enumerate(t.inputs):
        if inp.topic not in TASK_TOPICS:
            raise ConfigError(
                spec.source, f"tasks.{task}.inputs[{i}].topic", f"one of: {', '.join(TASK_TOPICS)}", inp.topic
            )
        fields = tuple((name, sizes[name]) for name in inp.fields)
        out.append(TaskInput(TASK_TOPICS[inp.topic], fields, inp.layout, inp.symmetry))
    return tuple(out)


def camera_topic(camera: str) -> str:
    """sensor_msgs/Image topic of a spec camera (realsense2_camera's naming)."""
    return f"/camera/{camera}/color/image_raw"


def camera_info_topic(camera: str) -> str:
    return f"/camera/{camera}/color/camera_info"


# -- node parameters: name -> default (the type of the default is the parameter's type) ---------
COMMON = {"robot": "panda"}
NODE_PARAMS: dict[str, dict[str, Any]] = {
    "twin": {
        **COMMON,
        "task": "reach",
        "cameras": [""],  # rclpy needs a typed default: [""] means none
        "state_hz": 0,  # 0: the robot's driver rate (spec rates.state_hz)
        "camera_hz": 20,  # above the policy rate: a frame must be younger than sensor_max_age_s
        "randomize": False,
        "action_mode": "",  # "": the layout policies are trained with; crazyflie: force | rates
        "seed": 0,
        "reset_mode": "teleport",  # /twin/reset: teleport (seeded env reset) | scripted (reset controller)
    },
    "actor": {
        **COMMON,
        "task": "reach",
        "action_mode": "",
        "task_max_age_s": 0.0,  # task inputs older than this count as missing; 0: safety.sensor_max_age_s
        "policy": "random",  # random | zero | expert (twin only) | checkpoint
        "checkpoint": "",
        "learner": "",  # tcp://host:port of `robot-rl learner`; "" runs without a learner
        "train_config": "",  # the learner's training config (needed with learner)
        "actor_id": "ros0",
        "cameras": [""],
        "max_episode_steps": 100,
        "episodes": 0,  # 0: run until stopped
        "reset_timeout_s": 10.0,
        "use_reward_node": True,
        "demo_dir": "",  # record episodes as demonstrations here ("" off)
        "teleop_scale": 1.0,  # action per unit of Twist input
        "target": [0.0, 0.0, 1.0],  # crazyflie: hover target (pos_error), m
        "seed": 0,
        "realtime_priority": 0,  # SCHED_FIFO priority 1-99 for the node's threads; 0: normal scheduling
    },
    "controller": {
        **COMMON,
        "action_mode": "",
        "watchdog_hz": 200,
        "realtime_priority": 0,
    },
    "reset": {
        **COMMON,
        "mode": "service",  # service: call robot_reset_service | graph: run the reset controller (Panda)
        "robot_reset_service": TWIN_RESET_SERVICE,
        "timeout_s": 10.0,
        "max_failures": 3,  # failed resets in a row before the e-stop and a person (HUMAN_RESET_SERVICE)
        "seed": 0,  # mode graph: the reset perturbations' random stream
    },
    "reward": {
        **COMMON,
        "source": "twin",  # twin (ground truth) | model (a learned reward model)
        "camera": "",  # twin: publish once per frame of this camera; model: the camera that triggers scoring
        "model": "",  # source model: the folder `robot-rl reward train` wrote
        "task": "",  # source model: the task whose topics a model condition reads ("" robot state only)
        "target": [0.0, 0.0, 1.0],  # Crazyflie hover point, for a condition on pos_error
    },
    "camera": {
        "name": "front",
        "robot": "panda",
        "serial": "",
        "width": 640,
        "height": 480,
        "fps": 30,
        "crop": [0, 0, 0, 0],  # x, y, w, h in the captured frame; w = 0: no crop
        "frame_id": "camera_color_optical_frame",
    },
}


#: parameters rclpy declares on every node
ROS_BUILTIN_PARAMS = {"use_sim_time", "start_type_description_service"}


def check_node_params(node: str, given: dict[str, Any], source: str = "") -> None:
    """Reject parameters a node does not know (a typo would otherwise silently keep the default)."""
    if node not in NODE_PARAMS:
        raise ConfigError(source, "node", f"one of: {', '.join(NODE_PARAMS)}", node)
    known = NODE_PARAMS[node]
    for key in given:
        if key not in known and key not in ROS_BUILTIN_PARAMS and not key.startswith("qos_overrides."):
            raise ConfigError(
                source, f"{node}.{key}", f"a parameter of node '{node}': {', '.join(sorted(known))}", key
            )


def twin_state_hz(robot: str) -> int:
    """The rate the twin node publishes a robot's state at as its parameter file runs it
    (config/ros/<robot>.yaml; 0 there: the driver's rate, the spec's `rates.state_hz`)."""
    from robot_rl.config import load_yaml
    from robot_rl.paths import config_dir
    from robot_rl.spec import load_robot_spec

    params = load_yaml(config_dir() / "ros" / f"{robot}.yaml")["twin"]["ros__parameters"]
    return int(params.get("state_hz") or load_robot_spec(robot).rates.state_hz)


def check_params_file(path: str) -> list[str]:
    """Check a `node: ros__parameters:` YAML file; returns the node names it configures."""
    from robot_rl.config import load_yaml

    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "", "a mapping of node name -> {ros__parameters: ...}", data)
    for node, body in data.items():
        name = str(node).rsplit("/", 1)[-1]
        if not isinstance(body, dict) or set(body) != {"ros__parameters"}:
            raise ConfigError(path, str(node), "a mapping with exactly one key, ros__parameters", body)
        check_node_params(name, body["ros__parameters"] or {}, source=path)
    return [str(n).rsplit("/", 1)[-1] for n in data]
