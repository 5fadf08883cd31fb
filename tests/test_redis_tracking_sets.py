"""session_cache = tracking on a Sentinel set and a Cluster (stores/redis_listeners.py): the listener
follows a Sentinel set's master through a failover, a Cluster has one listener per master and follows
the slot map, and no cached record outlives a change that one of them did not hear."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import webtest

from auth0_wsgi.stores.redis_tracking import TrackedRecords
from tests.support.flows import log_in
from tests.support.http import JSON
from tests.support.redis_sets import redis_cluster, redis_sentinel
from tests.support.tracking import DEADLINE, tracked_records, within

pytestmark = pytest.mark.slow
BROWSERS = 6  # sessions with hash tags of their own: all in one of 3 masters' slots is 3 * 3^-6 likely


def _status(app: webtest.TestApp) -> int:
    return app.get("/x", headers=JSON, expect_errors=True).status_int


def _cached(app: webtest.TestApp, records: TrackedRecords) -> None:
    """Once the listeners are subscribed, one read puts the session in this process's cache."""
    assert within(10, lambda: records.live) is not None, "the listeners never subscribed"
    before = len(records._entries)
    assert within(5, lambda: _status(app) == 200 and len(records._entries) > before) is not None


def _record(app: webtest.TestApp) -> str:
    """The Redis key of ``app``'s session record."""
    middleware = app.app
    return middleware.config.namespace + middleware.store.record_key(
        app.cookies["auth0_session"].rpartition(".")[0])


def _other(worker: webtest.TestApp, like: webtest.TestApp) -> webtest.TestApp:
    """A browser on ``worker``'s middleware holding ``like``'s session cookie."""
    browser = webtest.TestApp(worker.app, extra_environ=worker.extra_environ)
    browser.set_cookie("auth0_session", like.cookies["auth0_session"])
    return browser


def test_after_a_sentinel_failover_the_cache_follows_the_new_master(build_app, monkeypatch):
    with redis_sentinel() as sentinels:
        sentinels.wait_until_failover_ready()
        worker_a, worker_b = build_app(session_store=sentinels.url), build_app(session_store=sentinels.url)
        log_in(worker_a)
        browser_b, records = _other(worker_b, worker_a), tracked_records(worker_b)
        _cached(browser_b, records)
        worker_a.get("/logout")
        assert within(DEADLINE, lambda: _status(browser_b) == 401) is not None, "not refused within 1 s"

        log_in(worker_a)
        browser_b = _other(worker_b, worker_a)
        _cached(browser_b, records)
        assert redis.Redis(port=sentinels.master_port).execute_command("WAIT", 1, 5000) == 1
        subscribe, held = records.subscribe, {"down": True}

        def gated(*args: Any, **kwargs: Any) -> Any:  # the gap, held open as long as the test needs
            if held["down"]:
                raise redis.ConnectionError("held down by the test")
            return subscribe(*args, **kwargs)
        monkeypatch.setattr(records, "subscribe", gated)
        sentinels.kill_master()
        assert within(5, lambda: not records.live) is not None
        assert not records._entries  # emptied: writes may be missed until it is subscribed again
        new_master = redis.Redis(port=sentinels.replica_port)
        assert within(30, lambda: _status(worker_a) == 200) is not None, "the new master never served"
        assert new_master.role()[0] == b"master" and new_master.exists(_record(worker_a))
        worker_a.get("/logout")  # through the new master, while B's listener is still away
        assert not new_master.exists(_record(browser_b))
        assert _status(browser_b) == 401  # read from Redis: nothing stale served during the gap

        held["down"] = False
        assert within(10, lambda: records.live) is not None, "the listener never followed the master"
        assert redis.Redis(port=sentinels.replica_port).client_kill_filter(
            _id=records.listener_ids[""]) == 1  # its connection is on the new master
        assert within(10, lambda: records.live) is not None
        log_in(worker_a)
        browser_b = _other(worker_b, worker_a)
        _cached(browser_b, records)
        worker_a.get("/logout")
        assert within(DEADLINE, lambda: _status(browser_b) == 401) is not None, "not refused within 1 s"


def test_a_logout_reaches_the_other_process_for_sessions_on_every_master(build_app, redis_cluster_url):
    worker_a, worker_b = (build_app(session_store=redis_cluster_url) for _ in range(2))
    records = tracked_records(worker_b)
    sessions = []
    for _ in range(BROWSERS):
        browser_a = webtest.TestApp(worker_a.app, extra_environ=worker_a.extra_environ)
        log_in(browser_a)
        browser_b = _other(worker_b, browser_a)
        _cached(browser_b, records)
        sessions.append((browser_a, browser_b))
    cluster = redis.RedisCluster.from_url(redis_cluster_url.replace("redis+cluster", "redis").split(",")[0])
    owners = {cluster.nodes_manager.get_node_from_slot(cluster.keyslot(_record(a))).name for a, _ in sessions}
    assert len(owners) > 1 and len(records.listener_ids) == 3  # one listener per master

    def all_cached() -> bool:  # by B, each one (read again if a reconnection emptied the cache)
        missing = [b for a, b in sessions if records.get(_record(a)) is None]
        return not [b for b in missing if _status(b) != 200] and not missing
    assert within(5, all_cached) is not None
    assert all(_status(b) == 200 for _, b in sessions)
    sessions[0][0].get("/logout")  # the user's logout ends the records of the sid: in every slot
    refused = within(DEADLINE, lambda: all(_status(b) == 401 for _, b in sessions))
    assert refused is not None, "the other process served a logged-out session after 1 s"


def test_a_slot_moved_to_a_new_master_leaves_no_stale_record_usable(build_app):
    with redis_cluster() as cluster:
        worker_a, worker_b = build_app(session_store=cluster.url), build_app(session_store=cluster.url)
        log_in(worker_a)
        browser_b, records = _other(worker_b, worker_a), tracked_records(worker_b)
        _cached(browser_b, records)
        assert len(records.listener_ids) == 3
        new_master = cluster.add_master()
        cluster.move_slot(cluster.client().keyslot(_record(worker_a)), new_master)
        assert _status(browser_b) == 200  # meets MOVED: read from the new master, where none listens yet
        assert records.get(_record(worker_a)) is None or len(records.listener_ids) == 4, \
            "a record read from a master without a listener was kept"
        # B's next reads meet MOVED: its slot map, and so its listeners, must follow the record
        assert within(10, lambda: _status(browser_b) == 200 and len(records.listener_ids) == 4
                       and bool(records._entries)) is not None, "no listener on the new master"
        worker_a.get("/logout")  # deletes the record on the new master
        assert within(DEADLINE, lambda: _status(browser_b) == 401) is not None, \
            "a record moved to a new master stayed usable after its logout"
