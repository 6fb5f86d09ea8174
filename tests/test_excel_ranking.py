"""Choosing among candidate formulas (`excel/ranking.py`) and the repaired copies it chooses from (`excel/repairs.py`):
what a formula does that no request asks for, and the part of a formula a copy fills in from the request."""

from __future__ import annotations

import re

import pytest

from tinyslm_hf.excel.independent import independent_examples
from tinyslm_hf.excel.linking import one_edit
from tinyslm_hf.excel.ranking import (aggregate_agrees, aggregates_asked, called_functions, compares_like_values,
                                      counts_stated, criteria_match, formula_comparisons, gives_one_value,
                                      is_superlative, joined_pieces, joins_asked, names_a_non_total, no_self_operation,
                                      pick_candidate, rank_order_asked, ranks_in_order, refused_reshapings,
                                      request_checks, rounds_as_stated, stated_counts, stated_places,
                                      totals_by_default)
from tinyslm_hf.excel.repairs import (repaired, with_asked_aggregate, with_data_ranges, with_date_criteria_columns,
                                      with_date_pieces_built, with_fallback_lookup, with_joining_character,
                                      with_named_criteria_added, with_presence_counts, with_ratios_built,
                                      with_spread_built, with_stated_places, with_stated_span_added,
                                      with_text_pieces_built, with_unasked_rounding_dropped,
                                      with_unsupported_criteria_dropped)
from tinyslm_hf.excel.synthetic.generator import generate
from tinyslm_hf.excel.synthetic.handwritten import handwritten_examples
from tinyslm_hf.excel.table import CATEGORY, DATE, NUMBER, TEXT, Column, Table, schema_table


@pytest.fixture(scope="module")
def references():
    """Generated references (all three splits, held-out wording and typos included) and the people's requests."""
    generated = [ex for split in ("train", "validation", "test") for ex in generate(split, 1000, seed=23)]
    return generated, handwritten_examples() + independent_examples()


def _films() -> Table:
    return Table("films", [Column("A", "Title", TEXT, ["Heat", "Dune", "Alien", "Up"]),
                           Column("B", "Director", TEXT, ["Mann", "Villeneuve", "Scott", "Docter"]),
                           Column("C", "Year", NUMBER, [1995, 2021, 1979, 2009]),
                           Column("D", "Minutes", NUMBER, [170, 155, 117, 96]),
                           Column("E", "Genre", CATEGORY, ["Crime", "Sci-Fi", "Sci-Fi", "Family"]),
                           Column("F", "Watched", DATE, [45300, 45310, 45320, 45330])])


def test_no_reference_combines_a_value_with_itself_or_compares_unlike_values(references):
    """The two rules `pick_candidate` adds to "it runs" accept every reference of every set, so they can only push
    down a formula nobody asks for."""
    generated, people = references
    for ex in generated + people:
        assert no_self_operation(ex.formula), (ex.request, ex.formula)
        assert compares_like_values(ex.formula, ex.table), (ex.request, ex.formula)


def test_no_reference_spills_an_array_or_tests_a_word_against_dates(references):
    """One request, one value: `=ABS(D2:D5)` spills a column of results (it runs, and is no answer to "how many
    films"); a word (`"Sci-Fi"`) tested against a date column matches none of its serial numbers, a date-like text
    may. No reference of any set does either, so both rules only push down what nobody asks for."""
    table = _films()
    assert not gives_one_value("=ABS(D2:D5)", table) and not gives_one_value("=LEN(A2:A5)", table)
    assert gives_one_value("=COUNTA(A2:A5)", table) and not gives_one_value("=1/0", table)
    assert pick_candidate(["=ABS(D2:D5)", "=COUNTA(A2:A5)"], table, "how many films are listed") == "=COUNTA(A2:A5)"
    assert not criteria_match('=COUNTIFS(E2:E5,"Sci-Fi",F2:F5,"Sci-Fi")', table)
    for dated in ("2024-01-10", "Jan 2024", "Mar 5, 2024"):
        assert criteria_match(f'=COUNTIF(F2:F5,"{dated}")', table), dated
    assert criteria_match('=COUNTIF(E2:E5,"sci-fi")', table)
    unknown = Table("t", [Column("A", "Due", DATE, [45300, "TBD"]), Column("B", "Fee", NUMBER, [2, 4])])
    assert criteria_match('=COUNTIF(A2:A3,"TBD")', unknown)  # a cell of a date column may hold a text
    assert with_unsupported_criteria_dropped(['=COUNTIFS(E2:E5,"Sci-Fi",F2:F5,"Sci-Fi")'], table, "sci-fi films") \
        == ['=COUNTIFS(E2:E5,"Sci-Fi",F2:F5,"Sci-Fi")', '=COUNTIFS(E2:E5,"Sci-Fi")']
    beams = ['=COUNTIFS(E2:E5,"Sci-Fi",F2:F5,"Sci-Fi")', '=COUNTIFS(E2:E5,"Sci-Fi")']
    assert pick_candidate(beams, table, "count of sci-fi films") == beams[1]
    generated, people = references
    for ex in generated + people:
        assert gives_one_value(ex.formula, ex.table), (ex.request, ex.formula)
        assert criteria_match(ex.formula, ex.table), (ex.request, ex.formula)


def test_an_if_showing_the_labels_asked_beats_one_quoting_a_named_value_instead():
    """The labels are the answer the user sees: where no candidate both shows them and quotes every value the request
    names, the one showing them wins over one quoting the value (here as a label: "Sci-Fi" is a Genre)."""
    table = _films()
    request = "row 3: say long if it is sci-fi and over 100 minutes, otherwise short"
    beams = ['=IF(AND(D3>100,C3>100),"Sci-Fi","Crime")', '=IF(AND(D3>100,C3>100),"long","short")']
    assert pick_candidate(beams, table, request) == beams[1]
    assert pick_candidate(beams + ['=IF(AND(E3="Sci-Fi",D3>100),"long","short")'], table, request).startswith(
        '=IF(AND(E3="Sci-Fi"')


def test_a_value_combined_with_itself_is_refused():
    for degenerate in ("=ABS(B10-B10)", "=ROUND(D3/$D$3,1)", "=SUMPRODUCT(D2:D17,D2:D17)", '=CONCAT(B10,", ",B10)',
                       '=B10&" "&B10', '=IF(AND(E11<10,E11<10),"a","b")',
                       '=SUMIFS(D2:D17,B2:B17,"Nolan",B2:B17,"Heat")', '=INDEX(B2:B19,MATCH("Hannah Weiss",B2:B19,0))',
                       '=XLOOKUP("Heat",A2:A5,A2:A5)'):
        assert not no_self_operation(degenerate), degenerate
    for fine in ("=(E16-E2)/E2", "=SUMPRODUCT(D2:D17,E2:E17)", '=A10&" ("&C10&")"', '=LEFT(A3,FIND(" ",A3)-1)',
                 '=IF(F5="","not measured",F5)', '=IF(AND(E11<10,F11<10),"a","b")', '="a-b"&"a-b"',
                 '=SUMIFS(D2:D17,B2:B17,"Nolan",E2:E17,"Crime")', '=SUM(COUNTIF(E2:E5,"Crime"),COUNTIF(E2:E5,"Up"))',
                 "=C2-C2*10%", "=A1*C2-C2", "=C3/C3^2", '=IF(OR(A2="Smith, J",A2="Jones, J"),1,0)',
                 '=COUNTIFS(A2:A5,"P*",A2:A5,"????")', '=INDEX(A2:A19,MATCH("Hannah Weiss",B2:B19,0))'):
        assert no_self_operation(fine), fine
    table = _films()
    beams = ['=CONCAT(B3,", ",B3)', "=B3", '=INDEX(B2:B5,MATCH("Dune",A2:A5,0))']
    assert pick_candidate(beams, table, "who directed Dune") == "=B3"


def test_comparisons_of_unlike_values_are_refused():
    """A number compared with a column of text, a DATE with a column that holds no dates: both run, neither is
    asked for. A table without values (`ask --columns`) is not checked."""
    table = _films()
    for unlike in ('=COUNTIFS(E2:E5,"Sci-Fi",E2:E5,">=4")', '=COUNTIF(D2:D5,">="&DATE(2024,1,1))',
                   '=IF(B3>2,"a","b")', '=SUMIF(A2:A5,"<"&5,D2:D5)', '=IF(D3<DATE(2024,1,1),1,0)'):
        assert not compares_like_values(unlike, table), unlike
    for like in ('=COUNTIFS(E2:E5,"Sci-Fi",D2:D5,">=120")', '=COUNTIF(F2:F5,">="&DATE(2024,1,1))',
                 '=IF(D3>2,"a","b")', '=COUNTIF(C2:C5,"<1990")', '=COUNTIF(E2:E5,"Crime")'):
        assert compares_like_values(like, table), like
    assert compares_like_values('=COUNTIF(A2:A5,">4")', schema_table({"A": "Title"}, 2, 5))
    scores = Table("s", [Column("A", "Score", TEXT, [4, 7, "N/A", 9, 5])])  # numbers with a gap are still numbers
    assert compares_like_values('=COUNTIF(A2:A6,">5")', scores)
    beams = ['=COUNTIFS(E2:E5,"Sci-Fi",E2:E5,">=120")', '=COUNTIFS(E2:E5,"Sci-Fi",D2:D5,">=120")']
    assert pick_candidate(beams, table, "sci-fi films of 120 minutes or more: how many") == beams[1]


