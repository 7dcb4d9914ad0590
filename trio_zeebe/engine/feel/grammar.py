"""The FEEL grammar (lark, LALR with a contextual lexer) and the parse entry points.

FEEL has a few constructs that a context-free token grammar cannot see directly: function names
with spaces (``string length(x)``, ``date and time(...)``), named arguments with spaces
(``substring(string: s, start position: 2)``), context keys made of any characters
(``{first name: 1}``), ``and``/``or`` as both operators and function names, the ``not(...)``
negation of unary tests and the open interval end ``[1..5[``. They are resolved in the lexer: a
terminal is only tried where the parser can accept it (lark's contextual lexer), and lookaheads
decide the rest (a multi-word name is a function name only when ``(`` follows, a parameter name
only when ``:`` follows, a ``[`` ends an interval only when nothing can follow it in a filter).

LALR keeps parsing linear in the input; nesting depth is bounded afterwards by the compiler.
"""

from __future__ import annotations

import threading
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import FeelSyntaxError

MAX_SOURCE_LENGTH = 100_000

# Words that end a multi-word name: keywords of the language. A name like `day of week` or
# `string length` is a sequence of other words.
_STOP = (
    "if|then|else|for|in|return|some|every|satisfies|and|or|between|instance|function"
    "|null|true|false"
)
_END = r"(?![\w$])"
_WORD = rf"(?!(?:{_STOP}){_END})(?!\d)[\w$]+"
_SP = r"[ \t]+"
_SPECIAL_CALLS = rf"date{_SP}and{_SP}time|years{_SP}and{_SP}months{_SP}duration|get{_SP}or{_SP}else"
_CALLNAME = rf"(?:{_SPECIAL_CALLS}|{_WORD}(?:{_SP}{_WORD})+)(?=\s*\()"
_TYPES = rf"years{_SP}and{_SP}months{_SP}duration|days{_SP}and{_SP}time{_SP}duration"
_TYPENAME = rf"(?:{_TYPES}|date{_SP}and{_SP}time|function|{_WORD}(?:\.{_WORD})*)"
_CTXKEY = r'[^"{}:,\[\]`\s](?:[^"{}:,\[\]`]*[^"{}:,\[\]`\s])?(?=\s*:)'
_ROPEN = rf"\[(?=\s*(?:$|[,)\]}}]|(?:and|or|then|else|return|satisfies){_END}))"

