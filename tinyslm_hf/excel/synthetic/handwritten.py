"""A small hand-written check set: requests phrased freely (not from the generator's templates) on fixed tables.

It measures what the synthetic test split cannot: how the model copes with wording nobody designed for it.
Expected values are still computed by executing the reference formula.
"""

from __future__ import annotations


from ..example import Example
from ..executor import execute
from ..table import CATEGORY, DATE, NUMBER, TEXT, Column, Table, date_to_serial

_ROWS = [
    ("Ann Lee", "West", "Laptop", 1200, 3, "2024-01-05"), ("Ben Kim", "East", "Phone", 450, 5, "2024-01-09"),
    ("Carla Diaz", "West", "Tablet", 980, 2, "2024-02-11"), ("Dev Patel", "North", "Laptop", 2300, 4, "2024-02-20"),
    ("Elena Rossi", "South", "Monitor", 310, 1, "2024-03-02"), ("Farid Khan", "East", "Laptop", 1750, 3, "2024-03-15"),
    ("Grace Young", "West", "Phone", 640, 6, "2024-04-01"), ("Hugo Berg", "North", "Tablet", 870, 2, "2024-04-18"),
    ("Ines Silva", "South", "Phone", 520, 4, "2024-05-07"), ("Jamal Ford", "East", "Monitor", 290, 2, "2024-05-30"),
]

# (request, reference formula, function label, difficulty) on the table above (A=Rep, B=Region, C=Product,
# D=Sales, E=Units, F=Date; data in rows 2-11).
_CASES = [
    ("what did we sell in total?", "=SUM(D2:D11)", "SUM", "easy"),
    ("give me the sum of the Sales figures", "=SUM(D2:D11)", "SUM", "easy"),
    ("average units per order", "=AVERAGE(E2:E11)", "AVERAGE", "easy"),
    ("smallest sale", "=MIN(D2:D11)", "MIN", "easy"),
    ("biggest number of units in one row", "=MAX(E2:E11)", "MAX", "easy"),
    ("how many reps are listed", "=COUNTA(A2:A11)", "COUNTA", "easy"),
    ("how many sales came from the East region", '=COUNTIF(B2:B11,"East")', "COUNTIF", "medium"),
    ("number of orders with sales above 1000", '=COUNTIF(D2:D11,">1000")', "COUNTIF", "medium"),
    ("sum sales for laptops", '=SUMIF(C2:C11,"Laptop",D2:D11)', "SUMIF", "medium"),
    ("West region sales total", '=SUMIF(B2:B11,"West",D2:D11)', "SUMIF", "medium"),
    ("what's the average sale in the North", '=AVERAGEIF(B2:B11,"North",D2:D11)', "AVERAGEIF", "medium"),
    ("laptop sales in the East, summed", '=SUMIFS(D2:D11,C2:C11,"Laptop",B2:B11,"East")', "SUMIFS", "hard"),
    ("count phones sold in the West", '=COUNTIFS(C2:C11,"Phone",B2:B11,"West")', "COUNTIFS", "hard"),
    ("mean sales for West orders of at least 2 units", '=AVERAGEIFS(D2:D11,B2:B11,"West",E2:E11,">=2")', "AVERAGEIFS", "hard"),
    ("how much did Dev Patel sell", '=VLOOKUP("Dev Patel",A2:D11,4,FALSE)', "VLOOKUP", "medium"),
    ("which region is Ines Silva in", '=VLOOKUP("Ines Silva",A2:B11,2,FALSE)', "VLOOKUP", "medium"),
    ("units sold by Hugo Berg using index and match", '=INDEX(E2:E11,MATCH("Hugo Berg",A2:A11,0))', "INDEX/MATCH", "hard"),
    ('sales of Zoe Park, say "unknown" if she is not there', '=IFERROR(VLOOKUP("Zoe Park",A2:D11,4,FALSE),"unknown")', "IFERROR", "hard"),
    ("total sales rounded to the nearest whole number", "=ROUND(SUM(D2:D11),0)", "ROUND", "medium"),
    ('row 4: "Big" if sales over 900 and units over 1, else "Small"', '=IF(AND(D4>900,E4>1),"Big","Small")', "IF+AND", "hard"),
    ('mark row 6 "Check" when sales under 400 or units under 2, otherwise "Fine"', '=IF(OR(D6<400,E6<2),"Check","Fine")', "IF+OR", "hard"),
    ("how many letters are in the rep name in row 3", "=LEN(A3)", "LEN", "easy"),
    ("rep in row 5 in capital letters", "=UPPER(A5)", "UPPER", "easy"),
    ("first 3 letters of the product in row 2", "=LEFT(C2,3)", "LEFT", "medium"),
    ('rep and region of row 7 joined with a dash', '=A7&"-"&B7', "&", "medium"),
    ("percent change in sales from row 2 to row 3", "=(D3-D2)/D2", "PCT_CHANGE", "medium"),
    ("sum of sales times units", "=SUMPRODUCT(D2:D11,E2:E11)", "SUMPRODUCT", "medium"),
    ("second best sale", "=LARGE(D2:D11,2)", "LARGE", "easy"),
    ("3rd smallest units value", "=SMALL(E2:E11,3)", "SMALL", "easy"),
    ("difference between sales and units in row 9, as a positive number", "=ABS(D9-E9)", "ABS", "medium"),
]


def handwritten_table() -> Table:
    cols = [("A", "Rep", TEXT), ("B", "Region", CATEGORY), ("C", "Product", CATEGORY), ("D", "Sales", NUMBER),
            ("E", "Units", NUMBER), ("F", "Date", DATE)]
    import datetime as dt

    columns = []
    for i, (letter, header, kind) in enumerate(cols):
        values = [r[i] for r in _ROWS]
        if kind == DATE:
            values = [date_to_serial(dt.date.fromisoformat(v)) for v in values]
        columns.append(Column(letter, header, kind, values))
    return Table("handwritten", columns)


def handwritten_examples() -> list[Example]:
    table = handwritten_table()
    examples = []
    for i, (request, formula, function, difficulty) in enumerate(_CASES):
        result = execute(formula, table)
        if not result.ok:
            raise RuntimeError(f"hand-written reference {formula} fails: {result.error}")
        examples.append(Example(f"hand-{i}", "handwritten", table, request, formula, result.value, function,
                                difficulty, "handwritten", show_samples=True))
    return examples


__all__ = ["handwritten_examples", "handwritten_table"]
