"""A bit of everything in one process: deep recursion, a yield-from chain, a coroutine,
a closure, non-ASCII names and exec'd code — the shape of the 3.14t corpus snapshots."""
import sys

import deep
import exec_code
import generators
import names
import parking


def main(path):
    sys.setrecursionlimit(5000)
    made = exec_code.make("/virtual/混合/生成.py")
    workers = parking.start([
        (deep.recurse, (320,)), (generators.drive_generator, ()),
        (generators.drive_coroutine, ()), (names.outer, ()), (names.Ωμέγα().関数, ()),
        (made["Made"]().run, ()), (generators.drive_genexpr, ()),
    ])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
