"""Turns a FEEL parse tree into nested Python closures ``fn(env) -> value``.

All decisions that depend only on the text (which operator, which built-in overload, constant
literals, whether a filter is an index) are taken here once, so an evaluation is a chain of
plain function calls. The semantics follow FEEL-Scala as Zeebe embeds it (see ``docs/feel.md``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from lark import Token, Tree

from . import ops, temporal
from .errors import FeelEvaluationError, FeelSyntaxError, LimitExceeded
from .functions import REGISTRY, call, pack_varargs, resolve_named, resolve_positional
from .runtime import MAX_CALL_DEPTH, MAX_LIST, MISSING, Env, Scope, show
from .values import (
    CTX,
    T_DATE,
    T_DT,
    T_DTDUR,
    T_LDT,
    T_LTIME,
    T_RANGE,
    T_TIME,
    T_YMDUR,
    Function,
    Range,
    YearMonths,
    _dt_parts,
    compare,
    equals,
    feel_type,
    from_json,
    tag,
    zone_id,
)

Fn = Callable[[Env], Any]
Test = Callable[[Env, Any], "bool | None"]

MAX_DEPTH = 120  # nesting of the parse tree; keeps compile and evaluate far from Python's limit

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{1,6}|.)", re.DOTALL)


def unescape(literal: str) -> str:
    """The value of a string literal (with its quotes); unknown escapes stay as they are
    (FEEL-Scala keeps ``\\d`` for regular expressions)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU" and len(code) > 1:
            point = int(code[1:], 16)
            if point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF:
                return chr(point)
            return match.group(0)
        return _ESCAPES.get(code, match.group(0))

    return _ESCAPE_RE.sub(one, literal[1:-1])


def _name(token: Token) -> str:
    text = str(token)
    if token.type == "BACKTICK":
        return text[1:-1]
    return " ".join(text.split())


def _const(value: Any) -> Fn:
    return lambda env: value


def check_depth(tree: Tree[Token]) -> None:
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = getattr(node, "meta", None)
            pos = getattr(meta, "start_pos", 0) if meta is not None and not meta.empty else 0
            raise FeelSyntaxError(
                f"failed to parse expression: nested more than {MAX_DEPTH} levels deep",
                position=pos,
                line=getattr(meta, "line", 1) if meta is not None and not meta.empty else 1,
                column=getattr(meta, "column", 1) if meta is not None and not meta.empty else 1,
            )
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))


def _syntax(node: Tree[Token], message: str) -> FeelSyntaxError:
    meta = node.meta
    if meta.empty:
        return FeelSyntaxError(f"failed to parse expression: {message}")
    return FeelSyntaxError(
        f"failed to parse expression: {message} at line {meta.line}, column {meta.column}",
        position=meta.start_pos,
        line=meta.line,
        column=meta.column,
    )


def _subtrees(node: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in node.children if isinstance(c, Tree)]


def _mentions(node: Tree[Token], name: str) -> bool:
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Token):
            if current.type in ("NAME", "BACKTICK") and _name(current) == name:
                return True
        else:
            stack.extend(current.children)
    return False


