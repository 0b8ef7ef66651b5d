"""A private Janus with the built janus.plugin.calls, for tests and benchmarks.

Writes a configuration folder of its own (only the WebSocket transport, the
Admin API on a WebSocket of its own, optionally the sample event handler),
starts `janus -F <conf> -P <plugin dir>` and waits until both WebSocket ports
answer. Meant to run inside the network namespace of tests/lib/with-netns.sh,
where fixed ports cannot collide with anything else.

As a module: JanusInstance(...).start() / .stop() / .kill() / .restart().
As a program: python3 janus_instance.py [--set group.key=value ...] runs Janus
in the foreground until interrupted (used by the browser test and by hand).
"""

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

DEFAULT_PLUGIN = {
    "general": {
        "auth": "none",
        "jwt_secret": "test-secret",
        "ring_timeout": 45,
        "ice_grace": 10,
        "admin_key": "test-admin-key",
        "events": True,
    },
    "turn": {
        "stun_uris": "",
        "turn_uris": "",
        "turn_secret": "",
    },
}


def janus_lib_dir(kind):
    """Where Debian's janus package keeps its transports/events/loggers."""
    found = glob.glob("/usr/lib/*/janus/" + kind) + glob.glob("/usr/lib/janus/" + kind)
    if not found:
        raise RuntimeError("janus %s folder not found: is the janus package installed?" % kind)
    return found[0]


def jcfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"')


def jcfg(groups):
    """Renders {group: {key: value}} (values may be nested dicts) as .jcfg text."""
    def block(d, indent):
        out = []
        for k, v in d.items():
            if isinstance(v, dict):
                out.append("%s%s: {" % (indent, k))
                out.extend(block(v, indent + "\t"))
                out.append("%s}" % indent)
            else:
                out.append("%s%s = %s" % (indent, k, jcfg_value(v)))
        return out
    return "\n".join(block(groups, "")) + "\n"


