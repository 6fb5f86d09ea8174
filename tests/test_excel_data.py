"""Generator, executor and grammar checks for the Excel task (no model involved)."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics

from tinyslm_hf.excel.constrained import check_formula_prefix, is_complete_formula
from tinyslm_hf.excel.evaluate import score
from tinyslm_hf.excel.executor import execute, is_valid_syntax, values_equal
from tinyslm_hf.excel.example import Example
from tinyslm_hf.excel.synthetic.generator import generate
from tinyslm_hf.excel.synthetic.handwritten import handwritten_examples
from tinyslm_hf.excel.synthetic.phrasings import FAMILY, T
from tinyslm_hf.excel.table import NUMBER, TEXT, Column, Table
import random

import pytest

from tinyslm_hf.excel.synthetic.topics import TOPICS, header_names, invented_topic, random_table, topics_for

REQUIRED = {"SUM", "AVERAGE", "MIN", "MAX", "COUNT", "COUNTA", "COUNTIF", "COUNTIFS", "SUMIF", "SUMIFS", "AVERAGEIF",
            "AVERAGEIFS", "IF+AND", "IF+OR", "ROUND", "ABS", "VLOOKUP", "INDEX/MATCH", "IFERROR", "LEN", "UPPER",
            "LOWER", "LEFT", "RIGHT", "MID", "TRIM", "CONCAT", "&", "PCT_CHANGE", "SUMPRODUCT", "LARGE", "SMALL",
            "MAXIFS", "MINIFS", "XLOOKUP", "RANK.EQ", "MEDIAN", "PROPER", "FIND", "SEARCH", "SUBSTITUTE", "IF",
            "COUNTBLANK", "TEXT"}

# The everyday functions added after the first 39 families: family -> function label.
NEW_FAMILIES = {"maxifs": "MAXIFS", "minifs": "MINIFS", "maxifs_num": "MAXIFS", "minifs_num": "MINIFS",
                "xlookup": "XLOOKUP", "rank": "RANK.EQ", "rank_asc": "RANK.EQ", "median": "MEDIAN",
                "proper": "PROPER", "find": "FIND", "search": "SEARCH", "substitute": "SUBSTITUTE",
                "countifs_month": "COUNTIFS", "sumifs_month": "SUMIFS", "countifs_year": "COUNTIFS",
                "sumproduct_year": "SUMPRODUCT", "if_text": "IF", "countblank": "COUNTBLANK", "text_fmt": "TEXT",
                "if_num": "IF"}


def _dump(examples):
    return [json.dumps(e.to_json(), sort_keys=True) for e in examples]


def test_generator_is_deterministic_per_seed():
    a = _dump(generate("train", 40, seed=7))
    b = _dump(generate("train", 40, seed=7))
    c = _dump(generate("train", 40, seed=8))
    assert a == b
    assert a != c


def test_every_reference_formula_executes_to_its_expected_value():
    checked = 0
    for split in ("train", "validation", "test"):
        for ex in generate(split, 80, seed=11):
            # round-trip through JSON as the files on disk do
            ex = Example.from_json(json.loads(json.dumps(ex.to_json())))
            result = execute(ex.formula, ex.table)
            assert result.ok, (ex.formula, result.error)
            assert values_equal(result.value, ex.expected), (ex.formula, result.value, ex.expected)
            checked += 1
    assert checked == 240


def test_a_table_with_blank_dates_goes_to_a_file_and_back():
    from tinyslm_hf.excel.table import table_from_json

    table = table_from_json({"headers": ["Opened", "Closed"], "types": ["date", "date"],
                             "rows": [["2024-03-01", "2024-03-04"], ["2024-03-02", None], ["2024-03-05", ""]]})
    ex = Example(id="x", split="s", table=table, request="r", formula="=COUNTBLANK(B2:B4)", expected=2.0,
                 function="COUNTBLANK", difficulty="easy", family="COUNTBLANK")
    back = Example.from_json(json.loads(json.dumps(ex.to_json())))
    assert back.table.to_json()["rows"] == [["2024-03-01", "2024-03-04"], ["2024-03-02", None], ["2024-03-05", None]]
    assert execute(back.formula, back.table).value == 2.0


def test_required_function_families_are_covered():
    assert REQUIRED <= {fn for fn, _ in FAMILY.values()}
    seen = {ex.function for ex in generate("train", 400, seed=3)}
    assert len(seen) >= 30  # nearly all families show up in a modest sample


def test_held_out_split_has_its_own_phrasings_headers_and_topics():
    assert not header_names("train") & header_names("test")
    assert not {t.name for t in topics_for("train")} & {t.name for t in topics_for("test")}
    for family, (train_t, test_t) in T.items():
        assert test_t and not set(train_t) & set(test_t), family
    train_headers = header_names("train")
    test_topics = {t.name for t in topics_for("test")}
    for ex in generate("test", 60, seed=5):
        assert ex.table.topic in test_topics
        assert not {c.header for c in ex.table.columns} & train_headers


def test_invented_topics_never_use_held_out_headers_or_values_and_stay_deterministic():
    held_out = {n.lower() for t in TOPICS if t.split == "test" for c in t.columns for n in c.test_names}
    held_out |= {str(v).lower() for t in TOPICS if t.split == "test" for c in t.columns for v in c.values}
    rng = random.Random(0)
    headers = set()
    for _ in range(300):
        topic = invented_topic(rng)
        names = [n.lower() for c in topic.columns for n in c.train_names]
        assert len(names) == len(set(names))  # no duplicate header inside one table
        assert not set(names) & held_out
        assert not {str(v).lower() for c in topic.columns for v in c.values} & held_out
        headers.update(names)
    assert len(headers) > 300  # broad: far more names than the five fixed topics hold
    assert random_table(random.Random(1), "test", invented_fraction=1.0).topic in {t.name for t in topics_for("test")}
    mixed = list(generate("train", 40, seed=2, invented_fraction=0.5))
    assert 5 < sum(ex.table.topic == "invented" for ex in mixed) < 35
    assert _dump(mixed) == _dump(generate("train", 40, seed=2, invented_fraction=0.5))
    for ex in mixed[:10]:
        assert values_equal(execute(ex.formula, ex.table).value, ex.expected)
    with pytest.raises(ValueError, match="invented_fraction"):
        next(generate("train", 1, invented_fraction=1.5))


def test_executor_never_raises_and_scores_broken_formulas_as_wrong():
    ex = next(generate("train", 1, seed=1))
    last = ex.table.last_row
    preds = ["=SUM(C2:", "=FOO(C2)", "SUM(C2:C5)", "", "=Sales", "=1/0", "=A2:XFD1048576", ex.formula]
    for p in preds[:-1]:
        assert not execute(p, ex.table).ok or not values_equal(execute(p, ex.table).value, ex.expected)
    result = score([ex] * len(preds), preds)
    flags = [r["correct"] for r in result["records"]]
    assert flags == [False] * (len(preds) - 1) + [True]
    assert result["metrics"]["execution_accuracy"] == 1 / len(preds)
    assert result["records"][0]["valid"] is False
    assert is_valid_syntax(f"=SUM(C2:C{last})") and not is_valid_syntax("=SUM(C2:")


@pytest.mark.parametrize("formula, excel", [
    ('=COUNTIF(B2:B6,"*popcorn*")', 2.0),  # wildcards ignore case
    ('=COUNTIF(B2:B6,"*corn")', 1.0),  # ... and match the whole text: not "Popcorn Large"
    ('=COUNTIF(B2:B6,"pop?orn*")', 2.0),
    ('=COUNTIF(B2:B6,"*")', 4.0),  # a blank cell is no text
    ('=COUNTIF(B2:B6,"<>*corn*")', 2.0),  # a wildcard after <>, blanks included
    ('=COUNTIF(B2:B6,"<>")', 4.0),  # the cells that are not blank
    ('=COUNTIF(A2:A6,"2A")', 1.0),  # a unit, not 2 AM today (which every unit ending in A also was)
    ('=COUNTIF(A2:A6,"<>2a")', 4.0),
    ('=COUNTIF(D2:D6,"T-105")', 2.0),  # a code, not a day of 2005; case ignored
    ('=SUMIF(A2:A6,"*A",E2:E6)', 19.0),
    ('=COUNTIF(C2:C6,"2024-03-01")', 1.0),  # a whole date is still a date
    ('=COUNTIFS(C2:C6,">="&DATE(2024,3,2),B2:B6,"*o*")', 3.0),
    ('=DATEDIF(C2,C4,"d")', 31.0),  # the unit in any case
    ('=DATEDIF(C2,C4,"m")', 1.0),
    ('=SUMPRODUCT(--(A2:A6="2A"))', 1.0),  # -- turns TRUE into 1
    ('=SUMPRODUCT(--(E2:E6>4),E2:E6)', 23.0),
    ('=E2--E3', 8.0),  # a minus and a negative number stay that
    ('=E2/--E3', 0.6),  # after an operator, which coerces by itself, nothing changes
    ('=E2^--E2', 27.0),
    ('=COUNTIF(C2:C6,"2024/03/01")', 1.0),  # dates in other shapes
    ('=COUNTIF(C2:C6,"01-Mar-2024")', 1.0),
    ('=COUNTIF(C2:C6,"Mar 5, 2024")', 1.0),
    ('=COUNTIF(E2:E6,"<>5")', 4.0),  # blanks and texts are not 5
    ('=COUNTIF(E2:E6,"=")', 1.0),  # the blank cell
    ('=COUNTIF(F2:F6,"a~*b")', 1.0),  # ~* is a literal *
    ('=COUNTIF(F2:F6,"*~**")', 1.0),
    ('=IF(E2>1,"a--b","c")', "a--b"),  # and so does a quoted text
])
def test_the_engine_reads_criteria_and_double_negation_as_excel_does(formula, excel):
    from tinyslm_hf.excel.table import table_from_json

    table = table_from_json({"headers": ["Unit", "Item", "Day", "Code", "N", "Note"],
                             "types": ["text", "text", "date", "text", "number", "text"],
                             "rows": [["2A", "Popcorn Large", "2024-03-01", "T-105", 3, "a*b"],
                                      ["4A", "popcorn small", "2024-03-05", "T-106", 5, "ab"],
                                      ["2B", "Nachos", "2024-04-01", "t-105", 7, "axb"], [None] * 6,
                                      ["12A", "Candy Corn", "2024-03-02", "X", 11, "b"]]})
    result = execute(formula, table)
    assert result.ok and values_equal(result.value, excel), (formula, result)


def test_execution_accuracy_accepts_an_equivalent_formula():
    ex = next(e for e in generate("train", 200, seed=2) if e.formula.startswith("=SUM("))
    rng = ex.formula[len("=SUM("):-1]
    col, first, last = rng[0], int(rng.split(":")[0][1:]), int(rng.split(":")[1][1:])
    spelled_out = "=" + "+".join(f"{col}{r}" for r in range(first, last + 1))
    result = score([ex, ex], [ex.formula, spelled_out])
    assert [r["correct"] for r in result["records"]] == [True, True]
    assert [r["exact"] for r in result["records"]] == [True, False]


def test_formula_grammar_accepts_every_prefix_of_real_formulas_and_rejects_junk():
    for ex in generate("train", 200, seed=4):
        for i in range(len(ex.formula) + 1):
            assert check_formula_prefix(ex.formula[:i])[0], ex.formula[:i]
        assert is_complete_formula(ex.formula)
    for bad in ["SUM(", "=SUM(C2:C5))", "=*2", "=NOTAFUNC(", "=SUM(C2,,", "=C2 C3", "=)"]:
        assert not check_formula_prefix(bad)[0], bad
    for unfinished in ["=SUM(C2:C5", '="abc', "=1+", "=VLOOK"]:
        ok, complete = check_formula_prefix(unfinished)
        assert ok and not complete, unfinished


def test_formula_grammar_keeps_references_inside_the_table():
    """Given the table's width, every prefix of every reference formula passes, and a reference to a column past
    the table (a beam writing `H2:Has15`, which the engine would run over thousands of empty columns) does not;
    function names that start like a far column (`MAX`, `LEN`, `TRUE`) still pass."""
    for ex in [*generate("train", 200, seed=4), *handwritten_examples()]:
        width = len(ex.table.columns)
        for i in range(len(ex.formula) + 1):
            assert check_formula_prefix(ex.formula[:i], width=width)[0], (ex.formula[:i], width)
    for far in ["=SUM(H2:Has15)", "=SUM(H2:HA", "=I2", "=SUM(I2:I9)", "=$I$2", "=SUM(A2:A9,J", "=SUM(I:I)"]:
        assert check_formula_prefix(far)[0], far  # any column when the width is not known
        assert not check_formula_prefix(far, width=8)[0], far
    for near in ["=SUM(H2:H15)", "=MAX(", "=LEN(A2)", "=TRUE", "=$H$2", "=SUM(A:H)", "=H"]:
        assert check_formula_prefix(near, width=8)[0], near
    ok, complete = check_formula_prefix("=H2", width=8)
    assert ok and complete
    assert check_formula_prefix("=AB2", width=28) == (True, True)
    assert not check_formula_prefix("=AC2", width=28)[0]


def test_references_may_reach_the_last_named_column_and_a_cell_the_request_types():
    """`ask --columns "A=Region,C=Sales"` names letters that skip some: the width runs to the last one; a cell the
    request types by address (`the rate in J1`, `$K$3`, `j1`) is reachable too, unless it is part of a cell value
    (a job code `AB16`) or quoted."""
    from tinyslm_hf.excel.constrained import reference_width
    from tinyslm_hf.excel.table import schema_table

    sparse = schema_table({"E": "Genre", "F": "Watched"}, 2, 5)
    assert reference_width(sparse, "how many sci-fi films") == 6
    assert check_formula_prefix("=COUNTIF(E2:E5,", width=reference_width(sparse, "films"))[0]
    assert reference_width(sparse, "sales times the rate in J1") == 10
    assert reference_width(sparse, "use $K$3 as the rate") == 11
    assert reference_width(sparse, "times the rate in j1") == 10
    assert reference_width(sparse, "films from 2024, 5 of them") == 6
    wide = next(iter(generate("test", 1, seed=1))).table
    assert reference_width(wide, "total") == len(wide.columns)
    coded = Table("jobs", [Column("A", "Job", TEXT, ["AB16", "AB17"]), Column("B", "Hours", NUMBER, [3, 4])])
    assert reference_width(coded, "hours on job AB16") == 2
    assert reference_width(coded, 'hours where Job is "ZZ9"') == 2
    assert reference_width(coded, "hours times the rate in D1") == 4


def test_handwritten_requests_are_not_generator_templates():
    examples = handwritten_examples()
    assert len(examples) >= 30
    templates = {t.split("{")[0].strip().lower() for pair in T.values() for ts in pair for t in ts}
    assert all(e.request.lower() not in templates for e in examples)
    assert {e.function for e in examples} >= {"SUM", "VLOOKUP", "SUMIFS", "IF+OR", "SUMPRODUCT"}


def test_request_noise_words_are_not_held_out_vocabulary_or_header_names():
    from tinyslm_hf.excel.synthetic import phrasings as generator
    from tinyslm_hf.excel.synthetic import topics as tables

    held_out = generator.held_out_phrasing_words()
    assert {"shout", "glue", "asap", "exceeding", "prior"} <= held_out  # phrasings, closers, operator words
    names = set()
    for topic in TOPICS:
        for col in topic.columns:
            for name in list(col.train_names) + list(col.test_names) + [str(v) for v in col.values]:
                names |= generator.phrase_words(name)
    for pool in (tables._NUMBER_WORDS, tables._CATEGORY_WORDS, tables._TEXT_WORDS, tables._DATE_WORDS,
                 tables._CATEGORY_VALUES):
        names |= {w for name in pool for w in generator.phrase_words(name)}
    fillers = set(generator.FILLER_WORDS)
    assert not fillers & held_out, "noise would leak held-out vocabulary into training"
    assert not fillers & names, "noise words would be linked to a column"


def test_request_noise_keeps_formulas_and_placeholders_and_is_off_by_default():
    clean = list(generate("train", 200, seed=3))
    assert _dump(clean) == _dump(list(generate("train", 200, seed=3, noise=0.0)))
    noisy = list(generate("train", 200, seed=3, noise=1.0))
    assert _dump(noisy) == _dump(list(generate("train", 200, seed=3, noise=1.0)))
    from tinyslm_hf.excel.synthetic.phrasings import FILLER_WORDS

    changed = sum(any(w in FILLER_WORDS for w in e.request.lower().replace(",", " ").split()) for e in noisy)
    assert changed > 100  # most requests got a filler word (the rest a made-up one)
    for ex in noisy:
        assert "{" not in ex.request and "}" not in ex.request
        assert execute(ex.formula, ex.table).ok
    with pytest.raises(ValueError, match="noise"):
        list(generate("train", 1, noise=1.5))


def test_english_category_values_bring_no_held_out_word_into_training():
    from tinyslm_hf.excel.synthetic.phrasings import FILLER_WORDS, held_out_phrasing_words
    from tinyslm_hf.excel.synthetic.topics import _HELD_OUT_WORDS, english_words

    words = {w.lower() for w in english_words()}
    assert len(words) > 5000
    assert not words & held_out_phrasing_words()
    assert not words & _HELD_OUT_WORDS
    assert not words & set(FILLER_WORDS)
    rng = random.Random(4)
    used = {str(v) for _ in range(200) for c in invented_topic(rng).columns if c.kind == "category" for v in c.values}
    assert used & set(english_words()), "invented topics should draw some category values from english_words()"


def test_constrained_strings_must_be_copied_from_the_request_or_a_cell():
    from tinyslm_hf.excel.constrained import copies_only, string_literals
    from tinyslm_hf.excel.evaluate import copy_sources
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    assert string_literals('=IF(A2>1,"Y","N")') == (["Y", "N"], None)
    assert string_literals('=SUMIF(A2:A9,"We') == ([], "We")
    assert string_literals('=A2&"""x"') == (['"x'], None)  # a doubled quote is one quote inside the string
    table = Table("t", [Column("A", "City", CATEGORY, ["Leeds", "York"]), Column("B", "Sales", NUMBER, [5, 9])])
    sources = copy_sources(table, 'sales in leeds of at least 4200, "-" if none')
    assert sources == ['sales in leeds of at least 4200, "-" if none', "Leeds", "York"]
    for ok in ['=SUMIF(A2:A3,"Leeds",B2:B3)', '=SUMIF(A2:A3,"leeds",B2:B3)', '=COUNTIF(B2:B3,">=4200")',
               '=COUNTIF(B2:B3,"<"&DATE(2024,1,1))', '=IFERROR(A2,"-")', '=SUMIF(A2:A3,"Yo']:
        assert copies_only(ok, sources), ok
    for bad in ['=SUMIF(A2:A3,"Liity",B2:B3)', '=COUNTIF(B2:B3,">=4300")', '=SUMIF(A2:A3,"Yor")', '=SUMIF(A2:A3,"Q',
                '=SUMIF(A2:A3,"lee",B2:B3)', '=COUNTIF(B2:B3,">=42")', '=IFERROR(A2,"a")']:
        assert not copies_only(bad, sources), bad  # a request word is copied whole, never stopped inside
    possessive = copy_sources(table, "Vera Costa's sales, \"missing\" if absent")
    assert copies_only('=IFERROR(VLOOKUP("Vera Costa",A2:B3,2,FALSE),"missing")', possessive)
    assert not copies_only('=IFERROR(VLOOKUP("Vera Co",A2:B3,2,FALSE),"missing")', possessive)
    # a copy starts and ends on word boundaries, which punctuation, spaces and digit/letter changes also make
    for request, formula in [("count sales over $4200", '=COUNTIF(B2:B3,">4200")'),
                             ("count orders over 10kg", '=COUNTIF(B2:B3,">10")'),
                             ("row 2: Pass/Fail depending on sales over 5", '=IF(B2>5,"Pass","Fail")'),
                             ("join city and sales with ' and '", '=A2&" and "&B2'),
                             ("label it 'Total: ' then the sum", '="Total: "&SUM(B2:B3)'),
                             ("sales for Rossi\u2019s team", '=SUMIF(A2:A3,"Rossi",B2:B3)')]:
        assert copies_only(formula, copy_sources(table, request)), (request, formula)
    for bad in ['=SUMIF(A2:A3,"R",B2:B3)', '=SUMIF(A2:A3,"ross",B2:B3)', '=SUMIF(A2:A3,"ossi",B2:B3)']:
        assert not copies_only(bad, copy_sources(table, "sales for Rossi's team")), bad
    assert copies_only('=SUMIF(A2:A3,"Liity",B2:B3)', None)  # no sources: grammar only
    # a beam re-reads its closed literals at every step: each one's verdict is worked out once per request
    from tinyslm_hf.excel.constrained import CopyTargets
    targets, worked_out = CopyTargets(sources), []
    original = targets._allows
    targets._allows = lambda content, complete: worked_out.append((content, complete)) or original(content, complete)
    garbled = '=IF(A2>1,"Leeds","York","Leeds","Liity","Leeds"'
    for i in range(len(garbled) + 1):
        assert copies_only(garbled[:i], targets) == copies_only(garbled[:i], sources), garbled[:i]
    assert len(worked_out) == len(set(worked_out))  # each verdict once, however often it is asked for
    assert sorted(content for content, complete in worked_out if complete) == ["Leeds", "Liity", "York"]

    # the constraint never blocks a right answer: every prefix of every reference passes it
    examples = list(generate("train", 300, seed=3)) + list(generate("test", 300, seed=3)) + handwritten_examples()
    for ex in examples:
        sources = copy_sources(ex.table, ex.request)
        targets = CopyTargets(sources)  # shared by every prefix, as a beam's processor shares it
        assert all(copies_only(ex.formula[:i], targets) for i in range(len(ex.formula) + 1)), ex.formula


