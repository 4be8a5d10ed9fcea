"""Qualified names: methods, class and static methods, nested classes, lambdas, closures
(outer.<locals>.inner), non-ASCII identifiers of every str kind, and a module with a
non-ASCII file name imported from disk."""
import os
import sys
import tempfile

import parking


class Shelf:
    def method(self):
        parking.park()

    @classmethod
    def klass(cls):
        parking.park()

    @staticmethod
    def static():
        parking.park()

    class Inner:
        def deeper(self):
            parking.park()


def outer():
    def inner():
        def innermost():
            parking.park()
        innermost()
    inner()


def fünf():                 # Latin-1: a 1-byte-kind str that is not ASCII
    parking.park()


class Ωμέγα:                # Greek: a 2-byte-kind str
    def 関数(self):          # CJK: 2-byte kind
        parking.park()


𝔣𝔯𝔞𝔨𝔱𝔲𝔯 = None              # (identifiers outside the BMP normalise to ASCII: NFKC)

lam = lambda: parking.park()  # noqa: E731

MODULE = '''
import parking

def gruß_aus_datei():
    parking.park()
'''


def import_unicode_module():
    # A real file whose path holds characters of the 1-, 2- and 4-byte kinds.
    d = tempfile.mkdtemp(prefix="spwalk-ñame-")
    sub = os.path.join(d, "модуль_模块_🐍")
    os.mkdir(sub)
    with open(os.path.join(sub, "mödule_名前.py"), "w", encoding="utf-8") as f:
        f.write(MODULE)
    sys.path.insert(0, sub)
    import importlib
    return importlib.import_module("mödule_名前")


def main(path):
    mod = import_unicode_module()
    workers = parking.start([
        (Shelf().method, ()), (Shelf.klass, ()), (Shelf.static, ()),
        (Shelf.Inner().deeper, ()), (outer, ()), (fünf, ()), (Ωμέγα().関数, ()),
        (lam, ()), (mod.gruß_aus_datei, ()),
    ])
    parking.report_and_park(path, workers)


if __name__ == "__main__":
    main(sys.argv[1])