def merge(base, over):
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def wait_port(host, port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class JanusInstance:
    def __init__(self, plugin_dir=None, plugin_conf=None, ws_port=8188,
                 admin_port=7188, event_backend=None, ice_iface="v0",
                 debug_level=4, workdir=None, admin_secret="janusoverlord", session_timeout=60):
        self.plugin_dir = plugin_dir or os.environ.get(
            "CALLS_PLUGIN_DIR", os.path.join(TOP, "plugins", ".libs"))
        self.plugin_conf = merge(DEFAULT_PLUGIN, plugin_conf or {})
        self.ws_port = ws_port
        self.admin_port = admin_port
        self.event_backend = event_backend
        self.ice_iface = ice_iface
        self.debug_level = debug_level
        self.admin_secret = admin_secret
        self.session_timeout = session_timeout
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="calls-janus-")
        self.conf_dir = os.path.join(self.workdir, "conf")
        self.log_path = os.path.join(self.workdir, "janus.log")
        self.proc = None

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d" % self.ws_port

    @property
    def admin_url(self):
        return "ws://127.0.0.1:%d" % self.admin_port

    def write_config(self):
        os.makedirs(self.conf_dir, exist_ok=True)
        general = {
            "configs_folder": self.conf_dir,
            "plugins_folder": self.plugin_dir,
            "transports_folder": janus_lib_dir("transports"),
            "events_folder": janus_lib_dir("events"),
            "loggers_folder": janus_lib_dir("loggers"),
            "debug_level": self.debug_level,
            "admin_secret": self.admin_secret,
            "session_timeout": self.session_timeout,
        }
        main = {
            "general": general,
            "media": {"rtp_port_range": "20000-40000"},
            "nat": {"ice_enforce_list": self.ice_iface} if self.ice_iface else {},
            "transports": {"disable": "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,"
                                      "libjanus_pfunix.so,libjanus_rabbitmq.so"},
            "loggers": {"disable": "libjanus_jsonlog.so"},
            "events": {"broadcast": bool(self.event_backend),
                       "disable": "libjanus_gelfevh.so,libjanus_mqttevh.so,libjanus_nanomsgevh.so,"
                                  "libjanus_rabbitmqevh.so,libjanus_wsevh.so"},
        }
        with open(os.path.join(self.conf_dir, "janus.jcfg"), "w") as f:
            f.write(jcfg(main))
        ws = {
            "general": {"json": "plain", "ws": True, "ws_port": self.ws_port,
                        "ws_ip": "127.0.0.1", "wss": False},
            "admin": {"admin_ws": True, "admin_ws_port": self.admin_port,
                      "admin_ws_ip": "127.0.0.1", "admin_wss": False},
        }
        with open(os.path.join(self.conf_dir, "janus.transport.websockets.jcfg"), "w") as f:
            f.write(jcfg(ws))
        if self.event_backend:
            evh = {"general": {"enabled": True, "events": "plugins", "grouping": False,
                               "json": "plain", "backend": self.event_backend}}
            with open(os.path.join(self.conf_dir, "janus.eventhandler.sampleevh.jcfg"), "w") as f:
                f.write(jcfg(evh))
        with open(os.path.join(self.conf_dir, "janus.plugin.calls.jcfg"), "w") as f:
            f.write(jcfg(self.plugin_conf))

    def start(self, timeout=20):
        so = os.path.join(self.plugin_dir, "libjanus_calls.so")
        if not os.path.exists(so):
            raise RuntimeError("%s not built" % so)
        self.write_config()
        cmd = ["janus", "-F", self.conf_dir, "-P", self.plugin_dir, "-o",
               "-d", str(self.debug_level), "-D"]
        # A command Janus runs under (scripts/valgrind.sh sets valgrind),
        # which also makes it slower to start and to stop.
        wrapper = os.environ.get("CALLS_JANUS_WRAPPER", "").split()
        cmd = wrapper + cmd
        if wrapper:
            timeout *= 6
        if self.event_backend:
            cmd.append("-e")
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        # A sanitizer build of the plugin needs its runtime loaded first
        # (scripts/asan.sh sets this to libasan).
        if os.environ.get("CALLS_JANUS_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["CALLS_JANUS_PRELOAD"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)
        deadline = time.time() + timeout
        ok = wait_port("127.0.0.1", self.ws_port, deadline) and \
            wait_port("127.0.0.1", self.admin_port, deadline)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("janus did not start; log:\n" + self.log_tail())
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if os.environ.get("CALLS_JANUS_WRAPPER"):
            timeout *= 12
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def kill(self):
        """SIGKILL: a crash, nothing is written on the way out. start() again
        runs the same configuration (and work folder) as before."""
        self.stop(sig=signal.SIGKILL)

    def restart(self, timeout=20):
        """A clean stop (SIGTERM), then a start with the same configuration."""
        self.stop()
        return self.start(timeout)

    def cleanup(self):
        self.stop()
        if self.own_workdir and not os.environ.get("CALLS_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


def parse_set(items):
    conf = {}
    for item in items or []:
        key, _, value = item.partition("=")
        group, _, name = key.partition(".")
        if value in ("true", "false"):
            value = value == "true"
        elif value.isdigit():
            value = int(value)
        conf.setdefault(group, {})[name] = value
    return conf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin-dir")
    ap.add_argument("--ws-port", type=int, default=8188)
    ap.add_argument("--admin-port", type=int, default=7188)
    ap.add_argument("--ice-iface", default="v0", help="'' to let Janus pick interfaces")
    ap.add_argument("--workdir")
    ap.add_argument("--set", action="append", metavar="GROUP.KEY=VALUE",
                    help="plugin setting, e.g. general.auth=none")
    args = ap.parse_args()
    j = JanusInstance(plugin_dir=args.plugin_dir, plugin_conf=parse_set(args.set),
                      ws_port=args.ws_port, admin_port=args.admin_port,
                      ice_iface=args.ice_iface or None, workdir=args.workdir)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    j.start()
    print("janus ready: ws %s admin %s log %s" % (j.ws_url, j.admin_url, j.log_path), flush=True)
    try:
        while not stop and j.alive():
            time.sleep(0.2)
    finally:
        rc = 0 if j.alive() else 1
        j.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