def test_the_aggregate_family_is_the_one_the_request_asks_for(references):
    """`cheapest` asks for MIN, `most` for MAX, `total` for SUM; a bound (`at least 4`, `a minimum of 11`), a unit
    (`50 min`) and a header or cell the table links (`Min Stock`) ask for nothing. The rule refuses no hand-written
    or independent reference and at most one generated reference in a thousand."""
    table = _films()
    assert aggregates_asked(table, "cheapest act's fee") == {"MIN"}
    assert aggregates_asked(table, "gap between the highest and lowest runtime") == {"MAX", "MIN"}
    assert aggregates_asked(table, "most visits by any member; total fees") == {"MAX", "SUM"}
    for none in ("films of at least 120 minutes", "at most 3 films", "a minimum of 11 visits", "longer than 50 min"):
        assert aggregates_asked(table, none) == set(), none
    stock = Table("s", [Column("A", "Item", TEXT, ["a", "b"]), Column("B", "Min Stock", NUMBER, [1, 2])])
    assert aggregates_asked(stock, "how much min stock for item a") == set()
    assert not aggregate_agrees('=MAXIFS(D2:D5,E2:E5,"Sci-Fi")', {"MIN"})
    assert aggregate_agrees('=MINIFS(D2:D5,E2:E5,"Sci-Fi")', {"MIN"})
    assert aggregate_agrees("=MAX(D2:D5)-MIN(D2:D5)", {"MIN", "MAX"})
    assert aggregate_agrees("=SUM(D2:D5)/COUNT(D2:D5)", {"AVERAGE"})  # several combined: no one family's
    assert aggregate_agrees("=ROUND(AVERAGE(D2:D5),0)", {"AVERAGE"}) and not aggregate_agrees("=ROUND(SUM(D2:D5),0)",
                                                                                             {"AVERAGE"})
    assert not aggregate_agrees('=COUNTIF(E2:E5,"Crime")', {"SUM"}) and aggregate_agrees("=VLOOKUP(1,A2:D5,2)", {"SUM"})
    # a count of things the request names in its own words; `how many minutes` is the Minutes column, summed
    assert aggregates_asked(table, "how many crime films") == aggregates_asked(table, "count of films") == {"COUNT"}
    assert aggregates_asked(table, "how many minutes did I watch") == set()
    assert aggregates_asked(table, "enumerate the sci-fi films") == {"COUNT"}  # every COUNT intent word
    assert aggregates_asked(table, "tally up the minutes of crime films") == set()  # a sum
    assert not aggregate_agrees('=SUMIFS(D2:D5,E2:E5,"Crime")', {"COUNT"})
    shop = Table("shop", [Column("A", "Item", TEXT, ["Pen", "Ink"]), Column("B", "Qty in Stock", NUMBER, [4, 9])])
    pens = '=SUMIFS(B2:B3,A2:A3,"Pen")'  # asked only to count, a sum of a column the request names passes
    assert aggregates_asked(shop, "how many pens are in stock") == {"COUNT"}
    assert request_checks(shop, "how many pens are in stock")(pens).aggregate
    assert aggregates_asked(schema_table({"A": "Waiter", "B": "Covers"}, 2, 9), "how many covers in total") == {"SUM"}
    assert aggregates_asked(table, "tally of Watched dates in 2024") == {"COUNT"}  # a date column: rows are counted
    assert pick_candidate(repaired([pens], shop, "how many pens are in stock", "how many pens are in stock"), shop,
                          "how many pens are in stock") == pens
    assert aggregate_agrees("=MAX(D2:D5)", set())

    generated, people = references
    seen = [ex for ex in generated if ex.split != "test"]  # held-out wording: `test_a_conditional_aggregate_...`
    refused = [ex.request for ex in seen if not request_checks(ex.table, ex.request)(ex.formula).aggregate]
    assert len(refused) <= len(seen) // 1000, refused
    assert all(request_checks(ex.table, ex.request)(ex.formula).aggregate for ex in people)


def test_a_conditional_aggregate_nobody_names_is_a_total(references):
    """"minutes of sci-fi films" names no aggregate: a conditional one is a total (SUMIFS), not the MAXIFS or
    AVERAGEIF the model may write, and the repair offers the total. A word that may ask for something else keeps the
    model's family: a superlative by its form (`slowest`), an everyday word of an average or a high mark (`per`,
    `high`), a word WordNet relates to an extreme or an average (`utmost` -> maximum, `bottom` -> worst, `norm` ->
    average) or a misspelt one (`botom`, `meean`); an English word is taken as written (`May` is no `max`). A
    spread (`=MAXIFS(...)-MINIFS(...)`) is no one family's and passes. At most one generated reference in a thousand
    with training or validation wording is refused (`man` for `mean`), no hand-written or independent one (the
    test above); of the held-out wording only averages asked for as `typical`, which nothing here reads as an
    average (WordNet's synonyms of it are `normal`, `representative`, ...)."""
    table = _films()
    for word in ("slowest", "heaviest", "biggest", "best", "uppermost", "utmost", "bottom", "norm", "per", "high",
                 "records", "lowest"):
        assert names_a_non_total(word), word
    for word in ("forest", "interest", "guest", "west", "retest", "north", "combined", "used", "sold", "made",
                 "think", "intend", "base", "fair", "medium", "ordinary"):  # `mean` the verb, `average` the adjective
        assert not names_a_non_total(word), word
    assert is_superlative("uppermost") and not is_superlative("almost")  # `almost`: an adverb (`most` its synonym)
    request = "minutes of sci-fi films I watched"
    assert totals_by_default(table, request) and totals_by_default(table, "sci-fi minutes the men watched in May")
    for named in ("slowest sci-fi film", "botom minutes of sci-fi films", "meean minutes of sci-fi films",
                  "average minutes of sci-fi films", "utmost minutes of a sci-fi film", "minutes per sci-fi film"):
        assert not totals_by_default(table, named), named
    assert totals_by_default(table, "sci-fi minutes, films of a minimum of 100 minutes")  # a bound, not an extreme
    beam, total = '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")', '=SUMIFS(D2:D5,E2:E5,"Sci-Fi")'
    assert with_asked_aggregate([beam], table, request) == [beam, total, '=SUMIF(E2:E5,"Sci-Fi",D2:D5)']
    assert not request_checks(table, request)(beam).aggregate and request_checks(table, request)(total).aggregate
    assert pick_candidate(repaired([beam], table, request, request), table, request) == total
    utmost = "utmost minutes of a sci-fi film"
    assert pick_candidate(repaired([beam], table, utmost, utmost), table, utmost) == beam
    plain = "=MAX(D2:D5)"  # a plain aggregate is the model's call: "release year" may be a MAX
    assert request_checks(table, "release year of the films")(plain).aggregate
    spread = '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")-MINIFS(D2:D5,E2:E5,"Sci-Fi")'
    assert pick_candidate(repaired([spread], table, request, request), table, request) == spread

    generated, _ = references
    refused = [ex.request for ex in generated if ex.split == "test"
               and not request_checks(ex.table, ex.request)(ex.formula).aggregate]
    assert all(any(one_edit(word, "typical") or word == "typical" for word in re.findall(r"[a-z]+", r.lower()))
               for r in refused), refused


def test_an_aggregate_of_another_family_is_swapped_for_the_asked_one():
    table = _films()
    request = "shortest sci-fi film"
    beam = '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")'
    assert with_asked_aggregate([beam], table, request) == [beam, '=MINIFS(D2:D5,E2:E5,"Sci-Fi")']
    assert pick_candidate(repaired([beam], table, request, request), table, request) == '=MINIFS(D2:D5,E2:E5,"Sci-Fi")'
    # SUMIF / AVERAGEIF take their arguments in another order than MAXIFS / MINIFS
    assert with_asked_aggregate(['=AVERAGEIF(E2:E5,"Sci-Fi",D2:D5)'], table, "longest sci-fi film")[1:] == [
        '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")']
    assert with_asked_aggregate(['=MAXIFS(D2:D5,E2:E5,"Sci-Fi")'], table, "total sci-fi minutes")[1:] == [
        '=SUMIFS(D2:D5,E2:E5,"Sci-Fi")', '=SUMIF(E2:E5,"Sci-Fi",D2:D5)']
    assert with_asked_aggregate(["=LARGE(D2:D5,2)"], table, "2nd smallest runtime")[1:] == ["=SMALL(D2:D5,2)"]
    assert with_asked_aggregate(['=SUMIF(E2:E5,"Sum (x)",D2:D5)'], table, "average minutes")[1:] == [
        '=AVERAGEIF(E2:E5,"Sum (x)",D2:D5)']  # a function name inside a string is text
    assert with_asked_aggregate(['=SUMIFS(D2:D5,E2:E5,"Crime",C2:C5,">1990")'], table, "how many crime films")[1:] == [
        '=COUNTIFS(E2:E5,"Crime",C2:C5,">1990")']  # the rows are counted: the column summed goes
    assert with_asked_aggregate(['=AVERAGEIF(E2:E5,"Crime",D2:D5)'], table, "count the crime films")[1:] == [
        '=COUNTIF(E2:E5,"Crime")']
    assert with_asked_aggregate(["=SUM(D2:D5)"], table, "how many films are there")[1:] == ["=COUNTA(D2:D5)"]
    for alone, said in (("=MIN(D2:D5)", "shortest film"), ('=COUNTIF(E2:E5,"Crime")', "shortest film"),
                        ("=MAX(D2:D5)", "runtime of Heat"), ("=SUM(D2:D5)/COUNT(D2:D5)", "average runtime")):
        assert with_asked_aggregate([alone], table, said) == [alone], alone


def test_criteria_nothing_supports_are_dropped():
    """A comparison in a request stating no number, and a text its column does not hold: the copy without them wins;
    with no criterion left, the aggregate of the column (a count: of its entries)."""
    table = _films()
    request = "longest sci-fi film"
    invented = '=MAXIFS(D2:D5,E2:E5,"Sci-Fi",F2:F5,"<="&DATE(2023,9,1))'
    assert with_unsupported_criteria_dropped([invented], table, request) == [invented, '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")']
    assert pick_candidate(repaired([invented], table, request, request), table, request) == \
        '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")'
    assert with_unsupported_criteria_dropped(['=MAXIFS(D2:D5,E2:E5,"Minutes")'], table, "longest film")[1:] == [
        "=MAX(D2:D5)"]
    stated = "longest sci-fi film watched before 2024-01-20"  # a number is stated: the comparison may be meant
    assert with_unsupported_criteria_dropped([invented], table, stated) == [invented]
    held = '=COUNTIFS(E2:E5,"Sci-Fi",B2:B5,"Scott")'
    assert with_unsupported_criteria_dropped([held], table, "sci-fi films by Scott") == [held]
    dated = '=COUNTIFS(A2:A5,">="&DATE(2024,1,1),A2:A5,"<"&DATE(2025,1,1))'  # a count: of the column's entries
    assert with_unsupported_criteria_dropped([dated, "=LEN(A2)"], table, "how many films are listed") == [
        dated, "=LEN(A2)", "=COUNTA(A2:A5)"]  # after every candidate: a last resort, never a tie-breaker
    assert pick_candidate(repaired([dated], table, "how many films are listed", "how many films are listed"), table,
                          "how many films are listed") == "=COUNTA(A2:A5)"
    two_columns = '=COUNTIFS(A2:B5,">="&DATE(2024,1,1))'
    assert with_unsupported_criteria_dropped([two_columns], table, "how many films") == [two_columns]
    horror = '=COUNTIFS(E2:E5,"Horror")'  # a text the column lacks: the answer may well be 0, not every entry
    assert with_unsupported_criteria_dropped([horror], table, "how many horror films") == [horror]


