"""Config errors are one line naming the file, the key, what was expected and what was found."""

from dataclasses import dataclass

import pytest

from robot_rl.config import ConfigError, from_dict, load, param, to_dict


@dataclass(kw_only=True)
class Gains:
    kp: float = param(1.0, doc="proportional gain", unit="N/m", ge=0)
    axes: list[str] = param(["x", "y"])


@dataclass(kw_only=True)
class Cfg:
    rate_hz: int = param(doc="loop rate", unit="Hz", gt=0)
    name: str = param("arm")
    gains: Gains = param(default_factory=Gains)
    limits: tuple[float, float] = param((0.0, 1.0))
    mode: str | None = param(None)


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_valid_file_loads_with_defaults(tmp_path):
    cfg = load(Cfg, write(tmp_path, "rate_hz: 10\ngains: {kp: 3}\n"))
    assert (
        cfg.rate_hz == 10
        and cfg.gains.kp == 3.0
        and cfg.gains.axes == ["x", "y"]
        and cfg.limits == (0.0, 1.0)
    )
    assert to_dict(cfg)["gains"]["kp"] == 3.0


@pytest.mark.parametrize(
    "text, key, expected, found",
    [
        ("rate_hz: 10\nrate: 3\n", "rate", "one of the known keys", "an unknown key"),
        ("rate_hz: ten\n", "rate_hz", "an integer", "'ten'"),
        ("rate_hz: 1.5\n", "rate_hz", "an integer", "1.5"),
        ("rate_hz: 0\n", "rate_hz", "a value > 0 Hz", "0"),
        ("rate_hz: 10\ngains: {kp: -1}\n", "gains.kp", "a value >= 0 N/m", "-1.0"),
        ("rate_hz: 10\ngains: {kp: true}\n", "gains.kp", "a number", "True"),
        ("rate_hz: 10\ngains: {axes: [x, 3]}\n", "gains.axes[1]", "a string", "3"),
        ("rate_hz: 10\nlimits: [1, 2, 3]\n", "limits", "a list of 2 values", "[1, 2, 3]"),
        ("name: arm\n", "rate_hz", "a value (an integer)", "nothing (it is required)"),
        ("rate_hz: 10\ngains: 5\n", "gains", "a mapping", "5"),
    ],
)
def test_bad_values_name_file_key_expected_and_found(tmp_path, text, key, expected, found):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(Cfg, path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: key '{key}': expected {expected}")
    assert message.endswith(f"found {found}")


def test_missing_file_and_bad_yaml_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: expected an existing YAML file, found no such file"):
        load(Cfg, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"expected valid YAML, found line 2") as info:
        load(Cfg, write(tmp_path, "rate_hz: 10\n  bad: [\n"))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="a mapping of keys to values"):
        load(Cfg, write(tmp_path, "- 1\n- 2\n"))


def test_from_dict_prefix_names_nested_key():
    with pytest.raises(ConfigError, match=r"key 'robot.gains.kp'"):
        from_dict(Gains, {"kp": "x"}, source="f.yaml", prefix="robot.gains")