class Compiler:
    """Compiles one parse tree (expressions and unary tests)."""

    # --- entry points ---------------------------------------------------------------------

    def expression(self, tree: Tree[Token]) -> Fn:
        check_depth(tree)
        return self.node(tree.children[0])

    def unary_tests(self, tree: Tree[Token]) -> Test:
        check_depth(tree)
        kind = tree.data
        if kind == "ut_any":
            return lambda env, value: True
        tests = [self.input_test(c, top=True) for c in _subtrees(tree)]
        any_test = _any_of(tests)
        if kind == "ut_not":

            def negated(env: Env, value: Any) -> bool | None:
                result = any_test(env, value)
                return None if result is None else not result

            return negated
        return any_test

    # --- dispatch ---------------------------------------------------------------------------

    def node(self, node: Tree[Token] | Token) -> Fn:
        if isinstance(node, Token):  # `?key` / `?name` rules collapse to a token
            return self.ref_path(node, [])
        handler = getattr(self, "n_" + str(node.data), None)
        if handler is None:  # pragma: no cover - every rule of the grammar has a handler
            raise _syntax(node, f"unsupported construct '{node.data}'")
        result: Fn = handler(node)
        return result

    # --- literals ---------------------------------------------------------------------------

    def n_number(self, node: Tree[Token]) -> Fn:
        return _const(CTX.create_decimal(str(node.children[0])))

    def n_string(self, node: Tree[Token]) -> Fn:
        return _const(unescape(str(node.children[0])))

    def n_true(self, node: Tree[Token]) -> Fn:
        return _const(True)

    def n_false(self, node: Tree[Token]) -> Fn:
        return _const(False)

    def n_null(self, node: Tree[Token]) -> Fn:
        return _const(None)

    def n_at_literal(self, node: Tree[Token]) -> Fn:
        try:
            value = temporal.parse_temporal(unescape(str(node.children[0])))
        except (ValueError, OverflowError):
            value = None  # FEEL-Scala: an invalid temporal literal is null
        return _const(value)

    def n_list(self, node: Tree[Token]) -> Fn:
        parts = [self.node(c) for c in node.children]
        if not parts:
            return lambda env: []
        return lambda env: [p(env) for p in parts]

    def n_context(self, node: Tree[Token]) -> Fn:
        entries: list[tuple[str, Fn]] = []
        for entry in _subtrees(node):
            key_token, value_node = entry.children
            assert isinstance(key_token, Token)
            key = (
                unescape(str(key_token))
                if key_token.type == "STRING"
                else _name(key_token)
                if key_token.type == "BACKTICK"
                else str(key_token)
            )
            entries.append((key, self.node(value_node)))

        def build(env: Env) -> dict[str, Any]:
            result: dict[str, Any] = {}
            saved = env.scope
            env.scope = Scope(saved, result)  # later entries see the earlier ones
            try:
                for key, value in entries:
                    result[key] = value(env)
            finally:
                env.scope = saved
            return result

        return build

    def n_closed_start(self, node: Tree[Token]) -> Fn:
        return self._interval(node, True)

    def n_open_start(self, node: Tree[Token]) -> Fn:
        return self._interval(node, False)

    def _interval(self, node: Tree[Token], start_closed: bool) -> Fn:
        low_node, high_node, end = _subtrees(node)
        low, high = self.node(low_node), self.node(high_node)
        end_token = end.children[0]
        end_closed = isinstance(end_token, Token) and end_token.type == "RSQB"
        text = f"{'[' if start_closed else '('}..{']' if end_closed else ')'}"

        def make(env: Env) -> Range | None:
            a, b = low(env), high(env)
            if compare(a, b) is None:
                env.warn(
                    "INVALID_TYPE", f"Invalid range definition '{text}' ({show(a)}..{show(b)})"
                )
                return None
            return Range(a, start_closed, b, end_closed)

        return make

    def n_tuple(self, node: Tree[Token]) -> Fn:
        raise _syntax(node, "a list of tests in parentheses is only allowed after 'in'")

    def n_input_value(self, node: Tree[Token]) -> Fn:
        def input_value(env: Env) -> Any:
            if not env.has_input:
                raise FeelEvaluationError(
                    "No input value available. '?' can only be used inside an unary-test "
                    "expression.",
                    kind="UNKNOWN",
                )
            return env.input

        return input_value

    # --- names and paths -----------------------------------------------------------------------

    def n_ref(self, node: Tree[Token]) -> Fn:
        token = node.children[0]
        assert isinstance(token, Token)
        return self.ref_path(token, [])

    def n_path(self, node: Tree[Token]) -> Fn:
        # a chain `a.b.c` on a variable is looked up without converting the whole variable
        keys: list[str] = []
        current: Tree[Token] | Token = node
        while isinstance(current, Tree) and current.data == "path":
            base, key = current.children
            assert isinstance(key, Token)
            keys.append(_name(key))
            current = base
        keys.reverse()
        if isinstance(current, Tree) and current.data == "ref":
            token = current.children[0]
            assert isinstance(token, Token)
            return self.ref_path(token, keys)
        base_fn = self.node(current)

        def path(env: Env) -> Any:
            value = base_fn(env)
            for key in keys:
                value = get_path(env, value, key)
            return value

        return path

    def ref_path(self, token: Token, keys: list[str]) -> Fn:
        name = _name(token)
        message = f"No variable found with name '{name}'"
        if not keys:

            def ref(env: Env) -> Any:
                value = env.lookup(name) if env.scope is not None else env.root_value(name)
                if value is MISSING:
                    env.warn("NO_VARIABLE_FOUND", message)
                    return None
                return value

            return ref

        def ref_keys(env: Env) -> Any:
            if env.scope is None and name not in env.cache:
                # walk the raw variable document and convert only the leaf
                raw = env.root.get(name, MISSING)
                for key in keys:
                    if type(raw) is not dict:
                        break
                    raw = raw.get(key, MISSING)
                else:
                    if raw is not MISSING:
                        return from_json(raw)
            value = env.lookup(name)
            if value is MISSING:
                env.warn("NO_VARIABLE_FOUND", message)
                return None
            for key in keys:
                value = get_path(env, value, key)
            return value

        return ref_keys

    # --- operators ----------------------------------------------------------------------------

    def _binary(self, node: Tree[Token], op: Callable[[Env, Any, Any], Any]) -> Fn:
        left_node, right_node = _subtrees(node)
        left, right = self.node(left_node), self.node(right_node)
        return lambda env: op(env, left(env), right(env))

    def n_add(self, node: Tree[Token]) -> Fn:
        return self._binary(node, ops.add)

    def n_sub(self, node: Tree[Token]) -> Fn:
        return self._binary(node, ops.subtract)

    def n_mul(self, node: Tree[Token]) -> Fn:
        left_node, right_node = _subtrees(node)
        left, right = self.node(left_node), self.node(right_node)

        def mul(env: Env) -> Any:
            x, y = left(env), right(env)
            if type(x) is Decimal and type(y) is Decimal:
                try:
                    return CTX.multiply(x, y)
                except ArithmeticError:
                    pass
            return ops.multiply(env, x, y)

        return mul

    def n_div(self, node: Tree[Token]) -> Fn:
        return self._binary(node, ops.divide)

    def n_pow(self, node: Tree[Token]) -> Fn:
        return self._binary(node, ops.power)

    def n_negate(self, node: Tree[Token]) -> Fn:
        operand = self.node(node.children[0])
        return lambda env: ops.negate(env, operand(env))

    def n_eq(self, node: Tree[Token]) -> Fn:
        return self._binary(node, ops.eq)

    def n_ne(self, node: Tree[Token]) -> Fn:
        def ne(env: Env, x: Any, y: Any) -> bool | None:
            result = ops.eq(env, x, y)
            return None if result is None else not result

        return self._binary(node, ne)

    def n_compare(self, node: Tree[Token]) -> Fn:
        left_node, op_token, right_node = node.children
        left, right = self.node(left_node), self.node(right_node)
        accept = _ORDER[str(op_token)]

        def comparison(env: Env) -> bool | None:
            x, y = left(env), right(env)
            kx = type(x)
            c: int | None
            if kx is type(y) and kx is Decimal:
                c = -1 if x < y else (1 if x > y else 0)
            else:
                c = ops.order(env, x, y)
                if c is None:
                    return None
            return c in accept

        return comparison

    def n_between(self, node: Tree[Token]) -> Fn:
        value_node, low_node, high_node = _subtrees(node)
        value, low, high = self.node(value_node), self.node(low_node), self.node(high_node)

        def between(env: Env) -> bool | None:
            x = value(env)
            a = ops.order(env, x, low(env))
            if a == -1:
                return False
            b = ops.order(env, x, high(env))
            if b == 1:
                return False
            return None if a is None or b is None else True

        return between

    def n_instance_of(self, node: Tree[Token]) -> Fn:
        value = self.node(node.children[0])
        type_token = node.children[-1]
        wanted = " ".join(str(type_token).split())
        wanted = _TYPE_ALIASES.get(wanted, wanted)
        if wanted == "Any":
            return lambda env: value(env) is not None
        return lambda env: feel_type(value(env)) == wanted

    def n_and_(self, node: Tree[Token]) -> Fn:
        return self._logic(node, False)

    def n_or_(self, node: Tree[Token]) -> Fn:
        return self._logic(node, True)

    def _logic(self, node: Tree[Token], decisive: bool) -> Fn:
        left_node, right_node = _subtrees(node)
        left, right = self.node(left_node), self.node(right_node)

        def logic(env: Env) -> bool | None:
            x = left(env)
            if x is decisive:
                return x
            if x is not (not decisive):
                x = None if x is None else ops.as_bool(env, x)
            y = right(env)
            if y is decisive:
                return y
            if y is not (not decisive):
                y = None if y is None else ops.as_bool(env, y)
            if x is None or y is None:
                return None
            return not decisive

        return logic

    # --- tests: `in`, unary tests ----------------------------------------------------------

    def n_in_(self, node: Tree[Token]) -> Fn:
        value_node, test_node = _subtrees(node)
        value = self.node(value_node)
        test = self.input_test(test_node, top=False)
        return lambda env: test(env, value(env))

    def n_in_cmp(self, node: Tree[Token]) -> Fn:
        value_node, _in, op_token, endpoint_node = node.children
        value = self.node(value_node)
        test = self._cmp_test(str(op_token), self.node(endpoint_node))
        return lambda env: test(env, value(env))

    def n_unary_cmp(self, node: Tree[Token]) -> Fn:
        # `< 5` used as an expression compares the implicit input value (unary tests)
        op_token, endpoint_node = node.children
        test = self._cmp_test(str(op_token), self.node(endpoint_node))

        def implicit(env: Env) -> bool | None:
            if not env.has_input:
                env.warn("NO_VARIABLE_FOUND", "No input value found.")
                return None
            return test(env, env.input)

        return implicit

    def _cmp_test(self, op: str, endpoint: Fn) -> Test:
        accept = _ORDER[op]

        def test(env: Env, value: Any) -> bool | None:
            c = ops.order(env, value, endpoint(env))
            return None if c is None else c in accept

        return test

    def input_test(self, node: Tree[Token] | Token, top: bool) -> Test:
        """A positive unary test applied to a value (DMN input entries, the right of `in`)."""
        if isinstance(node, Tree):
            kind = node.data
            if kind == "tuple":
                return _any_of([self.input_test(c, top=False) for c in _subtrees(node)])
            if kind == "unary_cmp":
                op_token, endpoint_node = node.children
                return self._cmp_test(str(op_token), self.node(endpoint_node))
            if kind in ("true", "false") and top:
                constant = kind == "true"
                return lambda env, value: equals(value, constant) is True
        expression = self.node(node)

        def test(env: Env, value: Any) -> bool | None:
            saved_input, saved_has = env.input, env.has_input
            env.input, env.has_input = value, True
            try:
                result = expression(env)
            finally:
                env.input, env.has_input = saved_input, saved_has
            return match_value(env, value, result)

        return test

    # --- control flow ---------------------------------------------------------------------------

    def n_if_expr(self, node: Tree[Token]) -> Fn:
        cond_node, then_node, else_node = _subtrees(node)
        cond, then, other = self.node(cond_node), self.node(then_node), self.node(else_node)

        def if_expr(env: Env) -> Any:
            c = cond(env)
            if c is True:
                return then(env)
            if c is not False:
                env.warn("INVALID_TYPE", f"Expected boolean but found '{show(c)}'")
            return other(env)

        return if_expr

    def _iterators(self, node: Tree[Token]) -> list[tuple[str, Fn]]:
        result = []
        for it in _subtrees(node)[:-1]:
            name_token = it.children[0]
            assert isinstance(name_token, Token)
            parts = _subtrees(it)
            if it.data == "iter_range":
                result.append((_name(name_token), self._range_list(parts[0], parts[1])))
            else:
                result.append((_name(name_token), self._iteration_list(parts[0])))
        return result

    def _range_list(self, start_node: Tree[Token], end_node: Tree[Token]) -> Fn:
        start, end = self.node(start_node), self.node(end_node)

        def numbers(env: Env) -> list[Any] | None:
            a, b = start(env), end(env)
            if type(a) is not Decimal or type(b) is not Decimal:
                bad = a if type(a) is not Decimal else b
                env.warn("INVALID_TYPE", f"Expected number but found '{show(bad)}'")
                return None
            return number_range(a, b)

        return numbers

    def _iteration_list(self, list_node: Tree[Token]) -> Fn:
        source = self.node(list_node)

        def iteration_list(env: Env) -> list[Any] | None:
            value = source(env)
            if type(value) is list:
                return value
            if type(value) is Range and type(value.start) is Decimal:
                return range_items(value)
            env.warn("INVALID_TYPE", f"Expected list but found '{show(value)}'")
            return None

        return iteration_list

    def _combinations(self, env: Env, iterators: list[tuple[str, Fn]]) -> Any:
        lists = []
        total = 1
        for _unused, source in iterators:
            values = source(env)
            if values is None:
                return None
            lists.append(values)
            total *= len(values)
            if total > MAX_LIST:
                raise LimitExceeded(f"an iteration would have more than {MAX_LIST} items")
        names = [name for name, _unused in iterators]
        return names, itertools.product(*lists)

    def n_for_expr(self, node: Tree[Token]) -> Fn:
        iterators = self._iterators(node)
        body_node = _subtrees(node)[-1]
        body = self.node(body_node)
        uses_partial = _mentions(body_node, "partial")

        def for_expr(env: Env) -> list[Any] | None:
            combos = self._combinations(env, iterators)
            if combos is None:
                return None
            names, product = combos
            results: list[Any] = []
            saved = env.scope
            try:
                for values in product:
                    env.tick()
                    bindings = dict(zip(names, values, strict=True))
                    if uses_partial:
                        env.tick(len(results) // 64)
                        bindings["partial"] = list(results)
                    env.scope = Scope(saved, bindings)
                    results.append(body(env))
            finally:
                env.scope = saved
            return results

        return for_expr

    def n_quant_expr(self, node: Tree[Token]) -> Fn:
        every = any(isinstance(c, Token) and c.type == "EVERY" for c in node.children)
        iterators = self._iterators(node)
        condition = self.node(_subtrees(node)[-1])
        decisive = not every

        def quantified(env: Env) -> bool | None:
            combos = self._combinations(env, iterators)
            if combos is None:
                return None
            names, product = combos
            unknown = False
            saved = env.scope
            try:
                for values in product:
                    env.tick()
                    env.scope = Scope(saved, dict(zip(names, values, strict=True)))
                    result = condition(env)
                    if result is decisive:
                        return result
                    if result is not (not decisive):
                        if result is not None:
                            ops.as_bool(env, result)
                        unknown = True
            finally:
                env.scope = saved
            return None if unknown else not decisive

        return quantified

    def n_filter(self, node: Tree[Token]) -> Fn:
        base_node, cond_node = _subtrees(node)
        base = self.node(base_node)
        cond = self.node(cond_node)
        literal_index = _literal_index(cond_node)
        per_item = cond_node.data in _BOOLEAN_NODES

        def filtered(env: Env) -> Any:
            value = base(env)
            if type(value) is not list:
                if value is None:
                    return None
                env.warn("INVALID_TYPE", f"Expected list but found '{show(value)}'")
                return None
            if literal_index is not None:
                return index(value, literal_index)
            if not per_item:
                # FEEL-Scala: a filter whose value is a number is an index; probe it quietly
                seen = len(env.warnings)
                outer = cond(env)
                del env.warnings[seen:]
                if type(outer) is Decimal:
                    return index(value, outer)
            return select(env, value, cond)

        return filtered

    # --- functions ---------------------------------------------------------------------------

    def n_func_def(self, node: Tree[Token]) -> Fn:
        params = tuple(
            _name(c) for c in node.children if isinstance(c, Token) and c.type != "FUNCTION"
        )
        body = self.node(_subtrees(node)[-1])

        def define(env: Env) -> Function:
            captured = env.scope

            def invoke(call_env: Env, args: list[Any]) -> Any:
                if call_env.depth >= MAX_CALL_DEPTH:
                    raise LimitExceeded(f"more than {MAX_CALL_DEPTH} nested function calls")
                saved = call_env.scope
                call_env.scope = Scope(captured, dict(zip(params, args, strict=False)))
                call_env.depth += 1
                try:
                    return body(call_env)
                finally:
                    call_env.scope = saved
                    call_env.depth -= 1

            return Function(params=params, invoke=invoke, name="anonymous function")

        return define

    def _args(self, node: Tree[Token]) -> tuple[list[Fn], list[str] | None]:
        if node.data == "no_args":
            return [], None
        if node.data == "pos_args":
            return [self.node(c) for c in node.children], None
        names, values = [], []
        for named in _subtrees(node):
            key, value = named.children
            assert isinstance(key, Token)
            names.append(" ".join(str(key).split()))
            values.append(self.node(value))
        return values, names

    def n_call_named(self, node: Tree[Token]) -> Fn:
        name_token, args_node = node.children
        assert isinstance(name_token, Token) and isinstance(args_node, Tree)
        return self._call_by_name(" ".join(str(name_token).split()), args_node)

    def n_call(self, node: Tree[Token]) -> Fn:
        target, args_node = node.children
        assert isinstance(args_node, Tree)
        if isinstance(target, Tree) and target.data == "ref":
            token = target.children[0]
            assert isinstance(token, Token)
            return self._call_by_name(_name(token), args_node)
        if isinstance(target, Token):
            return self._call_by_name(_name(target), args_node)
        callee = self.node(target)
        arg_fns, names = self._args(args_node)

        def call_value(env: Env) -> Any:
            fn = callee(env)
            if type(fn) is not Function:
                env.warn("NO_FUNCTION_FOUND", f"Expected a function but found '{show(fn)}'")
                return None
            return _invoke(env, fn, [a(env) for a in arg_fns], names, fn.name)

        return call_value

    def _call_by_name(self, name: str, args_node: Tree[Token]) -> Fn:
        folded = _temporal_literal(name, args_node)
        if folded is not None:
            return folded
        arg_fns, names = self._args(args_node)
        candidates = REGISTRY.get(name, [])
        if names is None:
            builtin = resolve_positional(candidates, len(arg_fns))
        else:
            builtin = resolve_named(candidates, frozenset(names))
        if names is not None and len(set(names)) != len(names):
            raise _syntax(args_node, f"duplicate parameter name in the call of '{name}'")
        if names is None:
            missing = f"No function found with name '{name}' and {len(arg_fns)} parameters"
        else:
            missing = f"No function found with name '{name}' and parameters: {', '.join(names)}"

        def call_name(env: Env) -> Any:
            if env.scope is not None:
                local = env.lookup(name)
                if type(local) is Function:
                    return _invoke(env, local, [a(env) for a in arg_fns], names, name)
            if builtin is None:
                env.warn("NO_FUNCTION_FOUND", missing)
                return None
            args = [a(env) for a in arg_fns]
            if names is not None:
                by_name = dict(zip(names, args, strict=True))
                args = [by_name.get(p) for p in builtin.params]
            else:
                args = pack_varargs(builtin, args)
            return call(env, builtin, args)

        return call_name


_TEMPORAL_PARSERS: dict[str, Callable[[str], Any]] = {
    "date": temporal.parse_date,
    "time": temporal.parse_time,
    "date and time": temporal.parse_date_time,
    "duration": temporal.parse_duration,
}


def _temporal_literal(name: str, args_node: Tree[Token]) -> Fn | None:
    """``date("2024-01-01")`` and friends with a literal text are literals (as in FEEL-Scala's
    grammar): parsed once here. Invalid texts are left to the call, which reports them."""
    parser = _TEMPORAL_PARSERS.get(name)
    if parser is None or args_node.data != "pos_args" or len(args_node.children) != 1:
        return None
    arg = args_node.children[0]
    if not isinstance(arg, Tree) or arg.data != "string":
        return None
    try:
        value = parser(unescape(str(arg.children[0])))
    except (ValueError, OverflowError):
        return None
    return _const(value)


def _invoke(env: Env, fn: Function, args: list[Any], names: list[str] | None, name: str) -> Any:
    if names is not None:
        if not set(names) <= set(fn.params):
            env.warn(
                "NO_FUNCTION_FOUND",
                f"No function found with name '{name}' and parameters: {', '.join(names)}",
            )
            return None
        by_name = dict(zip(names, args, strict=True))
        args = [by_name.get(p) for p in fn.params]
    elif fn.varargs:
        args = pack_varargs(fn, args)
    elif len(args) != len(fn.params):
        env.warn(
            "NO_FUNCTION_FOUND", f"No function found with name '{name}' and {len(args)} parameters"
        )
        return None
    return call(env, fn, args)


_ORDER = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (0, 1)}
_TYPE_ALIASES = {
    "date time": "date and time",
    "dateTime": "date and time",
    "year-month-duration": "years and months duration",
    "yearMonthDuration": "years and months duration",
    "day-time-duration": "days and time duration",
    "dayTimeDuration": "days and time duration",
}
# filter conditions that are tested per item without probing them for an index first
_BOOLEAN_NODES = frozenset(
    {
        "compare",
        "eq",
        "ne",
        "between",
        "instance_of",
        "in_",
        "in_cmp",
        "and_",
        "or_",
        "call",
        "call_named",
        "quant_expr",
        "true",
        "false",
    }
)