def test_a_named_value_left_out_becomes_one_more_criterion():
    table = _films()
    request = "total minutes of sci-fi films by Scott"
    one = '=SUMIF(E2:E5,"Sci-Fi",D2:D5)'
    both = '=SUMIFS(D2:D5,E2:E5,"Sci-Fi",B2:B5,"Scott")'
    assert with_named_criteria_added([one], table, request) == [one, both]
    assert pick_candidate(repaired([one], table, request, request), table, request) == both
    assert with_named_criteria_added(['=COUNTIF(E2:E5,"Sci-Fi")'], table, "how many sci-fi films by Scott")[1:] == [
        '=COUNTIFS(E2:E5,"Sci-Fi",B2:B5,"Scott")']
    assert with_named_criteria_added(["=MAX(D2:D5)"], table, "longest sci-fi film")[1:] == [
        '=MAXIFS(D2:D5,E2:E5,"Sci-Fi")']
    assert with_named_criteria_added([both], table, request) == [both]


def test_a_stated_span_of_days_left_out_becomes_criteria_on_a_date_column():
    """"how many sci-fi films were watched in January 2024": a count with one condition also gets the month's two
    bounds on the date column (after every candidate), and wins for testing what the request states; a plain total
    becomes its -IFS form. A candidate that already tests a date, a request that states no span or two bounds that
    make no span, a table without dates or values, and a call that takes no criteria get no copy."""
    table = _films()
    request = "how many sci-fi films were watched in January 2024"
    beam = '=COUNTIF(E2:E5,"Sci-Fi")'
    spanned = '=COUNTIFS(E2:E5,"Sci-Fi",F2:F5,">="&DATE(2024,1,1),F2:F5,"<"&DATE(2024,2,1))'
    assert with_stated_span_added([beam], table, request) == [beam, spanned]
    assert pick_candidate(repaired([beam], table, request, request), table, request) == spanned
    assert with_stated_span_added(["=SUM(D2:D5)"], table, "total minutes watched during 2024")[1:] == [
        '=SUMIFS(D2:D5,F2:F5,">="&DATE(2024,1,1),F2:F5,"<"&DATE(2025,1,1))']
    before = "sci-fi minutes before 1 March 2024"
    assert with_stated_span_added(['=SUMIF(E2:E5,"Sci-Fi",D2:D5)'], table, before)[1:] == [
        '=SUMIFS(D2:D5,E2:E5,"Sci-Fi",F2:F5,"<"&DATE(2024,3,1))']
    dated = '=COUNTIFS(F2:F5,">="&DATE(2024,1,1))'
    assert with_stated_span_added([dated], table, request) == [dated]
    # a beam testing the year its own way (the Year column's 2009) keeps its place ahead of every copy
    year = "=SUMIF(C2:C5,2009,D2:D5)"
    said = "total minutes of films released in 2009"
    assert with_stated_span_added(["=SUM(D2:D5)", year], table, said)[:2] == ["=SUM(D2:D5)", year]
    assert pick_candidate(repaired(["=SUM(D2:D5)", year], table, said, said), table, said) == year
    # two conditions (on what may be two date columns) are not merged onto one
    assert with_stated_span_added([beam], table, "sci-fi films watched after 1 March 2024 and before 2024-02-01") == [
        beam]
    assert with_stated_span_added([beam], table, "how many sci-fi films") == [beam]
    assert with_stated_span_added(["=LEN(A2)"], table, request) == ["=LEN(A2)"]
    undated = Table("films", [column for column in table.columns if column.kind != DATE])
    assert with_stated_span_added([beam], undated, request) == [beam]
    assert with_stated_span_added([beam], schema_table({"E": "Genre", "F": "Watched"}, 2, 5), request) == [beam]


def test_a_yes_no_column_named_by_its_header_is_a_criterion_on_yes_or_after_a_negation_no():
    """"bookings that include breakfast" names the Breakfast column, whose cells say Yes or No: the request asks
    for its Yes; "not delivered", "without breakfast" for its No. A column with other values, a header named only
    in part, and a table without values name no flag."""
    table = Table("b", [Column("A", "Channel", CATEGORY, ["Direct", "OTA", "Direct"]),
                        Column("B", "Nights", NUMBER, [3, 2, 4]),
                        Column("C", "Breakfast", CATEGORY, ["Yes", "No", "Yes"]),
                        Column("D", "Paid", CATEGORY, ["yes", "no", "pending"])])
    request = "direct bookings that include breakfast, how many"
    beam, both = '=COUNTIF(A2:A4,"Direct")', '=COUNTIFS(A2:A4,"Direct",C2:C4,"Yes")'
    assert with_named_criteria_added([beam], table, request) == [beam, both]
    assert pick_candidate(repaired([beam], table, request, request), table, request) == both
    for negated in ("direct bookings without breakfast", "direct bookings that do not include breakfast",
                    "direct bookings that don't have breakfast"):
        assert with_named_criteria_added([beam], table, negated)[1:] == [
            '=COUNTIFS(A2:A4,"Direct",C2:C4,"No")'], negated
    assert with_named_criteria_added([beam], table, "direct bookings that are paid") == [beam]  # three values
    assert with_named_criteria_added(['=SUM(B2:B4)'], table, "nights with breakfast")[1:] == [
        '=SUMIFS(B2:B4,C2:C4,"Yes")']
    headers_only = schema_table({"A": "Channel", "C": "Breakfast"}, 2, 4)
    assert with_named_criteria_added([beam], headers_only, request) == [beam]


def test_a_column_range_over_other_rows_is_copied_over_the_data_rows():
    table = _films()
    assert with_data_ranges(["=COUNTA(A2:A14)"], table, "how many films") == ["=COUNTA(A2:A14)", "=COUNTA(A2:A5)"]
    assert with_data_ranges(['=COUNTIF(A2:A9,"A2:A9")'], table, "films")[1:] == ['=COUNTIF(A2:A5,"A2:A9")']
    for alone, said in (("=SUM(D2:D5)", "total minutes"), ("=SUM(D2:D3)", "minutes in rows 2 to 3"),
                        ("=SUM(C3:D3)", "year and minutes of row 3")):
        assert with_data_ranges([alone], table, said) == [alone], alone


def test_a_date_criterion_on_a_column_without_dates_is_moved_to_a_date_column():
    """The model writes the span of days a request states more reliably than it finds the date column: the copy
    tests the same span on each date column (those the request names first) and wins, since a DATE tested
    against titles is refused. A criterion already on a date column, and a table without values, get no copy."""
    table = _films()
    request = "how many films came out in 2024"
    beam = '=COUNTIFS(A2:A5,">="&DATE(2024,1,1),A2:A5,"<"&DATE(2025,1,1))'
    moved = '=COUNTIFS(F2:F5,">="&DATE(2024,1,1),F2:F5,"<"&DATE(2025,1,1))'
    assert with_date_criteria_columns([beam], table, request) == [beam, moved]
    assert pick_candidate(repaired([beam], table, request, request), table, request) == moved
    summed = '=SUMIFS(D2:D5,E2:E5,"Sci-Fi",C2:C5,">="&DATE(2024,1,1))'  # only the criterion's range moves
    assert with_date_criteria_columns([summed], table, request)[1:] == [
        '=SUMIFS(D2:D5,E2:E5,"Sci-Fi",F2:F5,">="&DATE(2024,1,1))']
    assert with_date_criteria_columns([moved], table, request) == [moved]
    headers_only = schema_table({"A": "Title", "F": "Watched"}, 2, 5)
    assert with_date_criteria_columns([beam], headers_only, request) == [beam]
    for odd, copy in (('=COUNTIF($A$2:$A$5,">="&DATE(2024,1,1))', '=COUNTIF($F$2:$F$5,">="&DATE(2024,1,1))'),
                      ('=COUNTIF(a2:a5,">="&date(2024,1,1))', '=COUNTIF(F2:F5,">="&date(2024,1,1))'),
                      ('=COUNTIF(H2:H5,">="&DATE(2024,1,1))', '=COUNTIF(F2:F5,">="&DATE(2024,1,1))')):
        assert with_date_criteria_columns([odd], table, request)[1:] == [copy], odd  # `$`, case, beyond the table
    for kept in ('=COUNTIF(A2:B5,">="&DATE(2024,1,1))', '=COUNTIF(A2:A5,"="&DATE(2024,1,1))'):
        assert with_date_criteria_columns([kept], table, request) == [kept], kept  # what the ranking does not refuse
    two = Table("t", [Column("A", "Title", TEXT, ["Heat", "Dune"]), Column("B", "Bought", DATE, [45300, 45310]),
                      Column("C", "Watched", DATE, [45320, 45330])])
    assert with_date_criteria_columns(['=COUNTIF(A2:A3,">="&DATE(2024,1,1))'], two, "films watched since 2024")[1:] == [
        '=COUNTIF(C2:C3,">="&DATE(2024,1,1))', '=COUNTIF(B2:B3,">="&DATE(2024,1,1))']  # the one named first


def _parcels() -> Table:
    return Table("p", [Column("A", "Tracking No", TEXT, ["PX1", "PX2", "PX3", "PX4"]),
                       Column("B", "Carrier", CATEGORY, ["DHL", "UPS", "DHL", "GLS"]),
                       Column("C", "Weight (kg)", NUMBER, [2.0, 4.0, 5.0, 1.0]),
                       Column("D", "Postage", NUMBER, [7.0, 9.0, 12.5, 4.0]),
                       Column("E", "Transit Days", NUMBER, [2, None, 3, None]),
                       Column("F", "Insurer", CATEGORY, ["Axa", "", None, "Allianz"]),
                       Column("G", "Late Fee", NUMBER, [0, 2.5, 0, 1.0])])


