"""Wider training requests: the WordNet sense inventory (excel/senses.py) and request-template widening
(excel/synthetic/breadth.py)."""

from __future__ import annotations

import random
import re
from importlib import resources

import pytest

from tinyslm_hf.excel.senses import SENSES_FILE, defining_words, load_senses, related_words
from tinyslm_hf.excel.synthetic import breadth
from tinyslm_hf.excel.synthetic.phrasings import (DATE_OPS, OPS, PREFIX, SUFFIX, T, held_out_phrasing_words,
                                                  phrase_words, training_phrasing_words)
from tinyslm_hf.excel.synthetic.topics import TOPICS

_SLOT = re.compile(r"\{(\w+)\}")
DRAWS = 120  # per family for the shared sample (58 families: ~7000 outputs)


def _held_out_names() -> set[str]:
    """Lower-cased held-out header names and category values (as topics._HELD_OUT_WORDS defines them)."""
    return {n.lower() for t in TOPICS if t.split == "test" for c in t.columns
            for n in list(c.test_names) + [str(v) for v in c.values]}


def _phrase_in(phrase: str, text: str) -> bool:
    return re.search(r"(?<![\w'-])" + re.escape(phrase) + r"(?![\w'-])", text) is not None


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str, str]]:
    """(family, training template, widened template) for DRAWS draws of every family."""
    rng = random.Random(11)
    out = []
    for family in sorted(T):
        for _ in range(DRAWS):
            template = rng.choice(T[family][0])
            out.append((family, template, breadth.widen_template(family, template, rng)))
    return out


# --- senses -------------------------------------------------------------------------------------------------------
def test_senses_file_is_shipped_and_ordered_by_frequency():
    assert (resources.files("tinyslm_hf.excel") / "data" / SENSES_FILE).is_file()
    senses = load_senses()
    assert len(senses) > 100_000 and "capital letter" in senses  # lemmas of several words too
    total = senses.senses("total")
    assert [s.count for s in total] == sorted((s.count for s in total), reverse=True)
    assert {s.pos for s in total} == {"n", "v", "a"}
    assert any({"sum", "aggregate"} <= set(s.lemmas) for s in total)
    assert any("maximum" in s.antonyms for s in senses.senses("minimum"))  # kept so that opposites can be dropped
    assert senses.senses("no such lemma") == []
    assert senses.base_forms("highest") == ["high"] and senses.base_forms("geese") == ["goose"]


def test_related_words_are_wordnet_relatives_in_a_stable_order():
    assert {"sum", "aggregate"} & set(related_words("total", max_senses=5))
    highest = related_words("highest")  # not a lemma: read as `high`
    assert "high" in highest and "utmost" in highest  # WordNet's `high` has no `maximum`; `utmost` is similar
    assert {"maximal", "utmost"} <= set(related_words("maximum"))
    assert "mean" in related_words("average")
    synonyms = related_words("sum", relations=("lemmas",))
    assert related_words("sum")[:len(synonyms)] == synonyms  # closest relation first
    assert related_words("sum") == related_words("Sum ")
    assert "sum" not in related_words("sum")
    assert related_words("qwertyuiop") == []


def test_definitions_are_shipped_and_give_their_words_without_negated_ones():
    bottom = load_senses().senses("bottom")
    assert any(s.definition == "the lowest part of anything" for s in bottom)  # the gloss, no quoted examples
    assert all(s.definition and '"' not in s.definition for s in bottom)
    words = defining_words("bottom")
    assert "lowest" in words and "bottom" not in words and len(words) == len(set(words))
    assert "highest" in defining_words("peaks")  # an inflection is read through its lemma
    assert "filled" not in defining_words("unfilled")  # "purchase orders that have not been filled"
    assert not {"held", "filled", "use"} & set(defining_words("unoccupied"))  # "not held or filled or in use"
    assert "error" not in defining_words("errorless")  # "free from error"
    assert "lowest" not in defining_words("bottom", max_senses=1)  # "the lower side of anything"
    assert defining_words("qwertyuiop") == []


# --- widening -----------------------------------------------------------------------------------------------------
def test_every_family_keeps_its_slots(sample):
    families = {family for family, _, _ in sample}
    assert families == set(T)
    for family, template, out in sample:
        assert set(_SLOT.findall(out)) == set(_SLOT.findall(template)), (family, template, out)
        out.format(**{name: "X" for name in _SLOT.findall(out)})  # no stray brace
    rng = random.Random(3)  # every training template, not only the sampled ones
    for family, (train, _) in T.items():
        for template in train:
            out = breadth.widen_template(family, template, rng)
            assert set(_SLOT.findall(out)) == set(_SLOT.findall(template)), (family, template, out)


