"""The Panda's physical model (spec `model:`) and the URDF generated from it at load time.

pybullet_data's `franka_panda/panda.urdf` has the right kinematics and meshes but placeholder
inertias (diagonal 0.1 kg m^2) and loose joint limits. `panda_urdf()` rewrites its inertial
and limit elements from the spec (Gaz et al. 2019 inertials, Franka datasheet limits), points
the meshes at absolute paths inside pybullet_data and, for fast CPU rendering, swaps the
detailed visual meshes for the collision meshes. The result is cached by content hash.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from robot_rl.config import from_dict, param
from robot_rl.errors import ConfigError
from robot_rl.sim.arm_model import JointLimit, LinkInertial, PhysicsSettings, cached_urdf
from robot_rl.spec import RobotSpec

__all__ = ["JointLimit", "LinkInertial", "PandaModel", "PhysicsSettings", "panda_urdf", "patch_urdf"]


@dataclass(kw_only=True)
class PandaModel:
    """The `model:` section of config/robots/panda.yaml."""

    urdf: str = param("franka_panda/panda.urdf", doc="URDF inside pybullet_data the model patches")
    low_poly_visuals: bool = param(True, doc="render collision meshes (fast CPU camera frames)")
    table_visual: bool = param(False, doc="draw the table top (~2.5 ms more per 128x128 CPU frame)")
    tcp_link: str = param("panda_grasptarget", doc="link whose frame is the end effector (TCP)")
    hand_link: str = param("panda_hand", doc="link the wrist camera is mounted on")
    arm_joints: list[str] = param(doc="the 7 torque-controlled joints, base to flange")
    finger_joints: list[str] = param(doc="the 2 position-controlled finger joints")
    home_q: list[float] = param(doc="joint posture the reset inverse kinematics starts from", unit="rad")
    links: dict[str, LinkInertial] = param(doc="inertial parameters written into the URDF")
    joints: dict[str, JointLimit] = param(doc="limits written into the URDF")
    gripper_speed: float = param(0.1, doc="rate of change of the finger gap", unit="m/s", gt=0)
    gripper_open_m: float = param(doc="finger gap when the hand is open", unit="m", gt=0)
    gripper_command_threshold: float = param(
        doc="the gripper action closes above it, opens below minus it, keeps the last command between",
        unit="1",
        gt=0,
        lt=1,
    )
    physics: PhysicsSettings = param(default_factory=PhysicsSettings, doc="PyBullet solver settings")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.arm_joints) != 7:
            raise ConfigError(source, f"{prefix}.arm_joints", "7 joint names", self.arm_joints)
        if len(self.finger_joints) != 2:
            raise ConfigError(source, f"{prefix}.finger_joints", "2 joint names", self.finger_joints)
        if len(self.home_q) != 7:
            raise ConfigError(source, f"{prefix}.home_q", "7 joint angles (rad)", self.home_q)
        for name in (*self.arm_joints, *self.finger_joints):
            if name not in self.joints:
                raise ConfigError(source, f"{prefix}.joints", f"limits for {name}", sorted(self.joints))

    @classmethod
    def from_spec(cls, spec: RobotSpec) -> PandaModel:
        return from_dict(cls, spec.model, source=spec.source, prefix="model")


def _fmt(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def patch_urdf(text: str, model: PandaModel, mesh_root: Path) -> str:
    """The stock URDF with the model's inertials and limits, absolute mesh paths and low-poly visuals."""
    root = ET.fromstring(text)
    links = {link.get("name"): link for link in root.iter("link")}
    joints = {joint.get("name"): joint for joint in root.iter("joint")}
    for name, inertial in model.links.items():
        if name not in links:
            raise ConfigError("", f"model.links.{name}", f"a link of {model.urdf}", name)
        link = links[name]
        old = link.find("inertial")
        if old is not None:
            link.remove(old)
        node = ET.SubElement(link, "inertial")
        ET.SubElement(node, "origin", xyz=_fmt(inertial.com), rpy="0 0 0")
        ET.SubElement(node, "mass", value=repr(float(inertial.mass)))
        ixx, ixy, ixz, iyy, iyz, izz = (repr(float(v)) for v in inertial.inertia)
        ET.SubElement(node, "inertia", ixx=ixx, ixy=ixy, ixz=ixz, iyy=iyy, iyz=iyz, izz=izz)
    for name, limit in model.joints.items():
        if name not in joints:
            raise ConfigError("", f"model.joints.{name}", f"a joint of {model.urdf}", name)
        joint = joints[name]
        node = joint.find("limit")
        if node is None:
            node = ET.SubElement(joint, "limit")
        node.attrib.update(
            lower=repr(limit.lower),
            upper=repr(limit.upper),
            velocity=repr(limit.velocity),
            effort=repr(limit.effort),
        )
        safety = joint.find("safety_controller")
        if safety is not None:
            joint.remove(safety)
    for link in links.values():
        for kind in ("visual", "collision"):
            for element in link.findall(kind):
                mesh = element.find("geometry/mesh")
                if mesh is None:
                    continue
                rel = mesh.get("filename", "").replace("package://", "")
                if kind == "visual" and model.low_poly_visuals:
                    rel = rel.replace("meshes/visual/", "meshes/collision/")
                mesh.set("filename", str(mesh_root / rel))
    return ET.tostring(root, encoding="unicode")


def panda_urdf(model: PandaModel, cache_dir: str | Path | None = None) -> Path:
    """Path of the patched URDF, generated once per model content into a cache folder."""
    import pybullet_data

    stock = Path(pybullet_data.getDataPath()) / model.urdf
    if not stock.is_file():
        raise ConfigError("", "model.urdf", "a URDF inside pybullet_data (pip install pybullet)", str(stock))
    text = patch_urdf(stock.read_text(encoding="utf-8"), model, stock.parent)
    return cached_urdf("panda", text, cache_dir)