def test_a_rounding_to_other_places_than_stated_is_copied_to_the_stated_ones():
    """The model writes the places its training requests most often give; "rounded to 2 places" wants 2 and "to
    the nearest km" 0. The copy wins because every stated number must be written; a rounding to stated places,
    places written as an expression and a formula that does not round get no copy."""
    table, request = _parcels(), "postage per kg for row 3, rounded to 2 places"
    beam = "=ROUND(D3/C3,0)"
    assert with_stated_places([beam], request) == [beam, "=ROUND(D3/C3,2)"]
    assert pick_candidate(repaired([beam], table, request, request), table, request) == "=ROUND(D3/C3,2)"
    assert with_stated_places(["=ROUND(AVERAGE(C2:C5),2)"], "average weight to the nearest kg") == [
        "=ROUND(AVERAGE(C2:C5),2)", "=ROUND(AVERAGE(C2:C5),0)"]
    for kept in ("=ROUND(D3/C3,2)", "=ROUND(D3/C3,B1)", "=D3/C3", "=ROUND(D3/C3,0)+1"):
        assert with_stated_places([kept], request) == [kept], kept


def test_a_ratio_of_two_named_columns_is_built_where_the_request_spells_it_out():
    """"postage per kg", "bill divided by covers", "all rejects / all loaves": the first column named over the
    second, for the one row the request names (by number or by its record's key), or over the whole columns when
    it names no row and says total or all. A formula asked to round must round: the model's unrounded answers meet
    every other check."""
    table = _parcels()
    for request, ratio in (("postage per kg for row 4, rounded to 2 places", "=ROUND(D4/C4,2)"),
                           ("postage divided by weight for PX3, 1 dp", "=ROUND(D4/C4,1)"),
                           ("total postage divided by total weight, to 3 decimals", "=ROUND(SUM(D2:D5)/SUM(C2:C5),3)"),
                           ("postage / weight for row 2", "=D2/C2")):
        built = with_ratios_built(["=SUM(D2:D5)"], table, request, request)
        assert ratio in built, (request, built)
        assert pick_candidate(repaired(["=SUM(D2:D5)"], table, request, request), table, request) == ratio, request
    for nothing in ("postage per kg", "average postage per kg, 2 dp",  # no row, no total: an average? a sum?
                    "postage per carrier for row 2, rounded", "postage per kg for rows 2 and 3, 2 dp",
                    "postage and weight for row 2, rounded"):
        assert with_ratios_built(["=SUM(D2:D5)"], table, nothing, nothing) == ["=SUM(D2:D5)"], nothing
    for filtered in ("total postage per kg for DHL, 2 dp", "average postage per kg across all parcels, 2 dp"):
        assert with_ratios_built(["=SUM(D2:D5)"], table, filtered, filtered) == ["=SUM(D2:D5)"], filtered
    check = request_checks(table, "total postage, rounded to 2 decimals")
    assert not check("=SUM(D2:D5)").numbers and check("=ROUND(SUM(D2:D5),2)").numbers
    assert check('=TEXT(SUM(D2:D5),"0.00")').numbers and not check('=TEXT(SUM(D2:D5),"mmm")').numbers
    assert not check('=TEXT(VLOOKUP("PX1",A2:D5,4,FALSE),"mmm")').numbers  # the format is TEXT's last argument
    assert request_checks(table, "total postage")("=SUM(D2:D5)").numbers


def test_a_rounding_is_asked_by_rounding_words_and_places_given_as_such():
    """`rounded`, `nearest`, `2 dp`, `one decimal place` ask for a rounding; `per cent`, `the tenth parcel`, `as a
    decimal`, `nearest to 3` (a lookup) and `all year round` do not. The places are those given as such, not every
    number the request states, and a rounding word means 0 places only where none are given."""
    from tinyslm_hf.excel.ranking import asks_rounding, places_given

    for asked, places in (("rounded to 2 places", {"2"}), ("postage over 5, rounded to 2 places", {"2"}),
                          ("round the average to 2", {"2"}), ("top 3 weights, 1 dp", {"1"}),
                          ("to one decimal place", {"1"}), ("to the nearest cent", {"2"}),
                          ("nearest hundred", {"-2"}), ("average weight to the nearest kg", set()),
                          ("average weight rounded to the nearest 5", set()), ("1 decimal place", {"1"}),
                          ("rounded average of rows 2 to 5", set()), ("round the average for weeks 1 to 4", set())):
        assert asks_rounding(asked) and places_given(asked) == places, asked
    for unasked in ("what per cent of parcels went with DHL", "postage of the tenth parcel",
                    "show the postage for PX2 as a decimal", "postage of the parcel nearest to 3",
                    "cafes open all year round", "names in the top 3 places", "the price nearest 50",
                    "total fare for round trips"):
        assert not asks_rounding(unasked) and not places_given(unasked), unasked
    table, request = _parcels(), "average weight of DHL parcels, rounded to 2 places"
    beam = '=ROUND(AVERAGEIFS(C2:C5,B2:B5,"DHL"),0)'  # the range's 2 is no stated number of places
    assert pick_candidate(repaired([beam], table, request, request), table, request) == (
        '=ROUND(AVERAGEIFS(C2:C5,B2:B5,"DHL"),2)')
    assert pick_candidate(repaired(["=D3"], table, "postage for PX2 as a decimal", "postage for PX2 as a decimal"),
                          table, "postage for PX2 as a decimal") == "=D3"


def test_a_count_of_rows_where_a_named_column_is_empty_or_filled_in():
    """"parcels with no insurer" counts the empty cells of the Insurer column, "parcels that have a transit time"
    the filled ones: copies after the candidates, and the opposite count (or a count of another column) is refused.
    In a column of numbers without empty cells, none is 0 ("no late fee"). Only such columns are read that way; a
    table without values, and a request that counts nothing, get no copy. In a count or an aggregate, the plural of a
    key column's header (`members`) names the rows: no formula must use it (a list of members needs it)."""
    table = _parcels()
    beam = "=COUNTA(F2:F5)"
    for request, count, opposite in (
            ("how many parcels have no insurer?", "=COUNTBLANK(F2:F5)", "=COUNTA(F2:F5)"),
            ("how many parcels are missing an insurer", "=COUNTBLANK(F2:F5)", "=COUNTA(F2:F5)"),
            ("how many parcels don't have an insurer", "=COUNTBLANK(F2:F5)", "=COUNTA(F2:F5)"),
            ("how many parcels where the insurer is blank", "=COUNTBLANK(F2:F5)", "=COUNTA(F2:F5)"),
            ("how many parcels have a transit days value", "=COUNT(E2:E5)", "=COUNTBLANK(E2:E5)"),
            ("count the parcels with any insurer", "=COUNTA(F2:F5)", "=COUNTBLANK(F2:F5)"),
            ("how many parcels had no late fee", "=COUNTIF(G2:G5,0)", "=COUNTBLANK(G2:G5)"),  # none is 0 there
            ("how many parcels have a late fee", '=COUNTIF(G2:G5,"<>0")', "=COUNTA(G2:G5)")):
        assert with_presence_counts(["=COUNT(C2:C5)"], table, request) == ["=COUNT(C2:C5)", count], request
        assert pick_candidate(repaired(["=COUNT(C2:C5)", opposite], table, request, request), table, request) == count
    for nothing in ("how many parcels went with DHL", "the insurer of PX1", "parcels without postage",
                    "how many parcels where the carrier is not DHL and the insurer is Axa"):
        assert with_presence_counts([beam], table, nothing) == [beam], nothing  # Postage has no empty cell or 0
    request = "count the parcels with any insurer"
    assert pick_candidate(repaired(["=COUNT(F2:F5)"], table, request, request), table, request) == "=COUNTA(F2:F5)"
    headers_only = schema_table({"A": "Tracking No", "F": "Insurer"}, 2, 5)
    assert with_presence_counts([beam], headers_only, "how many parcels have no insurer") == [beam]
    members = Table("m", [Column("A", "Member", TEXT, ["Ann", "Ben", "Cy"]),
                          Column("B", "Plan", CATEGORY, ["Basic", "Premium", "Basic"])])
    request = "how many members are on the Basic plan"
    assert pick_candidate(['=COUNTA(A2:A4)', '=COUNTIF(B2:B4,"Basic")'], members, request) == '=COUNTIF(B2:B4,"Basic")'
    assert request_checks(members, request)('=COUNTIF(B2:B4,"Basic")').columns
    for listing in ("the member on the Basic plan", "list the members on the Basic plan"):  # the names are the answer
        assert not request_checks(members, listing)('=COUNTIF(B2:B4,"Basic")').columns, listing