def test_resumed_formula_scan_equals_a_scan_from_the_start():
    from tinyslm_hf.excel.constrained import check_formula_prefix, scan_formula_prefix

    texts = [ex.formula for ex in generate("train", 150, seed=9)] + [
        '=IF(A2<>"x""y",1,2)', '=A2&" - "&B2', "=SUM(C2:C9)*100%", '=COUNTIF(B2:B9,"<"&DATE(2024,1,1))',
        "=ROUND(-B2/1.5e3,2)", "=SUM(C2:", '=LEFT("ab', "=SUM((A2+B2)", "=$A$2", "=A2 +  B2"]
    rng = random.Random(0)
    junk = ['"', "(", ")", ",", "<", "=", ">", ":", "A", "1", " ", "SUM(", "%", ".", "e", "$", "&"]
    for formula in texts:
        variants = [formula] + [formula[:rng.randrange(len(formula) + 1)] + rng.choice(junk) for _ in range(4)]
        for text in variants:
            for cut in range(len(text) + 1):
                resume = scan_formula_prefix(text[:cut])[2]
                assert check_formula_prefix(text, resume) == check_formula_prefix(text), (text, cut)


def _new_family_examples(n_train: int = 30, n_test: int = 12):
    for family in NEW_FAMILIES:
        for split, n in (("train", n_train), ("test", n_test)):
            yield from generate(split, n, seed=6, families=[family], invented_fraction=0.5 if split == "train" else 0.0)


