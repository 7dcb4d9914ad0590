"""Built-in string functions (Camunda docs: feel-built-in-functions-string)."""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal
from typing import Any

from .functions import Fail, Illegal, builtin, integer, text
from .regex import compile_pattern, expand
from .runtime import Env, check_list, check_string


def _index(string: str, position: int) -> int:
    return position - 1 if position > 0 else len(string) + position


@builtin("substring", "string", "start position")
def substring(env: Env, args: list[Any]) -> Any:
    string, start = text(args[0]), integer(args[1])
    i = _index(string, start)
    if not 0 <= i <= len(string):
        raise Fail(f"start position {start} is out of range for a string of {len(string)}")
    return string[i:]


@builtin("substring", "string", "start position", "length")
def substring3(env: Env, args: list[Any]) -> Any:
    string, start, length = text(args[0]), integer(args[1]), integer(args[2])
    i = _index(string, start)
    if not 0 <= i <= len(string) or length < 0:
        raise Fail(f"start position {start} is out of range for a string of {len(string)}")
    return string[i : i + length]


@builtin("string length", "string")
def string_length(env: Env, args: list[Any]) -> Any:
    return Decimal(len(text(args[0])))


@builtin("upper case", "string")
def upper_case(env: Env, args: list[Any]) -> Any:
    return check_string(text(args[0]).upper())


@builtin("lower case", "string")
def lower_case(env: Env, args: list[Any]) -> Any:
    return check_string(text(args[0]).lower())


@builtin("substring before", "string", "match")
def substring_before(env: Env, args: list[Any]) -> Any:
    string, match = text(args[0]), text(args[1])
    i = string.find(match)
    return string[:i] if i > 0 else ""


@builtin("substring after", "string", "match")
def substring_after(env: Env, args: list[Any]) -> Any:
    string, match = text(args[0]), text(args[1])
    i = string.find(match)
    return string[i + len(match) :] if i >= 0 else ""


@builtin("contains", "string", "match")
def contains(env: Env, args: list[Any]) -> Any:
    return text(args[1]) in text(args[0])


@builtin("starts with", "string", "match")
def starts_with(env: Env, args: list[Any]) -> Any:
    return text(args[0]).startswith(text(args[1]))


@builtin("ends with", "string", "match")
def ends_with(env: Env, args: list[Any]) -> Any:
    return text(args[0]).endswith(text(args[1]))


def _flags(value: Any) -> str:
    return "" if value is None else text(value)


@builtin("matches", "input", "pattern")
def matches(env: Env, args: list[Any]) -> Any:
    return _matches(text(args[0]), text(args[1]), "")


@builtin("matches", "input", "pattern", "flags")
def matches3(env: Env, args: list[Any]) -> Any:
    return _matches(text(args[0]), text(args[1]), _flags(args[2]))


def _matches(subject: str, pattern: str, flags: str) -> bool:
    return compile_pattern(pattern, flags, subject).search(subject) is not None


@builtin("replace", "input", "pattern", "replacement")
def replace(env: Env, args: list[Any]) -> Any:
    return _replace(text(args[0]), text(args[1]), text(args[2]), "")


@builtin("replace", "input", "pattern", "replacement", "flags")
def replace4(env: Env, args: list[Any]) -> Any:
    return _replace(text(args[0]), text(args[1]), text(args[2]), _flags(args[3]))


def _replace(subject: str, pattern: str, replacement: str, flags: str) -> str:
    compiled = compile_pattern(pattern, flags, subject)
    parts = expand(replacement)
    if any(type(p) is int and p > compiled.groups for p in parts):
        raise Fail(f"no group {max(p for p in parts if type(p) is int)} in the pattern")

    def one(match: re.Match[str]) -> str:
        return "".join(p if type(p) is str else (match.group(p) or "") for p in parts)

    return check_string(compiled.sub(one, subject))


@builtin("split", "string", "delimiter")
def split(env: Env, args: list[Any]) -> Any:
    subject, pattern = text(args[0]), text(args[1])
    compiled = compile_pattern(pattern, "", subject)
    result, start = [], 0
    for match in compiled.finditer(subject):
        if match.end() == 0:
            continue  # Java drops a leading empty match
        result.append(subject[start : match.start()])
        start = match.end()
        check_list(result)
    result.append(subject[start:])
    return result


@builtin("extract", "input", "pattern")
def extract(env: Env, args: list[Any]) -> Any:
    subject, pattern = text(args[0]), text(args[1])
    compiled = compile_pattern(pattern, "", subject)
    result = []
    for match in compiled.finditer(subject):
        result.append(match.group(0))
        check_list(result)
    return result


@builtin("trim", "string")
def trim(env: Env, args: list[Any]) -> Any:
    string = text(args[0])
    # java.lang.String.trim: every character up to U+0020 is trimmed
    start, end = 0, len(string)
    while start < end and string[start] <= " ":
        start += 1
    while end > start and string[end - 1] <= " ":
        end -= 1
    return string[start:end]


@builtin("is blank", "string")
def is_blank(env: Env, args: list[Any]) -> Any:
    return text(args[0]).strip() == ""


@builtin("to base64", "value")
def to_base64(env: Env, args: list[Any]) -> Any:
    return check_string(base64.b64encode(text(args[0]).encode()).decode("ascii"))


@builtin("from base64", "value")
def from_base64(env: Env, args: list[Any]) -> Any:
    try:
        return base64.b64decode(text(args[0]), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Illegal from None
