"""YAML configuration loaded into typed dataclasses, strictly.

Every config in the project is a dataclass whose fields say their unit and default. Loading
checks every key: unknown keys, wrong types, missing required values and out-of-range values
raise `ConfigError` with one line naming the file, the key, what was expected and what was
found. Ranges and docs live on the field:

    @dataclass
    class Rates:
        policy_hz: int = param(10, doc="policy steps per second", unit="Hz", gt=0)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from robot_rl.errors import ConfigError, Described

T = TypeVar("T")


def param(
    default: Any = dataclasses.MISSING,
    *,
    doc: str = "",
    unit: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with a docstring, a unit and an allowed range checked at load time."""
    meta = {"doc": doc, "unit": unit, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad syntax is a one-line ConfigError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "", "an existing YAML file", Described("no such file"))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), "", "valid YAML", Described(f"{where}{problem}")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            str(path),
            "",
            "a mapping of keys to values at the top level",
            Described(f"a {type(data).__name__}"),
        )
    return data


def load(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load a YAML file (or one top-level section of it) into the dataclass `cls`."""
    data = load_yaml(path)
    if section is not None:
        if section not in data:
            raise ConfigError(str(path), section, f"a '{section}' section", Described("none"))
        data = data[section]
    return from_dict(cls, data, source=str(path), prefix=section or "")


def from_dict(cls: type[T], data: Any, source: str = "", prefix: str = "") -> T:
    """Build the dataclass `cls` from plain data, checking keys, types and ranges."""
    return _convert(cls, data, source, prefix)


def to_dict(obj: Any) -> Any:
    """Plain data (dicts, lists, numbers, strings) for YAML/JSON output."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def stable_hash(obj: Any) -> str:
    """A short content hash of a config (key order does not matter)."""
    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(cls: type) -> list[tuple[str, str, Any, str, str]]:
    """(name, type, default, unit, doc) for every field: used by docs and `--help` texts."""
    hints = get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        rows.append(
            (
                f.name,
                _type_name(hints[f.name]),
                default,
                f.metadata.get("unit", ""),
                f.metadata.get("doc", ""),
            )
        )
    return rows


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge plain mappings; values in `override` win."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------
def _key(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else str(name)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, typing.Sequence):
        return f"a list of {_type_name(get_args(tp)[0])}"
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values"
    if origin is dict:
        return f"a mapping to {_type_name(get_args(tp)[1])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(source, key, "a mapping", value)
        return _build(tp, value, source, key)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, source, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(source, key, _type_name(tp), value)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(source, key, _type_name(tp), value)
        return value
    if origin in (list, typing.Sequence) or origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(source, key, _type_name(tp), value)
        args = get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(source, key, _type_name(tp), value)
            return tuple(_convert(a, v, source, _key(key, i)) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, source, _key(key, i)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(source, key, _type_name(tp), value)
        ktp, vtp = get_args(tp) or (Any, Any)
        return {
            _convert(ktp, k, source, key): _convert(vtp, v, source, _key(key, k)) for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(source, key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(source, key, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(source, key, "a number", value)
        if not math.isfinite(value):
            raise ConfigError(source, key, "a finite number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(source, key, "a string", value)
        return value
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(source, key, _type_name(tp), value)


def _check_range(meta: typing.Mapping[str, Any], value: Any, source: str, key: str) -> None:
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        for bound, ok, word in (
            ("ge", lambda x, b: x >= b, ">="),
            ("gt", lambda x, b: x > b, ">"),
            ("le", lambda x, b: x <= b, "<="),
            ("lt", lambda x, b: x < b, "<"),
        ):
            b = meta.get(bound)
            if b is not None and not ok(v, b):
                unit = f" {meta['unit']}" if meta.get("unit") else ""
                raise ConfigError(source, key, f"a value {word} {b}{unit}", v)


def _build(cls: type[T], data: dict[str, Any], source: str, prefix: str) -> T:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(
            source, _key(prefix, unknown[0]), f"one of the known keys ({known})", Described("an unknown key")
        )
    kwargs = {}
    for name, f in fields.items():
        key = _key(prefix, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(
                    source, key, f"a value ({_type_name(hints[name])})", Described("nothing (it is required)")
                )
            continue
        value = _convert(hints[name], data[name], source, key)
        _check_range(f.metadata, value, source, key)
        kwargs[name] = value
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(source, prefix)
    return obj