def _expected_by_hand(ex):
    """The value a new family's reference formula must give, worked out in Python from the table alone (never by the
    formula engine): a check that the engine computes these functions the way Excel does."""
    from tinyslm_hf.excel.table import EXCEL_EPOCH

    table, f = ex.table, ex.formula
    ranges = [m[0] for m in re.findall(r"\b([A-Z]+)\d+:([A-Z]+)\d+", f)]
    cols = [table.column(letter).values for letter in ranges]
    strings = re.findall(r'"([^"]*)"', f)
    m = re.search(r"(?<![A-Z:])([A-Z]+)(\d+)(?![\d:])", re.sub(r'"[^"]*"', "", f.replace("RANK.EQ", "")))
    cell = table.cell(m[1], int(m[2])) if m else None
    dates = [dt.date(*map(int, d)) for d in re.findall(r"DATE\((\d+),(\d+),(\d+)\)", f)]
    serial = [(d - EXCEL_EPOCH).days for d in dates]

    def meets(value, criterion):
        op = next((o for o in ("<=", ">=", "<", ">") if criterion.startswith(o)), None)
        if op is None:
            return str(value).lower() == criterion.lower()
        x = float(criterion[len(op):])
        return {"<": value < x, "<=": value <= x, ">": value > x, ">=": value >= x}[op]

    family = ex.family
    if family in ("maxifs", "minifs", "maxifs_num", "minifs_num"):
        picked = [v for v, c in zip(cols[0], cols[1]) if meets(c, strings[0])]
        return float((max if family.startswith("max") else min)(picked)) if picked else 0.0
    if family == "xlookup":
        return cols[1][[str(v) for v in cols[0]].index(strings[0])]
    if family in ("rank", "rank_asc"):
        return 1.0 + sum((v < cell) if family == "rank_asc" else (v > cell) for v in cols[0])
    if family == "median":
        return float(statistics.median(cols[0]))
    if family == "proper":
        return cell.title()
    if family == "find":
        return float(cell.find(strings[0]) + 1)
    if family == "search":
        return float(cell.lower().find(strings[0].lower()) + 1)
    if family == "substitute":
        return cell.replace(strings[0], strings[1])
    if family in ("countifs_month", "countifs_year"):
        return float(sum(serial[0] <= d < serial[1] for d in cols[0]))
    if family == "sumifs_month":
        return float(sum(v for v, d in zip(cols[0], cols[1]) if serial[0] <= d < serial[1]))
    if family == "sumproduct_year":
        year = int(re.search(r"\)=(\d{4})\)", f)[1])
        return float(sum(v for d, v in zip(cols[0], cols[1]) if (EXCEL_EPOCH + dt.timedelta(days=d)).year == year))
    if family == "if_text":
        return strings[1] if cell.lower() == strings[0].lower() else strings[2]
    if family == "if_num":
        op, x = re.search(r"(>=|<=|>|<)(-?\d+(?:\.\d+)?),", f).groups()
        holds = {">": cell > float(x), ">=": cell >= float(x), "<": cell < float(x), "<=": cell <= float(x)}[op]
        return strings[0] if holds else strings[1]
    if family == "countblank":
        return float(sum(v is None for v in cols[0]))
    if family == "text_fmt":
        return format(cell, {"0": ".0f", "0.0": ".1f", "0.00": ".2f", "#,##0": ",.0f", "#,##0.00": ",.2f"}[strings[0]])
    raise AssertionError(family)


