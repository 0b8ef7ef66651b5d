"""Call history benchmark (driven by bench/history.sh; see bench/README.md).

Runs inside the private network namespace of tests/lib/with-netns.sh:

  1. load      a private PostgreSQL 15 cluster (tests/lib/pg_instance.py), the
               schema (sql/001_schema.sql), BENCH_CALLS synthetic calls
               (bench/load.sql), VACUUM ANALYZE; load time and sizes.
  2. history   a private Janus with the plugin, history pages over the
               WebSocket API: first page and the user's oldest page, filter
               all and missed, p50/p99; EXPLAIN (ANALYZE, BUFFERS) of a deep
               page with the plugin's own SQL.
  3. store     bench/store_bench (the plugin's store thread linked alone):
               records/s written, and the spool replay rate after a freeze.
  4. signal    call setup and register latency with PostgreSQL running and
               frozen (SIGSTOP).

Prints one table per part. Everything it starts it stops.
"""

import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import time

import benchlib
from benchlib import HERE, admin_stats, arguments, begin, env_int, finish, log, pct, plugin_conf, postgres
import calls_client
from calls_client import JanusConnection, AdminClient, Device
from janus_instance import JanusInstance
from pg_instance import PgCluster, PG_BIN, PgError

LOAD_MARK = "bench-loaded"


# ---------------------------------------------------------------- numbers and tables

def ms(v):
    return benchlib.ms(v, 2)


def table(title, header, rows, note=None):
    text = benchlib.table(title, header, rows, note)
    print(text, flush=True)
    return text