def test_the_piece_of_a_text_named_by_what_it_is_is_built_and_splits_at_its_character():
    """"first name", "surname", "the part before the @", "position of the @ sign", "without the dash": the piece is
    built on the cell the request names (by address, or a text cell of its record's row a candidate uses), and a
    formula that does not write the character (`=LEFT(A3,3)`, `=UPPER(A3)`) is refused. A quoted text is the
    model's to copy; a cell without the character, and a request that names no piece, get nothing."""
    from tinyslm_hf.excel.linking import text_piece_asked

    people = Table("v", [Column("A", "Volunteer", TEXT, ["Ann Lee", "Carlos Vega", "Bo Kim"]),
                         Column("B", "Email", TEXT, ["ann@x.org", "carlos@y.com", "bo@z.net"]),
                         Column("C", "Plate", TEXT, ["KX-101", "KX-102", "LM 3"]),
                         Column("D", "Hours", NUMBER, [3, 5, 8])])
    for request, beams, piece in (
            ("just the first name of the volunteer in A3", ["=LEFT(A3,3)", "=UPPER(A3)"], '=LEFT(A3,FIND(" ",A3)-1)'),
            ("volunteer's surname in A2", ["=UPPER(A2)"], '=RIGHT(A2,LEN(A2)-FIND(" ",A2))'),
            ("the part of the email in B4 before the @", ["=LEN(B4)"], '=LEFT(B4,FIND("@",B4)-1)'),
            ("position of the @ sign in Carlos Vega's email", ["=LEN(B3)"], '=FIND("@",B3)'),
            ("plate in C2 without the dash", ["=TRIM(C2)"], '=SUBSTITUTE(C2,"-","")'),
            ("plate in C3 with the hyphen removed", ["=TRIM(C3)"], '=SUBSTITUTE(C3,"-","")')):
        assert with_text_pieces_built(beams, people, request, request) == beams + [piece], request
        assert pick_candidate(repaired(beams, people, request, request), people, request) == piece, request
    assert with_text_pieces_built(["=TRIM(C4)"], people, "plate in C4 without the dash") == ["=TRIM(C4)"]  # no dash
    for nothing in ('position of "-" in C2', "hours before the 5th", "total hours without the sign",
                    "the full name in A2", "first name and surname of A2", "volunteers whose first name is Ann",
                    "invoices paid after the period end in C2", "hours with the workspace removed"):
        assert text_piece_asked(nothing) is None, nothing
        assert with_text_pieces_built(["=LEN(C2)"], people, nothing) == ["=LEN(C2)"], nothing
    assert request_checks(people, "hours of row 2")("=D2").reshaping  # no piece asked: nothing to write
    for guess in ("=LEFT(A2,4)", "=LEFT(A2,1)", "=LEFT(A2)"):
        assert not request_checks(people, "first name of the volunteer in A2")(guess).reshaping, guess
    assert request_checks(people, "how many emails are without the @")('=COUNTIF(B2:B4,"<>*@*")').reshaping
    named = Table("n", [Column("A", "First Name", TEXT, ["Ann", "Bo"]), Column("B", "Hours", NUMBER, [3, 5])])
    assert with_text_pieces_built(["=A3"], named, "first name of the member in row 3") == ["=A3"]  # a column
    assert request_checks(named, "first name of the member in row 3")("=A3").reshaping
    assert request_checks(people, "just the letter before the space in A2")("=LEFT(A2,1)").reshaping  # a count said


def test_the_part_of_a_date_asked_for_is_built_and_taken():
    """"what year was X published", "month number of the latest check-in", "day of the week", a date "in the form
    2024-01-31" or "written like Mar 06, 2023": the part is built on the named row's date (or the latest or earliest
    date) and a formula that does not take it (the whole date looked up) is refused. A Year column of numbers is
    that column's cell, and a sample whose day and month cannot be told apart asks for no format."""
    from tinyslm_hf.excel.linking import date_piece_asked

    films = _films()  # F: Watched (dates)
    films.columns[2].header = "Released"  # a Year column would hold "what year" (below)
    for request, beams, part in (
            ("what year did I watch Dune", ['=INDEX(F2:F5,MATCH("Dune",A2:A5,0))'], "=YEAR(F3)"),
            ("month number of the latest watched date", ["=MAX(F2:F5)"], "=MONTH(MAX(F2:F5))"),
            ("what year was the earliest watched date", ["=MIN(F2:F5)"], "=YEAR(MIN(F2:F5))"),
            ("short day of the week I watched Up", ["=F5"], '=TEXT(F5,"ddd")'),
            ('the date I watched Dune, e.g. "31/01/2024"', ["=F3"], '=TEXT(F3,"dd/mm/yyyy")'),
            ("day of the week I watched Alien", ["=F4"], '=TEXT(F4,"dddd")'),
            ("the date I watched Heat in the form 2024-01-31", ["=F2"], '=TEXT(F2,"yyyy-mm-dd")'),
            ("watched date of Up, written like Mar 06, 2023", ["=F5"], '=TEXT(F5,"mmm dd, yyyy")')):
        assert with_date_pieces_built(beams, films, request, request) == beams + [part], request
        assert pick_candidate(repaired(beams, films, request, request), films, request) == part, request
    assert date_piece_asked("watched like 31/01/2024") == "dd/mm/yyyy" and date_piece_asked("like 6 March 2023") == (
        "d mmmm yyyy")
    for nothing in ("watched like 03/04/2024", "total minutes for the year", "films like Heat",
                    "phone in row 4 like 12-34-5678", "watched like Sept 5, 2023", "the month no film was watched"):
        assert date_piece_asked(nothing) is None, nothing
    check = request_checks(films, "day of the week I watched Alien")
    assert not check('=TEXT(F4,"mmm")').reshaping and check("=WEEKDAY(F4)").reshaping
    for left_alone in ("how many films did I watch in month number 3", "did I watch Alien on a weekday",
                       "what year did I watch the Sci-Fi films first"):  # a count, a yes/no, a filter with no row
        assert with_date_pieces_built(["=F4"], films, left_alone, left_alone) == ["=F4"], left_alone
    request = "what year was Heat released"  # the Release Year column holds it
    films.columns[2].header = "Release Year"
    assert with_date_pieces_built(["=C2"], films, request, request) == ["=C2"]
    films.columns[2].header, request = "Released", "the year Heat was released"  # numbers that are years
    assert with_date_pieces_built(["=C2"], films, request, request) == ["=C2"]
    request = "what year was Heat released"
    assert with_date_pieces_built(["=C2"], films, request, request) == ["=C2"]
    assert request_checks(films, request)("=C2").reshaping


def test_values_joined_with_the_character_named_and_the_span_between_two_extremes():
    """"joined with a dash" wants `-` between the values (the model joins with a space), and "between the highest
    and lowest" both extremes (the model writes one): copies, and the formula missing either is refused."""
    films = _films()
    request = "title and director of row 3 joined with a dash"
    beam = '=A3&" "&B3'
    assert with_joining_character([beam], request) == [beam, '=A3&"-"&B3']
    assert with_joining_character(['=CONCAT(A3,", ",B3)'], request)[1:] == ['=CONCAT(A3,"-",B3)']
    assert pick_candidate(repaired([beam], films, request, request), films, request) == '=A3&"-"&B3'
    assert with_joining_character([beam], "title and director of row 3 joined") == [beam]
    request = "minutes between the longest and the shortest film"
    assert with_spread_built(["=MAX(D2:D5)"], films, request) == ["=MAX(D2:D5)", "=MAX(D2:D5)-MIN(D2:D5)"]
    assert pick_candidate(repaired(["=MAX(D2:D5)"], films, request, request), films, request) == (
        "=MAX(D2:D5)-MIN(D2:D5)")
    assert with_spread_built(["=MAX(D2:D5)"], films, "the longest film's minutes") == ["=MAX(D2:D5)"]


def test_a_year_alone_is_read_as_its_first_day_where_that_is_sure():
    from tinyslm_hf.excel.linking import request_comparisons

    assert request_comparisons("how many members joined before 2022") == {("<", "2022-01-01")}
    assert request_comparisons("people who signed up in 2024 or later") == {(">=", "2024-01-01")}
    for unsure in ("after 2023", "not before 2022", "2024 or more recently"):
        assert request_comparisons(unsure) == set(), unsure
    # a Year column of numbers answers it as a date column does
    assert ("<", "1990-01-01") in formula_comparisons('=COUNTIF(C2:C5,"<1990")')
    assert (">=", "2024-01-01") in formula_comparisons('=COUNTIF(F2:F5,">="&DATE(2024,1,1))')
    assert ("<", "2022-01-01") in formula_comparisons("=SUMPRODUCT(--(YEAR(F2:F5)<2022))")
    assert ("<=", "1990-01-01") not in formula_comparisons('=COUNTIF(C2:C5,"<=1990")')  # `<=1990` takes in 1990


def test_no_rule_reads_a_word_only_the_held_out_wording_uses():
    """The held-out split measures how requests in words training never showed are read; a rule that knew those
    words (`peak`, `standing`, `tidy`) would make that number say nothing. Every cue word of the ranking is a
    training word or a plain word outside the held-out wording (`_cue_words` also drops the training intents' few,
    `initial` and `added up`). An inflection of a training word is read, as the thesaurus rewrite reads it
    (`averaged` -> `average`)."""
    import re

    from tinyslm_hf.excel import ranking
    from tinyslm_hf.excel.synthetic.phrasings import held_out_phrasing_words, training_phrasing_words

    held_out_only = held_out_phrasing_words() - training_phrasing_words()
    assert {"peak", "standing", "tidy", "strip", "bottom"} <= held_out_only
    pools = [words for _, words in ranking._RESHAPING_GROUPS]
    pools += [words for _, words in ranking.AGGREGATE_FAMILIES.values()] + [ranking._JOINING]
    pools += [ranking.NOT_A_TOTAL, ranking.EXTREME_TARGETS - {"extreme", "extremum"}, ranking.AVERAGE_TARGETS]
    cue_words = {w for pool in pools for phrase in pool for w in re.findall(r"[a-z]+", phrase.lower())}
    assert len(cue_words) > 80
    assert not cue_words & held_out_only, cue_words & held_out_only
    from tinyslm_hf.excel import linking, repairs

    patterns = (linking._ABSENT_BEFORE, linking._ABSENT_AFTER, linking._PRESENT_BEFORE, repairs._RATIO_BETWEEN,
                repairs._DIVIDED, repairs._WHOLE_COLUMNS, ranking.HOW_MANY, linking._PIECE_OF_NAME,
                linking._PIECE_AROUND, linking._POSITION_OF, linking._WITHOUT, ranking._PLACES_IN_DIGITS,
                ranking._FRACTION_GIVEN, ranking._ROUNDING_ASKED, ranking._ONE_CHARACTER, ranking._YES_NO_QUESTION,
                linking._YEAR_OF, linking._MONTH_NUMBER, linking._WEEKDAY, linking._SAMPLE_CUE, linking._SHORT,
                linking._JOINED_WITH, linking._BETWEEN_EXTREMES)
    texts = [re.sub(r"\\[a-z]", " ", p.pattern) for p in patterns]  # `\\s`, `\\b` are no words
    pattern_words = {w for t in texts for w in re.findall(r"[a-z]{2,}", t) + re.findall(r"([a-z]{2,})(?:s|es)\?", t)}
    assert {"missing", "divided", "total"} <= pattern_words and not pattern_words & held_out_only, (
        pattern_words & held_out_only)
    assert "initial" not in ranking._RESHAPING_GROUPS[1][1] and "added up" not in ranking.AGGREGATE_FAMILIES["SUM"][1]
    assert ranking.reshapings_asked("the standing of WS-007") == set()
    assert ranking.aggregates_asked(_films(), "peak runtime") == set()
    assert ranking.aggregates_asked(_films(), "runtime averaged over all films") == {"AVERAGE"}


