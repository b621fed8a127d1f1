"""The ROS 2 node graph as data: topics per robot (the drivers' own interfaces), the task-observation
topics per task, and node parameters.

Pure Python (no rclpy): the nodes in `robot_rl/ros`, the launch files, the parameter-file checks
and docs/ros.md all read these tables, so a topic name or parameter lives in one place.

State, task inputs and images travel with sensor-data QoS (best effort, keep last 1: a late sample is worth
less than the next one); commands with reliable QoS, depth 1 (the newest command must arrive,
older ones are worthless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robot_rl.errors import ConfigError

SENSOR = "sensor"  # best effort, keep last 1
COMMAND = "command"  # reliable, keep last 1


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
EPISODE = Topic("/robot_rl/episode", "std_msgs/Int32", COMMAND, "episode index; published at each start")
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


#: per robot: state topics a real driver publishes, and the command topic the real controller takes
ROBOT_TOPICS: dict[str, dict[str, Topic]] = {
    "panda": {
        "pose": Topic(
            "/franka_robot_state_broadcaster/current_pose",
            "geometry_msgs/PoseStamped",
            SENSOR,
            "TCP pose, base frame (ee_pos, ee_quat)",
        ),
        "twist": Topic(
            "/franka_robot_state_broadcaster/current_twist",
            "geometry_msgs/TwistStamped",
            SENSOR,
            "TCP twist, base frame (ee_linvel, ee_angvel)",
        ),
        "wrench": Topic(
            "/franka_robot_state_broadcaster/external_wrench_in_base_frame",
            "geometry_msgs/WrenchStamped",
            SENSOR,
            "estimated external wrench at the TCP, base frame",
        ),
        "joints": Topic(
            "/joint_states", "sensor_msgs/JointState", SENSOR, "7 arm joints + 2 fingers (gripper_width)"
        ),
        "command": Topic(
            "/cartesian_impedance_controller/equilibrium_pose",
            "geometry_msgs/PoseStamped",
            COMMAND,
            "equilibrium pose of the 1 kHz Cartesian impedance controller",
        ),
        "gripper": Topic(
            "/franka_gripper/width_command", "std_msgs/Float64", COMMAND, "gripper width target, m"
        ),
    },
    "crazyflie": {
        "odom": Topic(
            "/cf1/odom",
            "nav_msgs/Odometry",
            SENSOR,
            "position and orientation (world), linear velocity (world), body rates",
        ),
        "imu": Topic("/cf1/imu", "sensor_msgs/Imu", SENSOR, "gyro (body rates, rad/s)"),
        "command": Topic(
            "/cf1/cmd_motors",
            "sensor_msgs/JointState",
            COMMAND,
            "firmware controlModeForce setpoint: name m1..m4, effort = motor force / max_thrust_n (0..1)",
        ),
    },
    "racecar": {
        "odom": Topic("/odom", "nav_msgs/Odometry", SENSOR, "wheel odometry: twist.linear.x speed, m/s"),
        "imu": Topic("/imu", "sensor_msgs/Imu", SENSOR, "gyro: angular_velocity.z yaw rate, rad/s"),
        "command": Topic(
            "/cmd_vel",
            "geometry_msgs/Twist",
            COMMAND,
            "linear.x speed target m/s, angular.z steering angle rad (Ackermann Twist convention)",
        ),
    },
}

#: state publication rate of each robot's driver (the twin publishes at the same rate), Hz
STATE_HZ = {"panda": 100, "crazyflie": 100, "racecar": 50}

#: command topics of action modes other than the robot's default (robot_rl.command_shaping.ACTION_MODES)
MODE_COMMANDS: dict[tuple[str, str], Topic] = {
    ("crazyflie", "rates"): Topic(
        "/cf1/cmd_rates",
        "geometry_msgs/TwistStamped",
        COMMAND,
        "firmware inner-loop setpoint: angular = body rates rad/s, linear.z = collective thrust 0..1",
    ),
}


def robot_topics(robot: str, action_mode: str = "") -> dict[str, Topic]:
    """The robot driver's topics; `command` is the one of `action_mode` ("": the default layout)."""
    if robot not in ROBOT_TOPICS:
        raise ConfigError("", "robot", f"one of: {', '.join(ROBOT_TOPICS)}", robot)
    topics = ROBOT_TOPICS[robot]
    if action_mode and (robot, action_mode) in MODE_COMMANDS:
        topics = {**topics, "command": MODE_COMMANDS[robot, action_mode]}
    return topics