def _literal_index(node: Tree[Token]) -> Decimal | None:
    if node.data == "number":
        return CTX.create_decimal(str(node.children[0]))
    if node.data == "negate":
        inner = node.children[0]
        if isinstance(inner, Tree) and inner.data == "number":
            return CTX.minus(CTX.create_decimal(str(inner.children[0])))
    return None


def index(items: list[Any], position: Decimal) -> Any:
    i = int(position)
    if i > 0:
        i -= 1
    else:
        i += len(items)
    return items[i] if 0 <= i < len(items) else None


def select(env: Env, items: list[Any], cond: Fn) -> list[Any]:
    saved = env.scope
    result = []
    try:
        for item in items:
            env.tick()
            scope = Scope(saved, {"item": item})
            env.scope = Scope(scope, item) if type(item) is dict else scope
            if cond(env) is True:
                result.append(item)
    finally:
        env.scope = saved
    return result


def match_value(env: Env, value: Any, result: Any) -> bool | None:
    """Whether an input ``value`` satisfies the value of a unary-test expression."""
    if result is True:
        return True
    if result is False:
        return False
    kind = tag(result)
    if kind == T_RANGE:
        return result.contains(value)  # type: ignore[no-any-return]
    if type(result) is list:
        return any(equals(value, v) is True for v in result)
    same = equals(value, result)
    if same is None:
        env.warn("NOT_COMPARABLE", f"Can't compare '{show(value)}' with '{show(result)}'")
    return same


