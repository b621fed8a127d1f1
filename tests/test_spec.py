"""Robot specs: every shipped spec loads; rate ratios and layouts are checked at load time."""

import pytest
import yaml

from robot_rl.errors import ConfigError
from robot_rl.spec import known_robots, load_robot_spec, robot_spec_path


def test_every_robot_has_a_spec_that_loads():
    assert set(known_robots()) >= {"panda", "crazyflie", "racecar"}
    for robot in known_robots():
        spec = load_robot_spec(robot)
        assert spec.name == robot
        assert spec.obs_size > 0 and spec.action_size > 0
        assert all(f.unit for f in spec.observation), (
            f"{robot}: every observation field states its unit (1 if none)"
        )
        assert (
            spec.rates.physics_hz % spec.rates.control_hz == 0
            and spec.rates.control_hz % spec.rates.policy_hz == 0
        )


def _spec_with(tmp_path, robot, **changes):
    data = yaml.safe_load(robot_spec_path(robot).read_text())
    for key, value in changes.items():
        section, _, field = key.partition(".")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    path = tmp_path / f"{robot}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("robot", ["panda", "crazyflie", "racecar"])
def test_rate_ratio_that_is_not_whole_is_rejected_with_the_numbers(tmp_path, robot):
    spec = load_robot_spec(robot)
    bad = spec.rates.policy_hz * 3 + 1
    path = _spec_with(tmp_path, robot, **{"rates.control_hz": bad})
    with pytest.raises(ConfigError) as info:
        load_robot_spec(path)
    assert str(info.value) == (
        f"{path}: key 'rates': expected control_hz a whole multiple of policy_hz "
        f"({spec.rates.policy_hz} Hz), found {bad} Hz"
    )


def test_physics_rate_must_divide_by_control_rate(tmp_path):
    spec = load_robot_spec("panda")
    path = _spec_with(tmp_path, "panda", **{"rates.physics_hz": spec.rates.control_hz + 7})
    with pytest.raises(ConfigError, match=r"key 'rates': expected physics_hz a whole multiple of control_hz"):
        load_robot_spec(path)


def test_unknown_robot_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"key 'robot': expected one of: crazyflie, panda, racecar"):
        load_robot_spec("tractor")


def test_spec_hash_changes_with_content_only(tmp_path):
    spec = load_robot_spec("panda")
    assert spec.hash == load_robot_spec("panda").hash
    changed = load_robot_spec("panda", overrides={"safety": {"command_timeout_s": 0.123}})
    assert changed.hash != spec.hash


def test_unknown_randomization_parameter_is_a_config_error(tmp_path):
    from robot_rl.sim import make_twin

    path = _spec_with(tmp_path, "racecar", randomization={"gravity_scale": [0.9, 1.1]})
    with pytest.raises(ConfigError, match=r"randomization.gravity_scale'.*understands"):
        make_twin("racecar", "laps", spec=path)


def test_spec_hash_does_not_depend_on_where_the_checkout_lives(tmp_path):
    import shutil

    from robot_rl.paths import config_dir
    from robot_rl.spec import load_robot_spec

    copy = tmp_path / "elsewhere" / "racecar.yaml"
    copy.parent.mkdir()
    shutil.copy(config_dir() / "robots" / "racecar.yaml", copy)
    assert load_robot_spec(str(copy)).hash == load_robot_spec("racecar").hash
