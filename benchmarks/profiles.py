"""Where a service process spent its time: `python -m benchmarks.profiles FILE… [--top N]`.

Reads py-spy's raw (collapsed) stacks, as `python -m benchmarks --profile DIR` writes them,
and prints the functions with the most samples: on their own (self) and with what they
call (inclusive). For a flame graph, feed the same file to any collapsed-stack viewer
(speedscope, inferno, flamegraph.pl).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Frames every sample passes through (the event loop, the command's start): no news in them.
_PLUMBING = ("<module>", "_run_module_as_main", "_run_code", "run (asyncio/", "Runner.run", "run_forever",
             "run_until_complete", "_run_once", "Handle._run", "main (capcut_mate/cli.py", "_serve (capcut_mate")


def summarize(path: Path, top: int = 15) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples, frames = int(count), stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} samples", "  self:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("  inclusive:")
    interesting = [(f, n) for f, n in inclusive.most_common() if not any(p in f for p in _PLUMBING)]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in interesting[:top]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiles", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for path in args.files:
        print(summarize(path, args.top))
        print()


if __name__ == "__main__":
    main()