def test_a_request_that_compares_nothing_gets_no_made_up_comparison():
    """With no number stated and no comparison worded, a formula testing one (but with 0) is refused: the model adds
    date ranges and thresholds nobody asked for. `more than one order` words one, and `Four Seasons` is a name, not a
    number the formula must write."""
    table = Table("h", [Column("A", "Hotel", CATEGORY, ["Four Seasons", "Ritz", "Four Seasons", "Hilton"]),
                        Column("B", "Guest", TEXT, ["Ann", "Bo", "Cy", "Di"]),
                        Column("C", "Orders", NUMBER, [1, 3, 4, 2]),
                        Column("D", "Nights", NUMBER, [2, 5, 1, 7])])
    made_up, plain = '=SUMIFS(D2:D5,A2:A5,"Ritz",C2:C5,">=2")', '=SUMIF(A2:A5,"Ritz",D2:D5)'
    assert not request_checks(table, "total nights at the Ritz")(made_up).comparisons
    assert pick_candidate([made_up, plain], table, "total nights at the Ritz") == plain
    assert request_checks(table, "total nights at the Ritz")('=SUMIFS(D2:D5,A2:A5,"Ritz",C2:C5,">0")').comparisons
    more_than_one = '=COUNTIF(C2:C5,">1")'
    assert pick_candidate([more_than_one, "=COUNTA(B2:B5)"], table, "guests with more than one order") == more_than_one
    seasons = '=SUMIF(A2:A5,"Four Seasons",D2:D5)'
    assert all(request_checks(table, "total nights at the Four Seasons")(seasons))
    assert pick_candidate(['=SUMIFS(D2:D5,C2:C5,">=4")', seasons], table, "total nights at the Four Seasons") != \
        '=SUMIFS(D2:D5,C2:C5,">=4")'


def test_number_words_and_partial_values_rank_candidates():
    """`first two letters` states 2; a copy that quotes one of two named values, or shows the request's IF labels,
    ranks above a beam that meets neither."""
    table = _films()
    assert pick_candidate(["=LEFT(A3,4)", "=LEFT(A3,2)"], table, "first two letters of the title in A3") == \
        "=LEFT(A3,2)"
    request = "row 3: write classic if the genre is Crime and it runs over 150 minutes, else other"
    beam, labelled = '=IF(AND(C3>150,D3>150),"Heat","And")', '=IF(AND(C3>150,D3>150),"classic","other")'
    checks = request_checks(table, request)
    assert checks(labelled).values_met > checks(beam).values_met and not checks(labelled).values
    assert pick_candidate([beam, labelled], table, request) == labelled


def test_no_made_up_rank_or_count_no_unasked_join_no_case_ruled_out_and_the_rank_order_said(references):
    """What a request rules out without naming a function: a rank it does not state (`biggest one` is MAX, not
    `LARGE(D2:D5,3)`) and a count of characters that is only the row it names (`row 3 with no uppercase` is no
    `RIGHT(A3,3)`), values joined into one text when nothing asks for a join (`how far apart` is no `=C3&" "&D3`), a
    case it negates (`no capital letters`, read `no uppercase`, is LOWER: neither UPPER nor PROPER), and a rank
    counted from the other end than it says (`longest = 1`). No reference of any set, as typed or as read through
    the thesaurus, breaks any of them."""
    from tinyslm_hf.excel.synonyms import default_rewriter

    table = _films()
    assert stated_counts("second longest film") == {"1", "2"} and stated_counts("rows 3 to 5, 2nd value") == {"1", "2"}
    assert stated_counts("title of row 3 with no uppercase") == stated_counts("title of row three") == {"1"}
    assert stated_counts("first 5 letters of rows 2, 3 and 4") == {"1", "5"}
    assert not counts_stated("=RIGHT(A3,3)", {"1"}) and counts_stated('=LEFT(A3,FIND(" ",A3)-1)', {"1"})
    assert counts_stated("=LEFT(A3,2)", {"1"})  # a prefix may be as long as the data's codes are
    assert not counts_stated("=MID(A3,3,3)", {"1"}) and counts_stated("=MID(A3,2,2)", {"1"})
    assert counts_stated("=MID(A5,4,5)", {"1"})  # the number part of a code in row 5 may be 5 long
    assert stated_counts("from the code in row 2, 2 characters starting at 5") == {"1", "2", "5"}
    assert pick_candidate(["=LARGE(D2:D5,3)", "=MAX(D2:D5)"], table, "runtime, the biggest one") == "=MAX(D2:D5)"
    assert pick_candidate(["=LARGE(D2:D5,3)", "=MAX(D2:D5)"], table, "3rd biggest runtime") == "=LARGE(D2:D5,3)"
    assert pick_candidate(["=SMALL(D2:D5,3)", "=SMALL(D2:D5,2)"], table, "second smallest runtime") == "=SMALL(D2:D5,2)"

    rounded = "=ROUND(AVERAGE(D2:D5),2)"  # places nobody stated
    assert stated_places("runtime averaged over every film") == set()
    # a rounding word means a whole number only where no places are given as such
    assert stated_places("average runtime of row 2, 2 dp") == {"2"} and stated_places("row 2, 2 d.p.") == {"2"}
    assert stated_places("runtime over 5, rounded") == {"0", "5"}
    for said, places in (("to one decimal place", {"1"}), ("to a single decimal", {"1"}),
                         ("with one-decimal precision", {"1"}), ("with no decimals", {"0"}),
                         ("rounded to the nearest hundred", {"-2"}), ("rounded to hundreds", {"-2"}),
                         ("to the nearest $1,000", {"-3", "1000"}),
                         ("to the nearest ten thousand", {"-4", "10"}), ("to the nearest million", {"-6"}),
                         ("in tenths", {"1"}), ("to the nearest cent", {"2"}),
                         ("as a whole number", set()), ("to the nearest whole number", {"0"}),
                         ("of rows 2 to 5, 2 d.p", {"2"})):
        assert stated_places(f"average runtime {said}") == places, said
    for unasked in (rounded, "=ROUND(AVERAGE(D2:D5),1)", "=ROUNDUP(AVERAGE(D2:D5),0)", "=ROUND(MAX(D2:D5),0)+1"):
        assert not rounds_as_stated(unasked, set()), unasked
    assert rounds_as_stated(rounded, {"0", "2"}) and rounds_as_stated("=ROUND(AVERAGE(D2:D5),-2)", {"0", "-2"})
    assert with_unasked_rounding_dropped([rounded], "runtime averaged over every film") == [rounded, "=AVERAGE(D2:D5)"]
    assert with_unasked_rounding_dropped([rounded], "average runtime to 2 dp") == [rounded]
    assert with_unasked_rounding_dropped(["=ROUND(LARGE(D2:D5,3),1)"], "biggest runtime to 1 dp") == [
        "=ROUND(LARGE(D2:D5,3),1)"]  # the places are stated: the made-up rank is another rule's
    request = "runtime averaged over every film"
    assert pick_candidate(repaired([rounded], table, request, request), table, request) == "=AVERAGE(D2:D5)"
    request = "average runtime rounded to the nearest hundred"
    assert pick_candidate(repaired(["=ROUND(AVERAGE(D2:D5),-2)"], table, request, request), table, request) == \
        "=ROUND(AVERAGE(D2:D5),-2)"

    rewrite = default_rewriter()
    reading = rewrite("title of row 3 with no capital letters", table)
    assert reading == "title of row 3 with no uppercase" and refused_reshapings(reading) == {"UPPER", "PROPER"}
    assert refused_reshapings("genre without any lower-case letters") == {"LOWER", "PROPER"}
    assert refused_reshapings("title of row 3 in proper case, not all caps") == {"UPPER"}
    for none in ("title of row 3 in upper case", "films with no upper limit on minutes", "year not lower than 2000",
                 "row 3: say fix if the title is not in upper case, else ok"):
        assert refused_reshapings(none) == set(), none
    beams = ["=UPPER(A3)", "=PROPER(A3)", "=RIGHT(A3,3)", "=LOWER(A3)"]
    assert pick_candidate(beams, table, reading, "title of row 3 with no capital letters") == "=LOWER(A3)"
    assert pick_candidate(beams, table, "title of row 3 in upper case") == "=UPPER(A3)"

    joined = '=C3&" "&D3'
    assert not joins_asked("year and minutes of row 3, how far apart") and joins_asked('year, " / ", minutes')
    assert pick_candidate([joined, "=ABS(C3-D3)"], table, "year and minutes of row 3, how far apart") == "=ABS(C3-D3)"
    assert pick_candidate([joined, "=ABS(C3-D3)"], table, "year and minutes of row 3 joined") == joined

    assert rank_order_asked("where does Alien rank by runtime? longest = 1") == "descending"
    assert rank_order_asked("rank of row 4 by minutes, 1 = most minutes") == "descending"
    assert rank_order_asked("rank row 3 by minutes where the smallest ranks first") == "ascending"
    assert rank_order_asked("row 3's place in the minutes ranking") is None
    assert not ranks_in_order("=RANK.EQ(D4,D2:D5,1)", "descending") and ranks_in_order("=RANK.EQ(D4,D2:D5,0)", None)
    assert pick_candidate(["=RANK.EQ(D4,D2:D5,1)", "=RANK.EQ(D4,D2:D5)"], table,
                          "where does Alien rank by runtime? longest = 1") == "=RANK.EQ(D4,D2:D5)"

    generated, people = references
    for ex in generated + people:
        for request in dict.fromkeys((ex.request, rewrite(ex.request, ex.table))):
            assert counts_stated(ex.formula, stated_counts(request)), (request, ex.formula)
            assert rounds_as_stated(ex.formula, stated_places(request)), (request, ex.formula)
            assert not joined_pieces(ex.formula) or joins_asked(request), (request, ex.formula)
            assert not refused_reshapings(request) & called_functions(ex.formula), (request, ex.formula)
            assert ranks_in_order(ex.formula, rank_order_asked(request)), (request, ex.formula)


