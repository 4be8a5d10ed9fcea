"""Three threads that wait (sleep, a lock, a queue) while one works: a wall-clock profile
shows all four, a CPU profile only the worker."""
import queue
import threading
import time

SECONDS = 1.0


def sleeper():
    time.sleep(SECONDS)


def lock_waiter(lock):
    with lock:
        pass


def queue_waiter(q):
    q.get()


def worker():
    t0 = time.monotonic()
    x = 0
    while time.monotonic() - t0 < SECONDS:
        for i in range(5000):
            x += i


if __name__ == "__main__":
    lock, q = threading.Lock(), queue.Queue()
    lock.acquire()
    ts = [threading.Thread(target=sleeper, name="sleeper"),
          threading.Thread(target=lock_waiter, args=(lock,), name="lock-waiter"),
          threading.Thread(target=queue_waiter, args=(q,), name="queue-waiter"),
          threading.Thread(target=worker, name="worker")]
    for t in ts:
        t.start()
    time.sleep(SECONDS)
    lock.release()
    q.put(None)
    for t in ts:
        t.join()
