"""Headless Chromium driven through the DevTools protocol, for the flame graph tests.

The stdlib has no WebSocket client, so this is a minimal one (RFC 6455, client side: text
frames, masked, no extensions), enough for one connection to the browser's endpoint, over
which each page is a flattened session (Target.attachToTarget flatten=true)."""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from urllib.parse import quote

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def find_chromium():
    """The browser to test with: $SPPROF_CHROMIUM if set, else chromium on PATH; None if
    not found."""
    if os.environ.get("SPPROF_CHROMIUM"):
        return shutil.which(os.environ["SPPROF_CHROMIUM"])
    return shutil.which("chromium") or shutil.which("chromium-browser")


class CDPError(RuntimeError):
    pass


class WebSocket:
    def __init__(self, url, timeout):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)$", url)
        if not m:
            raise CDPError(f"not a ws:// URL: {url!r}")
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          b"Sec-WebSocket-Version: 13\r\n\r\n"
                          % (path.encode(), host.encode(), port, key))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise CDPError(f"WebSocket upgrade refused: {head[:200]!r}")

    def _fill(self):
        got = self.sock.recv(1 << 20)
        if not got:
            raise CDPError("the browser closed the connection")
        self.buf += got

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        # a client must mask every frame (RFC 6455 5.3); XOR as one big integer is fast
        pad = (mask * (n // 4 + 1))[:n]
        body = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")
        self.sock.sendall(head + mask + body)

    def send(self, text):
        self._send_frame(0x1, text.encode("utf-8"))

    def recv(self):
        """The next whole text message (fragments joined; pings answered)."""
        parts = []
        while True:
            b0, b1 = self._take(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._take(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._take(8))[0]
            mask = self._take(4) if b1 & 0x80 else None
            data = self._take(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            op = b0 & 0x0F
            if op == 0x8:
                raise CDPError("the browser closed the WebSocket")
            if op == 0x9:
                self._send_frame(0xA, data)
                continue
            if op == 0xA:
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode("utf-8")

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Browser:
    def __init__(self, exe, timeout=30):
        self.timeout = timeout
        self.dir = tempfile.mkdtemp(prefix="spprof-chromium-")
        args = [exe, "--headless=new", "--remote-debugging-port=0",
                f"--user-data-dir={self.dir}", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-component-update", "--mute-audio",
                "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")     # Chromium's sandbox refuses to run as root
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = []
        found = threading.Event()
        url = []

        # Chromium writes to stderr all along: drain it, or it blocks on a full pipe.
        def drain():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                self.log.append(line)
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m and not url:
                    url.append(m.group(1))
                    found.set()
            found.set()
        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(timeout) or not url:
            self.close()
            raise CDPError("chromium did not start:\n" + "\n".join(self.log[-20:]))
        self.ws = WebSocket(url[0], timeout)
        self.next_id = 0
        self.events = []

    def call(self, method, session=None, **params):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method and m.get("sessionId") == session:
                    return self.events.pop(i)
            if time.monotonic() > deadline:
                raise CDPError(f"no {method} within the timeout")
            self.events.append(json.loads(self.ws.recv()))

    def new_page(self, width, height):
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Page(self, target, session, width, height)

    def close(self):
        if getattr(self, "ws", None):
            try:
                self.call("Browser.close")
            except (CDPError, OSError):
                pass
            self.ws.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Page:
    def __init__(self, browser, target, session, width, height):
        self.browser, self.target, self.session = browser, target, session
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        return self.browser.call(method, session=self.session, **params)

    def open(self, path):
        """Load a file and wait for its load event; the seconds it took."""
        t0 = time.monotonic()
        self.call("Page.navigate", url="file://" + quote(os.path.abspath(path)))
        self.browser.wait_event("Page.loadEventFired", self.session)
        return time.monotonic() - t0

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise CDPError(f"{expr!r} threw: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self):
        """Exceptions, console errors and error log entries of this page so far."""
        self.eval("0")      # a round trip: every event sent before it has arrived
        out = []
        for m in self.browser.events:
            if m.get("sessionId") != self.session:
                continue
            meth, p = m.get("method"), m.get("params", {})
            if meth == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"])
            elif meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(p)
            elif meth == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"])
        return out

    def mouse(self, kind, x, y, **extra):
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def hover(self, x, y):
        self.mouse("mouseMoved", x, y)

    def click(self, x, y):
        self.hover(x, y)
        self.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", clickCount=1)

    def type(self, text):
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.browser.call("Target.closeTarget", targetId=self.target)
        except CDPError:
            pass
        self.browser.events = [m for m in self.browser.events
                               if m.get("sessionId") != self.session]
