"""Enough of Grafana Alloy's configuration syntax to check deploy/alloy/config.alloy's structure here,
where no `alloy` binary exists: blocks (`name "label" { ... }`), attributes (`key = value`), strings,
numbers, lists, objects, references (`a.b.c`) and calls (`sys.env("X")`). Anything else is a syntax error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'\s+|//[^\n]*|/\*.*?\*/|(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)'
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<punct>[={}\[\](),])",
    re.DOTALL,
)


@dataclass(frozen=True)
class Ref:
    """A reference to another component's export, e.g. `discovery.dns.api.targets`."""

    path: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Any, ...]


@dataclass
class Block:
    name: str
    label: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def find(self, name: str, label: str | None = None) -> list[Block]:
        return [b for b in self.blocks if b.name == name and (label is None or b.label == label)]

    def one(self, name: str, label: str | None = None) -> Block:
        found = self.find(name, label)
        assert len(found) == 1, f"expected one {name} {label or ''} block, found {len(found)}"
        return found[0]


class AlloySyntaxError(ValueError):
    pass


def parse(text: str) -> Block:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    root = Block("(file)", None)
    parser.body(root, closing=None)
    return root


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            line = text.count("\n", 0, position) + 1
            raise AlloySyntaxError(f"line {line}: unexpected {text[position : position + 20]!r}")
        kind = match.lastgroup
        if kind is not None:
            tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise AlloySyntaxError(f"expected {value or kind}, got {token}")
        self.at += 1
        return token[1]

    def body(self, block: Block, closing: str | None) -> None:
        while True:
            token = self.peek()
            if token is None:
                if closing is not None:
                    raise AlloySyntaxError(f"unclosed block {block.name}")
                return
            if token == ("punct", "}") and closing == "}":
                self.at += 1
                return
            name = self.take("ident")
            if self.peek() == ("punct", "="):
                self.at += 1
                if name in block.attributes:
                    raise AlloySyntaxError(f"{name} set twice in {block.name}")
                block.attributes[name] = self.value()
                continue
            label = json.loads(self.take("string")) if self.peek() and self.peek()[0] == "string" else None  # type: ignore[index]
            self.take("punct", "{")
            child = Block(name, label)
            self.body(child, closing="}")
            block.blocks.append(child)

    def value(self) -> Any:
        token = self.peek()
        if token is None:
            raise AlloySyntaxError("expected a value at the end of the file")
        kind, text = token
        self.at += 1
        if kind in {"string", "number"}:
            return json.loads(text)  # Alloy's string escapes and numbers are JSON's
        if kind == "ident":
            if text in {"true", "false", "null"}:
                return {"true": True, "false": False, "null": None}[text]
            if self.peek() == ("punct", "("):
                self.at += 1
                return Call(text, tuple(self.sequence(")")))
            return Ref(text)
        if token == ("punct", "["):
            return self.sequence("]")
        if token == ("punct", "{"):
            return self.object()
        raise AlloySyntaxError(f"unexpected {text!r}")

    def sequence(self, closing: str) -> list[Any]:
        items = []
        while self.peek() != ("punct", closing):
            items.append(self.value())
            if self.peek() == ("punct", ","):
                self.at += 1
            elif self.peek() != ("punct", closing):
                raise AlloySyntaxError(f"expected , or {closing}, got {self.peek()}")
        self.at += 1
        return items

    def object(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.peek() != ("punct", "}"):
            token = self.peek()
            if token is None or token[0] not in {"ident", "string"}:
                raise AlloySyntaxError(f"expected an object key, got {token}")
            self.at += 1
            key = json.loads(token[1]) if token[0] == "string" else token[1]
            self.take("punct", "=")
            result[key] = self.value()
            if self.peek() == ("punct", ","):
                self.at += 1
            elif self.peek() != ("punct", "}"):
                raise AlloySyntaxError(f"expected , or }}, got {self.peek()}")
        self.at += 1
        return result
