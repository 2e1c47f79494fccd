"""Two workers on one broker and one database: Kafka splits the partitions between them; one is
killed with SIGKILL before it ever committed an offset, the other takes over its partitions
(inbound and read-model tables alike), and the read model is complete for every record posted,
before and after the kill.

A takeover from a worker that never committed is the case Faust's own recovery lost messages
in: it resumed the partitions before seeking them, and threw away what was fetched meanwhile
(see app/table_recovery.py)."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client.parser import text_string_to_metric_families
from service_process import ServiceProcess, load_sample, wait_for
from stream_fixtures import stored_counts

from projections.rebuild import partition_for

PARTITIONS = 4
BEFORE_KILL, AFTER_KILL = 30, 30
WAITED_FOR = 6  # records posted while a lookup waits for them (about half read on the worker
# not owning their partition)


def account(sample: str, record_id: str) -> dict:
    envelope = copy.deepcopy(load_sample(sample))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    return envelope


def owned_inbound_partitions(worker: ServiceProcess) -> set[int]:
    """The inbound partitions a worker owns, as its /metrics reports them (a lag per owned
    partition)."""
    try:
        text = httpx.get(f"{worker.url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return set()
    inbound = worker.topics["inbound"]
    return {int(sample.labels["partition"])
            for family in text_string_to_metric_families(text)
            if family.name == "crm_consumer_lag"
            for sample in family.samples if sample.labels["topic"] == inbound}


def post_all(worker: ServiceProcess, envelopes: list[dict]) -> None:
    with worker.client() as http:
        for envelope in envelopes:
            assert http.post("/events/salesforce/", json=envelope).status_code == 202


def read_all_at(http: httpx.Client, versions: dict[str, int]) -> dict[str, dict]:
    """Every record's view once each is at its expected version; else the laggards (falsy)."""
    views = {r: view(http, r) for r in versions}
    behind = {r: v and v["version"] for r, v in views.items()
              if not v or v["version"] != versions[r]}
    if behind:
        return Lagging(behind)
    return views


class Lagging(dict):
    """Records not yet at their expected version (falsy, so `wait_for` keeps waiting, and shown
    in its failure)."""

    def __bool__(self) -> bool:
        return False


def view(http: httpx.Client, record_id: str):
    response = http.get("/clients", params={"provider": "salesforce", "external_id": record_id})
    return response.json() if response.status_code == 200 else None


def test_partitions_split_between_two_workers_and_the_survivor_takes_over_a_killed_one(
        broker_url, fresh_database):
    first = ServiceProcess(broker_url, fresh_database, KAFKA_COMMIT_INTERVAL_S="3600")
    shared = {name: first.env[name] for name in (
        "APP_ID", "INBOUND_TOPIC_PREFIX", "DOMAIN_EVENTS_TOPIC", "DEAD_LETTER_TOPIC")}
    second = ServiceProcess(broker_url, fresh_database, **shared)
    assert first.port != second.port and first.data_dir != second.data_dir
    early = [f"001A{uuid.uuid4().hex[:14]}" for _ in range(BEFORE_KILL)]
    late = [f"001B{uuid.uuid4().hex[:14]}" for _ in range(AFTER_KILL)]
    try:
        first.start()
        second.start()

        def split():
            mine, theirs = owned_inbound_partitions(first), owned_inbound_partitions(second)
            return (mine and theirs and not mine & theirs
                    and mine | theirs == set(range(PARTITIONS)) and (mine, theirs))

        first_owns, second_owns = wait_for(split, timeout=60, interval=0.5)
        # the records' partitions (keyed by record id) belong to both workers
        for owned in (first_owns, second_owns):
            assert any(partition_for(r, PARTITIONS) in owned for r in early)
            assert any(partition_for(r, PARTITIONS) in owned for r in late)
        post_all(first, [account("account_create", record_id) for record_id in early])
        wait_for(lambda: asyncio.run(stored_counts(fresh_database))[1] == BEFORE_KILL,
                 timeout=30, interval=0.5)
        aggregate_ids = assert_reads_by_id_are_routed_to_the_owner(first, second, early,
                                                                   first_owns)
        assert_waiting_lookups_see_records_of_either_worker(first, second)

        first.kill()
        # until the group notices (a session timeout of 6 s), the dead worker still owns its
        # partitions: an answer that needs them is a 503 with the reason, not a 500
        on_first = next(a for a in aggregate_ids if partition_for(a, PARTITIONS) in first_owns)
        with second.client() as http:
            gathered = http.get("/clients", params={"limit": 5})
            routed = http.get(f"/clients/{on_first}")
        for answer in (gathered, routed):
            assert answer.status_code == 503 and "rebalancing?" in answer.json()["error"], \
                answer.text
            assert answer.headers["Retry-After"] == "1"
        post_all(second, [account("account_update", record_id) for record_id in early]
                 + [account("account_create", record_id) for record_id in late])

        assert wait_for(lambda: owned_inbound_partitions(second) == set(range(PARTITIONS)),
                        timeout=60, interval=0.5)
        expected = {**{r: 2 for r in early}, **{r: 1 for r in late}}
        with second.client() as http:
            views = wait_for(lambda: read_all_at(http, expected), timeout=90, interval=1)
        updated, created = [views[r] for r in early], [views[r] for r in late]
        assert {v["industry"] for v in updated} == {"Aerospace"}
        assert {v["external_ids"]["salesforce"] for v in updated + created} == {*early, *late}
        # each source event stored exactly once, whoever processed it
        assert (asyncio.run(stored_counts(fresh_database))[1]
                == 2 * BEFORE_KILL + AFTER_KILL + WAITED_FOR)
    finally:
        first.stop()
        second.stop()