def test_new_function_families_generate_and_execute_to_the_value_excel_gives():
    seen, checked = set(), 0
    for ex in _new_family_examples():
        ex = Example.from_json(json.loads(json.dumps(ex.to_json())))  # as the files on disk carry them
        label = NEW_FAMILIES[ex.family]
        assert (ex.function, ex.difficulty) == FAMILY[ex.family] and ex.function == label
        assert label + "(" in ex.formula, (ex.family, ex.formula)
        result = execute(ex.formula, ex.table)
        assert result.ok and values_equal(result.value, ex.expected), (ex.formula, result)
        by_hand = _expected_by_hand(ex)
        assert by_hand is None or values_equal(by_hand, ex.expected), (ex.request, ex.formula, ex.expected, by_hand)
        checked += by_hand is not None
        seen.add(ex.family)
    assert seen == set(NEW_FAMILIES) and checked > 0.95 * len(NEW_FAMILIES) * 42
    seen_labels = {ex.function for ex in generate("train", 600, seed=3)}
    assert {"MAXIFS", "XLOOKUP", "RANK.EQ", "MEDIAN", "PROPER", "SUBSTITUTE"} <= seen_labels  # in the usual mix too


def test_new_families_draw_both_outcomes_and_keep_blanks_and_odd_case_to_themselves():
    from tinyslm_hf.excel.synthetic.phrasings import IF_LABELS, YES_NO

    by_family = {}
    for ex in _new_family_examples(n_train=60, n_test=0):
        by_family.setdefault(ex.family, []).append(ex)
    for ex in by_family["proper"]:  # PROPER changes something: the asked name is typed in the wrong case
        letter, row = re.fullmatch(r"=PROPER\(([A-Z]+)(\d+)\)", ex.formula).groups()
        assert ex.expected != ex.table.cell(letter, int(row))
    assert any(ex.table.column(re.search(r"\(([A-Z]+)", ex.formula)[1]).values.count(None) > 1
               for ex in by_family["countblank"])
    outcomes = {ex.expected for ex in by_family["if_text"]}
    assert outcomes & {yes for yes, _ in IF_LABELS} and outcomes & {no for _, no in IF_LABELS}  # both branches
    # IF labels are copied from the request, not remembered: most are words no fixed pair has, some unquoted
    labels = [tuple(re.findall(r'"([^"]*)"', ex.formula)[-2:]) for f in ("if_num", "if_text") for ex in by_family[f]]
    assert sum(pair not in IF_LABELS + YES_NO for pair in labels) > len(labels) / 3
    assert any(f'"{yes}"' not in ex.request and yes in ex.request for ex in by_family["if_num"]
               for yes in re.findall(r'"([^"]*)"', ex.formula)[:1])
    assert any(ex.formula.endswith(",1)") for ex in by_family["rank_asc"])
    assert not any(ex.formula.endswith(",1)") for ex in by_family["rank"])
    # blank cells and odd-case names stay in their own family: no other family's table has them
    for ex in generate("train", 300, seed=8, families=sorted(set(T) - {"countblank", "proper"})):
        assert all(v is not None for col in ex.table.columns for v in col.values)
        if ex.table.topic != "invented":
            assert all(v[0].isupper() or v[0].isdigit() for col in ex.table.columns if col.kind == "text"
                       for v in col.values)