def human_bytes(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1024.0


# ---------------------------------------------------------------- PostgreSQL

class Pg:
    """PgCluster plus psql helpers for text output and scripts."""

    def __init__(self, dir):
        self.c = PgCluster(dir)

    def psql(self, sql=None, file=None, variables=None, timeout=7200, stream=None):
        args = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-d", self.c.conninfo]
        for k, v in (variables or {}).items():
            args += ["-v", "%s=%s" % (k, v)]
        args += ["-f", file or "-"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        p = subprocess.Popen(args, stdin=subprocess.PIPE if file is None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        if file is None:
            p.stdin.write(sql)
            p.stdin.close()
        out = []
        for line in p.stdout:
            out.append(line)
            if stream:
                stream(line.rstrip("\n"))
        err = p.stderr.read()
        rc = p.wait(timeout)
        if rc != 0:
            raise PgError("psql failed (exit %d): %s\n%s" % (rc, (sql or file)[:300], err))
        return "".join(out)

    def q(self, sql, **params):
        return self.c.query(sql, params=params or None, timeout=3600)

    def scalar(self, sql, **params):
        rows = self.q(sql, **params)
        return rows[0][0] if rows and rows[0] else None


def pg_cpu_seconds(pg):
    """CPU (user + system) used by the postmaster, its live children, and the
    children it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = pg.c.pids()
    for n, pid in enumerate(pids):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if n == 0:
            total += int(fields[13]) + int(fields[14])
    return total / tick


def configure_pg(pg, loading):
    """Server settings: a bulk-load profile, or the normal one for the measurements."""
    shared = os.environ.get("BENCH_SHARED_BUFFERS", "1GB")
    sets = {
        "shared_buffers": shared,
        "maintenance_work_mem": "1GB",
        "max_wal_size": "8GB",
        "checkpoint_timeout": "30min",
        # the plugin's history statement is longer than the default 1 kB
        "track_activity_query_size": "16384",
    }
    if loading:
        sets.update({"wal_level": "minimal", "max_wal_senders": "0"})
    sql = "".join("ALTER SYSTEM SET %s = '%s';\n" % kv for kv in sets.items())
    if not loading:
        sql += "ALTER SYSTEM RESET wal_level;\nALTER SYSTEM RESET max_wal_senders;\n"
    pg.psql(sql)
    pg.c.restart()


# ---------------------------------------------------------------- part 1: load

def part_load(pg, tree, n_calls, n_users, results):
    schema = os.path.join(tree, "sql", "001_schema.sql")
    have = pg.scalar("SELECT to_regclass('calls_migrations') IS NOT NULL") == "t"
    if not have:
        log("loading the schema with psql -f sql/001_schema.sql")
        pg.psql(file=schema)
    mark = "%d calls, %d users" % (n_calls, n_users)
    pg.psql("CREATE TABLE IF NOT EXISTS bench_meta (k text PRIMARY KEY, v text)")
    if pg.scalar("SELECT v FROM bench_meta WHERE k = 'loaded'") == mark:
        log("reusing the loaded cluster (%s)" % mark)
        results["load"] = None
        return
    configure_pg(pg, loading=True)
    t_end = pg.scalar("SELECT date_trunc('day', now())::text")
    log("loading %s (ending %s); steps:" % (mark, t_end))
    steps = []

    def on_line(line):
        m = re.match(r"STEP (\S+) ([0-9.]+)", line.strip())
        if m:
            steps.append((m.group(1), float(m.group(2))))
            if len(steps) > 1:
                log("  %-12s %8.1f s" % (m.group(1), steps[-1][1] - steps[-2][1]))

    t0 = time.time()
    pg.psql(file=os.path.join(HERE, "load.sql"),
            variables={"n": n_calls, "u": n_users, "t_end": t_end}, stream=on_line)
    t_sql = time.time() - t0
    t1 = time.time()
    pg.psql("VACUUM (ANALYZE) calls_calls;\nVACUUM (ANALYZE) calls_participants;\n"
            "VACUUM (ANALYZE) calls_users;\n")
    t_vac = time.time() - t1
    log("  %-12s %8.1f s" % ("vacuum", t_vac))
    pg.psql("INSERT INTO bench_meta VALUES ('loaded', '%s') ON CONFLICT (k) DO UPDATE SET v = excluded.v;\n"
            "INSERT INTO bench_meta VALUES ('t_end', '%s') ON CONFLICT (k) DO UPDATE SET v = excluded.v;\n"
            % (mark, t_end))
    # Back to a normal server (WAL for everything) for the measurements.
    configure_pg(pg, loading=False)
    results["load"] = {"steps": [(steps[i][0], steps[i][1] - steps[i - 1][1]) for i in range(1, len(steps))],
                       "sql_s": t_sql, "vacuum_s": t_vac, "total_s": t_sql + t_vac}


def print_load(pg, n_calls, n_users, results):
    counts = pg.q("SELECT (SELECT count(*) FROM calls_calls), (SELECT count(*) FROM calls_participants), "
                  "(SELECT count(*) FROM calls_users), pg_database_size(current_database())")[0]
    sizes = pg.q("SELECT c.relname, pg_relation_size(c.oid), c.relkind FROM pg_class c "
                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND "
                 "(c.relname LIKE 'calls_calls%' OR c.relname LIKE 'calls_participants%') "
                 "ORDER BY c.relkind DESC, pg_relation_size(c.oid) DESC")
    per_user = pg.q("SELECT min(n), round(avg(n)), max(n) FROM (SELECT count(*) n FROM calls_participants "
                    "WHERE outcome IS NOT NULL AND NOT deleted GROUP BY user_id) x")[0]
    mix = pg.q("SELECT role, outcome, count(*) FROM calls_participants GROUP BY 1, 2 ORDER BY 1, 3 DESC")
    rows = [["calls (calls_calls rows)", "{:,}".format(int(counts[0]))],
            ["participant rows", "{:,}".format(int(counts[1]))],
            ["users", "{:,}".format(int(counts[2]))],
            ["log entries per user (min/avg/max)", "%s / %s / %s" % tuple(per_user)]]
    ld = results.get("load")
    if ld:
        for name, secs in ld["steps"]:
            rows.append(["load step: %s" % name, "%.1f s" % secs])
        rows.append(["load step: vacuum analyze", "%.1f s" % ld["vacuum_s"]])
        rows.append(["load total", "%.1f s (%.0f calls/s)" % (ld["total_s"], n_calls / ld["total_s"])])
    else:
        rows.append(["load", "reused an earlier load (BENCH_PG_DIR)"])
    rows.append(["database size", human_bytes(int(counts[3]))])
    for name, size, kind in sizes:
        rows.append(["  %s %s" % ("table" if kind == "r" else "index", name), human_bytes(int(size))])
    results["tables"].append(table("Part 1: loading %s calls between %s users" % (
        "{:,}".format(n_calls), "{:,}".format(n_users)), ["what", "value"], rows))
    results["tables"].append(table("Part 1: outcomes in the loaded data", ["role", "outcome", "rows"],
                                   [[r, o, "{:,}".format(int(c))] for r, o, c in mix]))


# ---------------------------------------------------------------- part 2: history latency

def cursor_sql(missed):
    where = "outcome = 'missed' AND NOT deleted" if missed else "outcome IS NOT NULL AND NOT deleted"
    # asc: rank from the oldest; desc: rank from the newest. The deep page is
    # the 20 oldest entries; its cursor is the 21st oldest entry's position.
    return ("SELECT user_id, cnt, rd, ra, call_id::text, "
            "(extract(epoch FROM started_at) * 1000000)::bigint FROM ("
            " SELECT user_id, call_id, started_at, count(*) OVER w AS cnt,"
            " row_number() OVER (w ORDER BY started_at DESC, call_id DESC) AS rd,"
            " row_number() OVER (w ORDER BY started_at, call_id) AS ra"
            " FROM calls_participants WHERE user_id = ANY(string_to_array(:'users', ',')) AND %s"
            " WINDOW w AS (PARTITION BY user_id)) x WHERE rd <= :lim OR ra <= :lim + 1" % where)


def expected_pages(pg, users, limit, missed):
    """{user: {count, first: [ids], deep: [ids], deep_cursor, first_next}} from SQL."""
    out = {u: {"count": 0, "first": [None] * limit, "deep": [None] * limit, "deep_cursor": None}
           for u in users}
    for i in range(0, len(users), 500):
        chunk = users[i:i + 500]
        for user, cnt, rd, ra, cid, us in pg.q(cursor_sql(missed), users=",".join(chunk), lim=limit):
            e = out[user]
            e["count"] = int(cnt)
            rd, ra = int(rd), int(ra)
            if rd <= limit:
                e["first"][rd - 1] = cid
                if rd == limit:
                    e["first_next"] = "%s_%s" % (us, cid)
            if ra <= limit:
                e["deep"][limit - ra] = cid     # newest first in a page
            if ra == limit + 1:
                e["deep_cursor"] = "%s_%s" % (us, cid)
    for e in out.values():
        n = min(e["count"], limit)
        e["first"] = e["first"][:n]
        e["deep"] = [c for c in e["deep"] if c is not None]
    return out


async def register_handles(conn, users, device):
    handles = {}
    for u in users:
        h = await conn.attach()
        r = await h.message({"request": "register", "user": u, "device": device}, timeout=30)
        if r.is_error or r.name != "registered":
            raise RuntimeError("register %s failed: %r" % (u, r))
        handles[u] = h
    return handles


async def timed_history(h, body):
    t0 = time.perf_counter()
    r = await h.message(body, timeout=60)
    dt = time.perf_counter() - t0
    if r.is_error or r.name != "history":
        raise RuntimeError("history %s failed: %r" % (calls_client.short(body), r))
    return dt, r.data


async def walk(h, limit, missed):
    """All pages of a user's log through the plugin: ids in order."""
    ids, before, pages = [], None, 0
    while True:
        body = {"request": "history", "limit": limit}
        if missed:
            body["filter"] = "missed"
        if before:
            body["before"] = before
        _, data = await timed_history(h, body)
        pages += 1
        ids += [e["call_id"] for e in data["entries"]]
        before = data.get("next")
        if not before:
            return ids, pages
        if pages > 100000:
            raise RuntimeError("history walk does not end")


def deep_cursors(pg, users, limit, missed):
    """{user: cursor of the user's oldest page} (users with more than limit
    entries), read from the log indexes alone (index-only scans), so that
    the heap rows the measured requests read are not warmed by us."""
    where = "outcome = 'missed' AND NOT deleted" if missed else "outcome IS NOT NULL AND NOT deleted"
    out = {}
    for i in range(0, len(users), 500):
        chunk = users[i:i + 500]
        rows = pg.q("SELECT s.u, x.us, x.id FROM unnest(string_to_array(:'users', ',')) s(u) "
                    "CROSS JOIN LATERAL (SELECT (extract(epoch FROM started_at) * 1000000)::bigint AS us, "
                    "call_id::text AS id FROM calls_participants WHERE user_id = s.u AND %s "
                    "ORDER BY started_at, call_id OFFSET :lim LIMIT 1) x" % where,
                    users=",".join(chunk), lim=limit)
        for u, us, cid in rows:
            out[u] = "%s_%s" % (us, cid)
    return out


async def part_history(pg, janus, users_all, n_req, limit, results):
    rng = random.Random(7)
    if len(users_all) >= n_req + 40:
        sample = rng.sample(users_all, n_req + 40)
    else:
        sample = [rng.choice(users_all) for _ in range(n_req + 40)]
    warm, sample = sample[:40], sample[40:]
    distinct = sorted(set(sample) | set(warm))
    conn = JanusConnection(janus.ws_url)
    await conn.connect()
    await conn.create_session()
    log("history: registering %d devices" % len(distinct))
    handles = await register_handles(conn, distinct, "bench-history")
    problems = []
    timings = {}
    got = {}
    cursors = {}

    def body(missed, deep):
        def f(u):
            b = {"request": "history", "limit": limit}
            if missed:
                b["filter"] = "missed"
            if deep:
                b["before"] = cursors[missed][u]
            return b
        return f

    async def run(kind, users, make, keep=True):
        out = []
        for u in users:
            dt, data = await timed_history(handles[u], make(u))
            out.append(dt)
            if keep:
                got.setdefault(kind, {})[u] = data
        return out

    # The transport alone: a history request the plugin refuses at once (400,
    # malformed cursor), no database involved.
    base = []
    for u in warm[:20] + sample:
        t0 = time.perf_counter()
        r = await handles[u].message({"request": "history", "before": "x"}, timeout=60)
        base.append(time.perf_counter() - t0)
        if r.name != "error" or r.error_code != 400:
            problems.append("history with a malformed cursor: want 400, got %r" % r)
    timings["baseline: refused at once (400), no database"] = base[20:]

    # Each kind twice over the same users: the first pass is the first touch
    # of these rows since PostgreSQL started (shared buffers cold; the OS page
    # cache may hold them), the second finds them in shared buffers.
    for deep in (False, True):
        for missed in (False, True):
            kind = "%s page, %s" % ("oldest" if deep else "first", "missed" if missed else "all")
            users, wusers = sample, warm
            if deep:
                cursors[missed] = deep_cursors(pg, distinct, limit, missed)
                users = [u for u in sample if u in cursors[missed]]
                wusers = [u for u in warm if u in cursors[missed]]
                if len(users) < len(sample):
                    problems.append("%s: %d of %d sampled users have %d entries or fewer; skipped"
                                    % (kind, len(sample) - len(users), len(sample), limit))
            await run(kind, wusers[:20], body(missed, deep), keep=False)
            log("history: 2 x %d x %s" % (len(users), kind))
            timings[kind + " (1st touch)"] = await run(kind, users, body(missed, deep))
            timings[kind + " (repeat)"] = await run(kind + " again", users, body(missed, deep))

    # Correctness: every page against SQL.
    t0 = time.time()
    expected = {m: expected_pages(pg, distinct, limit, m) for m in (False, True)}
    log("history: expected pages from SQL in %.1f s" % (time.time() - t0))
    checked = 0
    for kind, per_user in got.items():
        missed = "missed" in kind
        deep = kind.startswith("oldest")
        for u, data in per_user.items():
            exp = expected[missed][u]
            want = exp["deep"] if deep else exp["first"]
            ids = [e["call_id"] for e in data.get("entries", [])]
            checked += 1
            if ids != want:
                problems.append("%s for %s: ids differ from SQL (got %d, want %d; first diff at %s)"
                                % (kind, u, len(ids), len(want),
                                   next((i for i, (a, b) in enumerate(zip(ids, want)) if a != b), "end")))
            if deep and exp["deep_cursor"] != cursors[missed].get(u):
                problems.append("%s for %s: cursor %s, SQL window query says %s"
                                % (kind, u, cursors[missed].get(u), exp["deep_cursor"]))
            nxt = data.get("next")
            if deep and nxt:
                problems.append("%s for %s: the oldest page has next=%s" % (kind, u, nxt))
            if not deep:
                want_next = exp.get("first_next") if exp["count"] > limit else None
                if nxt != want_next:
                    problems.append("%s for %s: next=%r, want %r" % (kind, u, nxt, want_next))
            if missed and any(e.get("outcome") != "missed" for e in data.get("entries", [])):
                problems.append("%s for %s: an entry that is not missed" % (kind, u))
            for e in data.get("entries", []):
                if e.get("kind") != "direct" or e.get("direction") not in ("incoming", "outgoing") or \
                        not e.get("peer") or not e.get("started_at") or not e.get("ended_at") or \
                        not isinstance(e.get("duration"), int) or not e.get("outcome"):
                    problems.append("%s for %s: malformed entry %s" % (kind, u, calls_client.short(e)))
                    break
    # A full walk of a few users' logs, with the largest page.
    walks = []
    for u in sample[:3]:
        for missed in (False, True):
            t0 = time.perf_counter()
            ids, pages = await walk(handles[u], 100, missed)
            dt = time.perf_counter() - t0
            want = expected[missed][u]["count"]
            ok = len(ids) == want and len(set(ids)) == len(ids)
            if not ok:
                problems.append("walk of %s (%s): %d entries (%d distinct) in %d pages, SQL counts %d"
                                % (u, "missed" if missed else "all", len(ids), len(set(ids)), pages, want))
            walks.append([u, "missed" if missed else "all", pages, len(ids), want,
                          "%.0f" % (dt * 1000), "ok" if ok else "MISMATCH"])

    # The plugin's own statement, as its connection last ran it.
    plans = await explain_plugin_sql(pg, handles, sample, cursors, limit)
    await conn.close()

    rows = []
    for kind, t in timings.items():
        rows.append([kind, len(t), ms(pct(t, 50)), ms(pct(t, 90)), ms(pct(t, 99)), ms(max(t)),
                     ms(statistics.mean(t))])
    results["history"] = {k: {"n": len(t), "p50": pct(t, 50), "p99": pct(t, 99)} for k, t in timings.items()}
    results["tables"].append(table(
        "Part 2: history request latency through Janus (limit %d, one request at a time, random users)" % limit,
        ["request", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"], rows,
        "Round trip of the Janus 'message' over the WebSocket until the plugin's 'history' event. "
        "1st touch: the first read of these users' rows since PostgreSQL started; repeat: the same "
        "requests again.\n%d pages checked against SQL: %s" % (
            checked, "all match" if not problems else "%d PROBLEMS (below)" % len(problems))))
    results["tables"].append(table("Part 2: full cursor walks (limit 100) compared with SQL counts",
                                   ["user", "filter", "pages", "entries", "SQL count", "ms", "check"], walks))
    for title, text in plans:
        print("\n== %s ==\n%s" % (title, text), flush=True)
        results["tables"].append("\n== %s ==\n%s" % (title, text))
    for p in problems[:30]:
        print("PROBLEM: " + p, flush=True)
    results["problems"] += problems


async def explain_plugin_sql(pg, handles, sample, cursors, limit):
    """EXPLAIN (ANALYZE, BUFFERS) of the plugin's history statement (its text
    read from pg_stat_activity of the plugin's connection) for a deep page,
    after enough executions that the plan cache made its generic-or-custom
    choice, as the plugin's prepared statement does."""
    out = []
    for missed in (False, True):
        u = next(u for u in sample if u in cursors[missed])
        text = None
        for _ in range(20):
            b = {"request": "history", "limit": limit, "before": cursors[missed][u]}
            if missed:
                b["filter"] = "missed"
            await timed_history(handles[u], b)
            q = pg.scalar("SELECT query FROM pg_stat_activity WHERE application_name = 'janus-calls' "
                          "AND query LIKE '%calls_log%'")
            if q:
                text = q
                break
            await asyncio.sleep(0.05)
        if not text:
            out.append(("EXPLAIN: could not read the plugin's statement", ""))
            continue
        us, cid = cursors[missed][u].split("_")
        args = "'%s', %s, '%s', %d" % (u, us, cid, limit + 1)
        sql = ("PREPARE h AS %s;\n" % text.rstrip().rstrip(";") +
               "".join("EXECUTE h(%s);\n" % args for _ in range(6)) +
               "\\o\n\\pset pager off\n\\pset format unaligned\n\\pset tuples_only on\n"
               "EXPLAIN (ANALYZE, BUFFERS) EXECUTE h(%s);\n" % args +
               "SELECT 'plan cache: ' || generic_plans || ' generic, ' || custom_plans || ' custom' "
               "FROM pg_prepared_statements WHERE name = 'h';\n")
        full = pg.psql("\\o /dev/null\n" + sql)
        out.append(("Part 2: EXPLAIN (ANALYZE, BUFFERS) of the plugin's statement for %s's oldest page "
                    "(filter %s; $1..$4 = %s)" % (u, "missed" if missed else "all", args),
                    "SQL: " + re.sub(r"\s+", " ", text.strip()) + "\n\n" + full.rstrip()))
    return out


# ---------------------------------------------------------------- part 4: signalling

async def one_call(caller, callee):
    """caller calls callee; returns the server-side intervals (s):
    call sent -> calling reply, call sent -> incoming_call at the callee,
    accept sent -> accepted at the caller. Client SDP work is outside."""
    jsep = await caller.offer(audio=True, video=False)
    t0 = time.monotonic()
    reply = await caller.request({"request": "call", "to": callee.user, "video": False}, jsep=jsep, timeout=30)
    t_calling = time.monotonic()
    if reply.is_error or reply.name != "calling":
        raise RuntimeError("call failed: %r" % reply)
    call_id = reply.data["call_id"]
    inc = await callee.wait_event("incoming_call", timeout=30, call_id=call_id)
    answer = await callee.answer(inc.jsep)
    t1 = time.monotonic()
    reply = await callee.request({"request": "accept", "call_id": call_id}, jsep=answer, timeout=30)
    if reply.is_error or reply.name != "accepted":
        raise RuntimeError("accept failed: %r" % reply)
    acc = await caller.wait_event("accepted", timeout=30, call_id=call_id)
    res = {"calling": t_calling - t0, "incoming": inc.at - t0, "accepted": acc.at - t1,
           "call_id": call_id}
    res["setup"] = res["incoming"] + res["accepted"]
    await caller.drop_media()
    await callee.drop_media()
    reply = await caller.request({"request": "hangup", "call_id": call_id}, timeout=30)
    await callee.wait_event("ended", timeout=30, call_id=call_id)
    return res


async def timed_register(conn, user, device):
    h = await conn.attach()
    t0 = time.monotonic()
    r = await h.message({"request": "register", "user": user, "device": device}, timeout=60)
    dt = time.monotonic() - t0
    if r.is_error or r.name != "registered":
        raise RuntimeError("register failed: %r" % r)
    return dt, r.data.get("missed_calls")


async def wait_store_idle(admin, timeout=300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        s = await admin_stats(admin, timeout=5)
        if s.get("store_queue") == 0 and s.get("spooled") == 0:
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    raise RuntimeError("the plugin's store did not empty its spool within %ds: %r" % (timeout, s))


async def part_signal(pg, janus, users_all, n_calls, n_first, timeout_ms, results):
    rng = random.Random(11)
    ws = janus.ws_url
    conns = []
    for _ in range(2):
        c = JanusConnection(ws)
        await c.connect()
        await c.create_session()
        conns.append(c)
    admin = AdminClient(janus.admin_url)
    await admin.connect()
    n_warm = 10
    n_pairs = n_warm + n_calls + n_first + n_calls
    log("signal: registering %d device pairs" % n_pairs)
    pairs = []
    for i in range(n_pairs):
        a = await Device(ws, "a%d" % i).open(conns[0])
        b = await Device(ws, "b%d" % i).open(conns[1])
        await a.register(user="sig-a-%d" % i, device="d")
        await b.register(user="sig-b-%d" % i, device="d")
        pairs.append((a, b))
    pool = iter(pairs)
    reg_users = lambda: rng.choice(users_all) if users_all else "sig-r-%d" % rng.randrange(10 ** 9)  # noqa: E731
    reg_seq = iter(range(10 ** 9))
    call_ids = []

    async def calls(n):
        out = []
        for _ in range(n):
            a, b = next(pool)
            r = await one_call(a, b)
            call_ids.append(r["call_id"])
            out.append(r)
        return out

    async def registers(n, paced=True):
        # Paced at random intervals (mean 50 ms), so that they sample
        # whatever the plugin's store is doing over a few seconds.
        out = []
        for _ in range(n):
            if paced:
                await asyncio.sleep(rng.expovariate(20.0))
            dt, _ = await timed_register(conns[0], reg_users(), "r%d" % next(reg_seq))
            out.append(dt)
        return out

    log("signal: normal: %d warm-up calls, %d calls, %d registers" % (n_warm, n_calls, n_calls))
    await calls(n_warm)
    await registers(10)
    normal_calls = await calls(n_calls)
    normal_regs = await registers(n_calls)

    log("signal: freezing PostgreSQL; %d + %d calls, then %d registers" % (n_first, n_calls, n_calls))
    pg.c.freeze()
    t_freeze = time.monotonic()
    try:
        first_calls = await calls(n_first)
        frozen_calls = await calls(n_calls)
        frozen_regs = await registers(n_calls)
        stats_frozen = await admin_stats(admin, timeout=5)
    finally:
        pg.c.thaw()
    frozen_for = time.monotonic() - t_freeze
    recover1 = await wait_store_idle(admin)
    log("signal: thawed after %.1f s; spool replayed %.1f s later" % (frozen_for, recover1))

    log("signal: freezing PostgreSQL again; %d registers right after" % n_first)
    pg.c.freeze()
    try:
        first_regs = await registers(n_first, paced=False)
    finally:
        pg.c.thaw()
    recover2 = await wait_store_idle(admin)

    # Every call made has its entries, written once the database was back.
    ids = ",".join(call_ids)
    found = pg.q("SELECT count(DISTINCT c.call_id), count(*) FILTER (WHERE p.outcome = 'answered'), "
                 "count(*) FILTER (WHERE c.ended_at IS NULL) FROM calls_calls c JOIN calls_participants p "
                 "USING (call_id) WHERE c.call_id = ANY(string_to_array(:'ids', ',')::uuid[])", ids=ids)[0]
    n_made = len(call_ids)
    ok = int(found[0]) == n_made and int(found[1]) == 2 * n_made and int(found[2]) == 0
    if not ok:
        results["problems"].append("signal: %d calls made, in SQL %s calls, %s answered entries "
                                   "(want %d), %s not ended" % (n_made, found[0], found[1], 2 * n_made, found[2]))
    for c in conns:
        await c.close()
    await admin.close()

    def col(rs, k):
        return [r[k] for r in rs]

    rows = []
    for name, rs, regs in (("PostgreSQL running", normal_calls, normal_regs),
                           ("PostgreSQL frozen", frozen_calls, frozen_regs)):
        rows.append([name, len(rs), ms(pct(col(rs, "setup"), 50)), ms(pct(col(rs, "setup"), 99)),
                     ms(pct(col(rs, "incoming"), 50)), ms(pct(col(rs, "accepted"), 50)),
                     ms(pct(col(rs, "calling"), 50)), len(regs), ms(pct(regs, 50)), ms(pct(regs, 99)),
                     ms(max(regs)), sum(1 for v in regs if v > 0.1)])

    def ratio(a, b):
        return "%.2f" % (a / b) if b > 0 else "-"
    rows.append(["ratio frozen / running", "",
                 ratio(pct(col(frozen_calls, "setup"), 50), pct(col(normal_calls, "setup"), 50)),
                 ratio(pct(col(frozen_calls, "setup"), 99), pct(col(normal_calls, "setup"), 99)),
                 ratio(pct(col(frozen_calls, "incoming"), 50), pct(col(normal_calls, "incoming"), 50)),
                 ratio(pct(col(frozen_calls, "accepted"), 50), pct(col(normal_calls, "accepted"), 50)),
                 ratio(pct(col(frozen_calls, "calling"), 50), pct(col(normal_calls, "calling"), 50)), "",
                 ratio(pct(frozen_regs, 50), pct(normal_regs, 50)),
                 ratio(pct(frozen_regs, 99), pct(normal_regs, 99)), "", ""])
    results["signal"] = {"normal_setup_p50": pct(col(normal_calls, "setup"), 50),
                         "frozen_setup_p50": pct(col(frozen_calls, "setup"), 50),
                         "normal_reg_p50": pct(normal_regs, 50), "frozen_reg_p50": pct(frozen_regs, 50)}
    results["tables"].append(table(
        "Part 4: signalling latency, PostgreSQL running vs frozen (SIGSTOP), database.timeout_ms = %d" % timeout_ms,
        ["condition", "calls", "setup p50", "setup p99", "call->incoming p50", "accept->accepted p50",
         "call->calling p50", "registers", "register p50", "register p99", "register max", "registers > 100 ms"], rows,
        "ms. setup = (call sent -> callee's incoming_call) + (accept sent -> caller's accepted); "
        "the clients' own SDP work in between is not counted. Registers (fresh handle, existing user) "
        "one at a time, at random intervals (mean 50 ms).\n"
        "Frozen rows: after the first %d calls that followed the freeze. Store while frozen: %s"
        % (n_first, json.dumps({k: stats_frozen.get(k) for k in ("store_queue", "spooled")}))))
    rows = [["setup, first %d calls after freeze #1" % n_first] + [ms(r["setup"]) for r in first_calls],
            ["register, first %d after freeze #2" % n_first] + [ms(v) for v in first_regs]]
    w = max(len(first_calls), len(first_regs))
    rows = [r + [""] * (w + 1 - len(r)) for r in rows]
    results["tables"].append(table("Part 4: the first requests after PostgreSQL froze (ms, in order)",
                                   ["what"] + ["#%d" % (i + 1) for i in range(w)], rows,
                                   "After thaw the plugin's spool was replayed in %.1f s (freeze #1, %.0f s "
                                   "long) and %.1f s (freeze #2); calls made: %d, in SQL afterwards: %s "
                                   "calls / %s answered entries, %s"
                                   % (recover1, frozen_for, recover2, n_made, found[0], found[1],
                                      "all there" if ok else "MISMATCH")))


# ---------------------------------------------------------------- part 3: store

def part_store(pg, store_bench, work, records, spool_records, timeout_ms, n_users, results):
    node = "store-bench-%d" % os.getpid()
    spool = os.path.join(work, "store-spool")
    shutil.rmtree(spool, ignore_errors=True)
    args = [store_bench, "--conninfo", pg.c.conninfo, "--spool-dir", spool, "--node", node,
            "--timeout-ms", str(timeout_ms), "--records", str(records), "--spool-records",
            str(spool_records), "--users", str(max(2, n_users))]
    before = int(pg.scalar("SELECT count(*) FROM calls_calls"))
    log("store: %s" % " ".join(args[1:]))
    env = dict(os.environ, CALLS_TEST_LOG="1")
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    result = None
    frozen_at = None
    cpu = {"start": pg_cpu_seconds(pg)}
    try:
        for line in p.stdout:
            line = line.strip()
            if line == "FREEZE":
                cpu["direct"] = pg_cpu_seconds(pg)
                pg.c.freeze()
                frozen_at = time.monotonic()
                p.stdin.write("go\n")
                p.stdin.flush()
            elif line == "THAW":
                pg.c.thaw()
                cpu["thaw"] = pg_cpu_seconds(pg)
                log("store: PostgreSQL was frozen %.1f s" % (time.monotonic() - frozen_at))
                p.stdin.write("go\n")
                p.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
                cpu["end"] = pg_cpu_seconds(pg)
        rc = p.wait(60)
    finally:
        if pg.c.frozen:
            pg.c.thaw()
        if p.poll() is None:
            p.kill()
            p.wait()
    if rc != 0 or result is None:
        raise RuntimeError("store_bench failed (exit %s)" % rc)
    want_calls = result["warmup_calls"] + result["direct_calls"] + result.get("spool_calls", 0)
    got = pg.q("SELECT count(*), count(*) FILTER (WHERE ended_at IS NOT NULL), "
               "(SELECT count(*) FROM calls_participants p JOIN calls_calls c2 USING (call_id) "
               " WHERE c2.node = :'node'), "
               "(SELECT count(*) FROM calls_participants p JOIN calls_calls c2 USING (call_id) "
               " WHERE c2.node = :'node' AND p.outcome IS NOT NULL) "
               "FROM calls_calls c WHERE c.node = :'node'", node=node)[0]
    got = [int(x) for x in got]
    after = int(pg.scalar("SELECT count(*) FROM calls_calls"))
    ok = got[0] == want_calls and got[1] == want_calls and got[2] == 2 * want_calls and got[3] == 2 * want_calls
    rejected = os.path.join(spool, "rejected.jsonl")
    n_rejected = sum(1 for _ in open(rejected)) if os.path.exists(rejected) else 0
    if not ok or n_rejected:
        results["problems"].append("store: want %d calls / %d participant rows, SQL has %d calls (%d ended), "
                                   "%d participant rows (%d with an outcome); %d rejected records"
                                   % (want_calls, 2 * want_calls, got[0], got[1], got[2], got[3], n_rejected))
    r = result
    rows = [
        ["direct: records written (start + end of %s calls)" % "{:,}".format(r["direct_calls"]),
         "{:,}".format(r["direct_records"])],
        ["direct: time to queue them all", "%.2f s" % r["direct_push_s"]],
        ["direct: time until the database confirmed the last", "%.2f s" % r["direct_total_s"]],
        ["direct: sustained rate", "%s records/s (%s calls/s)" % ("{:,.0f}".format(r["direct_rate"]),
                                                                  "{:,.0f}".format(r["direct_rate"] / 2))],
        ["direct: most records waiting in memory", "{:,}".format(r["direct_max_queued"])],
        ["direct: CPU per record: PostgreSQL", "%.3f ms" % ((cpu["direct"] - cpu["start"]) * 1000 / r["direct_records"])
         if "direct" in cpu else "-"],
        ["direct: CPU per record: the plugin's store thread", "%.3f ms" % (r["direct_cpu_store_thread_s"] * 1000
                                                                         / r["direct_records"])],
        ["direct: CPU per record: making and queueing (bench)", "%.3f ms" % (r["direct_cpu_rest_s"] * 1000
                                                                           / r["direct_records"])],
    ]
    if "spool_records" in r:
        rows += [
            ["spool: records written while frozen", "{:,}".format(r["spool_records"])],
            ["spool: time to queue them all", "%.2f s" % r["spool_push_s"]],
            ["spool: first record in the spool after", "%.2f s (database.timeout_ms = %d)"
             % (r["spool_detect_s"], timeout_ms)],
            ["spool: all in the spool after", "%.2f s" % r["spool_all_s"]],
            ["replay: thaw -> first batch replayed", "%.2f s (reconnect backoff)" % r["replay_wait_s"]],
            ["replay: thaw -> spool empty", "%.2f s" % r["replay_total_s"]],
            ["replay: rate", ("%s records/s" % "{:,.0f}".format(r["replay_rate"])) if r["replay_rate"] else "-"],
            ["replay: CPU per record: PostgreSQL / store thread", "%.3f ms / %.3f ms" % (
                (cpu["end"] - cpu["thaw"]) * 1000 / r["spool_records"],
                r["replay_cpu_store_thread_s"] * 1000 / r["spool_records"]) if "end" in cpu and "thaw" in cpu else "-"],
        ]
    for phase, key in (("direct (writes queued in memory)", "direct_probe"),
                       ("frozen (writes going to the spool)", "spool_probe"),
                       ("replay (spool being replayed)", "replay_probe")):
        pr = r.get(key)
        if pr:
            rows.append(["missed-calls reads while %s" % phase,
                         "%d reads: %d answered, %d unavailable; p50 %.1f ms, max %.1f ms"
                         % (pr["reads"], pr["ok"], pr["unavailable"], pr["p50_ms"], pr["max_ms"])])
    rows += [["SQL check: calls of this run (warm-up + direct + spool)",
              "%s expected, %s found, %s ended" % ("{:,}".format(want_calls), "{:,}".format(got[0]),
                                                   "{:,}".format(got[1]))],
             ["SQL check: participant rows", "%s expected, %s found, %s with an outcome"
              % ("{:,}".format(2 * want_calls), "{:,}".format(got[2]), "{:,}".format(got[3]))],
             ["SQL check: rejected.jsonl", "%d records" % n_rejected],
             ["calls_calls rows before / after", "%s / %s" % ("{:,}".format(before), "{:,}".format(after))],
             ["result", "no record lost or doubled" if ok and not n_rejected else "MISMATCH"]]
    results["store"] = r
    results["tables"].append(table("Part 3: the plugin's store thread (bench/store_bench.c), batches of 200",
                                   ["what", "value"], rows))


# ---------------------------------------------------------------- main

def main():
    ap = arguments()
    ap.add_argument("--store-bench", required=True)
    ap.add_argument("--tree", required=True, help="the built tree (its sql/ matches the plugin)")
    a = ap.parse_args()

    n_calls = env_int("BENCH_CALLS", 10000000)
    n_users = env_int("BENCH_USERS", max(10, n_calls * 2 // 1000))
    n_req = env_int("BENCH_REQUESTS", 1000)
    limit = env_int("BENCH_LIMIT", 20)
    store_records = env_int("BENCH_STORE_RECORDS", 200000)
    spool_records = env_int("BENCH_SPOOL_RECORDS", store_records)
    sig_calls = env_int("BENCH_SIGNAL_CALLS", 100)
    sig_first = env_int("BENCH_SIGNAL_FIRST", 10)
    timeout_ms = env_int("BENCH_DB_TIMEOUT_MS", 2000)
    parts = set((os.environ.get("BENCH_PARTS") or "history,store,signal").replace(" ", ",").split(","))
    pg_dir = os.environ.get("BENCH_PG_DIR") or os.path.join(a.work, "pg")

    results = {"tables": [], "problems": []}
    started = begin("call history", "BENCH_CALLS=%d BENCH_USERS=%d BENCH_REQUESTS=%d BENCH_STORE_RECORDS=%d "
                    "BENCH_SIGNAL_CALLS=%d BENCH_DB_TIMEOUT_MS=%d parts=%s" % (
                        n_calls, n_users, n_req, store_records, sig_calls, timeout_ms, ",".join(sorted(parts))))
    pg = Pg(pg_dir)
    janus = None
    with postgres(pg.c, pg_dir):
        try:
            part_load(pg, a.tree, n_calls, n_users, results)
            print_load(pg, n_calls, n_users, results)
            users = ["u%06d" % k for k in range(1, n_users + 1)]
            if parts & {"history", "signal"}:
                janus = JanusInstance(plugin_dir=a.plugin_dir, workdir=os.path.join(a.work, "janus"),
                                      plugin_conf=plugin_conf(pg.c.conninfo, os.path.join(a.work, "janus-spool"),
                                                              "bench-janus", database={"timeout_ms": timeout_ms}))
                janus.start()
                log("janus up: %s (log %s)" % (janus.ws_url, janus.log_path))
                if "history" in parts:
                    asyncio.run(part_history(pg, janus, users, n_req, limit, results))
                if "signal" in parts:
                    asyncio.run(part_signal(pg, janus, users, sig_calls, sig_first, timeout_ms, results))
                janus.stop()
                janus = None
            if "store" in parts:
                part_store(pg, a.store_bench, a.work, store_records, spool_records, timeout_ms, n_users, results)
        finally:
            if janus is not None:
                janus.stop()
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    for t in results["tables"]:
        print(t)
    finish(results["problems"], "No problems found (all pages matched SQL, no record lost or doubled).", started)


if __name__ == "__main__":
    main()
