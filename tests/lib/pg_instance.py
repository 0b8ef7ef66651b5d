"""A private PostgreSQL 15 cluster for tests, benchmarks and scripts/run.sh.

The cluster lives in one folder of its own:

    DIR/data          the data directory (initdb on first use, kept between runs)
    DIR/socket        the folder of its unix socket, and nothing else
    DIR/postgres.log  the server's log

It listens on that unix socket only, plus 127.0.0.1:<port> when a port is
given; every local connection is trusted (no passwords: it is a test
database that nothing outside this machine can reach). The database `calls`
is made on first start. PostgreSQL refuses to run as root, so when we are
root initdb, pg_ctl and the server run as the `postgres` user (Debian's
postgresql package makes it), which then owns DIR: DIR must be somewhere that
user can reach (not under /root, nor under a folder made by mkdtemp without
opening it up); start() says which folder is in the way when it is not.

As a module:

    pg = PgCluster(dir).start()      # or: with PgCluster(dir) as pg: ...
    pg.conninfo                      # "host=DIR/socket port=5432 dbname=calls user=postgres"
    pg.query("SELECT count(*) FROM calls_calls WHERE caller = :'u'", u="alice")
    pg.freeze(); pg.thaw()           # SIGSTOP / SIGCONT: a database that hangs
    pg.kill(); pg.restart()          # a crash; a clean stop and start
    pg.stop()

As a program: python3 pg_instance.py --dir DIR [--port P] starts the cluster
(or reuses it when it already runs), prints one line `conninfo=<libpq string>`
on stdout, and stays in the foreground until SIGTERM or SIGINT, then stops it
(a SIGINT its parent set to be ignored stays ignored). Exit status 1 when the
cluster could not start or stopped by itself.
"""

import argparse
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

PG_BIN = os.environ.get("CALLS_PG_BIN", "/usr/lib/postgresql/15/bin")
OWNER = "postgres"
SUPERUSER = "postgres"
DBNAME = "calls"
# The socket is named after the port even when nothing listens on TCP; the
# folder is private, so this number never collides with anything.
SOCKET_ONLY_PORT = 5432
RUNTIME_CONF = "calls_instance.conf"
# sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107

# psql output separators: control characters no test value contains.
FIELD_SEP = "\x1f"
RECORD_SEP = "\x1e"
NULL_MARK = "\x1a"


class PgError(RuntimeError):
    pass