class _CharTokenizer:
    """One token per character (id = code point; 0 is the end of turn): the processor's check at every step."""

    all_special_ids = [0]

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids if i != 0)


def test_constrained_decoding_lets_every_new_reference_through():
    """Every prefix of every new family's reference passes FormulaLogitsProcessor's check (grammar, known function
    names such as RANK.EQ, strings copied from the request or a cell), and the finished formula may end the turn."""
    from tinyslm_hf.excel.constrained import FormulaLogitsProcessor
    from tinyslm_hf.excel.evaluate import copy_sources

    for ex in _new_family_examples(n_train=10, n_test=5):
        processor = FormulaLogitsProcessor(_CharTokenizer(), stop_ids=[0],
                                           sources=[copy_sources(ex.table, ex.request)])
        ids = [ord(ch) for ch in ex.formula]
        for i, tok in enumerate(ids):
            assert processor._allowed(ids[:i], [tok]) == [tok], (ex.request, ex.formula[:i + 1])
        assert processor._allowed(ids, [0]) == [0], ex.formula
        assert is_complete_formula(ex.formula)
    for junk in ['=RANK.EX(', '=XLOOKUPS(']:
        assert not check_formula_prefix(junk)[0]


def test_screened_vocabulary_scan_allows_what_the_full_scan_allows():
    """The scan of the whole vocabulary (when no top-k token fits) first tries each candidate's first character and
    skips the candidates whose first character fails: it finds the same tokens as checking every candidate, with
    fewer checks inside a string that must copy one word; a quote is never screened (alone it closes the string
    that an escaped `""` continues)."""
    import tinyslm_hf.excel.constrained as constrained
    from tinyslm_hf.excel.constrained import FormulaLogitsProcessor
    from tinyslm_hf.excel.evaluate import copy_sources

    pieces = ["", "Le", "eeds", "L", "eed", "ds", '")', '",', "Lo", "x", "SUM(", "B2:B9", ",", '"', "e", "ee",
              "Leeds", "le", "2", "A2", "H2:Has1", ")", "eeds\")", "Lee", "l", "E", "eds", '""']

    class Pieces(_CharTokenizer):  # multi-character tokens, as a BPE has; the last one is the answer so far
        def __init__(self, answer):
            self.vocab = pieces + [answer]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(self.vocab[i] for i in ids if i != 0)

    ex = next(iter(generate("test", 1, seed=1)))
    sources = [copy_sources(ex.table, "total of B where A is Leeds") + ['TV 55" LED']]
    real = constrained.check_formula_prefix
    for answer in ["=SUMIF(A2:A9,", '=SUMIF(A2:A9,"', '=SUMIF(A2:A9,"Le', '=SUMIF(A2:A9,"Leeds', "=SUM(", "=SUM(B2:B9",
                   '=COUNTIF(A2:A9,"TV 55']:
        processor = FormulaLogitsProcessor(Pieces(answer), stop_ids=[0], sources=sources,
                                           widths=[len(ex.table.columns)])
        order = list(range(1, len(pieces)))
        checks: list[str] = []
        try:
            constrained.check_formula_prefix = lambda *a, **k: checks.append(a[0]) or real(*a, **k)
            full = processor._allowed([len(pieces)], order)
            n_full = len(checks)
            checks.clear()
            screened = processor._allowed([len(pieces)], order, screen=True)
        finally:
            constrained.check_formula_prefix = real
        assert screened == full and full, answer
        if answer.endswith("TV 55"):
            assert full == [pieces.index('""')]
        if answer.endswith('"Le'):
            assert len(checks) < n_full, (len(checks), n_full)


