"""
Webhook relay throughput and latency on PostgreSQL, against a local receiver (a threaded
``http.server`` on 127.0.0.1 that answers 200 at once).

1. Backlog: ``--events`` top-ups recorded while no relay runs, then one relay drains them:
   events relayed per second (fan-out, claim, signed POST, record).
2. Under load: ``--producers`` threads top up credit as fast as they can while the relay runs
   in the background (woken by each commit, as in the scheduler's leader): events relayed per
   second, and commit-to-delivery latency (the top-up's commit to the receiver's arrival), p50
   and p99.

    .venv/bin/python -m bench.events [--events 5000] [--producers 4] [--endpoints 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import machine, migrate, recreate_database, setup_django


class Receiver:
    """Counts arrivals per webhook-id, with the moment (time.monotonic()) of the first."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.requests = 0
        self.lock = threading.Lock()
        self.all_in = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.monotonic()
                with receiver.lock:
                    receiver.requests += 1
                    receiver.arrived.setdefault(self.headers["webhook-id"], now)
                    receiver.all_in.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, requests: int, timeout: float) -> bool:
        with self.all_in:
            return self.all_in.wait_for(lambda: self.requests >= requests, timeout)


def customers(count: int) -> list[int]:
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    password = make_password("bench-password-1")
    users = User.objects.bulk_create(
        User(phone=f"+88018{n:08d}", name=f"Bench {n}", password=password) for n in range(count)
    )
    return [user.pk for user in users]


def top_up(user_id: int) -> None:
    from accounts.credit import credit_top_up

    credit_top_up(user_id=user_id, amount=Decimal("1.00"))


def bench_backlog(receiver: Receiver, user_ids: list[int], events: int, endpoints: int) -> None:
    from webhooks.models import WebhookDelivery
    from webhooks.relay import WebhookRelay

    for n in range(events):
        top_up(user_ids[n % len(user_ids)])
    relay = WebhookRelay()
    started = time.perf_counter()
    sent = 0
    while done := relay.run_once():
        sent += done
    elapsed = time.perf_counter() - started
    delivered = WebhookDelivery.objects.filter(status="succeeded").count()
    if not delivered == events * endpoints == sent:
        raise SystemExit(f"{delivered} delivered, {sent} sent, {events * endpoints} expected")
    print(
        f"backlog: {events:,} events x {endpoints} endpoint(s) relayed in {elapsed:5.1f} s ="
        f" {sent / elapsed:6.0f} deliveries/s (workers {relay.workers})"
    )


def bench_under_load(
    receiver: Receiver, user_ids: list[int], events: int, producers: int, endpoints: int
) -> None:
    from django.db import connection

    from events.models import Event
    from webhooks import relay as webhook_relay

    # Each producer tops up customers of its own, so a customer's commits happen in the order
    # of their events' sequence: the k-th commit of a customer is its k-th event here.
    committed: dict[int, list[float]] = {user_id: [] for user_id in user_ids}
    last_id = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    before = receiver.requests

    def produce(worker: int) -> None:
        mine = user_ids[worker::producers]
        try:
            for n in range(events // producers):
                user_id = mine[n % len(mine)]
                top_up(user_id)
                committed[user_id].append(time.monotonic())
        finally:
            connection.close()

    webhook_relay.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(w,)) for w in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    produced = time.perf_counter() - started
    total = (events // producers) * producers
    arrived = receiver.wait_for(before + total * endpoints, timeout=600)
    elapsed = time.perf_counter() - started
    webhook_relay.stop()
    if not arrived:
        raise SystemExit(f"only {receiver.requests - before} of {total * endpoints} arrived")

    latencies = []
    recorded = Event.objects.filter(id__gt=last_id).order_by("customer_id", "sequence")
    streams: dict[int, list[str]] = {}
    for public_id, customer_id in recorded.values_list("public_id", "customer_id"):
        streams.setdefault(customer_id, []).append(public_id)
    for customer_id, public_ids in streams.items():
        for public_id, moment in zip(public_ids, committed[customer_id], strict=True):
            latencies.append((receiver.arrived[public_id] - moment) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"under load: {total:,} top-ups by {producers} threads in {produced:5.1f} s"
        f" ({total / produced:5.0f}/s); all {total * endpoints:,} deliveries in"
        f" {elapsed:5.1f} s = {total * endpoints / elapsed:6.0f} deliveries/s;"
        f" commit to delivery p50 {p50:6.1f} ms, p99 {p99:6.1f} ms, max {latencies[-1]:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--customers", type=int, default=200)
    options = parser.parse_args()
    print(f"Machine: {machine()}")
    os.environ["WEBHOOK_ALLOW_PRIVATE_URLS"] = "true"  # the receiver is on 127.0.0.1
    setup_django()
    from django.db import connections

    from webhooks import services

    connections.close_all()
    recreate_database()
    migrate()
    receiver = Receiver()
    for n in range(options.endpoints):
        services.endpoint_create(url=f"{receiver.url}/{n}")
    user_ids = customers(options.customers)
    bench_backlog(receiver, user_ids, options.events, options.endpoints)
    bench_under_load(receiver, user_ids, options.events, options.producers, options.endpoints)


if __name__ == "__main__":
    main()
