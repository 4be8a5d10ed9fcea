"""Starts Python children the way argv[1] says; each child runs child_work (with
CHILDREN_DROPS=1 in the environment, every sample of it is dropped as a cycle)."""
import multiprocessing as mp
import os
import subprocess
import sys
import time


def child_work(seconds=0.25):
    drops = os.environ.get("CHILDREN_DROPS") == "1"
    if drops:  # the sampled walks of this thread meet a cycle: each is a dropped sample
        from spprof import _native
        _native._feed_crafted("cycle")
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):
            x += i
    if drops:
        _native._feed_crafted(False)
    return os.getpid()


def parent_work():
    return child_work(0.1)


if __name__ == "__main__":
    method = sys.argv[1]
    if method == "os.fork":
        pid = os.fork()
        if pid == 0:
            child_work()
            os._exit(0)
        os.waitpid(pid, 0)
    elif method == "subprocess":
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); "
                        "import children; children.child_work()"], check=True)
    else:
        with mp.get_context(method).Pool(2) as pool:
            pids = pool.map(child_work, [0.25, 0.25])
    parent_work()