def _any_of(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]

    def any_of(env: Env, value: Any) -> bool | None:
        unknown = False
        for test in tests:
            result = test(env, value)
            if result is True:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return any_of


def number_range(a: Decimal, b: Decimal) -> list[Decimal]:
    count = abs(b - a) + 1
    if count > MAX_LIST:
        raise LimitExceeded(f"a range would have more than {MAX_LIST} items")
    step = 1 if a <= b else -1
    return [CTX.add(a, Decimal(i * step)) for i in range(int(count))]


def range_items(value: Range) -> list[Decimal]:
    a, b = value.start, value.end
    if type(b) is not Decimal:
        return []
    items = number_range(a, b) if a <= b else []
    return [n for n in items if value.contains(n)]


def get_path(env: Env, value: Any, key: str) -> Any:
    """``value.key``: a context entry, a projection over a list, or a temporal property."""
    if type(value) is dict:
        result = value.get(key, MISSING)
        if result is MISSING:
            if value:
                keys = ", ".join(f"'{k}'" for k in itertools.islice(value, 20))
                detail = f"Available keys: {keys}"
            else:
                detail = "The context is empty"
            env.warn("NO_CONTEXT_ENTRY_FOUND", f"No context entry found with key '{key}'. {detail}")
            return None
        return result
    if type(value) is list:
        return [get_path(env, item, key) for item in value]
    if value is None:
        env.warn(
            "NO_CONTEXT_ENTRY_FOUND",
            f"No context entry found with key '{key}'. The context is null",
        )
        return None
    props = properties(value)
    if key in props:
        return props[key]
    names = ", ".join(f"'{p}'" for p in props)
    env.warn(
        "NO_PROPERTY_FOUND",
        f"No property found with name '{key}' of value '{show(value)}'. "
        f"Available properties: {names}",
    )
    return None


