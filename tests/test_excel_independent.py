"""The independent evaluation sets: hand-written requests on tables outside the generator's topics."""

from __future__ import annotations

import argparse
import random
from collections import Counter

import pytest

from tinyslm_hf.excel.independent import SETS, load_examples, load_records, load_tables, set_examples


@pytest.fixture(scope="module", params=SETS)
def named_set(request):
    return request.param, set_examples(request.param)


def test_every_reference_runs_to_one_plain_value(named_set):
    name, examples = named_set
    records = load_records(name)
    assert len(examples) == len(records)
    assert len({ex.id for ex in examples}) == len(examples)
    for ex, record in zip(examples, records):
        assert ex.id == record["id"] and ex.id.startswith(record["table"] + "-")
        assert ex.split == name and ex.family == ex.function == record["function"]
        assert ex.difficulty in ("easy", "medium", "hard")
        assert type(ex.expected) in (float, str, bool), (ex.id, ex.expected)
        assert ex.request.strip() and ex.formula.startswith("=")


def test_size_and_coverage(named_set):
    name, examples = named_set
    tables = load_tables(name)
    assert len(examples) >= 250
    assert len(tables) >= 12 and {ex.id.rsplit("-", 1)[0] for ex in examples} == set(tables)
    for name, table in tables.items():
        assert 8 <= len(table["rows"]) <= 20, name
    per_function = Counter(ex.function for ex in examples)
    assert sum(1 for n in per_function.values() if n >= 5) >= 8, per_function


def test_the_sets_share_no_table_or_request():
    for i, one in enumerate(SETS):
        for other in SETS[i + 1:]:
            assert not set(load_tables(one)) & set(load_tables(other)), (one, other)
            ours, theirs = ({r["request"].lower().strip() for r in load_records(name)} for name in (one, other))
            assert not ours & theirs, (one, other)


def test_an_unknown_set_is_refused():
    with pytest.raises(ValueError, match="unknown evaluation set 'nope'"):
        set_examples("nope")


@pytest.mark.parametrize("set_name", SETS)
def test_tables_are_not_generator_tables(set_name):
    from tinyslm_hf.excel.synthetic.topics import random_table

    generated = {frozenset(col.header.lower() for col in random_table(random.Random(i), split).columns)
                 for split in ("train", "validation", "test") for i in range(300)}
    for name, table in load_tables(set_name).items():
        ours = {h.lower() for h in table["headers"]}
        for theirs in generated:
            shared = len(ours & theirs)
            assert ours != theirs and 2 * shared < len(theirs) and 2 * shared < len(ours), (name, ours & theirs)


@pytest.mark.parametrize("set_name", SETS)
def test_no_request_is_a_generated_one(set_name):
    from tinyslm_hf.excel.synthetic.generator import generate

    generated = {ex.request.lower().strip() for ex in generate("train", 3000, seed=0)}
    copied = [r["id"] for r in load_records(set_name) if r["request"].lower().strip() in generated]
    assert not copied


def _with(record_changes: dict) -> tuple[dict, list[dict]]:
    tables = load_tables()
    name = next(iter(tables))
    record = {"id": f"{name}-999", "table": name, "request": "total of column A", "formula": "=COUNTA(A2:A5)",
              "function": "COUNTA", "difficulty": "easy", **record_changes}
    return tables, [record]


def test_a_good_record_loads():
    tables, records = _with({})
    (ex,) = load_examples(tables, records)
    assert ex.expected == 4.0 and ex.split == "independent"


@pytest.mark.parametrize("changes, message", [
    ({"formula": "=1/0"}, "does not run"),
    ({"formula": "=SUM("}, "does not run"),
    ({"formula": "=NOSUCHFUNCTION(A2)"}, "does not run"),
    ({"formula": "=A2:A5"}, "array"),
    ({"table": "no_such_table"}, "unknown table"),
    ({"difficulty": "trivial"}, "difficulty"),
    ({"function": None}, "function"),
])
def test_a_bad_record_names_its_id(changes, message):
    tables, records = _with(changes)
    with pytest.raises(ValueError, match=message) as info:
        load_examples(tables, records)
    assert records[0]["id"] in str(info.value)


def test_the_cli_names_every_set():
    from tinyslm_hf.commands.excel import EVALUATION_SETS

    assert EVALUATION_SETS == SETS


@pytest.mark.parametrize("set_name", SETS)
def test_eval_cli_offers_the_split(set_name):
    from tinyslm_hf.commands.excel import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["eval", "--model", "m", "--split", set_name])
    assert args.split == set_name
