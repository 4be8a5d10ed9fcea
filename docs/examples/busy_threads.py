"""A small multi-threaded program to look at: three workers, each busy in its own function.

    python3.13t docs/examples/busy_threads.py      # prints its pid, runs until killed
    python3.13t docs/examples/busy_threads.py 3    # ... or for 3 seconds
"""
import os
import sys
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Parser:
    def parse(self, text):
        return [word.upper() for word in text.split()] * 10


def compute():
    while True:
        fib(18)


def parse_forever():
    parser = Parser()
    while True:
        parser.parse("the quick brown fox jumps over the lazy dog")


def crunch():
    total = 0
    while True:
        total = sum(i * i for i in range(10_000)) + total % 7


def main():
    for target in (compute, parse_forever, crunch):
        threading.Thread(target=target, name=target.__name__, daemon=True).start()
    print(os.getpid(), flush=True)
    threading.Event().wait(float(sys.argv[1]) if len(sys.argv) > 1 else None)


if __name__ == "__main__":
    sys.exit(main())