def properties(value: Any) -> dict[str, Any]:
    """The properties of a temporal value or range (``.year``, ``.hours``, ``.start``, ...)."""
    kind = tag(value)
    if kind in (T_DATE, T_LDT, T_DT):
        props: dict[str, Any] = {
            "year": Decimal(value.year),
            "month": Decimal(value.month),
            "day": Decimal(value.day),
            "weekday": Decimal(value.isoweekday()),
        }
        if kind == T_DATE:
            return props
        props.update(_time_props(value.time()))
        if kind == T_DT:
            offset = value.utcoffset()
            props["time offset"] = offset
            props["timezone"] = zone_id(value)
        else:
            props["time offset"] = None
            props["timezone"] = None
        return props
    if kind == T_LTIME:
        return {**_time_props(value), "time offset": None, "timezone": None}
    if kind == T_TIME:
        return {
            **_time_props(value.time),
            "time offset": dt.timedelta(seconds=value.offset),
            "timezone": value.zone,
        }
    if kind == T_DTDUR:
        days, hours, minutes, seconds = _dt_parts(value)
        return {
            "days": Decimal(days),
            "hours": Decimal(hours),
            "minutes": Decimal(minutes),
            "seconds": Decimal(seconds),
        }
    if kind == T_YMDUR:
        assert isinstance(value, YearMonths)
        return {"years": Decimal(value.years_part), "months": Decimal(value.months_part)}
    if kind == T_RANGE:
        return {
            "start": value.start,
            "end": value.end,
            "start included": value.start_closed,
            "end included": value.end_closed,
        }
    return {}


def _time_props(t: Any) -> dict[str, Any]:
    return {"hour": Decimal(t.hour), "minute": Decimal(t.minute), "second": Decimal(t.second)}