def test_new_family_phrasings_follow_the_held_out_rules():
    from tinyslm_hf.excel.synthetic.phrasings import (FILLER_WORDS, MORE_TRAIN, NATURAL_TRAIN, OPS, DATE_OPS, PREFIX,
                                                      SUFFIX, phrase_words, training_phrasing_words)

    def words(phrases):
        return set().union(set(), *(phrase_words(p) for p in phrases))

    extras = lambda side: list(PREFIX[side]) + list(SUFFIX[side]) + [  # noqa: E731
        w for pairs in (OPS, DATE_OPS) for pair in pairs.values() for w in pair[side]]
    old = [f for f in T if f not in NEW_FAMILIES]
    old_held_out_only = words([t for f in old for t in T[f][1]] + extras(1)) - words(
        [t for f in old for t in T[f][0]] + extras(0))
    assert {"shout", "glue", "typical", "text", "an"} <= old_held_out_only
    known = training_phrasing_words()
    for family in NEW_FAMILIES:
        train_t, test_t = T[family]
        assert family not in MORE_TRAIN and family not in NATURAL_TRAIN
        assert 4 <= len(train_t) <= 8 and 1 <= len(test_t) <= 3, family
        assert not set(train_t) & set(test_t)
        assert any(t.startswith("I need") for t in train_t), family  # the help-box style
        # the held-out split keeps measuring unseen wording: no word only the old held-out phrasings used moves into
        # training, and every new held-out phrasing has a word of its own that training never uses
        assert not words(train_t) & old_held_out_only, (family, words(train_t) & old_held_out_only)
        for t in test_t:
            assert phrase_words(t) - known, (family, t)
            assert not phrase_words(t) & set(FILLER_WORDS), (family, t)


