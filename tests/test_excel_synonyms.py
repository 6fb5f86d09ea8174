"""Thesaurus rewriting of request words a model never read in training (tinyslm_hf/excel/synonyms.py)."""

from __future__ import annotations

import re

import pytest

from tinyslm_hf.excel.synthetic.generator import generate
from tinyslm_hf.excel.synthetic.phrasings import held_out_phrasing_words, training_phrasing_words
from tinyslm_hf.excel.synonyms import RequestRewriter, Thesaurus, default_rewriter, load_thesaurus
from tinyslm_hf.excel.table import table_from_json


def test_shipped_thesaurus_holds_wordnet_senses_and_inflections():
    thesaurus = load_thesaurus()
    assert "uppercase" in thesaurus.synonyms["capital letter"]  # lemmas of several words are kept
    assert "last" in thesaurus.synonyms["final"]
    assert "uppercase" not in thesaurus.synonyms.get("capital", [])  # only the most frequent sense (money)
    assert thesaurus.inflections["geese"] == "goose"


def test_unknown_words_become_known_ones():
    rewrite = default_rewriter()
    assert rewrite("rep in row 5 in capital letters") == "rep in row 5 in uppercase"  # the longer lemma wins
    assert rewrite("final 3 characters of Name on row 2") == "last 3 characters of Name on row 2"
    assert rewrite("Averaged sales") == "Average sales"  # an inflection of a known word; sentence case kept
    for word in ("uppercase", "last", "average"):
        assert word in training_phrasing_words()


def test_quotes_table_words_names_and_known_words_are_left_alone():
    rewrite = default_rewriter()
    table = table_from_json({"headers": ["Final Score", "Grade"], "rows": [[3, "capital letters"], [4, "B"]]})
    assert rewrite("total final score", table) == "total final score"  # a header word
    assert rewrite("count capital letters in Grade", table) == "count capital letters in Grade"  # a cell value
    assert rewrite('show "final" when row 2 is over 3') == 'show "final" when row 2 is over 3'  # quoted
    assert rewrite("sales of Rose Final, please") == "sales of Rose Final, please"  # a name
    assert rewrite("Final 2 letters of Name") == "Last 2 letters of Name"  # sentence start: not a name
    assert rewrite("what is the total sales") == "what is the total sales"  # all known


def test_words_in_their_own_right_values_and_other_scripts_are_not_mangled():
    from tinyslm_hf.excel.table import schema_table

    rewrite = default_rewriter()
    assert rewrite("sum of mining revenue") == "sum of mining revenue"  # a lemma itself, not `min` + ing
    assert rewrite("count of lens rows") == "count of lens rows"  # not `len` + s
    assert rewrite("rep in 'final' row") == "rep in 'final' row"  # single quotes too
    assert rewrite("row 3's final letters") == "row 3's last letters"  # an apostrophe is not a quote
    assert rewrite("final 3 letters of Zürich") == "last 3 letters of Zürich"  # `Zürich` is one word
    assert rewrite("(Final 3 chars)") == "(Last 3 chars)"  # after a bracket: a sentence start, not a name
    no_values = schema_table({"A": "Region", "B": "Status", "C": "Sales"}, 2, 40)  # `ask --columns`
    assert rewrite("total sales where status is final", no_values) == "total sales where status is final"
    assert rewrite("total sales where status = final", no_values) == "total sales where status = final"
    assert rewrite("final 2 letters of region", no_values) == "last 2 letters of region"


def test_function_words_are_never_targets():
    thesaurus = Thesaurus(synonyms={"hold": ["have", "contain"]}, inflections={})
    assert RequestRewriter({"have", "contain", "cells"}, thesaurus)("cells that holds a number") == \
        "cells that contain a number"
    assert RequestRewriter({"have", "cells"}, thesaurus)("cells that holds a number") == "cells that holds a number"


def test_training_requests_keep_every_known_word():
    """What the model reads at answer time matches what it trained on: known words are never touched, and only a
    few typos (`sumed` -> `sum`) change at all."""
    rewrite = default_rewriter()
    known = training_phrasing_words()
    changed = 0
    for ex in generate("train", 600, seed=2):
        new = rewrite(ex.request, ex.table)
        changed += new != ex.request
        old_words = [w for w in re.findall(r"[a-z]+", ex.request.lower()) if w in known]
        assert all(w in re.findall(r"[a-z]+", new.lower()) for w in old_words), (ex.request, new)
    assert changed <= 3


