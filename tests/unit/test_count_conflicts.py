"""A chunk's count that meets another chunk's on the run item is tried again, and still counts once."""
from __future__ import annotations

from botocore.exceptions import ClientError
import pytest

from chalicelib.runs import COUNT_CONFLICT_RETRIES, RunStore


def cancelled(*codes: str) -> ClientError:
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": code} for code in codes]}, "TransactWriteItems")


class ConflictingTable:
    """DynamoDB's answers to TransactWriteItems, as given: a list of errors to raise, then success."""

    def __init__(self, *errors: ClientError):
        self.errors, self.calls = list(errors), 0

    def transact_write_items(self, TransactItems):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {}


def store(table) -> tuple[RunStore, list[float]]:
    waits: list[float] = []
    return RunStore(table, "runs", sleep=waits.append), waits


def test_a_conflict_on_the_run_item_is_tried_again_after_a_short_jittered_wait():
    # GIVEN a table that cancels the count twice because another chunk's count held the run item
    table = ConflictingTable(cancelled("None", "TransactionConflict"), cancelled("None", "TransactionConflict"))
    runs, waits = store(table)
    # WHEN a chunk is counted
    counted = runs.count_chunk("3f6c2a9e-8b1d-4e57-9a0c-2d4f6b8e1a37", 1, success=10, errors=0)
    # THEN it is counted, on the third attempt, after two waits of at most a second
    assert counted is True and table.calls == 3
    assert len(waits) == 2 and all(0 <= w <= 1.0 for w in waits)


def test_a_chunk_counted_before_is_not_tried_again():
    table = ConflictingTable(cancelled("ConditionalCheckFailed", "None"))
    runs, waits = store(table)
    assert runs.count_chunk("3f6c2a9e-8b1d-4e57-9a0c-2d4f6b8e1a37", 1, success=10, errors=0) is False
    assert table.calls == 1 and waits == []


def test_conflicts_that_do_not_end_take_the_queue_s_retry_path():
    table = ConflictingTable(*[cancelled("None", "TransactionConflict")] * (COUNT_CONFLICT_RETRIES + 1))
    runs, waits = store(table)
    with pytest.raises(ClientError):
        runs.count_chunk("3f6c2a9e-8b1d-4e57-9a0c-2d4f6b8e1a37", 1, success=10, errors=0)
    assert table.calls == COUNT_CONFLICT_RETRIES + 1 and len(waits) == COUNT_CONFLICT_RETRIES
