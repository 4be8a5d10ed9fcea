"""Code compiled at run time: exec/compile with custom file names (including non-ASCII
and non-BMP characters), module-level code parked inside exec(), and eval()."""
import sys

import parking

SOURCE = '''
import parking

def generated(n):
    if n:
        return generated(n - 1)
    parking.park()

class Made:
    def run(self):
        generated(2)
'''

MODULE_LEVEL = '''
import parking
parking.park()
'''


def make(filename):
    ns = {}
    exec(compile(SOURCE, filename, "exec"), ns)
    return ns


def run_module_level():
    exec(compile(MODULE_LEVEL, "<module-level ✓>", "exec"), {})


def run_eval():
    eval(compile("parking.park()", "<eval 🐍>", "eval"), {"parking": parking})


def main(path):
    a = make("<generated>")
    b = make("/virtual/路径/生成的.py")
    c = make("emoji 🐍🐍 name.py")
    workers = parking.start([
        (a["generated"], (3,)), (b["Made"]().run, ()), (c["generated"], (0,)),
        (run_module_level, ()), (run_eval, ()),
    ])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