def test_no_held_out_wording_ever_appears(sample):
    training = training_phrasing_words()
    held_only = held_out_phrasing_words() - training
    names = _held_out_names()
    name_words = {w for n in names for w in phrase_words(n)}
    strings = [p.strip().lower() for pair in (PREFIX, SUFFIX) for p in pair[1] if p.strip()]
    strings += [p.lower() for ops in (OPS, DATE_OPS) for pair in ops.values() for p in pair[1]]
    held_templates = {" ".join(t.lower().split()) for pair in T.values() for t in pair[1]}
    phrases = [n for n in names if " " in n] + [s for s in strings if not s.isalpha() or " " in s]
    held_phrase = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, phrases)) + r")(?![\w'-])")
    assert len(sample) >= 5000
    for family, template, out in sample:
        words = phrase_words(out)
        assert not words & held_only, (family, out, words & held_only)
        assert not words & names, (family, out)  # single-word held-out headers and values
        lowered = out.lower()
        assert not held_phrase.search(lowered), (family, out)  # `amount spent`, `a minimum of`, `(excel)`
        assert " ".join(lowered.split()) not in held_templates, (family, out)
        new = words - phrase_words(template) - training
        assert not new & name_words, (family, out, new & name_words)  # no word of `Amount Spent` either
    vocabulary = breadth.breadth_vocabulary()
    assert not vocabulary & held_only
    assert not vocabulary & names
    assert not (vocabulary - training) & name_words
    assert {w for _, _, out in sample for w in phrase_words(out)} <= vocabulary


def test_families_with_a_grammar_get_many_wordings(sample):
    grammar_families = [f for f in T if breadth._rules().starts.get(f)]
    assert len(grammar_families) >= 50
    per_family: dict[str, set[str]] = {}
    for family, _, out in sample:
        per_family.setdefault(family, set()).add(out)
    for family in grammar_families:  # DRAWS draws: most are new wordings
        assert len(per_family[family]) >= min(60, len(T[family][0]) + 20), family
    rng = random.Random(5)
    for family in ("sum", "sumif", "max", "if_and", "lookup", "upper", "countifs", "pct_rows"):
        outs = {breadth.widen_template(family, rng.choice(T[family][0]), rng) for _ in range(2000)}
        assert len(outs) >= 200, (family, len(outs))  # the fixed templates number 5-25 per family
        assert len(outs - set(T[family][0])) >= 150


def test_intent_pools_are_disjoint():
    pools = breadth.intent_pools()
    assert set(pools) == set(breadth.INTENTS)
    names = sorted(pools)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not pools[a] & pools[b], (a, b, pools[a] & pools[b])
    assert {"sum", "total"} <= pools["SUM"] and {"lowest", "minimum"} <= pools["MIN"]
    assert not {"utmost", "peak", "top"} & pools["MAX"]  # held-out words never join a pool's output


def test_widened_requests_add_no_word_of_another_intent(sample):
    def blank(text: str, own: tuple[str, ...]) -> str:
        text = re.sub(r'"[^"]*"', " ", _SLOT.sub(" ", text.lower()))
        for phrase in sorted((p for o in own for p in breadth.INTENTS[o]), key=len, reverse=True):
            text = re.sub(r"(?<![\w'-])" + re.escape(phrase) + r"(?![\w'-])", " # ", text)
        return text

    checked = 0
    for family, template, out in sample:
        own = breadth.FAMILY_INTENTS.get(family)
        if own is None:
            continue
        text, source = blank(out, own), blank(template, own)
        for name, phrases in breadth.INTENTS.items():
            if name in own or (name in breadth._AND_OR and not set(own) & set(breadth._AND_OR)):
                continue
            for phrase in phrases:  # a word the template already had is the template's business
                assert not (_phrase_in(phrase, text) and not _phrase_in(phrase, source)), (family, name, out)
        checked += 1
    assert checked > 4000
    for family, _, out in sample:  # the function a request names stays named
        for fn in ("vlookup", "xlookup"):
            if family == fn:
                assert fn in out.lower(), out
        if family == "index_match":
            assert "index" in out.lower() and "match" in out.lower(), out


def test_widening_is_deterministic_and_leaves_unknown_families_alone():
    def run(seed):
        rng = random.Random(seed)
        return [breadth.widen_template(f, T[f][0][0], rng) for f in sorted(T) for _ in range(3)]

    assert run(1) == run(1) and run(1) != run(2)
    rng = random.Random(0)
    assert {breadth.widen_template("no_such_family", "frobnicate {thing} in row {row}", rng)
            for _ in range(50)} == {"frobnicate {thing} in row {row}"}


def test_the_generator_widens_training_wording_only_when_asked():
    from tinyslm_hf.excel.synthetic.generator import generate

    plain = [e.request for e in generate("train", 200, seed=5)]
    assert plain == [e.request for e in generate("train", 200, seed=5, breadth=0.0)]
    examples = list(generate("train", 200, seed=5, breadth=1.0))
    assert sum(a != b.request for a, b in zip(plain, examples)) > 100
    held_out_only = held_out_phrasing_words() - training_phrasing_words()
    for example in examples:  # the request's own words, not the table's headers and values it names
        table = {w for c in example.table.columns for v in [c.header, *c.values] if isinstance(v, str)
                 for w in re.findall(r"[a-z']+", v.lower())}
        assert not (set(re.findall(r"[a-z']+", example.request.lower())) - table) & held_out_only, example.request
    with pytest.raises(ValueError, match="breadth"):
        next(generate("test", 1, breadth=0.5))