def conninfo_value(v):
    """A value quoted for a libpq connection string when it needs it."""
    v = str(v)
    if v and re.fullmatch(r"[A-Za-z0-9_./:@+-]+", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conf_string(v):
    """A string literal of postgresql.conf."""
    return "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _children(ppid):
    """The pids whose parent is ppid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[1] == str(ppid):
            out.append(int(name))
    return out


class PgCluster:
    def __init__(self, dir, port=None, dbname=DBNAME):
        self.dir = os.path.abspath(dir)
        self.data_dir = os.path.join(self.dir, "data")
        self.socket_dir = os.path.join(self.dir, "socket")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = port            # TCP port on 127.0.0.1, or None for the socket only
        self.dbname = dbname
        self.frozen_pids = []
        self._actual = None         # (port, socket dir) of the running server

    # ------------------------------------------------------------ names

    @property
    def socket_port(self):
        if self._actual:
            return self._actual[0]
        return self.port or SOCKET_ONLY_PORT

    @property
    def host(self):
        if self._actual:
            return self._actual[1]
        return self.socket_dir

    @property
    def conninfo(self):
        """libpq connection string over the unix socket."""
        return "host=%s port=%d dbname=%s user=%s" % (
            conninfo_value(self.host), self.socket_port, conninfo_value(self.dbname), SUPERUSER)

    @property
    def tcp_conninfo(self):
        if not self.port:
            return None
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (
            self.port, conninfo_value(self.dbname), SUPERUSER)

    def psql_command(self):
        """A psql command line for a person to paste."""
        return "psql %s" % shell_quote(self.conninfo)

    # ------------------------------------------------------------ running things as the owner

    def _owner(self):
        """pwd entry of the user the server runs as, or None to stay ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(OWNER)
        except KeyError:
            raise PgError("we are root and PostgreSQL refuses to run as root, but there is no "
                          "'%s' user: install Debian's postgresql package (scripts/deps.sh run)"
                          % OWNER) from None

    def _run_as_owner(self, args, timeout=120, check=True):
        pw = self._owner()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C"})
        kw = {}
        if pw is not None:
            env.update({"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name})
            kw = {"user": pw.pw_uid, "group": pw.pw_gid,
                  "extra_groups": os.getgrouplist(pw.pw_name, pw.pw_gid)}
        try:
            p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, cwd=self.dir if os.path.isdir(
                                   self.dir) else "/", timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            raise PgError("%s did not finish within %ss" % (" ".join(args), timeout)) from None
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise PgError("%s failed (exit %d):\n%s%s" % (" ".join(args), p.returncode, out,
                                                         self._log_tail_text()))
        return p.returncode, out

    def _owner_can_reach(self, path, how="-x"):
        pw = self._owner()
        if pw is None:
            return os.access(path, os.X_OK if how == "-x" else os.W_OK)
        rc, _ = self._run_as_owner(["test", how, path], check=False)
        return rc == 0

    def _prepare_dir(self):
        os.makedirs(self.dir, exist_ok=True)
        pw = self._owner()
        if pw is not None:
            for path in (self.dir, self.socket_dir, self.data_dir, self.log_path):
                if os.path.exists(path):
                    st = os.stat(path)
                    if st.st_uid != pw.pw_uid:
                        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        if not self._owner_can_reach(self.dir, "-w"):
            blocker = None
            path = self.dir
            chain = []
            while True:
                chain.append(path)
                parent = os.path.dirname(path)
                if parent == path:
                    break
                path = parent
            for p in reversed(chain):
                if not self._owner_can_reach(p, "-x"):
                    blocker = p
                    break
            who = pw.pw_name if pw else "this user"
            if blocker:
                st = os.stat(blocker)
                raise PgError("PostgreSQL runs as '%s', which cannot reach %s: %s (mode %o, owner "
                              "uid %d) cannot be entered by it. Put the cluster in a folder '%s' "
                              "can reach, or open that folder up (chmod o+x %s)."
                              % (who, self.dir, blocker, st.st_mode & 0o7777, st.st_uid, who,
                                 blocker))
            raise PgError("PostgreSQL runs as '%s', which cannot write to %s" % (who, self.dir))
        for sub in (self.socket_dir,):
            if not os.path.isdir(sub):
                os.mkdir(sub, 0o755)
                if pw is not None:
                    os.chown(sub, pw.pw_uid, pw.pw_gid)
        sock = os.path.join(self.socket_dir, ".s.PGSQL.%d" % (self.port or SOCKET_ONLY_PORT))
        if len(sock.encode()) > MAX_SOCKET_PATH:
            raise PgError("the socket path %s is longer than %d bytes, the most a unix socket "
                          "name can be: put the cluster in a shorter folder"
                          % (sock, MAX_SOCKET_PATH))

    # ------------------------------------------------------------ state

    @property
    def initialized(self):
        return os.path.exists(os.path.join(self.data_dir, "PG_VERSION"))

    def _pidfile(self):
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return f.read().splitlines()
        except OSError:
            return None

    @property
    def pid(self):
        """The postmaster's pid while it runs, else None."""
        lines = self._pidfile()
        if not lines:
            return None
        try:
            pid = int(lines[0])
        except ValueError:
            return None
        return pid if _pid_alive(pid) else None

    def running(self):
        return self.pid is not None

    def pids(self):
        """The postmaster and all its child processes."""
        pid = self.pid
        if pid is None:
            return []
        return [pid] + _children(pid)

    def _adopt(self):
        """Reads the port and socket folder of the running server from its pid file."""
        lines = self._pidfile() or []
        try:
            port = int(lines[3])
            sock = lines[4].split(",")[0].strip() or self.socket_dir
        except (IndexError, ValueError):
            port, sock = self.port or SOCKET_ONLY_PORT, self.socket_dir
        self._actual = (port, sock)

    def _log_tail_text(self, n=30):
        t = self.log_tail(n)
        return ("\n--- %s (last lines) ---\n%s" % (self.log_path, t)) if t else ""

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ lifecycle

    def _initdb(self):
        if os.path.exists(self.data_dir) and os.listdir(self.data_dir):
            raise PgError("%s exists but holds no cluster (no PG_VERSION): move it away"
                          % self.data_dir)
        self._run_as_owner([os.path.join(PG_BIN, "initdb"), "-D", self.data_dir, "-U", SUPERUSER,
                            "-A", "trust", "-E", "UTF8", "--locale=C"])
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write("\n# janus-calls test cluster (tests/lib/pg_instance.py)\n"
                    "timezone = 'UTC'\n"
                    "log_timezone = 'UTC'\n"
                    "unix_socket_permissions = 0777\n"
                    "include_if_exists = '%s'\n" % RUNTIME_CONF)

    def _write_runtime_conf(self):
        path = os.path.join(self.data_dir, RUNTIME_CONF)
        with open(path, "w") as f:
            f.write("# written at each start by tests/lib/pg_instance.py\n"
                    "port = %d\n"
                    "listen_addresses = %s\n"
                    "unix_socket_directories = %s\n"
                    % (self.port or SOCKET_ONLY_PORT, conf_string("127.0.0.1" if self.port else ""),
                       conf_string(self.socket_dir)))
        pw = self._owner()
        if pw is not None:
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, timeout=60):
        """Starts the cluster (made on first use); reuses it when it already runs."""
        if not os.path.exists(os.path.join(PG_BIN, "pg_ctl")):
            raise PgError("%s/pg_ctl not found: install PostgreSQL 15 (scripts/deps.sh run)" % PG_BIN)
        self._prepare_dir()
        if self.frozen_pids:
            self.thaw()
        if not self.running():
            self._clear_stale_pidfile(time.time() + 5)
            if not self.initialized:
                self._initdb()
            self._write_runtime_conf()
            self._run_as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data_dir,
                                "-l", self.log_path, "-w", "-t", str(timeout), "-s", "start"],
                               timeout=timeout + 10)
        self._adopt()
        self._wait_ready(timeout)
        if not self.query("SELECT 1 FROM pg_database WHERE datname = :'db'", db="postgres",
                          params={"db": self.dbname}):
            self.query('CREATE DATABASE :"db"', db="postgres", params={"db": self.dbname})
        return self

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            p = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", self.host,
                                "-p", str(self.socket_port), "-d", "postgres", "-U", SUPERUSER],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if p.returncode == 0:
                return
            last = p.stdout.decode(errors="replace")
            if not self.running():
                break
            time.sleep(0.1)
        raise PgError("PostgreSQL in %s did not become ready %s%s"
                      % (self.dir, last, self._log_tail_text()))

    def stop(self, mode="fast", timeout=60):
        """pg_ctl stop (-m smart|fast|immediate); nothing when it is not running."""
        if self.frozen_pids:
            self.thaw()
        if not self.running():
            return
        self._run_as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data_dir, "-m", mode,
                            "-w", "-t", str(timeout), "-s", "stop"], timeout=timeout + 10)

    def restart(self, mode="fast"):
        self.stop(mode)
        return self.start()

    def kill(self, timeout=10):
        """SIGKILL to the postmaster and every child: a crash. start() recovers."""
        pid = self.pid
        if pid is None:
            self.frozen_pids = []
            return
        # Stopped, the postmaster cannot fork a child we would miss.
        os.kill(pid, signal.SIGSTOP)
        pids = _children(pid) + [pid]
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.frozen_pids = []
        deadline = time.time() + timeout
        while any(_pid_alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.05)
        self._clear_stale_pidfile(deadline)

    def _clear_stale_pidfile(self, deadline):
        """PostgreSQL refuses to start while the pid in postmaster.pid exists,
        a zombie not yet reaped included. Wait for it to go; remove the file
        if it is dead but never reaped."""
        lines = self._pidfile()
        if not lines or not lines[0].isdigit():
            return
        pid = int(lines[0])
        while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % pid) and not _pid_alive(pid):
            try:
                os.unlink(os.path.join(self.data_dir, "postmaster.pid"))
            except OSError:
                pass

    def freeze(self):
        """SIGSTOP the postmaster, then all its children: connections stay open
        but nothing answers, like a hung database server."""
        pid = self.pid
        if pid is None:
            raise PgError("freeze: PostgreSQL is not running")
        os.kill(pid, signal.SIGSTOP)
        stopped = [pid]
        # The postmaster cannot fork once stopped; scan twice for a child
        # forked just before.
        for _ in range(2):
            for child in _children(pid):
                if child not in stopped:
                    try:
                        os.kill(child, signal.SIGSTOP)
                        stopped.append(child)
                    except ProcessLookupError:
                        pass
        self.frozen_pids = stopped

    def thaw(self):
        """SIGCONT everything freeze() stopped (children first)."""
        pids = list(self.frozen_pids)
        pid = self.pid
        if pid is not None:
            for child in _children(pid):
                if child not in pids:
                    pids.append(child)
        for p in reversed(pids):
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen_pids = []

    @property
    def frozen(self):
        return bool(self.frozen_pids)

    def destroy(self):
        """Stops the cluster and removes its folder."""
        try:
            self.stop("immediate")
        except PgError:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ queries

    def query(self, sql, params=None, db=None, timeout=30):
        """Runs one SQL statement with psql; returns its rows as lists of
        strings (None for NULL). params become psql variables: write
        :'name' for a quoted literal, :"name" for an identifier."""
        conninfo = self.conninfo if db is None else \
            "host=%s port=%d dbname=%s user=%s" % (conninfo_value(self.host), self.socket_port,
                                                  conninfo_value(db), SUPERUSER)
        args = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-F", FIELD_SEP, "-R", RECORD_SEP, "-P", "null=" + NULL_MARK, "-P", "footer=off"]
        for k, v in (params or {}).items():
            args += ["-v", "%s=%s" % (k, v)]
        args += ["-d", conninfo, "-f", "-"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = str(max(2, min(int(timeout), 30)))
        try:
            p = subprocess.run(args, input=sql.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PgError("psql did not answer within %ss: %s" % (timeout, sql)) from None
        if p.returncode != 0:
            raise PgError("psql failed (exit %d) on %s\n%s" % (p.returncode, sql.strip(),
                                                                p.stderr.decode(errors="replace")))
        out = p.stdout.decode()
        if out.endswith("\n"):
            out = out[:-1]
        if not out:
            return []
        rows = []
        for rec in out.split(RECORD_SEP):
            if rec == "":
                continue
            rows.append([None if f == NULL_MARK else f for f in rec.split(FIELD_SEP)])
        return rows

    def scalar(self, sql, params=None, **kw):
        rows = self.query(sql, params, **kw)
        return rows[0][0] if rows and rows[0] else None


def shell_quote(s):
    if re.fullmatch(r"[A-Za-z0-9_./=:@+-]+", s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="folder of the cluster (made on first use)")
    ap.add_argument("--port", type=int, help="also listen on 127.0.0.1:PORT")
    args = ap.parse_args()
    stop = []

    def on_signal(*_):
        stop.append(1)
    signal.signal(signal.SIGTERM, on_signal)
    # A SIGINT ignored by whoever started us stays ignored (a shell's
    # background job: scripts/run.sh stops Janus first on Ctrl-C, then us).
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_signal)
    pg = PgCluster(args.dir, port=args.port)
    try:
        pg.start()
    except PgError as e:
        print("pg_instance: %s" % e, file=sys.stderr)
        try:
            pg.stop()
        except PgError:
            pass
        sys.exit(1)
    print("conninfo=%s" % pg.conninfo, flush=True)
    print("pg_instance: PostgreSQL ready in %s (log %s); %s"
          % (pg.dir, pg.log_path, pg.psql_command()), file=sys.stderr, flush=True)
    rc = 0
    try:
        while not stop:
            if not pg.running():
                print("pg_instance: PostgreSQL stopped by itself; log:\n%s" % pg.log_tail(),
                      file=sys.stderr)
                rc = 1
                break
            time.sleep(0.2)
    finally:
        try:
            pg.stop()
        except PgError as e:
            print("pg_instance: %s" % e, file=sys.stderr)
            rc = 1
    sys.exit(rc)


if __name__ == "__main__":
    main()