def test_a_fallback_is_read_only_where_the_request_gives_one(references):
    """`runtime of Dune, or "not in collection" if I don't have it`: one quoted text with a not-found condition
    right after it (or before it in its clause). Every request read so is an IFERROR reference; quoted texts with any
    other condition (`or "not measured" if the cell is empty`) are not read."""
    from tinyslm_hf.excel.linking import request_fallback

    assert request_fallback('runtime of Dune, or "not in collection" if I don\'t have it') == "not in collection"
    assert request_fallback('find the fee of X9; if there is no match return "none"') == "none"
    assert request_fallback('get the fee for X9 or "-" when not found') == "-"
    for none in ('nitrate for WS-004, or "not measured" if the cell is empty', 'say "late" if over 14, else "ok"',
                 'count "West" rows', 'fee of X9 (no match)'):
        assert request_fallback(none) is None, none
    generated, people = references
    read = [ex for ex in generated + people if request_fallback(ex.request) is not None]
    assert len(read) > 30 and all("IFERROR" in ex.formula for ex in read)


def test_a_lookup_with_a_fallback_is_written_for_a_key_the_table_does_not_hold():
    table = _films()
    request = 'minutes of Dune Part Two, or "not in collection" if I don\'t have it'
    lookup = '=IFERROR(INDEX(D2:D5,MATCH("Dune Part Two",A2:A5,0)),"not in collection")'
    beams = ['=IF(D2:D5="t","Heat")', '=IF(D2:D5="t","not in collection")']
    assert with_fallback_lookup(beams, table, request, request) == beams + [lookup]
    assert pick_candidate(repaired(beams, table, request, request), table, request) == lookup
    held = 'minutes of Alien, or "none" if it is not there'  # a key the table holds: its own column
    assert with_fallback_lookup([], table, held, held) == [
        '=IFERROR(INDEX(D2:D5,MATCH("Alien",A2:A5,0)),"none")']
    codes = Table("b", [Column("A", "Baker", TEXT, ["Ann", "Bo"]), Column("B", "Batch Code", TEXT, ["SD-01", "RY-02"]),
                        Column("C", "Loaves", NUMBER, [40, 52])])
    asked = 'loaves in batch SD-0311, or "no batch" when that code isn\'t in the log'
    assert with_fallback_lookup([], codes, asked, asked) == [
        '=IFERROR(INDEX(C2:C3,MATCH("SD-0311",B2:B3,0)),"no batch")']  # the column of codes shaped like the key
    assert with_fallback_lookup(beams, table, "runtime of Dune", "runtime of Dune") == beams


def test_a_formula_quotes_every_text_the_request_quotes(references):
    """What a user puts in quotes is a value, a label or a separator the formula writes as is: every such text of
    every reference's request is a string of its formula, and a beam that writes it ranks above one that does not.
    A number, a cell address, a header and anything with a year (a date, a sample of a TEXT format) are not held to
    it, and criteria marks do not count (`"<>Crime"` quotes Crime)."""
    from tinyslm_hf.excel.constrained import string_literals
    from tinyslm_hf.excel.linking import QUOTED_TEXT
    from tinyslm_hf.excel.ranking import _literal_text, quoted_values

    generated, people = references
    checked = 0
    for ex in generated + people:
        for quote in QUOTED_TEXT.findall(ex.request):
            if _literal_text(quote[1:-1], ex.table):
                checked += 1
                literals = quoted_values(ex.formula) | {t.lower() for t in string_literals(ex.formula)[0]}
                assert quote[1:-1].lower() in literals, (ex.request, ex.formula)
    assert checked > 100
    table = _films()
    request = 'join the title and director of row 3 with ", " between'
    assert pick_candidate(['=CONCAT(A3," ",B3)', '=CONCAT(A3,", ",B3)'], table, request) == '=CONCAT(A3,", ",B3)'
    spaced = 'join the title and director of row 3 with " " between'
    assert pick_candidate(['=A3&" - "&B3', '=A3&" "&B3'], table, spaced) == '=A3&" "&B3'
    not_crime = 'count films whose genre is not "Crime"'
    assert pick_candidate(['=COUNTIF(E2:E5,"<>Crime")', '=COUNTIF(E2:E5,"Crime")'], table, not_crime) == \
        '=COUNTIF(E2:E5,"<>Crime")'
    for not_literal in ("Mar 06, 2023", "2024-01-31", "D3", "1995", "Minutes"):
        assert not _literal_text(not_literal, table), not_literal


def test_the_key_of_a_fallback_lookup_and_its_column():
    from tinyslm_hf.excel.ranking import catches_missing
    from tinyslm_hf.excel.repairs import _fallback_key
    from tinyslm_hf.excel.linking import link_columns

    table = Table("films", [Column("A", "Title", TEXT, ["Heat", "Dune", "Alien Nation", "Up"]),
                            Column("B", "Director", TEXT, ["Mann", "Villeneuve", "Baker", "Docter"]),
                            Column("C", "Minutes", NUMBER, [170, 155, 117, 96])])

    def key(request):
        return _fallback_key(table, request, link_columns(table, request))

    assert key('minutes of Schindler\'s List, or "none" if I don\'t have it') == ("Schindler's List", "A")
    assert key('How many minutes is Jaws? If not found, say "none"') == ("Jaws", "A")
    assert key('Farid Nowak\'s minutes, "none" if not found') == ("Farid Nowak", "A")
    assert key('minutes of dune part two, or "none" if not found') is None  # not capitalised, not the record Dune
    assert key('minutes of Dune, or "none" if not found') == ("Dune", "A")
    orders = Table("o", [Column("A", "Customer", TEXT, ["Ann", "Bo"]), Column("B", "Order ID", NUMBER, [1001, 1003]),
                         Column("C", "SKU", TEXT, ["D-100", "E-200"]), Column("D", "Amount", NUMBER, [5, 9])])
    asked = 'amount for order 1002, or "no order" if not found'
    assert with_fallback_lookup([], orders, asked, asked) == ['=IFERROR(INDEX(D2:D3,MATCH(1002,B2:B3,0)),"no order")']
    sku = 'amount of SKU F-300, or "none" if not found'  # the header word is not part of the key
    assert with_fallback_lookup([], orders, sku, sku) == ['=IFERROR(INDEX(D2:D3,MATCH("F-300",C2:C3,0)),"none")']
    assert catches_missing('=XLOOKUP("Jaws",A2:A5,C2:C5,"none")') and not catches_missing('=XLOOKUP("Jaws",A2:A5,C2:C5)')
    assert catches_missing('=IF(ISNA(MATCH("Jaws",A2:A5,0)),"none",1)')


def test_comparisons_are_read_in_order_and_a_month_is_a_span_of_days():
    from tinyslm_hf.excel.linking import ordered_comparisons, request_comparisons

    assert ordered_comparisons('show "Big" if sales over 900 and units over 1, else "Small"') == [(">", "900"),
                                                                                                  (">", "1")]
    assert ordered_comparisons("if col G is >= 3 or the Age column is less than 51") == [(">=", "3"), ("<", "51")]
    assert ordered_comparisons("the Bonus total for Dec 2023 by start date") == [(">=", "2023-12-01"),
                                                                                 ("<", "2024-01-01")]
    assert ordered_comparisons("OTA bookings checking in before august 2024") == [("<", "2024-08-01")]
    assert request_comparisons("count rows with Start Date in May 2022") == {(">=", "2022-05-01"), ("<", "2022-06-01")}
    for unsure in ("orders after May 2024", "joined since March 2024", "from June 2023 on"):  # no end, or unsure
        assert request_comparisons(unsure) == set(), unsure
    assert request_comparisons("shipped in May 3 2024") == set()  # a day, not a month
    # dates are whole days: the last day of a month, inclusive, is the same bound as the next month's first day
    assert ("<", "2024-05-01") in formula_comparisons('=COUNTIFS(C2:C9,">="&DATE(2024,4,1),C2:C9,"<="&DATE(2024,4,30))')
    assert (">=", "2024-04-01") in formula_comparisons('=COUNTIF(C2:C9,">"&DATE(2024,3,31))')
    assert formula_comparisons('=COUNTIF(C2:C9,"<="&DATE(2024,2,31))') == {("<=", "2024-02-31")}  # no such day
    assert formula_comparisons('=COUNTIF(C2:C9,"<=30")') == {("<=", "30")}  # numbers are not whole days
    # the same month in the forms people write it
    may = {(">=", "2024-05-01"), ("<", "2024-06-01")}
    assert may <= formula_comparisons("=SUMPRODUCT((MONTH(C2:C5)=5)*(YEAR(C2:C5)=2024),D2:D5)")
    assert may <= formula_comparisons('=SUMIFS(D2:D5,C2:C5,">="&DATE(2024,5,1),C2:C5,"<="&EOMONTH(DATE(2024,5,1),0))')
    assert ("<=", "2024-04-30") in formula_comparisons('=COUNTIF(C2:C9,"<"&DATE(2024,5,1))')  # both ways round
    # a model can write any month of any year: no month after December 9999, no month 13
    assert formula_comparisons("=SUMPRODUCT((MONTH(C2:C5)=12)*(YEAR(C2:C5)=9999),D2:D5)") == set()
    assert formula_comparisons('=COUNTIF(C2:C9,"<="&EOMONTH(DATE(9999,12,1),0))') == set()
    year_2024 = {(">=", "2024-01-01"), (">", "2023-12-31"), ("<", "2025-01-01"), ("<=", "2024-12-31")}
    assert formula_comparisons("=SUMPRODUCT((MONTH(C2:C5)=13)*(YEAR(C2:C5)=2024),D2:D5)") == year_2024
    for unsure in ("sales not in May 2024", "total Sales in May 2024 through July 2024", "for March 2024 onwards",
                   "in May 2024 or June 2024", "for Dec 9999"):
        assert ordered_comparisons(unsure) == [], unsure
    assert ordered_comparisons("hired on 21st of September, 2024 with 5 or more, over 2") == [(">=", "5"), (">", "2")]
    # a year alone after `in` is its every day, written as a range, a YEAR() test or a Year column's value
    assert ordered_comparisons("How many episodes came out in 2023?") == [(">=", "2023-01-01"), ("<", "2024-01-01")]
    for said in ("falls in calendar 2023", "in calendar year 2023", "within the year 2023", "in year 2023",
                 "during the calendar year 2023"):
        assert ordered_comparisons(said) == [(">=", "2023-01-01"), ("<", "2024-01-01")], said
    for unsure in ("signed up in 2024 or later", "in 2022 through 2024", "not in 2023", "budget for 2023",
                   "not in calendar 2023", "in calendar 2022 through 2024", "students in the 2023 intake"):
        assert ("<", "2024-01-01") not in request_comparisons(unsure), unsure
    year = {(">=", "2023-01-01"), ("<", "2024-01-01")}
    for written in ("=SUMPRODUCT((YEAR(E2:E16)=2023)*G2:G16)", "=COUNTIF(C2:C17,2023)", '=COUNTIF(C2:C17,"2023")',
                    '=COUNTIFS(E2:E16,">="&DATE(2023,1,1),E2:E16,"<="&DATE(2023,12,31))'):
        assert year <= formula_comparisons(written), written
    assert formula_comparisons("=SUM(C2:C2023)") == set()