GRAMMAR = rf"""
expression: expr
unary_tests: "-"                                   -> ut_any
           | NOT_UT "(" _put_list ")"              -> ut_not
           | _put_list                             -> ut_tests
_put_list: expr ("," expr)*

?expr: if_expr | for_expr | quant_expr | func_def | disj
if_expr: IF expr THEN expr ELSE expr
for_expr: FOR iterator ("," iterator)* RETURN expr
quant_expr: (SOME | EVERY) iterator ("," iterator)* SATISFIES expr
iterator: name IN arith                            -> iter_value
        | name IN arith ".." arith                 -> iter_range
func_def: FUNCTION "(" [name ("," name)*] ")" expr

?disj: conj
     | disj OR conj                                -> or_
?conj: cmp
     | conj AND cmp                                -> and_
?cmp: arith
    | arith CMP arith                              -> compare
    | arith "=" arith                              -> eq
    | arith "!=" arith                             -> ne
    | arith BETWEEN arith AND arith                -> between
    | arith INSTANCE OF TYPENAME                   -> instance_of
    | arith IN arith                               -> in_
    | arith IN CMP arith                           -> in_cmp
    | CMP arith                                    -> unary_cmp
CMP: "<=" | ">=" | "<" | ">"

?arith: term
      | arith "+" term                             -> add
      | arith "-" term                             -> sub
?term: power
     | term "*" power                              -> mul
     | term "/" power                              -> div
?power: neg
      | power "**" neg                             -> pow
?neg: postfix
    | "-" neg                                      -> negate
?postfix: atom
        | postfix "." prop                         -> path
        | postfix "[" expr "]"                     -> filter
        | postfix "(" args ")"                     -> call
?atom: NUMBER                                      -> number
     | STRING                                      -> string
     | TRUE                                        -> true
     | FALSE                                       -> false
     | NULL                                        -> null
     | name                                        -> ref
     | CALLNAME "(" args ")"                       -> call_named
     | ANDFN "(" args ")"                          -> call_named
     | ORFN "(" args ")"                           -> call_named
     | "?"                                         -> input_value
     | "@" STRING                                  -> at_literal
     | "[" [expr ("," expr)*] "]"                  -> list
     | "{{" [entry ("," entry)*] "}}"              -> context
     | interval
     | "(" expr ")"
     | "(" expr ("," expr)+ ")"                    -> tuple
interval: "[" arith ".." arith iend                -> closed_start
        | "(" arith ".." arith iend                -> open_start
        | RSTART arith ".." arith iend             -> open_start
!iend: "]" | ")" | ROPEN
entry: key ":" expr
?key: CTXKEY | STRING | BACKTICK
args:                                              -> no_args
    | expr ("," expr)*                             -> pos_args
    | named ("," named)*                           -> named_args
named: PARAMNAME ":" expr
?prop: NAME | BACKTICK | TIMEOFFSET
?name: NAME | BACKTICK

IF.2: /if{_END}/
THEN.2: /then{_END}/
ELSE.2: /else{_END}/
FOR.2: /for{_END}/
IN.2: /in{_END}/
RETURN.2: /return{_END}/
SOME.2: /some{_END}/
EVERY.2: /every{_END}/
SATISFIES.2: /satisfies{_END}/
AND.2: /and{_END}/
OR.2: /or{_END}/
BETWEEN.2: /between{_END}/
INSTANCE.2: /instance{_END}/
OF.2: /of{_END}/
FUNCTION.2: /function{_END}/
NULL.2: /null{_END}/
TRUE.2: /true{_END}/
FALSE.2: /false{_END}/

CALLNAME.3: /{_CALLNAME}/
ANDFN.3: /and(?=\s*\()/
ORFN.3: /or(?=\s*\()/
NOT_UT.3: /not(?=\s*\()/
PARAMNAME.3: /{_WORD}(?:{_SP}{_WORD})*(?=\s*:)/
CTXKEY.3: /{_CTXKEY}/
TYPENAME.3: /{_TYPENAME}/
TIMEOFFSET.3: /time{_SP}offset{_END}/
RSTART.3: /\](?=[^\[\]()"]{{0,1000}}?\.\.)/
ROPEN.3: /{_ROPEN}/

NAME: /(?!\d)[\w$]+/
BACKTICK: /`[^`]+`/
NUMBER: /\d+(?:\.\d+)?|\.\d+/
STRING: /"(?:[^"\\]|\\[\s\S])*"/

COMMENT.4: /\/\/[^\n]*|\/\*[\s\S]*?\*\//
%ignore COMMENT
%ignore /\s+/
"""

_parser: Lark | None = None
_lock = threading.Lock()


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        with _lock:
            if _parser is None:
                _parser = Lark(
                    GRAMMAR,
                    parser="lalr",
                    lexer="contextual",
                    start=["expression", "unary_tests"],
                    maybe_placeholders=False,
                    propagate_positions=True,
                )
    return _parser


def parse(source: str, start: str) -> Tree[Token]:
    """The parse tree of ``source`` (``start`` is "expression" or "unary_tests")."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise FeelSyntaxError(
            f"expression is too long ({len(source)} characters, at most {MAX_SOURCE_LENGTH})",
            position=MAX_SOURCE_LENGTH,
            line=source.count("\n", 0, MAX_SOURCE_LENGTH) + 1,
            column=1,
        )
    try:
        tree = _get_parser().parse(source, start=start)
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    except RecursionError:
        raise FeelSyntaxError("expression is nested too deeply", 0, 1, 1) from None
    assert isinstance(tree, Tree)
    return tree


def _describe(token: Any) -> str:
    if isinstance(token, Token):
        if token.type == "$END":
            return "end of input"
        text = str(token)
        return repr(text if len(text) <= 30 else text[:27] + "...")
    return "end of input"


def _syntax_error(source: str, exc: UnexpectedInput) -> FeelSyntaxError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(source)
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        pos = len(source)
    pos = max(0, min(pos, len(source)))
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    if isinstance(exc, UnexpectedCharacters):
        what = repr(source[pos]) if pos < len(source) else "end of input"
        message = f"unexpected character {what}"
    elif isinstance(exc, UnexpectedEOF):
        message = "unexpected end of input"
    elif isinstance(exc, UnexpectedToken):
        message = f"unexpected {_describe(exc.token)}"
    else:  # pragma: no cover - lark has no other kinds today
        message = "invalid expression"
    return FeelSyntaxError(
        f"failed to parse expression: {message} at line {line}, column {column}",
        position=pos,
        line=line,
        column=column,
    )
