"""Generator, executor and grammar checks for the Excel task (no model involved)."""

from __future__ import annotations

import json

from tinyslm_hf.excel.constrained import check_formula_prefix, is_complete_formula
from tinyslm_hf.excel.evaluate import score
from tinyslm_hf.excel.executor import execute, is_valid_syntax, values_equal
from tinyslm_hf.excel.example import Example
from tinyslm_hf.excel.synthetic.generator import generate
from tinyslm_hf.excel.synthetic.handwritten import handwritten_examples
from tinyslm_hf.excel.synthetic.phrasings import FAMILY, T
import random

import pytest

from tinyslm_hf.excel.synthetic.topics import TOPICS, header_names, invented_topic, random_table, topics_for

REQUIRED = {"SUM", "AVERAGE", "MIN", "MAX", "COUNT", "COUNTA", "COUNTIF", "COUNTIFS", "SUMIF", "SUMIFS", "AVERAGEIF",
            "AVERAGEIFS", "IF+AND", "IF+OR", "ROUND", "ABS", "VLOOKUP", "INDEX/MATCH", "IFERROR", "LEN", "UPPER",
            "LOWER", "LEFT", "RIGHT", "MID", "TRIM", "CONCAT", "&", "PCT_CHANGE", "SUMPRODUCT", "LARGE", "SMALL"}


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

    # the constraint never blocks a right answer: every prefix of every reference passes it
    examples = list(generate("train", 300, seed=3)) + list(generate("test", 300, seed=3)) + handwritten_examples()
    for ex in examples:
        sources = copy_sources(ex.table, ex.request)
        assert all(copies_only(ex.formula[:i], sources) for i in range(len(ex.formula) + 1)), ex.formula


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
