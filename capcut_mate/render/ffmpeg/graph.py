"""A filter graph as a small DAG: nodes are filters, edges are streams, labels are allocated
when the graph is compiled, and every option value is escaped in one place (`escape`).

    graph = Graph()
    clip = graph.input("a.mp4", "-t", "2").video
    canvas = graph.source("color", c="black", s="320x180", r=30, d=2)
    out = graph.filter("overlay", canvas, clip.filter("scale", w=160, h=90), x=0, y=0, eof_action="pass")
    args, text = graph.compile({"video": out})

A stream may feed several filters: the compiler inserts the `split` (`asplit`) ffmpeg needs.
Runs of one-input, one-output filters are written as chains (`a,b,c`); everything else is
joined by labels `[s0]`, `[s1]`, … in creation order, so a compiled graph is deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field


def escape(value: object) -> str:
    """An option value as a filter graph needs it: both levels of ffmpeg's escaping, the
    option's (`\\ ' :`) and then the graph's (`\\ ' [ ] , ;`)."""
    option_level = "".join("\\" + c if c in "\\':" else c for c in format_value(value))
    return "".join("\\" + c if c in "\\'[],;" else c for c in option_level)


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return number(value)
    return str(value)


def number(value: float) -> str:
    """A number as ffmpeg reads it: at most six decimals, no exponent, no '-0'."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(eq=False)
class Stream:
    """One output pad of a node (or of an input file)."""

    graph: Graph
    node: Node | None  # None: a stream of an input file
    pad: int = 0
    file_spec: str = ""  # "0:v" for input files
    kind: str = "v"  # "v" or "a"

    def filter(self, name: str, *args: object, instance: str | None = None, **options: object) -> Stream:
        """This stream through a one-input, one-output filter."""
        return self.graph.filter(name, self, *args, instance=instance, **options)


@dataclass(eq=False)
class Node:
    name: str
    inputs: tuple[Stream, ...]
    args: tuple[object, ...]
    options: tuple[tuple[str, object], ...]
    outputs: int
    instance: str | None  # `name@instance`, for filters that receive commands
    kind: str = "v"

    def text(self) -> str:
        parts = [escape(a) for a in self.args] + [f"{k}={escape(v)}" for k, v in self.options]
        head = f"{self.name}@{self.instance}" if self.instance else self.name
        return head + ("=" + ":".join(parts) if parts else "")


@dataclass(eq=False)
class InputFile:
    graph: Graph
    index: int
    path: str
    options: tuple[str, ...]

    @property
    def video(self) -> Stream:
        return Stream(self.graph, None, file_spec=f"{self.index}:v", kind="v")

    @property
    def audio(self) -> Stream:
        return Stream(self.graph, None, file_spec=f"{self.index}:a", kind="a")


@dataclass
class Graph:
    inputs: list[InputFile] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    _instances: dict[str, int] = field(default_factory=dict)

    def input(self, path: str, *options: str) -> InputFile:
        """An input file, with the options that go before its `-i`. The same file with the same
        options is one input, however often it is asked for (its stream is split)."""
        for file in self.inputs:
            if (file.path, file.options) == (path, options):
                return file
        file = InputFile(self, len(self.inputs), path, options)
        self.inputs.append(file)
        return file

    def source(self, name: str, *args: object, kind: str = "v", **options: object) -> Stream:
        """A source filter (color, anullsrc, …): no input."""
        return self.filter(name, *args, kind=kind, **options)

    def filter(self, name: str, *streams_and_args: object, outputs: int = 1, instance: str | None = None,
               kind: str | None = None, **options: object) -> Stream:
        """A filter of the streams first in `streams_and_args`; the rest are its positional options.
        Options whose value is None are left out."""
        streams = tuple(s for s in streams_and_args if isinstance(s, Stream))
        args = tuple(a for a in streams_and_args if not isinstance(a, Stream))
        kind = kind or (streams[0].kind if streams else "v")
        node = Node(name, streams, args, tuple((k, v) for k, v in options.items() if v is not None), outputs,
                    self.instance_name(instance) if instance else None, kind)
        self.nodes.append(node)
        return Stream(self, node, 0, kind=kind)

    def instance_name(self, prefix: str) -> str:
        """A filter instance name no other filter in this graph has."""
        number_ = self._instances.get(prefix, 0)
        self._instances[prefix] = number_ + 1
        return f"{prefix}{number_}"

    def compile(self, outputs: Mapping[str, Stream]) -> tuple[list[str], str]:
        """The `-i` arguments and the filter graph text; `outputs` are labelled by their names."""
        return _Compiler(self, outputs).compile()


class _Compiler:
    def __init__(self, graph: Graph, outputs: Mapping[str, Stream]):
        self.graph = graph
        self.named = {(id(s.node), s.pad, s.file_spec): name for name, s in outputs.items()}
        self.nodes = list(graph.nodes)
        self._split_shared_streams(outputs)
        self.consumers: dict[tuple, list[Node]] = defaultdict(list)
        for node in self.nodes:
            for stream in node.inputs:
                self.consumers[self._key(stream)].append(node)
        self.labels: dict[tuple, str] = {}

    @staticmethod
    def _key(stream: Stream) -> tuple:
        return (id(stream.node), stream.pad, stream.file_spec)

    def _split_shared_streams(self, outputs: Mapping[str, Stream]) -> None:
        """ffmpeg lets a pad feed one filter: a stream used n > 1 times goes through a split."""
        uses: dict[tuple, list[tuple[Node | None, int]]] = defaultdict(list)
        for node in self.nodes:
            for index, stream in enumerate(node.inputs):
                uses[self._key(stream)].append((node, index))
        for stream in outputs.values():
            uses[self._key(stream)].append((None, -1))
        rebuilt = list(self.nodes)
        for key, users in uses.items():
            fed = [(node, index) for node, index in users if node is not None]
            if len(users) < 2 or not fed:
                continue
            stream = fed[0][0].inputs[fed[0][1]]
            split = Node("split" if stream.kind == "v" else "asplit", (stream,), (len(users),), (), len(users),
                         None, stream.kind)
            rebuilt.insert(0 if stream.node is None else rebuilt.index(stream.node) + 1, split)
            for pad, (user, index) in enumerate(users):
                if user is None:  # a named output that is also fed onwards
                    self.named[(id(split), pad, "")] = self.named.pop(key)
                else:
                    inputs = list(user.inputs)
                    inputs[index] = Stream(self.graph, split, pad, kind=stream.kind)
                    user.inputs = tuple(inputs)
        self.nodes = rebuilt

    def _label(self, stream: Stream) -> str:
        if stream.node is None:
            return stream.file_spec
        key = self._key(stream)
        if key not in self.labels:
            self.labels[key] = self.named.get(key) or f"s{len([k for k in self.labels if k not in self.named])}"
        return self.labels[key]

    def _chains_into(self, node: Node) -> Node | None:
        """The single one-input filter this node's single output feeds, if any."""
        if node.outputs != 1 or (id(node), 0, "") in self.named:
            return None
        users = self.consumers.get((id(node), 0, ""), [])
        if len(users) == 1 and len(users[0].inputs) == 1:
            return users[0]
        return None

    def compile(self) -> tuple[list[str], str]:
        args: list[str] = []
        for file in self.graph.inputs:
            args += [*file.options, "-i", file.path]
        done: set[int] = set()
        chains = []
        for node in self.nodes:
            if id(node) in done:
                continue
            chain = [node]
            while (following := self._chains_into(chain[-1])) is not None and id(following) not in done:
                chain.append(following)
            done.update(id(n) for n in chain)
            head, tail = chain[0], chain[-1]
            ins = "".join(f"[{self._label(s)}]" for s in head.inputs)
            outs = "".join(f"[{self._label(Stream(self.graph, tail, pad, kind=tail.kind))}]"
                           for pad in range(tail.outputs))
            chains.append(ins + ",".join(n.text() for n in chain) + outs)
        return args, ";\n".join(chains) + "\n"
