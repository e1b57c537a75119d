"""Run one load function in a process of its own: `python -m benchmarks.child module:function JSON`.

The function gets the JSON object's fields as keyword arguments; an async one runs on
uvloop when it is installed (less of the machine goes to the load, more to the service).
What it returns is printed as JSON on the last line, for harness.run_child to read.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys


def _event_loop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    target, arguments = sys.argv[1], json.loads(sys.argv[2])
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    if inspect.iscoroutinefunction(function):
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            result = runner.run(function(**arguments))
    else:
        result = function(**arguments)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
