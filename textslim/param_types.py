"""Typed params sections from YAML mappings: each value checked against its dataclass field's type, each error one
line naming the key (`distill.alpha`) and what is allowed."""

import dataclasses
import re
import types
import typing
from typing import Any, TypeVar

from textslim.errors import TextslimError


def check_param(ok: bool, key: str, allowed: str, value: Any) -> None:
    """Raise the one-line params error naming key, the value and what is allowed, unless ok."""
    if not ok:
        raise TextslimError(f"params: {key} = {value!r} is not allowed; expected {allowed}")


T = TypeVar("T")
_YAML11_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check a YAML value against a dataclass field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        kinds = [a for a in options if a is not type(None)]
        # `str | tuple[str, ...]`: a YAML list takes the tuple, anything else the first type
        annotation = next((a for a in kinds if typing.get_origin(a) is tuple and isinstance(value, list | tuple)),
                          kinds[0])
        origin = typing.get_origin(annotation)
    if origin is dict:
        check_param(isinstance(value, dict), key, "a mapping", value)
        key_type, value_type = typing.get_args(annotation)
        return {_coerce(k, key_type, key): _coerce(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        check_param(isinstance(value, list | tuple), key, "a list", value)
        return tuple(_coerce(v, typing.get_args(annotation)[0], key) for v in value)
    if annotation is float:
        if isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value):
            value = float(value)  # `dvc exp run -S lr=3e-5` writes 3e-05, which PyYAML (YAML 1.1) reads as a string
        check_param(isinstance(value, int | float) and not isinstance(value, bool), key, "a number", value)
        return float(value)
    if annotation is int:
        check_param(isinstance(value, int) and not isinstance(value, bool), key, "an integer", value)
        return value
    if annotation is bool:
        check_param(isinstance(value, bool), key, "true or false", value)
        return value
    if annotation is str:
        check_param(isinstance(value, str), key, "a string", value)
        return value
    return value


def build_section(cls: type[T], raw: Any, section: str) -> T:
    """A params section's dataclass from its YAML mapping: unknown keys and wrongly typed values are errors."""
    check_param(isinstance(raw, dict), section, "a mapping", raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise TextslimError(f"params: unknown key {section}.{unknown[0]}; known keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(value, hints[name], f"{section}.{name}") for name, value in raw.items()}
    return cls(**values)