def test_reads_waiting_on_partitions_a_joining_worker_takes_answer_503_not_stale(
        broker_url, fresh_database):
    """A read waiting for a version (`?min_version=&wait=`) on the worker that owned the
    record's partition ends with a 503 to retry when a joining worker takes that partition: it
    neither waits out its time reading the copy nobody writes any more nor answers 404."""
    first = ServiceProcess(broker_url, fresh_database)
    shared = {name: first.env[name] for name in (
        "APP_ID", "INBOUND_TOPIC_PREFIX", "DOMAIN_EVENTS_TOPIC", "DEAD_LETTER_TOPIC")}
    second = ServiceProcess(broker_url, fresh_database, **shared)
    record_ids = [f"001J{uuid.uuid4().hex[:14]}" for _ in range(12)]
    try:
        first.start()
        post_all(first, [account("account_create", record_id) for record_id in record_ids])
        with first.client() as http:
            views = wait_for(lambda: (found := [view(http, r) for r in record_ids])
                             and all(found) and found, timeout=30, interval=0.5)
        aggregate_ids = [v["aggregate_id"] for v in views]

        def wait_for_version_2(aggregate_id: str) -> tuple[httpx.Response, float]:
            with first.client() as http:
                started = time.monotonic()
                response = http.get(f"/clients/{aggregate_id}",
                                    params={"min_version": 2, "wait": 10}, timeout=30)
                return response, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=len(aggregate_ids)) as threads:
            waiting = [threads.submit(wait_for_version_2, a) for a in aggregate_ids]
            time.sleep(0.5)  # every read is waiting
            second.start()
            answers = [w.result() for w in waiting]
        taken = wait_for(lambda: owned_inbound_partitions(second), timeout=60, interval=0.5)
        moved = [partition_for(a, PARTITIONS) in taken for a in aggregate_ids]
        assert any(moved) and not all(moved), (taken, moved)
        for (answer, waited), was_moved in zip(answers, moved, strict=True):
            if was_moved or answer.status_code != 200:  # a rebalance makes every read retry
                assert answer.status_code == 503, answer.text
                assert "retry" in answer.json()["error"]
                assert answer.headers["Retry-After"] == "1" and waited < 9
            else:
                assert answer.json()["version"] == 1
    finally:
        first.stop()
        second.stop()


def assert_reads_by_id_are_routed_to_the_owner(first: ServiceProcess, second: ServiceProcess,
                                               record_ids: list[str], first_owns: set[int]
                                               ) -> list[str]:
    """Each worker answers GET /clients/{id} for every record, also those whose table partition
    (the aggregate id's) the other worker owns: Faust's table routing forwards the request.
    Returns the records' aggregate ids."""
    with first.client() as one, second.client() as other:
        views = wait_for(lambda: (found := [view(one, r) for r in record_ids]) and all(found)
                         and found, timeout=30, interval=0.5)
        aggregate_ids = [v["aggregate_id"] for v in views]
        owners = {partition_for(a, PARTITIONS) in first_owns for a in aggregate_ids}
        assert owners == {True, False}, "records should live on both workers' partitions"
        for aggregate_id, expected in zip(aggregate_ids, views, strict=True):
            for http in (one, other):
                response = http.get(f"/clients/{aggregate_id}")
                assert response.status_code == 200, response.text
                assert response.json() == expected
        for http in (one, other):  # lists and views gather every worker's partitions
            page = http.get("/clients", params={"limit": 500}).json()
            assert sorted(item["aggregate_id"] for item in page["items"]) == sorted(aggregate_ids)
            rows = http.get("/views/clients-by-industry").json()["rows"]
            assert {"industry": "Manufacturing", "count": len(record_ids)} in rows
    return aggregate_ids


def assert_waiting_lookups_see_records_of_either_worker(first: ServiceProcess,
                                                        second: ServiceProcess):
    """A lookup waiting for a record (`?wait=`) answers once it is visible, whichever worker
    owns the record's partition: its own writes wake it, the other worker's are asked for
    again every 50 ms."""
    record_ids = [f"001W{uuid.uuid4().hex[:14]}" for _ in range(WAITED_FOR)]
    answers = []
    for n, record_id in enumerate(record_ids):
        reader = (first, second)[n % 2]

        def read_waiting(reader=reader, record_id=record_id):
            with reader.client() as http:
                started = time.monotonic()
                response = http.get("/clients", params={
                    "provider": "salesforce", "external_id": record_id, "wait": 10}, timeout=30)
                return response, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=1) as thread:
            waiting = thread.submit(read_waiting)
            time.sleep(0.3)  # the lookup waits when the record is posted
            post_all(first, [account("account_create", record_id)])
            answers.append(waiting.result())
    for record_id, (response, waited) in zip(record_ids, answers, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["external_ids"]["salesforce"] == record_id
        assert waited < 8  # answered when visible, not at the wait's end
    # a read by id waits on the worker owning the record, whichever worker it is asked
    with first.client() as one, second.client() as other:
        for http in (one, other):
            aggregate_id = answers[0][0].json()["aggregate_id"]
            started = time.monotonic()
            response = http.get(f"/clients/{aggregate_id}", params={"min_version": 2,
                                                                    "wait": 0.5})
            assert response.status_code == 200 and response.json()["version"] == 1
            assert time.monotonic() - started >= 0.5  # waited for a version never reached