def test_every_category_value_is_matched_as_text_by_the_engine():
    """`formulas` reads a criterion such as "7A" as a time of day (7 AM) and then matches "8A" too, where Excel
    compares text: no generated category value may be one it misreads, or expected values would be wrong."""
    from tinyslm_hf.excel.executor import execute
    from tinyslm_hf.excel.synthetic.topics import random_table
    from tinyslm_hf.excel.table import CATEGORY

    for split in ("train", "validation", "test"):
        for seed in range(150):
            table = random_table(random.Random(seed), split)
            for col in (c for c in table.columns if c.kind == CATEGORY):
                span = f"{col.letter}{table.first_row}:{col.letter}{table.last_row}"
                for value in {v for v in col.values if isinstance(v, str)}:
                    want = sum(isinstance(v, str) and v.lower() == value.lower() for v in col.values)
                    assert execute(f'=COUNTIF({span},"{value}")', table).value == want, (split, value)


def test_date_criteria_are_written_as_people_type_dates():
    """`after 2023-07-10`, `after July 10, 2023`, `on or before 25 december 2024`, `before 2023` (a whole year: before
    its first day; `after 2023` is after its last): each gives the DATE the words mean."""
    import calendar

    months = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
    months.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
    styles = set()
    for ex in generate("train", 200, seed=9, families=["countif_date"]):
        op, y, m, d = re.search(r'"([<>]=?)"&DATE\((\d+),(\d+),(\d+)\)', ex.formula).groups()
        y, m, d = int(y), int(m), int(d)
        if re.search(rf"\b{y}-{m:02d}-{d:02d}\b", ex.request):
            styles.add("iso")
        elif re.search(rf"\b{y}\b", ex.request) and not re.search(r"\b\d{1,2}\b(?!\d)", ex.request.replace(str(y), "")):
            styles.add("year")
            assert (m, d) == ((1, 1) if op in (">=", "<") else (12, 31)), (ex.request, ex.formula)
        else:
            words = re.findall(r"[a-z]+", ex.request.lower())
            assert any(months.get(w) == m for w in words) and re.search(rf"\b{d}\b", ex.request), ex.request
            styles.add("spoken")
    assert styles == {"iso", "year", "spoken"}



