"""The narrower view of a wide table: which columns it keeps, its answers in the table's letters, and decoding it."""

from __future__ import annotations

import datetime as dt

import pytest

from tinyslm_hf.excel import evaluate
from tinyslm_hf.excel.executor import execute, values_equal
from tinyslm_hf.excel.table import CATEGORY, DATE, NUMBER, TEXT, Column, Table, date_to_serial
from tinyslm_hf.excel.view import VIEW_WIDTH, focused_view, to_table_letters


def _days(*days):
    return [date_to_serial(dt.date(2024, 3, d)) for d in days]


def bike_shop() -> Table:
    """Nine columns, wider than the generator's tables: the two the requests below name are the last two."""
    return Table("bike repairs", [
        Column("A", "Job", TEXT, ["BK-1", "BK-2", "BK-3", "BK-4", "BK-5"]),
        Column("B", "Rider", TEXT, ["Ana Diaz", "Tom Reed", "Ola Berg", "Sam Park", "Lee Wong"]),
        Column("C", "Bike", TEXT, ["Roadster", "Hill 2", "Commuter", "Gravel X", "Hill 3"]),
        Column("D", "Brand", CATEGORY, ["Trek", "Giant", "Trek", "Cube", "Trek"]),
        Column("E", "Work", CATEGORY, ["Brakes", "Gears", "Tyres", "Brakes", "Gears"]),
        Column("F", "Booked", DATE, _days(1, 4, 9, 12, 20)),
        Column("G", "Done", DATE, _days(3, 5, 15, 13, 22)),
        Column("H", "Labour (hrs)", NUMBER, [1.5, 2.0, 0.5, 1.0, 3.0]),
        Column("I", "Parts ($)", NUMBER, [40, 25, 60, 35, 80]),
    ])


def test_the_view_keeps_the_linked_columns_and_fills_up_from_the_left():
    table = bike_shop()
    view, letters = focused_view(table, "total parts for the Trek bikes")
    assert len(view.columns) == VIEW_WIDTH == 7
    assert [c.header for c in view.columns] == ["Job", "Rider", "Bike", "Brand", "Work", "Booked", "Parts ($)"]
    assert [c.letter for c in view.columns] == list("ABCDEFG")
    assert letters == {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E", "F": "F", "G": "I"}
    assert view.columns[6].values == table.columns[8].values and view.first_row == table.first_row


def test_the_view_keeps_the_date_columns_when_the_request_speaks_of_time():
    view, letters = focused_view(bike_shop(), "labour on Trek bikes booked after 5 March 2024")
    assert [c.header for c in view.columns] == ["Job", "Rider", "Bike", "Brand", "Booked", "Done", "Labour (hrs)"]
    assert letters["G"] == "H"


def test_no_view_where_it_would_not_help_or_would_mislead():
    table = bike_shop()
    narrow = Table("t", table.columns[:VIEW_WIDTH])
    assert focused_view(narrow, "total parts for the Trek bikes") is None
    assert focused_view(table, "how much did we take") is None  # nothing linked: the view would be a guess
    assert focused_view(table, "how much did we take since March") is None  # a time word alone links nothing
    assert focused_view(table, "rider bike brand work booked done labour parts") is None  # 9 columns named
    assert focused_view(table, "total of column I for the Trek bikes") is None  # the view has no column I
    assert focused_view(table, "is the parts bill in I3 over 50") is None


def test_a_view_of_the_first_columns_leaves_out_the_unlinked_ones_past_its_width():
    view, letters = focused_view(bike_shop(), "how many Trek bikes had brake work")
    assert [c.header for c in view.columns] == [c.header for c in bike_shop().columns[:VIEW_WIDTH]]
    assert all(own == letter for letter, own in letters.items())


def test_only_words_of_time_keep_the_date_columns():
    view, _ = focused_view(bike_shop(), "total parts to the nearest decimal for the Trek bikes")  # not `dec`ember
    assert "Done" not in [c.header for c in view.columns]
    view, _ = focused_view(bike_shop(), "total parts for the Trek bikes in december")
    assert "Done" in [c.header for c in view.columns]


@pytest.mark.parametrize("formula, expected", [
    ('=SUMIF(D2:D6,"Trek",G2:G6)', '=SUMIF(D2:D6,"Trek",I2:I6)'),
    ("=$G$2+G3*2", "=$I$2+I3*2"),
    ("=MAX(G:G)", "=MAX(I:I)"),
    ('=COUNTIF(A2:A6,"G2")&LOG10(G4)', '=COUNTIF(A2:A6,"G2")&LOG10(I4)'),  # a quoted text and a function name kept
    ("=sum(g2:g6)", "=sum(I2:I6)"),  # Excel reads lower case references too
    ("=G2*1E5", "=I2*1E5"),  # an exponent is no cell
])
def test_view_answers_are_written_in_the_tables_letters(formula, expected):
    letters = {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E", "F": "F", "G": "I"}
    assert to_table_letters(formula, letters) == expected


def test_view_answers_the_table_cannot_take_are_dropped():
    letters = {"A": "A", "B": "C", "C": "I"}
    assert to_table_letters('=VLOOKUP("BK-2",A2:C6,3,FALSE)', letters) is None  # A:C is not the view's A-C
    assert to_table_letters("=VLOOKUP(1,A:C,3,FALSE)", letters) is None
    assert to_table_letters("=SUM(D2:D6)", letters) is None  # no column D in the view
    assert to_table_letters("=SUM(OFFSET(A2,0,2,5,1))", letters) is None  # a column found by its position


@pytest.mark.parametrize("request_text, formula", [
    ("total parts for the Trek bikes", '=SUMIF(D2:D6,"Trek",G2:G6)'),
    ("labour on Trek bikes booked after 5 March 2024", '=SUMIFS(G2:G6,D2:D6,"Trek",E2:E6,">"&DATE(2024,3,5))'),
])
def test_a_formula_on_the_view_gives_the_same_value_on_the_table(request_text, formula):
    table = bike_shop()
    view, letters = focused_view(table, request_text)
    on_view, on_table = execute(formula, view), execute(to_table_letters(formula, letters), table)
    assert on_view.error is None and on_table.error is None
    assert values_equal(on_view.value, on_table.value) and on_view.value not in (0, None)


def test_wide_tables_are_also_decoded_as_their_view_and_its_answers_compete(monkeypatch):
    """With several candidates, a 9-column table is decoded twice (the whole table, then the view); the view's
    answer comes back in the table's letters and wins when it meets the request (it uses the Parts column the
    request names, which the whole table's answer missed). One candidate decodes the table alone."""
    table = bike_shop()
    request = "total parts for the Trek bikes"
    seen = []

    def fake(model, tokenizer, rows, **kw):
        seen.append([len(t.columns) for t, *_ in rows])
        return [[('=SUMIF(D2:D6,"Trek",H2:H6)', -0.5)] if len(t.columns) == 9
                else [('=SUMIF(D2:D6,"Trek",G2:G6)', -0.9), ("=SUM(Z2:Z6)", -0.1)] for t, *_ in rows]

    monkeypatch.setattr(evaluate, "_decode", fake)
    answer, = evaluate.predict_formulas(None, None, [(table, request, True)], candidates=2)
    assert seen == [[9, 7]]
    assert answer == '=SUMIF(D2:D6,"Trek",I2:I6)' and execute(answer, table).value == 180
    seen.clear()
    answer, = evaluate.predict_formulas(None, None, [(table, request, True)], candidates=1)
    assert seen == [[9]] and answer == '=SUMIF(D2:D6,"Trek",H2:H6)'