# -- task observations -------------------------------------------------------------------------
# A task appends fields to the robot's state (sim Task.observation): the reach goal, the cube's
# pose, the course ahead of the car. On hardware a perception node or a fixed-goal publisher
# provides them; the twin publishes them from its task at the state rate. One stamped standard
# message per topic, so the actor checks their age like any sensor input.


@dataclass(frozen=True)
class TaskInput:
    """A task-observation topic and the task fields it carries, in observation order."""

    topic: Topic
    fields: tuple[tuple[str, int], ...]  # (field name, size)
    #: how values sit in the message: point (x y z), pose (position x y z + orientation x y z w),
    #: vector (x y z), track_pose (position.y = lateral offset, yaw = heading error),
    #: polygon (points' x y), scan (ranges)
    layout: str
    #: "cube": the pose is a cube's, whose orientation is read as `spec.canonical_cube_quat` (the
    #: twin's observation), so any perception node's quaternion of it is taken
    symmetry: str = ""


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
    "actor for tasks whose target moves (MOVING_TARGET); others use the actor's `target` parameter",
)
#: robot -> tasks whose position target moves: the actor takes it from POSITION_TARGET (stamps checked)
MOVING_TARGET: dict[str, tuple[str, ...]] = {"crazyflie": ("waypoints",)}
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

#: robot -> task -> the topics its task observation comes from (tests check them against the twin)
TASK_INPUTS: dict[str, dict[str, tuple[TaskInput, ...]]] = {
    "panda": {
        "reach": (TaskInput(GOAL_POS, (("goal_pos", 3),), "point"),),
        "pick_cube": (TaskInput(CUBE_POSE, (("cube_pos", 3), ("cube_quat", 4)), "pose", symmetry="cube"),),
        "pick_place": (
            TaskInput(CUBE_POSE, (("cube_pos", 3), ("cube_quat", 4)), "pose", symmetry="cube"),
            TaskInput(TARGET_POS, (("target_pos", 3),), "point"),
        ),
        "peg_insert": (
            TaskInput(PEG_POSE, (("peg_pos", 3), ("peg_quat", 4)), "pose"),
            TaskInput(HOLE_POS, (("hole_pos", 3),), "point"),
        ),
    },
    "crazyflie": {"hover": (), "waypoints": (TaskInput(TARGET_VEL, (("target_vel", 3),), "vector"),)},
    "racecar": {
        "laps": (
            TaskInput(TRACK_POSE, (("heading_error", 1), ("lateral_offset", 1)), "track_pose"),
            TaskInput(CHECKPOINTS, (("checkpoints", 4),), "polygon"),
            TaskInput(WALL_SCAN, (("wall_distances", 5),), "scan"),
        )
    },
}
#: wall_scan ray directions, car frame, rad (left positive): -60..60 deg in 30 deg steps
WALL_SCAN_ANGLES = (-1.0471975511965976, 1.0471975511965976, 0.5235987755982988)  # min, max, increment


def task_inputs(robot: str, task: str) -> tuple[TaskInput, ...]:
    """The task-observation topics of a robot's task (empty when the task adds no observation)."""
    tasks = TASK_INPUTS.get(robot)
    if tasks is None:
        raise ConfigError("", "robot", f"one of: {', '.join(TASK_INPUTS)}", robot)
    if task not in tasks:
        raise ConfigError("", "task", f"a {robot} task: {', '.join(tasks)}", task)
    return tasks[task]


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
        "state_hz": 0,  # 0: the robot's driver rate (STATE_HZ)
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