def test_table_layouts_bring_no_held_out_word_into_training():
    """Record keys and header units are shared by all splits, so none of their words (nor a unit's spoken name, nor a
    key's prefix letter) may be a word of a held-out header or phrasing (`kg`: the held-out header `Weight kg`)."""
    from tinyslm_hf.excel.linking import unit_names
    from tinyslm_hf.excel.synthetic.phrasings import held_out_phrasing_words
    from tinyslm_hf.excel.synthetic.topics import CODE_KEY, HEADER_UNITS, header_names

    held = {w.lower() for name in header_names("test") for w in re.findall(r"[A-Za-z0-9]+", name)}
    held |= held_out_phrasing_words()
    layout = {w.lower() for name in CODE_KEY.train_names for w in re.findall(r"[A-Za-z0-9]+", name)}
    layout |= {w.lower() for unit in HEADER_UNITS for w in re.findall(r"[A-Za-z0-9]+", unit)}
    layout |= {w for unit in HEADER_UNITS for name in unit_names(f"x ({unit})") for w in name.split()}
    codes = {c for ex in generate("train", 300, seed=2) for c in ex.table.columns[0].values
             if re.fullmatch(r"[A-Z]{1,2}-\d+", str(c))}
    layout |= {c.split("-")[0].lower() for c in codes}
    assert codes and not layout & held, layout & held
