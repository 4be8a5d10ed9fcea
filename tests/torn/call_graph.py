"""The torn-stack oracle's workload: threads race through a known call graph, many calls
and returns per microsecond. Every true stack is a path of the graph from g0; a stack
stitched from two moments has a caller -> callee pair that is not an edge.

    python call_graph.py SECONDS [THREADS]   # prints "ready", runs, exits

Used in-process by tests/python/test_wall.py and bench/engines_bench.py, and as a target
process by tests/harness/test_record.py (the same graph, the same check)."""
import sys
import threading
import time

EDGES = {0: (1, 2), 1: (3,), 2: (3, 4), 3: (5,), 4: (5, 6), 5: (7,), 6: (7,), 7: ()}
DEPTH = 6


def functions():
    """g0..g7, each its own code object, calling its callees in turn."""
    ns = {}
    for i, callees in EDGES.items():
        body = "".join(f"        g{j}(n - 1)\n" for j in callees) or "        pass\n"
        exec(f"def g{i}(n):\n    if n > 0:\n{body}", ns)
    return ns


def run_until(stop, g0):
    while not stop.is_set():
        g0(DEPTH)


def count(stacks):
    """(samples on the graph, impossible samples) over (frames innermost first with
    `.function` and `.file`, count) pairs."""
    total = impossible = 0
    for frames, n in stacks:
        chain = [int(f.function[1:]) for f in frames
                 if f.function[:1] == "g" and f.function[1:].isdigit() and f.file == "<string>"]
        if not chain:
            continue
        total += n
        if chain[-1] != 0 or any(chain[k] not in EDGES[chain[k + 1]]
                                 for k in range(len(chain) - 1)):
            impossible += n
    return total, impossible


if __name__ == "__main__":
    stop = threading.Event()
    g0 = functions()["g0"]
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        threading.Thread(target=run_until, args=(stop, g0), daemon=True).start()
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]))
