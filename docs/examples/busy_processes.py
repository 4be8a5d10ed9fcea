"""A program whose work is done by other processes: a multiprocessing pool (the default
start method) and one subprocess. Profile it with `spprof run --subprocesses`.

    python3.13t docs/examples/busy_processes.py
"""
import multiprocessing
import subprocess
import sys


def square_sum(n):
    return sum(i * i for i in range(n))


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(sum(pool.map(square_sum, [300_000] * 8)))
    subprocess.run([sys.executable, "-c", "print(sum(i * i for i in range(500_000)))"],
                   check=True)
