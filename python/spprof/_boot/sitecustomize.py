"""Put on PYTHONPATH by ``spprof run --subprocesses``: profile this child interpreter from
its start (spprof.cli.children), then run the ``sitecustomize`` this one hides, if any.
Loaded by every Python that inherits the environment: one that cannot import spprof (not
the same interpreter) must go on exactly as without it."""


def _spprof_boot():
    import importlib.machinery
    import importlib.util
    import json
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        opts = json.loads(os.environ.get("SPPROF_CHILDREN_OPTS", "{}"))
        parent = opts.get("path")
        added = parent and parent not in sys.path
        if added:
            sys.path.append(parent)
        try:
            from spprof.cli import children
            children.boot()
        except ImportError:
            if added:
                sys.path.remove(parent)
    except Exception as e:  # never break the child over its profile
        sys.stderr.write(f"spprof: process {os.getpid()} is not profiled: {e}\n")
    # the sitecustomize this one shadows; and the program sees the sys.path it would have
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path[:] = rest
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = mod
        spec.loader.exec_module(mod)


_spprof_boot()
del _spprof_boot
