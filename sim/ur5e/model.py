"""The UR5e's physical model (spec `model:`) and the URDF written from it at load time.

Nothing of the UR5e ships with pybullet_data, so `ur5e_urdf()` writes the whole robot from the
spec: the kinematic chain from the published DH parameters, the published link masses and
centres of mass, the datasheet joint limits, and primitive shapes (cylinders, boxes) for visuals
and collisions. Link frames: URDF link i is DH frame i-1 turned by joint i (its joint rotates
about the link's z), so DH frame i is link i moved by (a_i, 0, d_i) and turned by alpha_i about x;
the inertials, given in DH frame i, are placed there. A fixed flange joint gives DH frame 6, the
gripper stand-in hangs from it, and the TCP sits `tool_length` along the flange's z axis.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_rl.config import from_dict, param
from robot_rl.errors import ConfigError
from robot_rl.sim.arm_model import JointLimit, LinkInertial, PhysicsSettings, cached_urdf
from robot_rl.spec import RobotSpec

#: URDF link names, base to flange (the link each arm joint moves)
ARM_LINKS = (
    "shoulder_link",
    "upper_arm_link",
    "forearm_link",
    "wrist_1_link",
    "wrist_2_link",
    "wrist_3_link",
)
GREY, DARK, BLUE = "0.75 0.77 0.8 1", "0.2 0.2 0.22 1", "0.25 0.45 0.8 1"


@dataclass
class DH:
    """Standard Denavit-Hartenberg parameters, joint 1 to 6: T_i = Rz(q_i) Tz(d_i) Tx(a_i) Rx(alpha_i)."""

    d: list[float] = param(doc="offsets along the previous z", unit="m")
    a: list[float] = param(doc="lengths along the new x", unit="m")
    alpha: list[float] = param(doc="twists about the new x", unit="rad")

    def validate(self, source: str, prefix: str) -> None:
        for name in ("d", "a", "alpha"):
            if len(getattr(self, name)) != 6:
                raise ConfigError(source, f"{prefix}.{name}", "6 values (joints 1 to 6)", getattr(self, name))


@dataclass
class Gripper:
    """The two-finger parallel gripper stand-in: a body on the flange and two sliding finger pads."""

    body_mass: float = param(doc="gripper body mass", unit="kg", gt=0)
    finger_mass: float = param(doc="mass of one finger", unit="kg", gt=0)
    body_radius: float = param(0.04, doc="radius of the cylindrical body", unit="m", gt=0)
    body_length: float = param(0.09, doc="length of the body along the flange z", unit="m", gt=0)
    pad_size: list[float] = param(
        [0.02, 0.008, 0.048], doc="finger pad box: width, thickness, length", unit="m"
    )
    pad_beyond_tcp: float = param(0.008, doc="fingertips reach this far past the TCP", unit="m", ge=0)


@dataclass(kw_only=True)
class UR5eModel:
    """The `model:` section of config/robots/ur5e.yaml."""

    dh: DH = param(doc="kinematics (UR's published DH parameters)")
    tcp_link: str = param("tcp", doc="link whose frame is the end effector (TCP)")
    hand_link: str = param("gripper", doc="link the wrist camera would be mounted on")
    arm_joints: list[str] = param(doc="the 6 position-controlled joints, base to flange")
    finger_joints: list[str] = param(doc="the 2 position-controlled finger joints")
    home_q: list[float] = param(doc="joint posture the reset inverse kinematics starts from", unit="rad")
    links: dict[str, LinkInertial] = param(doc="inertial parameters, each in its DH frame")
    joints: dict[str, JointLimit] = param(doc="joint limits")
    link_radius: list[float] = param(doc="radius of the cylinder drawn for links 1 to 6", unit="m")
    payload_kg: float = param(doc="rated payload, gripper included (datasheet)", unit="kg", gt=0)
    reach_m: float = param(doc="reach from the base axis to the flange (datasheet)", unit="m", gt=0)
    base_mass: float = param(4.0, doc="base mass (fixed to the table; nothing moves it)", unit="kg", gt=0)
    tool_length: float = param(doc="flange to TCP along the flange z axis", unit="m", gt=0)
    gripper: Gripper = param(doc="the gripper stand-in's masses and shapes")
    gripper_speed: float = param(doc="rate of change of the finger gap", unit="m/s", gt=0)
    gripper_open_m: float = param(doc="finger gap when the gripper is open", unit="m", gt=0)
    gripper_command_threshold: float = param(
        doc="the gripper action closes above it, opens below minus it, keeps the last command between",
        unit="1",
        gt=0,
        lt=1,
    )
    servo_position_gain: float = param(
        doc="PyBullet POSITION_CONTROL positionGain: the share of the joint error closed per physics step",
        gt=0,
        le=1,
    )
    table_contact_stiffness: float = param(
        1e4,
        doc="stiffness of contacts with the table top (a rigid one makes the servo bounce)",
        unit="N/m",
        gt=0,
    )
    table_contact_damping: float = param(
        200.0, doc="damping of contacts with the table top", unit="N s/m", gt=0
    )
    table_visual: bool = param(False, doc="draw the table top (~2.5 ms more per 128x128 CPU frame)")
    physics: PhysicsSettings = param(default_factory=PhysicsSettings, doc="PyBullet solver settings")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.arm_joints) != 6:
            raise ConfigError(source, f"{prefix}.arm_joints", "6 joint names", self.arm_joints)
        if len(self.finger_joints) != 2:
            raise ConfigError(source, f"{prefix}.finger_joints", "2 joint names", self.finger_joints)
        if len(self.home_q) != 6 or len(self.link_radius) != 6:
            raise ConfigError(
                source, f"{prefix}.home_q", "6 joint angles (rad) and 6 link radii", self.home_q
            )
        for name in (*self.arm_joints, *self.finger_joints):
            if name not in self.joints:
                raise ConfigError(source, f"{prefix}.joints", f"limits for {name}", sorted(self.joints))
        for name in ARM_LINKS:
            if name not in self.links:
                raise ConfigError(source, f"{prefix}.links", f"an inertial for {name}", sorted(self.links))

    @classmethod
    def from_spec(cls, spec: RobotSpec) -> UR5eModel:
        return from_dict(cls, spec.model, source=spec.source, prefix="model")


def dh_transform(q: float, d: float, a: float, alpha: float) -> np.ndarray:
    """4x4 homogeneous transform Rz(q) Tz(d) Tx(a) Rx(alpha)."""
    cq, sq, ca, sa = math.cos(q), math.sin(q), math.cos(alpha), math.sin(alpha)
    return np.array(
        [
            [cq, -sq * ca, sq * sa, a * cq],
            [sq, cq * ca, -cq * sa, a * sq],
            [0.0, sa, ca, d],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def dh_forward(dh: DH, q, tool_length: float = 0.0) -> np.ndarray:
    """Base-to-TCP transform (4x4) of joint angles `q` (rad): the DH chain, then `tool_length` along z."""
    out = np.eye(4)
    for i in range(6):
        out = out @ dh_transform(float(q[i]), dh.d[i], dh.a[i], dh.alpha[i])
    tool = np.eye(4)
    tool[2, 3] = tool_length
    return out @ tool


def _f(values) -> str:
    return " ".join(repr(round(float(v), 9)) for v in values)


def _link(
    root: ET.Element, name: str, inertial: LinkInertial | None, xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)
):
    link = ET.SubElement(root, "link", name=name)
    if inertial is not None:
        node = ET.SubElement(link, "inertial")
        ET.SubElement(node, "origin", xyz=_f(xyz), rpy=_f(rpy))
        ET.SubElement(node, "mass", value=repr(float(inertial.mass)))
        ixx, ixy, ixz, iyy, iyz, izz = (repr(float(v)) for v in inertial.inertia)
        ET.SubElement(node, "inertia", ixx=ixx, ixy=ixy, ixz=ixz, iyy=iyy, iyz=iyz, izz=izz)
    return link


def _shape(link: ET.Element, geometry: tuple[str, dict[str, str]], xyz, rpy=(0.0, 0.0, 0.0), rgba=GREY):
    """The same primitive as visual and collision."""
    for kind in ("visual", "collision"):
        node = ET.SubElement(link, kind)
        ET.SubElement(node, "origin", xyz=_f(xyz), rpy=_f(rpy))
        ET.SubElement(ET.SubElement(node, "geometry"), geometry[0], **geometry[1])
        if kind == "visual":
            material = ET.SubElement(node, "material", name=f"{link.get('name')}_{len(link)}")
            ET.SubElement(material, "color", rgba=rgba)


def _cylinder(radius: float, length: float) -> tuple[str, dict[str, str]]:
    return "cylinder", {"radius": repr(radius), "length": repr(length)}


def _joint(root, name, kind, parent, child, xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0), axis=None, limit=None):
    joint = ET.SubElement(root, "joint", name=name, type=kind)
    ET.SubElement(joint, "parent", link=parent)
    ET.SubElement(joint, "child", link=child)
    ET.SubElement(joint, "origin", xyz=_f(xyz), rpy=_f(rpy))
    if axis is not None:
        ET.SubElement(joint, "axis", xyz=_f(axis))
    if limit is not None:
        ET.SubElement(
            joint,
            "limit",
            lower=repr(limit.lower),
            upper=repr(limit.upper),
            velocity=repr(limit.velocity),
            effort=repr(limit.effort),
        )
        ET.SubElement(joint, "dynamics", damping="0.0", friction="0.0")


def urdf_text(model: UR5eModel) -> str:
    """The UR5e + gripper stand-in as URDF text."""
    dh, r = model.dh, model.link_radius
    root = ET.Element("robot", name="ur5e")
    base = _link(
        root,
        "base_link",
        LinkInertial(mass=model.base_mass, com=[0, 0, 0.05], inertia=[0.01, 0, 0, 0.01, 0, 0.01]),
    )
    _shape(base, _cylinder(r[0], 0.09), (0.0, 0.0, 0.045), rgba=DARK)
    parent = "base_link"
    for i, name in enumerate(ARM_LINKS):
        inertial = model.links[name]
        # the inertial is given in DH frame i = this link moved by (a_i, 0, d_i), turned by alpha_i about x
        ca, sa = math.cos(dh.alpha[i]), math.sin(dh.alpha[i])
        cx, cy, cz = inertial.com
        com = (dh.a[i] + cx, ca * cy - sa * cz, dh.d[i] + sa * cy + ca * cz)
        link = _link(root, name, inertial, com, (dh.alpha[i], 0.0, 0.0))
        if i == 0:  # shoulder: the column from the base up to the shoulder joint
            _shape(link, _cylinder(r[0], dh.d[0] - 0.03), (0.0, 0.0, 0.5 * (dh.d[0] + 0.06)), rgba=BLUE)
        elif i in (1, 2):  # upper arm and forearm: tubes along x at the link's offset along the joint axis
            offset = cz if i == 1 else 0.007
            _shape(link, _cylinder(r[i], abs(dh.a[i])), (0.5 * dh.a[i], 0.0, offset), (0.0, math.pi / 2, 0.0))
            _shape(link, _cylinder(r[i] + 0.005, 0.12), (0.0, 0.0, offset), rgba=BLUE)
        else:  # wrists: housings along the joint axis up to the next joint
            length = max(dh.d[i] - 0.01, 0.04)
            _shape(link, _cylinder(r[i], length), (0.0, 0.0, dh.d[i] - 0.5 * length), rgba=BLUE)
        joint_name = model.arm_joints[i]
        xyz = (dh.a[i - 1], 0.0, dh.d[i - 1]) if i else (0.0, 0.0, 0.0)
        rpy = (dh.alpha[i - 1], 0.0, 0.0) if i else (0.0, 0.0, 0.0)
        _joint(root, joint_name, "revolute", parent, name, xyz, rpy, (0, 0, 1), model.joints[joint_name])
        parent = name
    g = model.gripper
    hand = _link(
        root,
        model.hand_link,
        LinkInertial(
            mass=g.body_mass,
            com=[0, 0, 0.5 * g.body_length],
            inertia=_cyl_inertia(g.body_mass, g.body_radius, g.body_length),
        ),
    )
    _shape(hand, _cylinder(g.body_radius, g.body_length), (0.0, 0.0, 0.5 * g.body_length), rgba=DARK)
    _joint(root, "flange", "fixed", parent, model.hand_link, (dh.a[5], 0.0, dh.d[5]), (dh.alpha[5], 0.0, 0.0))
    width, thick, length = g.pad_size
    pad_z = model.tool_length + g.pad_beyond_tcp - 0.5 * length
    box_inertia = [
        g.finger_mass * (thick**2 + length**2) / 12,
        0,
        0,
        g.finger_mass * (width**2 + length**2) / 12,
        0,
        g.finger_mass * (width**2 + thick**2) / 12,
    ]
    for name, side in zip(model.finger_joints, (1.0, -1.0)):
        child = f"{name}_pad"
        # the pad's inner face is the finger frame's origin plane: the gap is the sum of the joints
        finger = _link(
            root,
            child,
            LinkInertial(mass=g.finger_mass, com=[0, side * 0.5 * thick, pad_z], inertia=box_inertia),
        )
        _shape(
            finger, ("box", {"size": _f((width, thick, length))}), (0.0, side * 0.5 * thick, pad_z), rgba=DARK
        )
        _joint(
            root, name, "prismatic", model.hand_link, child, axis=(0.0, side, 0.0), limit=model.joints[name]
        )
    _link(root, model.tcp_link, LinkInertial(mass=1e-3, com=[0, 0, 0], inertia=[1e-8, 0, 0, 1e-8, 0, 1e-8]))
    _joint(root, "tcp_joint", "fixed", model.hand_link, model.tcp_link, (0.0, 0.0, model.tool_length))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _cyl_inertia(mass: float, radius: float, length: float) -> list[float]:
    side = mass * (3.0 * radius**2 + length**2) / 12.0
    return [side, 0.0, 0.0, side, 0.0, 0.5 * mass * radius**2]


def ur5e_urdf(model: UR5eModel, cache_dir: str | Path | None = None) -> Path:
    """Path of the generated URDF, written once per model content into a cache folder."""
    return cached_urdf("ur5e", urdf_text(model), cache_dir)
