#!/usr/bin/env python3
"""Measures what customer, product-order and web cost in memory and CPU, for the requests and
limits in deploy/kubernetes (README, "Running it on Kubernetes").

    cargo build --release -p customer -p product-order -p web
    python3 deploy/kubernetes/measure-resources.py [--bin target/release] [--seconds 30]
                                                   [--env NAME=VALUE ...]

Starts the three release binaries as processes of their own (as in a pod: one service each)
against the local PostgreSQL (postgres@127.0.0.1:5432, trust auth) and RabbitMQ (guest@
127.0.0.1:5672), on ports 18080-18082 / 19080-19082, on databases, an exchange and a queue of
their own (deleted afterwards). Then, phase by phase: idle; the catalog (web's product list
and product-order's API); sign-ups and logins (argon2id, 19 MiB a hash); checkouts (cart, saga,
order events to customer). Every 0.2 s it reads VmRSS from /proc/PID/status, and per phase
the CPU time from /proc/PID/stat; at the end VmHWM, the peak resident set of each process.
Prints a Markdown table. Needs only Python's standard library.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

TICK = os.sysconf("SC_CLK_TCK")
SUFFIX = f"k8s_measure_{os.getpid()}"
EXCHANGE = f"shop.{SUFFIX}.events"
QUEUE = f"customer.{SUFFIX}.order-events"
DATABASES = [f"shop_{SUFFIX}_customer", f"shop_{SUFFIX}_product_order"]
CUSTOMER = "http://127.0.0.1:18081"
PRODUCT_ORDER = "http://127.0.0.1:18082"
WEB = "http://127.0.0.1:18080"
OPERATOR = ("operator@measure.example", "measure-operator-password-1")
PASSWORD = "a measured password 1"


def request(method, url, body=None, token=None, headers=None, timeout=30):
    """One HTTP call; (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def start(bin_dir, logs, extra_env):
    common = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RUST_LOG": "warn",
        "SHOP_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
        "SHOP_EVENTS_EXCHANGE": EXCHANGE,
        "SHOP_CUSTOMER_URL": CUSTOMER,
        "SHOP_PRODUCT_ORDER_URL": PRODUCT_ORDER,
        **extra_env,
    }
    services = {
        "customer": {
            "CUSTOMER_ADDR": "127.0.0.1:18081",
            "CUSTOMER_INTERNAL_ADDR": "127.0.0.1:19081",
            "CUSTOMER_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASES[0]}",
            "CUSTOMER_EVENTS_QUEUE": QUEUE,
            "CUSTOMER_REGISTRATIONS_PER_ADDRESS": "1000000",
            "SHOP_OPERATOR_EMAIL": OPERATOR[0],
            "SHOP_OPERATOR_PASSWORD": OPERATOR[1],
        },
        "product-order": {
            "PRODUCT_ORDER_ADDR": "127.0.0.1:18082",
            "PRODUCT_ORDER_INTERNAL_ADDR": "127.0.0.1:19082",
            "PRODUCT_ORDER_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASES[1]}",
            "PRODUCT_ORDER_DEMO_CATALOG": "true",
        },
        "web": {"WEB_ADDR": "127.0.0.1:18080", "WEB_INTERNAL_ADDR": "127.0.0.1:19080"},
    }
    processes = {}
    for name, env in services.items():
        log = open(os.path.join(logs, f"{name}.log"), "wb")
        processes[name] = subprocess.Popen(
            [os.path.join(bin_dir, name)], env={**common, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        internal = {"customer": 19081, "product-order": 19082, "web": 19080}[name]
        deadline = time.time() + 120
        while True:
            if processes[name].poll() is not None:
                raise SystemExit(f"{name} exited at start; its log: {log.name}")
            try:
                if request("GET", f"http://127.0.0.1:{internal}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit(f"{name} was not ready within 120 s; its log: {log.name}")
            time.sleep(0.2)
    return processes


def status_of(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def kib(value):
    return int(value.split()[0])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        parts = stat.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


class Sampler(threading.Thread):
    """Peak VmRSS of each process within the current phase."""

    def __init__(self, processes):
        super().__init__(daemon=True)
        self.pids = {name: p.pid for name, p in processes.items()}
        self.peak = {name: 0 for name in self.pids}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            for name, pid in self.pids.items():
                rss = kib(status_of(pid)["VmRSS"])
                with self.lock:
                    self.peak[name] = max(self.peak[name], rss)
            time.sleep(0.2)

    def take(self):
        with self.lock:
            peak, self.peak = self.peak, {name: 0 for name in self.pids}
        return peak


def run_for(seconds, workers, job):
    """`job(worker_index)` in a loop on `workers` threads for `seconds`; calls made."""
    deadline = time.time() + seconds
    counts = [0] * workers

    def loop(index):
        state = {}
        while time.time() < deadline:
            job(index, state)
            counts[index] += 1

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(loop, i) for i in range(workers)]:
            future.result()
    return sum(counts)


def sign_up(prefix):
    email = f"{prefix}-{uuid.uuid4().hex[:12]}@measure.example"
    status, body = request("POST", f"{CUSTOMER}/api/auth/register", {"email": email, "password": PASSWORD, "name": "Measured"})
    assert status == 201, (status, body)
    status, body = request("POST", f"{CUSTOMER}/api/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, (status, body)
    return body["access_token"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="target/release", help="folder of the release binaries")
    parser.add_argument("--seconds", type=float, default=30, help="seconds per phase")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for all three services (repeatable)")
    args = parser.parse_args()
    logs = f"/tmp/{SUFFIX}"
    os.makedirs(logs, exist_ok=True)
    processes = start(args.bin, logs, dict(item.split("=", 1) for item in args.env))
    sampler = Sampler(processes)
    sampler.start()
    rows = []

    def phase(title, seconds, workers=0, job=None):
        sampler.take()
        before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
        started = time.time()
        calls = run_for(seconds, workers, job) if job else 0
        if not job:
            time.sleep(seconds)
        wall = time.time() - started
        cpu = {name: (cpu_seconds(p.pid) - before[name]) / wall for name, p in processes.items()}
        peak = sampler.take()
        rows.append((title, calls / wall if job else None, peak, cpu))
        print(f"{title}: {calls} calls in {wall:.0f} s", file=sys.stderr)

    try:
        phase("idle (after start)", args.seconds)

        status, body = request("POST", f"{CUSTOMER}/api/auth/login", {"email": OPERATOR[0], "password": OPERATOR[1]})
        assert status == 200, (status, body)
        operator = body["access_token"]
        status, product = request(
            "POST",
            f"{PRODUCT_ORDER}/api/products",
            {"sku": f"MEASURE-{uuid.uuid4().hex[:8]}", "name": "Measured teapot", "description": "",
             "price": 1999, "currency": "EUR", "stock": 1000000},
            token=operator,
        )
        assert status == 201, (status, product)

        def catalog(index, state):
            if index % 2:
                request("GET", f"{WEB}/products")
            else:
                request("GET", f"{PRODUCT_ORDER}/api/products?limit=20")

        phase("catalog: web /products and GET /api/products, 16 clients", args.seconds, 16, catalog)
        phase("sign-ups and logins (argon2id), 4 clients", args.seconds, 4, lambda i, s: sign_up("account"))

        def checkout(index, state):
            if "token" not in state:
                state["token"] = sign_up("shopper")
            token = state["token"]
            status, _ = request("PUT", f"{PRODUCT_ORDER}/api/cart/items/{product['id']}", {"quantity": 1}, token=token)
            assert status in (200, 204), status
            status, cart = request("GET", f"{PRODUCT_ORDER}/api/cart", token=token)
            body = {
                "contact": {"name": "Measured", "email": "measured@example.com", "phone": "+49 30 1234567"},
                "delivery": {"line1": "Hauptstr. 1", "line2": "", "city": "Berlin", "postal_code": "10115", "country": "DE"},
                "reviewed": {"total": cart["total"], "currency": cart["currency"]},
            }
            status, accepted = request(
                "POST", f"{PRODUCT_ORDER}/api/checkout", body, token=token,
                headers={"idempotency-key": str(uuid.uuid4())},
            )
            assert status == 202, (status, accepted)
            deadline = time.time() + 30
            while time.time() < deadline:
                status, seen = request("GET", f"{PRODUCT_ORDER}/api/checkouts/{accepted['checkout_id']}", token=token)
                if seen.get("state") in ("completed", "failed", "stuck"):
                    break
                time.sleep(0.05)
            request("GET", f"{WEB}/products")

        phase("checkouts: cart, checkout, status until ended, 16 shoppers", args.seconds, 16, checkout)
        phase("idle (after load)", args.seconds)
        hwm = {name: kib(status_of(p.pid)["VmHWM"]) for name, p in processes.items()}
    finally:
        sampler.stopped.set()
        for p in processes.values():
            p.send_signal(signal.SIGTERM)
        for p in processes.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for database in DATABASES:
            subprocess.run(["psql", "-qh", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {database}"], check=False)
        for queue in (QUEUE, f"{QUEUE}.dead", f"{EXCHANGE}.sessions-ended"):
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", queue], check=False, capture_output=True)
        # rabbitmqctl has no command to delete an exchange; its eval does (RabbitMQ 3.10+).
        for exchange in (EXCHANGE, f"{QUEUE}.dlx"):
            name = f'rabbit_misc:r(<<"/">>, exchange, <<"{exchange}">>)'
            erlang = f'rabbit_exchange:delete({name}, false, <<"measure-resources">>).'
            subprocess.run(["rabbitmqctl", "-q", "eval", erlang], check=False, capture_output=True)

    names = list(processes)
    print("| phase | calls/s | " + " | ".join(f"{n} RSS peak MiB | {n} CPU cores" for n in names) + " |")
    print("|---|---:|" + "---:|---:|" * len(names))
    for title, rate, peak, cpu in rows:
        cells = " | ".join(f"{peak[n] / 1024:.1f} | {cpu[n]:.2f}" for n in names)
        print(f"| {title} | {'' if rate is None else f'{rate:.0f}'} | {cells} |")
    print("| VmHWM (peak over the run) | | " + " | ".join(f"{hwm[n] / 1024:.1f} | " for n in names) + " |")


if __name__ == "__main__":
    main()