def test_held_out_wording_is_what_gets_rewritten():
    rewrite = default_rewriter()
    examples = list(generate("test", 200, seed=0))
    rewritten = [ex for ex in examples if rewrite(ex.request, ex.table) != ex.request]
    assert len(rewritten) >= 20
    held_out = held_out_phrasing_words()
    for ex in rewritten:  # every change removes a held-out word, never a training one
        new = rewrite(ex.request, ex.table)
        gone = set(re.findall(r"[a-z]+", ex.request.lower())) - set(re.findall(r"[a-z]+", new.lower()))
        assert gone and gone <= held_out | {"letters"}, (ex.request, gone)


def test_readings_try_other_senses_after_the_most_frequent_one():
    """`opening` has no known synonym in its most frequent WordNet sense (a gap); its other senses reach
    `beginning` and `first`. Each becomes a reading after the conservative one; known wording has one reading."""
    rewriter = RequestRewriter({"beginning", "first", "start", "score", "last", "low", "high"})
    assert rewriter("opening score of row 3") == "opening score of row 3"
    assert rewriter.readings("opening score of row 3") == ["opening score of row 3", "beginning score of row 3",
                                                          "first score of row 3"]
    assert rewriter.readings("opening score of row 3", limit=2) == ["opening score of row 3",
                                                                   "beginning score of row 3"]
    assert rewriter.readings("the final score") == ["the last score"]  # one sense, one known word: one reading
    assert rewriter.readings("first score") == ["first score"]


def test_a_word_with_no_known_synonym_is_read_by_the_cue_words_of_its_definition():
    """`peak` and `bottom` have no synonym the model knows in any of their first senses; their definitions
    ("the highest point", "the lowest part") name intent words it does. Only cue words are lent (`part`, `point`
    are known but say nothing), after the synonyms, and only as later readings: the first stays conservative."""
    known = {"highest", "lowest", "greatest", "part", "point", "side", "price"}
    plain = RequestRewriter(known)
    cued = RequestRewriter(known, cues={"highest", "lowest", "greatest", "filled"})
    assert plain.readings("peak price") == ["peak price"]
    readings = cued.readings("peak price")
    assert readings[0] == "peak price" and "highest price" in readings[1:]
    assert cued.readings("bottom price")[1:] == ["lowest price"]
    assert not {"part", "point", "side"} & {w for r in cued.readings("peak price") for w in r.split()}
    assert cued.alternatives("unfilled") == []  # its definition says "not been filled"
    default = default_rewriter()  # lends aggregate words only: `lower`, `first`, `upper` name text functions
    assert "highest" in default.alternatives("peak") and default.alternatives("bottom") == ["lowest"]
    assert default.alternatives("unoccupied") == []  # "not held or filled or in use"
    assert default.alternatives("capital letters") == ["uppercase"]  # "... used as the first letter ..."


def test_request_reader_gives_what_predict_formulas_takes():
    from tinyslm_hf.excel.synonyms import request_reader

    assert request_reader(False, 3) is None and request_reader(True) is default_rewriter()
    several = request_reader(True, 3)("sum of Sales", None)
    assert isinstance(several, list) and several[0] == default_rewriter()("sum of Sales")
    with pytest.raises(ValueError, match="readings"):
        request_reader(True, 0)


def test_readings_keep_numbers_months_degree_and_inflected_table_words():
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    rewriter = RequestRewriter({"figure", "grand", "long", "label", "score", "end", "first", "beginning"})
    assert rewriter.alternatives("four") == [] and rewriter.alternatives("august") == []
    assert "long" not in rewriter.alternatives("longest")
    table = Table("t", [Column("A", "Ticket", CATEGORY, ["T-1", "T-2"]), Column("B", "Tip", NUMBER, [1, 2])])
    assert rewriter.readings("tips on tickets", table) == ["tips on tickets"]  # bases of header words
    assert rewriter.readings("two opening scores") == ["two opening scores", "two beginning scores",
                                                       "two first scores"]
