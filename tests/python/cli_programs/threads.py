"""Three threads with distinct hot functions, then an exit status from argv[1]."""
import sys
import threading
import time


def spin_for(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):
            x += i
    return x


def hot_main():
    return spin_for(0.3)


def hot_worker_a():
    return spin_for(0.3)


def hot_worker_b():
    return spin_for(0.15)


if __name__ == "__main__":
    print("argv=" + repr(sys.argv), "name=" + __name__, "path0=" + sys.path[0], flush=True)
    ts = [threading.Thread(target=hot_worker_a, name="worker-a"),
          threading.Thread(target=hot_worker_b, name="worker-b")]
    for t in ts:
        t.start()
    hot_main()
    for t in ts:
        t.join()
    action = sys.argv[1] if len(sys.argv) > 1 else "0"
    if action == "raise":
        raise ValueError("boom from the program")
    if action == "os_exit":
        sys.stdout.flush()
        import os
        os._exit(7)
    if action == "message":
        sys.exit("a message to stderr")
    sys.exit(int(action))