def test_every_stated_comparison_is_written_in_its_place():
    from tinyslm_hf.excel.repairs import with_stated_comparison

    request = 'Wes Young: give "Whiteness" if assists more than 6 and goals under 25, or "Threshold" otherwise'
    beam = '=IF(AND(A6>25,C6<6),"Whiteness","Threshold")'
    assert with_stated_comparison([beam], request) == [beam, '=IF(AND(A6>6,C6<25),"Whiteness","Threshold")']
    month = '=SUMIFS(F2:F6,C2:C6,">="&DATE(2023,12,1),C2:C6,"<"&DATE(2023,1,1))'
    assert with_stated_comparison([month], "the Bonus total for Dec 2023 by start date")[1] == (
        '=SUMIFS(F2:F6,C2:C6,">="&DATE(2023,12,1),C2:C6,"<"&DATE(2024,1,1))')
    # another number of comparisons than the request states, or one already testing them all: left alone
    assert with_stated_comparison(['=IF(A6>25,"Whiteness","Threshold")'], request) == [
        '=IF(A6>25,"Whiteness","Threshold")']
    right = '=IF(AND(C6<25,A6>6),"Whiteness","Threshold")'
    assert with_stated_comparison([right], request) == [right]
    # conditions in another order than the request's: writing them in order would put each on the wrong column
    other_order = '=IF(AND(C6<24,A6>6),"Whiteness","Threshold")'
    assert with_stated_comparison([other_order], request) == [other_order]
    table = Table("t", [Column("A", "Assists", NUMBER, [7, 2]), Column("B", "Name", TEXT, ["Wes", "Kim"]),
                        Column("C", "Goals", NUMBER, [3, 30])], first_row=6)
    assert pick_candidate(repaired([beam], table, request, request), table, request, request) == (
        '=IF(AND(A6>6,C6<25),"Whiteness","Threshold")')


def test_substitute_and_mid_take_their_arguments_in_the_order_the_request_gives():
    from tinyslm_hf.excel.linking import request_mid_start, request_replacement
    from tinyslm_hf.excel.ranking import argument_order
    from tinyslm_hf.excel.repairs import with_argument_order

    assert request_replacement('I need row 3 SKU Name with "Mini" replaced by "Eco"') == ("Mini", "Eco")
    assert request_replacement('change "Lucy" to "Maria" in the Student in row 6') == ("Lucy", "Maria")
    assert request_replacement('in Sales Rep BL-0854, swap "Moreau" for "Smith"') == ("Moreau", "Smith")
    assert request_replacement('substitute "Quinn" for "Kira" in row 7') == ("Kira", "Quinn")
    for unsure in ('row 5 name, but writing "x" wherever "y" appears', 'show "a" if x > 3 otherwise "b"',
                   'join them with " - " and ", "'):
        assert request_replacement(unsure) is None, unsure
    assert request_mid_start("from Product Name for Urban Drill, 2 characters starting at 4") == "4"
    assert request_mid_start("mid of Pupil in row 2 from character 3, 2 long please") == "3"
    assert request_mid_start("mid Name row 4 start 2 length 3") == "2"
    for unsure in ("sales from 2023 to 2024", "subtract 5 from 20", "rows from 3 to 9", "Code from #4"):
        assert request_mid_start(unsure) is None, unsure
    for unsure in ('add "Mr " to "Smith"', 'put "b" for "a"'):
        assert request_replacement(unsure) is None, unsure
    table = Table("t", [Column("A", "Name", TEXT, ["Lucy Ford", "Ito Mai"]),
                        Column("B", "Code", TEXT, ["AB123", "CD45"])])
    request = 'change "Lucy" to "Maria" in the Name in row 2'
    for beam in ('=SUBSTITUTE(A2,"Maria","Lucy")', '=SUBSTITUTE(A2,"Maria","Maria")',
                 '=SUBSTITUTE(A2,"Lucy","Lucy","Maria")'):
        copies = with_argument_order([beam], request)
        assert copies == [beam, '=SUBSTITUTE(A2,"Lucy","Maria")'], beam
        assert pick_candidate(copies, table, request, request) == '=SUBSTITUTE(A2,"Lucy","Maria")'
    # nested calls: the one writing the request's texts is put in order; a tidy-up around a right one is kept
    nested = with_argument_order(['=TRIM(SUBSTITUTE(A2,"Maria","Lucy"))'], request)
    assert nested[1] == '=TRIM(SUBSTITUTE(A2,"Lucy","Maria"))'
    tidy = '=SUBSTITUTE(SUBSTITUTE(A2,"Lucy","Maria"),"  "," ")'
    assert with_argument_order([tidy], request) == [tidy]
    check = argument_order(request)
    assert check(tidy) and check('=SUBSTITUTE(A2&", "&B2,"Lucy","Maria")') and check("=UPPER(A2)")
    assert not check('=SUBSTITUTE(A2,"lucy","Maria")')  # SUBSTITUTE is case-sensitive
    request = "2 characters of Code in row 3 starting at 4"
    copies = with_argument_order(["=MID(B3,2,4)"], request)
    assert copies == ["=MID(B3,2,4)", "=MID(B3,4,2)"]
    assert pick_candidate(copies, table, request, request) == "=MID(B3,4,2)"


def test_no_reference_gives_its_ordered_arguments_another_way(references):
    """`argument_order` and the ordered comparisons accept every reference of every set: they can only push down a
    formula that orders what the request says differently."""
    from tinyslm_hf.excel.linking import ordered_comparisons
    from tinyslm_hf.excel.ranking import argument_order

    from tinyslm_hf.excel.ranking import comparison_sites

    generated, people = references
    ordered = several = 0
    for ex in generated + people:
        check = argument_order(ex.request)
        ordered += check is not None
        assert check is None or check(ex.formula), (ex.request, ex.formula)
        stated = ordered_comparisons(ex.request)
        assert set(stated) <= formula_comparisons(ex.formula), (ex.request, ex.formula)
        sites = sorted(comparison_sites(ex.formula))
        if len(stated) > 1 and len(sites) == len(stated):  # several conditions: in the request's order
            several += 1
            tested = [sorted(formula_comparisons(ex.formula[start:end])) for start, end, _ in sites]
            assert all(pair in pairs for pair, pairs in zip(stated, tested)), (ex.request, ex.formula)
    assert ordered > 30 and several > 100


def test_a_call_with_more_arguments_than_its_function_takes_is_refused(references):
    """Excel refuses `=IF(cond,"a",G2:G51,"b")`; the `formulas` engine evaluates it, so without this rule a garbled
    beam counts as one that runs and beats the copy showing the request's labels."""
    from tinyslm_hf.excel.ranking import takes_its_arguments

    for garbled in ('=IF(E27="Junior","Liam Novak",G2:G51,"Junior")', '=IF(D6="Cardio","Y","N",D2:D6,"N")',
                    "=SUMIFS(A2:A5,B2:B5)", '=COUNTIFS(A2:A5,"x",B2:B5)', "=MID(A2,3)", "=ROUND(A2)",
                    '=TRIM(SUBSTITUTE(A2,"a","b","c","d"))'):
        assert not takes_its_arguments(garbled), garbled
    for right in ('=IF(E27="Junior","Blest","Solemnly")', '=SUMIFS(A2:A5,B2:B5,"x",C2:C5,">3")', "=LEFT(A2)",
                  '=IF(AND(A2>1,B2<3,C2="x"),"y","n")', '=SUBSTITUTE(A2,"a","b",2)', "=TODAY()-A2"):
        assert takes_its_arguments(right), right
    table = Table("t", [Column("A", "Name", TEXT, ["Liam", "Zoe"]),
                        Column("B", "Level", CATEGORY, ["Junior", "Senior"])])
    request = 'If level for Liam is Junior show "Blest" otherwise "Solemnly"'
    beams = ['=IF(B2="Junior","Liam",A2:A3,"Junior")', '=IF(B2="Junior","Liam","Liam")']
    assert pick_candidate(repaired(beams, table, request, request), table, request, request) == (
        '=IF(B2="Junior","Blest","Solemnly")')
    generated, people = references
    for ex in generated + people:
        assert takes_its_arguments(ex.formula), (ex.request, ex.formula)


def test_a_misspelt_otherwise_or_with_still_reads_the_labels_and_the_replacement():
    from tinyslm_hf.excel.linking import request_labels, request_replacement

    request = 'I need "downfall" in E33 when Warehouse equals madrid and "russia" ohterwise'
    assert request_labels(request) == ("downfall", "russia")
    assert request_labels('show "a" if x > 3, otherise "b"') == ("a", "b")
    assert request_labels('show "a" if x > 3, or "b" elsewise') is None  # two edits away: not read
    assert request_labels('show "a" if x > 3, otherwiseness "b"') is None  # whole words only
    assert request_replacement('replace "Red" witth "Smart" in product name') == ("Red", "Smart")
    assert request_replacement('replace "Red" wit "Smart"') is None  # a short word one edit away may be another word
