"""Widen training request templates: a small request grammar per intent, and WordNet substitution of intent words.

A 1M-parameter model trained from scratch knows only the wording of the fixed training templates (`phrasings.T`), and
fails on a request worded any other way. `widen_template(family, template, rng)` returns another template of the
same family, with the same `{slots}` and the same meaning (the reference formula does not change), drawn from

a) a **request grammar** (`_GRAMMAR`, a small context-free grammar with one start symbol per family and slot set,
   `GRAMMAR_SHARE` of the time): openers (`I need`, `can you get me`, `calculate`), intent words from per-intent
   pools (`the grand total of`, `the largest`), column references (`{num}`, `the {num} column`, `{num} values`),
   conditions (`for {val}`, `where {cat} is {val}`, `{val}'s`, `only {val} rows`), modifiers (`in total`,
   `across the table`), column-first word orders (`{num}: total`, `for {val}, total {num}`) and closers (`for me`).
   A family without a grammar, or a template whose slot set no start symbol has, keeps its template;
b) **substitution** of one or two of the template's own intent words and request verbs (outside `{slots}` and
   quotes; `SUBSTITUTE_SHARE` of the time) by WordNet relatives from `senses.py`: synonyms of the first three
   senses, similar adjectives, derived forms, hypernyms of noun senses.

so that the model sees many words and word orders for one intent and has to lean on structure and the `Links:`
line. The fixed templates stay in the mix (a quarter of the draws keep their wording).

**Honesty.** The held-out split must keep measuring unseen wording, so an output never holds a word that only
held-out phrasings, operator words, openers or closers use (`held_out_phrasing_words() - training_phrasing_words()`),
nor an inflection of one (`belongs` for the held-out `belonging`), nor a held-out opener, closer or operator
phrase, nor a held-out header name or category value, nor a whole held-out template; and the words it adds are no
word of a held-out name (`amount spent`) and no header name or category value of any topic (`yield`, `high` and
`output` are invented headers and values: the linker would link them), unless a training phrasing already uses
them (`on`, `last`). All of this is read from `phrasings.T`, `OPS`, `DATE_OPS`, `PREFIX`, `SUFFIX` and `topics.py`
when the rules are built (again whenever a family is added to `T`); grammar alternatives that would break it are
dropped then, so a held-out phrasing added later silently takes its words out of the grammar.

**Meaning.** Intent words come from per-intent pools (`INTENTS`, `intent_pools()`) that are pairwise disjoint: a
MIN word never appears in a MAX request, `or` never in an IF-AND one (tested on the outputs). A WordNet relative of
an intent word is kept only if (1) one of its own first three senses relates back to *another* word of the same
intent (`summate` relates to `sum` and `add up`; `intend`, a relative of `mean`, relates to no other AVERAGE word),
(2) it has a sense in every part of speech of the word's first three senses (`numerate`, a verb, cannot stand where
`count` is a noun), (3) it is no word of another intent's pool, no relative of one (`extremum` relates to both
`maximum` and `minimum`) and no function name (`search` for `lookup`), (4) it is no antonym of the word, has no
antonym in the intent's pool and is no `un-`/`non-`/`in-` form of one, (5) it is not a function word, and (6) it is
not on a short list of relatives that read wrong in a request (`_BAD_RELATIVES`). Precision over breadth: WordNet's
other senses are mostly not spreadsheet meanings, so few relatives survive (`summate` for `add up`, `enumeration`
for `tally`, `meld` for `merge`, `figure` for `compute`, `needless` for `unneeded`); the grammar carries the breadth.

`breadth_vocabulary()` is every word `widen_template` can emit (an inference-time rewriter treats these as known).
"""

from __future__ import annotations

import random
import re

from ..senses import load_senses, related_words
from ..synonyms import FUNCTION_WORDS
from . import phrasings

BREADTH = 0.7  # default share of training requests whose template is widened (`generator.make_example`)
GRAMMAR_SHARE = 0.75  # templates a grammar exists for: share replaced by a grammar draw (the rest keep their wording)
SUBSTITUTE_SHARE = 0.4  # share of results that then get one or two intent words replaced by a WordNet relative
NO_GRAMMAR_SUBSTITUTE_SHARE = 0.6  # the same for families without a grammar
_TRIES = 12  # grammar draws before falling back to the template

_SLOT = re.compile(r"\{(\w+)\}")
_SYMBOL = re.compile(r"<([A-Z][A-Z0-9_]*)>")
_PROTECTED = re.compile(r'(\{\w+\}|"[^"]*")')  # slots and quoted text are never touched
_WORDS = re.compile(r"[a-z0-9']+")

# ---------------------------------------------------------------------------------------------------------------
# Intent pools: the words that say which formula is wanted. Pairwise disjoint (a test checks); grammar pools use
# only these for intent words, and WordNet relatives of one pool may not be words of another. Phrases match on word
# boundaries.
INTENTS: dict[str, tuple[str, ...]] = {
    "SUM": ("total", "totals", "sum", "sums", "summed", "add up", "added up", "sum up", "add together", "grand total",
            "sum total", "aggregate", "summation", "totalled", "totaled", "total up", "tot up", "tote up", "in total"),
    "AVERAGE": ("average", "averages", "mean", "avg", "on average"),
    "MEDIAN": ("median", "middle value"),
    "MIN": ("lowest", "smallest", "minimum", "min", "least", "minimal", "minifs"),
    "MAX": ("highest", "largest", "biggest", "maximum", "max", "greatest", "maximal", "maxifs"),
    "COUNT": ("count", "how many", "number of", "tally", "enumerate", "how often", "how many times"),
    "NUMERIC": ("numeric", "numerical"),
    "NONEMPTY": ("non-empty", "nonempty", "non-blank", "filled", "filled in", "filled-in", "populated"),
    "BLANK": ("blank", "empty", "countblank", "blank cells", "empty cells"),
    "RANK": ("rank", "ranks", "ranked", "rank.eq"),
    "ASCENDING": ("ascending", "lowest first", "smallest first", "least first"),
    "DESCENDING": ("descending", "highest first", "largest first", "biggest first"),
    "ROUND": ("round", "rounded", "rounding", "decimals", "decimal places", "decimal", "dp"),
    "ABS": ("absolute", "abs", "how far apart", "positive difference", "without the sign", "without sign",
            "difference"),
    "LOOKUP": ("look up", "lookup", "look for", "look through"),
    "VLOOKUP": ("vlookup",),
    "XLOOKUP": ("xlookup",),
    "INDEX_MATCH": ("index match", "index/match", "index and match"),
    "ERROR": ("error", "errors", "errs", "not found", "missing", "no match", "can't be found"),
    "DIVIDE": ("divide", "divided", "ratio", "division", "quotient"),
    "PRODUCT": ("multiply", "multiplied", "product", "products", "sumproduct"),
    "PERCENT": ("percent", "percentage", "%", "growth"),
    "LEN": ("length", "how long", "character count", "len", "number of characters", "how many characters",
            "how many letters"),
    "UPPER": ("uppercase", "upper case", "upper-case", "upper", "caps", "all caps", "block letters"),
    "LOWER": ("lowercase", "lower case", "lower-case", "lower", "small letters"),
    "PROPER": ("proper", "proper case", "title case", "each word capitalized", "capitalization"),
    "LEFT": ("first", "left", "leftmost", "initial"),
    "RIGHT": ("last", "right", "rightmost"),
    "MID": ("mid", "starting at", "from position", "substring"),
    "TRIM": ("trim", "trimmed", "spaces", "whitespace"),
    "CONCAT": ("concat", "concatenate", "concatenated"),
    "AMP": ("join", "joined", "combine", "merge", "merged", "&", "put together"),
    "FIND_POS": ("position of", "at which character", "character position"),
    "CASE_ANY": ("any case", "case-insensitive", "case insensitive", "not case sensitive", "ignoring case",
                 "regardless of case"),
    "REPLACE": ("replace", "replaced", "substitute", "swap"),
    "FORMAT": ("format", "formatted", "number format"),
    "AND": ("and", "both", "as well as"),
    "OR": ("or", "either"),
}

# AND / OR are only contrasted with each other (`and` joins conditions in many families); every other intent is
# contrasted with every other.
_AND_OR = ("AND", "OR")

# Which intents each family's requests may state (a widened request adds no word of any other intent). A family
# missing here (added to `phrasings.T` later) is still widened, by substitution only, and not contrast-checked.
FAMILY_INTENTS: dict[str, tuple[str, ...]] = {
    "sum": ("SUM",), "average": ("AVERAGE",), "min": ("MIN",), "max": ("MAX",), "count": ("COUNT", "NUMERIC"),
    "counta": ("COUNT", "NONEMPTY"), "countif_eq": ("COUNT",), "countif_num": ("COUNT",),
    "countif_date": ("COUNT",), "countifs": ("COUNT", "AND"), "sumif": ("SUM",), "sumif_num": ("SUM",),
    "sumifs": ("SUM", "AND"), "sumifs_cat": ("SUM", "AND"), "averageif": ("AVERAGE",),
    "averageifs": ("AVERAGE", "AND"), "if_and": ("AND",), "if_or": ("OR",), "round": ("ROUND",),
    "abs": ("ABS",), "lookup": ("LOOKUP",), "vlookup": ("LOOKUP", "VLOOKUP"),
    "index_match": ("LOOKUP", "INDEX_MATCH"), "iferror_lookup": ("LOOKUP", "ERROR"),
    "iferror_div": ("DIVIDE", "ERROR"), "len": ("LEN", "COUNT"), "upper": ("UPPER",), "lower": ("LOWER",),
    "left": ("LEFT",), "right": ("RIGHT",), "mid": ("MID",), "trim": ("TRIM",), "concat": ("CONCAT", "AND"),
    "amp": ("AMP", "AND"), "pct_rows": ("PERCENT",), "pct_cols": ("PERCENT",), "sumproduct": ("SUM", "PRODUCT"),
    "large": ("MAX",), "small": ("MIN",),
    "maxifs": ("MAX",), "minifs": ("MIN",), "maxifs_num": ("MAX",), "minifs_num": ("MIN",),
    "xlookup": ("LOOKUP", "XLOOKUP"), "rank": ("RANK", "MAX", "DESCENDING"),
    "rank_asc": ("RANK", "MIN", "ASCENDING"),
    "median": ("MEDIAN",), "proper": ("PROPER",), "find": ("FIND_POS",), "search": ("FIND_POS", "CASE_ANY"),
    "substitute": ("REPLACE",), "countifs_month": ("COUNT",), "sumifs_month": ("SUM",),
    "countifs_year": ("COUNT",), "sumproduct_year": ("SUM",), "if_text": (), "if_num": (),
    "countblank": ("COUNT", "BLANK"), "text_fmt": ("FORMAT",),
}

# Groups for reading outputs (and the report in the tests).
FAMILY_GROUPS: dict[str, tuple[str, ...]] = {
    "aggregates": ("sum", "average", "median", "min", "max", "count", "counta", "countblank", "large", "small",
                   "sumproduct", "round", "rank", "rank_asc"),
    "conditional": ("countif_eq", "countif_num", "countif_date", "countifs", "sumif", "sumif_num", "sumifs",
                    "sumifs_cat", "averageif", "averageifs", "maxifs", "minifs", "maxifs_num", "minifs_num",
                    "countifs_month", "sumifs_month", "countifs_year", "sumproduct_year"),
    "lookups": ("lookup", "vlookup", "xlookup", "index_match", "iferror_lookup"),
    "text": ("len", "upper", "lower", "proper", "left", "right", "mid", "trim", "concat", "amp", "find", "search",
             "substitute"),
    "row-level": ("if_and", "if_or", "if_text", "if_num", "abs", "iferror_div", "pct_rows", "pct_cols", "text_fmt"),
}

# Words WordNet may replace that name no intent: the request's verbs. Each group's relatives must relate back to
# another word of the group, like an intent's.
GENERIC: dict[str, tuple[str, ...]] = {
    "CALCULATE": ("calculate", "compute", "determine", "work out"),
    "REMOVE": ("remove", "delete", "get rid of", "eliminate"),
    "CONVERT": ("convert", "transform", "turn into"),
    "EXTRA": ("extra", "excess", "redundant", "superfluous", "unnecessary", "unneeded"),
}

# WordNet relatives that pass every test above and still read wrong in a request (found by reading outputs): other
# senses that slipped through (`rotund` for `rounded`, `split` for `divided`), near-misses (`summarize`,
# `estimate`), adjectives `similar` to `minimal` (`negligible`) and words too rare to teach anything (`immix`).
_BAD_RELATIVES = frozenset({
    "assets", "sum of money", "amount of money", "collection", "accumulation", "assemblage", "aggregation",
    "quantity", "whole", "norm", "normal", "averageness", "statistic", "level best", "upper limit", "lower limit",
    "extremum", "bound", "boundary", "limit", "supreme", "amount", "summarize", "summarise", "borderline",
    "marginal", "negligible", "nominal", "tokenish", "token", "reckoning", "rotund", "split", "per centum", "cut",
    "united", "unite", "mix", "conflate", "commingle", "immix", "coalesce", "incorporate", "estimate",
    "extinguish", "carry off", "become", "turning", "transmute", "transubstantiate", "metamorphose",
    "transformation", "snaffle", "regain", "receive", "incur", "demo", "exhibit", "demonstrate", "expose",
    "demonstration", "presentment", "presentation", "seek", "tot", "numeral", "vacuous", "replacement",
    "supererogatory", "supernumerary", "superfluity", "gratuitous", "reckon",
})


# ---------------------------------------------------------------------------------------------------------------
# The request grammar. `<NAME>` is a symbol, `{slot}` a template slot, anything else literal; an empty alternative
# makes a part optional (repeat an alternative to weight it). Spaces are normalised after expansion.
def _ren(alternatives: list[str], **names: str) -> list[str]:
    """The alternatives with slots renamed (`cat` -> `cat2`)."""
    out = []
    for alt in alternatives:
        out.append(_SLOT.sub(lambda m: "{" + names.get(m.group(1), m.group(1)) + "}", alt))
    return out


_COND_CV = ["where {cat} is {val}", "where {cat} is {val}", "where {cat} = {val}", "where {cat} equals {val}",
            "with {cat} {val}", "with {cat} = {val}", "in which {cat} is {val}", "for {cat} {val}",
            "for {cat} {val}", "if {cat} is {val}", "when {cat} is {val}", "whenever {cat} is {val}",
            "where the {cat} is {val}", "with {val} as {cat}", "with {val} in {cat}", "for {val} in {cat}",
            "for {val} in the {cat} column", "only where {cat} is {val}",
            "restricted to {cat} {val}", "limited to {cat} {val}"]
_BARE_CV = ["{cat} is {val}", "{cat} = {val}", "{cat} equals {val}", "{cat} {val}", "the {cat} is {val}"]

_GRAMMAR: dict[str, list[str]] = {
    # --- shared ---------------------------------------------------------------------------------------------
    "ASK": ["", "", "", "", "", "what's", "what is", "give me", "show me", "show", "get me", "get", "find", "I need",
            "I want", "I'd like", "can you get me", "can you give me", "could you give me", "can you find",
            "could you find", "return", "tell me", "display", "let me see", "I'm after",
            "I'm looking for", "please give me", "we need", "need", "I need to know", "what's"],
    "ASKN": ["<ASK>", "<ASK>", "<ASK>", "<ASK>", "calculate", "compute", "determine", "figure", "work out"],
    "ASKV": ["", "", "", "", "please", "can you", "could you", "I want to", "I need to", "help me", "I'd like to",
             "let's", "quickly", "we need to", "just"],
    "CLOSE": ["", "", "", "", "", "", "", "", " for me", ", if you can", " if possible", " now", " for the report"],
    "TABLE": ["", "", "", "", "", "", " across the table", " across all rows", " for all rows", " in the table",
              " in the sheet", " for the whole table", " in the data", " from the table", " for the whole column"],
    "NUM": ["{num}", "{num}", "{num}", "{num}", "the {num}", "the {num} column", "the {num} values", "{num} values",
            "all {num} values", "all the {num}", "the {num} figures", "the values in {num}", "the numbers in {num}",
            "the {num} numbers", "the {num} field"],
    "NUMB": ["{num}", "{num}", "{num}", "{num} value", "{num} figure"],  # after an adjective: `the highest {num}`
    "IN_NUM": ["in {num}", "in {num}", "in the {num} column", "within {num}", "inside {num}", "in column {num}"],
    "CATC": ["{cat}", "{cat}", "the {cat} column", "{cat}"],
    "TEXTC": ["{text}", "{text}", "the {text} column", "the {text} field"],
    "ROWREF": ["in row {row}", "in row {row}", "on row {row}", "for row {row}", "at row {row}", "from row {row}"],
    "ROW_LEAD": ["in row {row},", "for row {row},", "row {row}:", "on row {row},", "looking at row {row},",
                 "at row {row},", "row {row} -"],
    "TXT_ROW": ["{text} <ROWREF>", "the {text} <ROWREF>", "row {row}'s {text}", "the {text} of row {row}",
                "row {row} {text}", "the {text} value <ROWREF>", "the {text} cell <ROWREF>", "{text} (row {row})",
                "the {text} entry <ROWREF>"],
    "COUNT_N": ["count", "number", "tally", "count"],
    # --- SUM ------------------------------------------------------------------------------------------------
    "SUM_N": ["total", "total", "total", "sum", "sum", "grand total", "sum total", "aggregate", "summation"],
    "SUM_A": ["total", "total", "total", "summed", "aggregate"],
    "SUM_V": ["add up", "add up", "sum", "sum", "sum up", "total", "total up", "add together", "tot up", "tote up"],
    "SUM_POST": ["summed", "summed up", "in total", "in total", "totaled", "totalled", "total", "sum",
                 "all summed up", "- total", "- sum"],
    "SUM_SHORT": ["total", "the total", "sum", "the sum", "what's the total", "give me the total", "sum it up",
                  "add it up", "total it", "the <SUM_N>", "<SUM_N> please", "what's the sum"],
    "SUM_HEAD": ["<ASK> the <SUM_N> of <NUM>", "<ASK> <SUM_N> of <NUM>", "<ASK> the <SUM_A> <NUMB>",
                 "<ASK> <SUM_A> <NUMB>", "<ASKV> <SUM_V> <NUM>"],
    "SUM_Q": ["how much is {num} in total", "what do the {num} values add up to", "what does {num} add up to",
              "what does {num} come to in total", "what do all {num} values add up to", "what is {num} in total",
              "what do the {num} figures sum to", "how much does {num} add up to"],
    "B_SUM": ["<SUM_HEAD><TABLE>", "<SUM_HEAD><TABLE>", "<SUM_HEAD><TABLE>", "{num} <SUM_POST><TABLE>",
              "{num}: <SUM_SHORT>", "for <NUM>, <SUM_SHORT>", "<SUM_Q>", "<SUM_Q>", "<NUM> <SUM_POST>, please",
              "<ASK> the <SUM_N> for <NUM><TABLE>"],
    # --- AVERAGE --------------------------------------------------------------------------------------------
    "AVG_N": ["average", "average", "mean", "mean", "avg", "mean value", "average value"],
    "AVG_A": ["average", "average", "mean", "avg"],
    "AVG_V": ["average", "find the <AVG_N> of", "get the <AVG_N> of", "compute the <AVG_N> of",
              "work out the <AVG_N> of"],
    "AVG_POST": ["on average", "on average", "average", "mean", "avg", "as an average", "on avg", "- average",
                 "- mean"],
    "AVG_SHORT": ["average", "the average", "mean", "the mean", "avg", "what's the average", "the avg",
                  "the <AVG_N> please"],
    "AVG_HEAD": ["<ASK> the <AVG_N> of <NUM>", "<ASK> <AVG_N> of <NUM>", "<ASK> the <AVG_A> <NUMB>",
                 "<ASK> <AVG_A> <NUMB>", "<ASKV> <AVG_V> <NUM>"],
    "AVG_Q": ["what is {num} on average", "what does {num} average", "what do the {num} values average",
              "on average, what is {num}", "how much is {num} on average", "what's the <AVG_N> of <NUM>"],
    "B_AVERAGE": ["<AVG_HEAD><TABLE>", "<AVG_HEAD><TABLE>", "<AVG_HEAD><TABLE>", "{num} <AVG_POST><TABLE>",
                  "{num}: <AVG_SHORT>", "for <NUM>, <AVG_SHORT>", "<AVG_Q>", "<AVG_HEAD> per row",
                  "<ASK> the <AVG_N> for <NUM><TABLE>"],
    # --- MIN / MAX ------------------------------------------------------------------------------------------
    "MIN_A": ["lowest", "lowest", "smallest", "smallest", "minimum", "min", "least", "minimal"],
    "MIN_N": ["minimum", "min", "lowest value", "smallest value", "least value", "lowest figure",
              "minimum value"],
    "MIN_POST": ["minimum", "min", "lowest", "smallest", "at its lowest", "the lowest value", "smallest value",
                 "- minimum", "- lowest"],
    "B_MIN": ["<ASK> the <MIN_A> <NUMB><TABLE>", "<ASK> the <MIN_A> <NUMB><TABLE>", "<ASK> <MIN_A> <NUMB>",
              "<ASK> the <MIN_N> of <NUM><TABLE>", "<ASK> the <MIN_N> <IN_NUM>", "<ASK> <MIN_N> <IN_NUM>",
              "<ASK> the <MIN_A> value <IN_NUM>", "which {num} is the <MIN_A>", "what's the <MIN_A> {num}",
              "what is the <MIN_A> value of <NUM>", "which value <IN_NUM> is the <MIN_A>", "{num}: <MIN_POST>",
              "for <NUM>, the <MIN_N>", "{num} <MIN_POST><TABLE>", "<ASK> the <MIN_A> of all {num} values"],
    "MAX_A": ["highest", "highest", "largest", "largest", "biggest", "maximum", "max", "greatest", "maximal"],
    "MAX_N": ["maximum", "max", "highest value", "largest value", "biggest value", "greatest value",
              "highest figure", "maximum value"],
    "MAX_POST": ["maximum", "max", "highest", "largest", "at its highest", "the highest value", "largest value",
                 "- maximum", "- highest", "biggest"],
    "B_MAX": ["<ASK> the <MAX_A> <NUMB><TABLE>", "<ASK> the <MAX_A> <NUMB><TABLE>", "<ASK> <MAX_A> <NUMB>",
              "<ASK> the <MAX_N> of <NUM><TABLE>", "<ASK> the <MAX_N> <IN_NUM>", "<ASK> <MAX_N> <IN_NUM>",
              "<ASK> the <MAX_A> value <IN_NUM>", "which {num} is the <MAX_A>", "what's the <MAX_A> {num}",
              "what is the <MAX_A> value of <NUM>", "which value <IN_NUM> is the <MAX_A>", "{num}: <MAX_POST>",
              "for <NUM>, the <MAX_N>", "{num} <MAX_POST><TABLE>", "<ASK> the <MAX_A> of all {num} values"],
    "KTH_MAX": ["highest", "highest", "largest", "biggest", "greatest"],
    "KTH_MIN": ["lowest", "lowest", "smallest", "least"],
    "B_LARGE": ["<ASK> the {kth} <KTH_MAX> <NUMB>", "<ASK> {kth} <KTH_MAX> <NUMB>",
                "<ASK> the {kth} <KTH_MAX> value <IN_NUM>",
                "{num}: {kth} <KTH_MAX>", "which {num} is the {kth} <KTH_MAX>", "<ASK> the {kth} <KTH_MAX> of <NUM>",
                "what's the {kth} <KTH_MAX> number <IN_NUM>", "for <NUM>, the {kth} <KTH_MAX> value",
                "<ASK> the {kth} <KTH_MAX> <NUMB><TABLE>"],
    "B_SMALL": ["<ASK> the {kth} <KTH_MIN> <NUMB>", "<ASK> {kth} <KTH_MIN> <NUMB>",
                "<ASK> the {kth} <KTH_MIN> value <IN_NUM>",
                "{num}: {kth} <KTH_MIN>", "which {num} is the {kth} <KTH_MIN>", "<ASK> the {kth} <KTH_MIN> of <NUM>",
                "what's the {kth} <KTH_MIN> number <IN_NUM>", "for <NUM>, the {kth} <KTH_MIN> value",
                "<ASK> the {kth} <KTH_MIN> <NUMB><TABLE>"],
    # --- COUNT / COUNTA -------------------------------------------------------------------------------------
    "NUMERIC_OBJ": ["numbers", "numbers", "numeric values", "numeric cells", "numeric entries", "numerical values",
                    "cells with numbers", "cells containing numbers"],
    "B_COUNT": ["how many <NUMERIC_OBJ> are <IN_NUM>", "how many <NUMERIC_OBJ> does {num} have",
                "<ASKV> count the <NUMERIC_OBJ> <IN_NUM>", "<ASK> the <COUNT_N> of <NUMERIC_OBJ> <IN_NUM>",
                "<ASK> <COUNT_N> of <NUMERIC_OBJ> <IN_NUM>", "{num}: how many <NUMERIC_OBJ>",
                "<IN_NUM>, how many cells are numeric", "<ASKV> count how many cells <IN_NUM> contain numbers",
                "<ASK> the numeric count of <NUM>", "<ASKV> count numeric cells <IN_NUM>",
                "<ASKV> tally the <NUMERIC_OBJ> <IN_NUM>", "how many cells of {num} hold numbers",
                "<ASK> the number of numeric values <IN_NUM>"],
    "NONEMPTY_OBJ": ["entries", "non-empty cells", "filled cells", "non-blank cells", "values", "filled-in cells",
                     "populated cells", "non-empty entries", "filled entries"],
    "B_COUNTA": ["how many <NONEMPTY_OBJ> are in <TEXTC>", "<ASKV> count the <NONEMPTY_OBJ> in <TEXTC>",
                 "<ASK> the <COUNT_N> of <NONEMPTY_OBJ> in <TEXTC>", "how many {text} entries are there",
                 "how many {text} values are filled in", "{text}: how many <NONEMPTY_OBJ>",
                 "how many rows have a {text}", "<ASKV> count how many {text} there are",
                 "<ASK> the number of {text} entries", "how many cells in <TEXTC> are filled",
                 "<ASK> the <COUNT_N> of {text} values", "how many {text} do we have in the table",
                 "how many non-empty {text} cells are there"],
    # --- conditional counts ---------------------------------------------------------------------------------
    "COND_CV": _COND_CV,
    "BARE_CV": _BARE_CV,
    "BARE_CV2": _ren(_BARE_CV, cat="cat2", val="val2") + ["{val2} in {cat2}"],
    "COND_V": ["for {val}", "for {val}", "for {val}", "in {val}", "for {val} rows", "for {val} only",
               "only for {val}", "of {val} rows", "among {val} rows", "for the {val} rows", "just for {val}",
               "limited to {val}", "restricted to {val}", "for {val} alone", "on {val} rows"],
    "NUMCOND": ["{num} is {op} {x}", "{num} {op} {x}", "the {num} is {op} {x}", "{num} is {op} {x}",
                "the {num} value is {op} {x}"],
    "NUMCOND2": _ren(["{num} is {op} {x}", "{num} {op} {x}", "the {num} is {op} {x}", "{num} is {op} {x}"],
                     num="num2"),
    "COND_N2": ["where {num2} is {op} {x}", "where {num2} {op} {x}", "for rows with {num2} {op} {x}",
                "for rows where {num2} is {op} {x}", "when {num2} is {op} {x}", "if {num2} is {op} {x}",
                "whenever {num2} is {op} {x}", "in rows where {num2} is {op} {x}", "only where {num2} is {op} {x}",
                "with {num2} {op} {x}", "for which {num2} is {op} {x}", "in rows with {num2} {op} {x}"],
    "AND": ["and", "and", "and", "and also", ", and"],
    "NUM_VALUES": ["{num} values", "values in {num}", "{num} entries", "{num} figures", "numbers in {num}",
                   "cells in {num}"],
    "B_COUNTIF_CV": ["how many rows <COND_CV>", "<ASKV> count the rows <COND_CV>",
                     "<ASK> the <COUNT_N> of rows <COND_CV>", "how many times {val} appears in <CATC>",
                     "how many {val} entries are in <CATC>", "how often does {val} show up in <CATC>",
                     "how often {cat} is {val}", "<ASKV> count {val} in <CATC>", "{cat}: how many {val}",
                     "<ASK> the number of {val} in <CATC>", "how many rows are there <COND_CV>",
                     "in <CATC>, how many are {val}", "<ASKV> count how many rows <COND_CV>"],
    "B_COUNTIF_V": ["how many rows are {val}", "how many {val} rows are there", "<ASKV> count the {val} rows",
                    "<ASK> the <COUNT_N> of {val} rows", "how many {val} are there", "how often does {val} appear",
                    "how many times {val} appears", "<ASKV> count how many are {val}", "{val}: how many rows",
                    "how many entries are {val}", "<ASK> the number of rows for {val}",
                    "<ASKV> count rows for {val}"],
    "B_COUNTIF_NUM": ["how many rows have {num} {op} {x}", "how many <NUM_VALUES> are {op} {x}",
                      "<ASKV> count the rows where <NUMCOND>", "<ASK> the <COUNT_N> of rows where <NUMCOND>",
                      "how often is {num} {op} {x}", "how many times is {num} {op} {x}",
                      "<ASKV> count how many {num} values are {op} {x}", "{num} {op} {x}: how many rows",
                      "how many rows with {num} {op} {x} are there", "<ASKV> count rows with {num} {op} {x}",
                      "for how many rows is {num} {op} {x}", "<ASK> the number of <NUM_VALUES> {op} {x}",
                      "how many rows does the table have with {num} {op} {x}"],
    "B_COUNTIF_DATE": ["how many rows have {date} {dop} {d}", "how many rows with a {date} {dop} {d}",
                       "<ASKV> count the rows where {date} is {dop} {d}", "how many {date} values are {dop} {d}",
                       "<ASK> the <COUNT_N> of rows with {date} {dop} {d}", "how often is {date} {dop} {d}",
                       "how many times is {date} {dop} {d}", "{date} {dop} {d}: how many rows",
                       "<ASKV> count how many {date} entries are {dop} {d}",
                       "<ASK> the number of rows where the {date} is {dop} {d}",
                       "how many rows are there with {date} {dop} {d}"],
    "B_COUNTIFS_CV": ["how many rows <COND_CV> <AND> <NUMCOND>", "<ASKV> count the rows <COND_CV> <AND> <NUMCOND>",
                      "how many {val} rows in <CATC> have {num} {op} {x}",
                      "<ASK> the <COUNT_N> of rows with {cat} {val} <AND> {num} {op} {x}",
                      "how often is {cat} {val} with {num} {op} {x}",
                      "among rows <COND_CV>, how many have {num} {op} {x}",
                      "in <CATC>, how many {val} rows have {num} {op} {x}"],
    "B_COUNTIFS_V": ["how many {val} rows have {num} {op} {x}", "<ASKV> count {val} rows with {num} {op} {x}",
                     "how many {val} have {num} {op} {x}", "among {val} rows, how many have {num} {op} {x}",
                     "<ASK> the <COUNT_N> of {val} rows where <NUMCOND>",
                     "for {val}, how many rows have {num} {op} {x}",
                     "how many rows are {val} <AND> have {num} {op} {x}",
                     "<ASKV> count the {val} rows where <NUMCOND>"],
    # --- conditional sums and averages ----------------------------------------------------------------------
    "B_SUMIF_CV": ["<SUM_HEAD> <COND_CV><CLOSE>", "<SUM_HEAD> <COND_CV>", "{num} <SUM_POST> <COND_CV>",
                   "for {cat} {val}, <SUM_SHORT_OF> <NUM>", "where {cat} is {val}, <SUM_SHORT_OF> <NUM>",
                   "how much {num} <COND_CV>, in total",
                   "how much is {num} in total <COND_CV>"],
    "SUM_SHORT_OF": ["the total of", "the sum of", "total", "sum", "add up", "sum up", "the grand total of",
                     "give me the total of", "what's the sum of"],
    "B_SUMIF_V": ["<SUM_HEAD> <COND_V>", "<SUM_HEAD> <COND_V>", "{num} <SUM_POST> <COND_V>",
                  "for {val}, <SUM_SHORT_OF> <NUM>", "{val}'s <SUM_A> <NUMB>", "<ASK> {val}'s <SUM_A> <NUMB>",
                  "<ASK> the {val} <SUM_N> of <NUM>", "{val} <SUM_A> {num}", "how much {num} did {val} have in total",
                  "how much {num} for {val} in total", "only {val} rows: <SUM_SHORT_OF> <NUM>",
                  "<ASKV> <SUM_V> <NUM>, only {val} rows"],
    "B_SUMIF_NUM": ["<SUM_HEAD> <COND_N2>", "<SUM_HEAD> <COND_N2>", "<COND_N2_LEAD>, <SUM_SHORT_OF> <NUM>",
                    "how much {num} <COND_N2>, in total", "{num} <SUM_POST> <COND_N2>",
                    "what do {num} values add up to <COND_N2>"],
    "COND_N2_LEAD": ["for rows with {num2} {op} {x}", "where {num2} is {op} {x}", "if {num2} is {op} {x}",
                     "when {num2} {op} {x}", "for rows where {num2} {op} {x}", "with {num2} {op} {x}"],
    "B_SUMIFS_CV": ["<SUM_HEAD> <COND_CV> <AND> <NUMCOND2>", "<SUM_HEAD> <COND_CV> <AND> <NUMCOND2>",
                    "<SUM_HEAD> for {cat} {val} <COND_N2>", "for {cat} {val} <COND_N2>, <SUM_SHORT_OF> <NUM>",
                    "{num} <SUM_POST> <COND_CV> <AND> <NUMCOND2>"],
    "B_SUMIFS_V": ["<SUM_HEAD> <COND_V> <COND_N2>", "<SUM_HEAD> <COND_V> <COND_N2>",
                   "for {val} <COND_N2>, <SUM_SHORT_OF> <NUM>", "{val}'s <SUM_A> <NUMB> <COND_N2>",
                   "{num} <SUM_POST> for {val} <COND_N2>", "only {val} rows <COND_N2>: <SUM_SHORT_OF> <NUM>"],
    "B_SUMIFS_CAT_CV": ["<SUM_HEAD> <COND_CV> <AND> <BARE_CV2>", "<SUM_HEAD> <COND_CV> <AND> <BARE_CV2>",
                        "for {cat} {val} <AND> {cat2} {val2}, <SUM_SHORT_OF> <NUM>",
                        "{num} <SUM_POST> <COND_CV> <AND> <BARE_CV2>",
                        "where {cat} is {val} <AND> {cat2} is {val2}, <SUM_SHORT_OF> <NUM>"],
    "B_SUMIFS_CAT_V": ["<SUM_HEAD> for {val} <AND> {val2}", "<SUM_HEAD> for {val} rows in {val2}",
                       "for {val} <AND> {val2}, <SUM_SHORT_OF> <NUM>",
                       "<SUM_HEAD> for rows that are {val} <AND> {val2}",
                       "{num} <SUM_POST> for {val} <AND> {val2}", "<SUM_HEAD> where it's {val} <AND> {val2}",
                       "only {val} <AND> {val2} rows: <SUM_SHORT_OF> <NUM>"],
    "AVG_SHORT_OF": ["the average of", "the mean of", "average", "mean", "avg", "the avg of",
                     "give me the average of", "what's the mean of"],
    "B_AVERAGEIF_CV": ["<AVG_HEAD> <COND_CV>", "<AVG_HEAD> <COND_CV>", "{num} <AVG_POST> <COND_CV>",
                       "for {cat} {val}, <AVG_SHORT_OF> <NUM>", "where {cat} is {val}, <AVG_SHORT_OF> <NUM>",
                       "what is {num} on average <COND_CV>"],
    "B_AVERAGEIF_V": ["<AVG_HEAD> <COND_V>", "<AVG_HEAD> <COND_V>", "{num} <AVG_POST> <COND_V>",
                      "for {val}, <AVG_SHORT_OF> <NUM>", "{val}'s <AVG_A> <NUMB>", "<ASK> {val}'s <AVG_A> <NUMB>",
                      "<ASK> the {val} <AVG_N> of <NUM>", "{val} <AVG_A> {num}", "what is {num} on average <COND_V>",
                      "only {val} rows: <AVG_SHORT_OF> <NUM>"],
    "B_AVERAGEIFS_CV": ["<AVG_HEAD> <COND_CV> <AND> <NUMCOND2>", "<AVG_HEAD> <COND_CV> <AND> <NUMCOND2>",
                        "<AVG_HEAD> for {cat} {val} <COND_N2>", "for {cat} {val} <COND_N2>, <AVG_SHORT_OF> <NUM>",
                        "{num} <AVG_POST> <COND_CV> <AND> <NUMCOND2>"],
    "B_AVERAGEIFS_V": ["<AVG_HEAD> <COND_V> <COND_N2>", "<AVG_HEAD> <COND_V> <COND_N2>",
                       "for {val} <COND_N2>, <AVG_SHORT_OF> <NUM>", "{val}'s <AVG_A> <NUMB> <COND_N2>",
                       "{num} <AVG_POST> for {val} <COND_N2>", "only {val} rows <COND_N2>: <AVG_SHORT_OF> <NUM>"],
    # --- IF with AND / OR -----------------------------------------------------------------------------------
    "C1": ["{num} is {op} {x}", "{num} {op} {x}", "the {num} is {op} {x}", "{num} is {op} {x}"],
    "C2": ["{num2} is {op2} {x2}", "{num2} {op2} {x2}", "the {num2} is {op2} {x2}", "{num2} is {op2} {x2}"],
    "C_AND": ["<C1> and <C2>", "<C1> and <C2>", "both <C1> and <C2>", "<C1> and also <C2>", "<C1>, and <C2>",
              "<C1> and at the same time <C2>", "<C1> as well as <C2>"],
    "C_OR": ["<C1> or <C2>", "<C1> or <C2>", "either <C1> or <C2>", "<C1>, or <C2>", "<C1> or if <C2>"],
    "SAY": ["return", "show", "give", "display", "put", "write", "say", "mark it", "label it", "flag it as",
            "set it to", "return"],
    "ELSE": ["otherwise", "otherwise", "else", "if not", "in any other case", "when not"],
    "ELSE_POST": ["otherwise", "otherwise", "if not", "in all other cases"],
    "B_IF_AND": ['<ROW_LEAD> <SAY> "{yes}" if <C_AND>, <ELSE> "{no}"', '<ROW_LEAD> "{yes}" when <C_AND>, <ELSE> "{no}"',
                 '<ROW_LEAD> if <C_AND> then "{yes}", <ELSE> "{no}"',
                 '<SAY> "{yes}" for row {row} if <C_AND>; <ELSE> "{no}"',
                 'if <C_AND> in row {row}, <SAY> "{yes}", <ELSE> "{no}"',
                 '"{yes}" if <C_AND> in row {row}, "{no}" <ELSE_POST>',
                 'in row {row}, "{yes}" when <C_AND>; "{no}" <ELSE_POST>'],
    "B_IF_OR": ['<ROW_LEAD> <SAY> "{yes}" if <C_OR>, <ELSE> "{no}"', '<ROW_LEAD> "{yes}" when <C_OR>, <ELSE> "{no}"',
                '<ROW_LEAD> if <C_OR> then "{yes}", <ELSE> "{no}"',
                '<SAY> "{yes}" for row {row} if <C_OR>; <ELSE> "{no}"',
                'if <C_OR> in row {row}, <SAY> "{yes}", <ELSE> "{no}"',
                '"{yes}" if <C_OR> in row {row}, "{no}" <ELSE_POST>',
                'in row {row}, "{yes}" when <C_OR>; "{no}" <ELSE_POST>'],
    "B_IF_NUM": ['<ROW_LEAD> <SAY> "{yes}" if <C1>, <ELSE> "{no}"', '<ROW_LEAD> "{yes}" when <C1>, <ELSE> "{no}"',
                 '<ROW_LEAD> if <C1> then "{yes}", <ELSE> "{no}"',
                 '<SAY> "{yes}" for row {row} if <C1>; <ELSE> "{no}"',
                 'if <C1> in row {row}, <SAY> "{yes}", <ELSE> "{no}"',
                 '"{yes}" if <C1> in row {row}, "{no}" <ELSE_POST>',
                 '<ROW_LEAD> {yes} if <C1>, <ELSE> {no}', '<SAY> {yes} for row {row} if <C1>, <ELSE> {no}'],
    # --- ROUND, ABS, IFERROR division, percentages, SUMPRODUCT ----------------------------------------------
    "DP": ["decimals", "decimal places", "decimal places", "places", "dp", "decimal places"],
    "ROUNDING": ["rounded to {n} <DP>", "rounded to {n} <DP>", "rounded off to {n} <DP>", "round to {n} <DP>",
                 "to {n} <DP>", "with rounding to {n} <DP>"],
    "B_ROUND": ["<ASK> the {agg} {num} <ROUNDING>", "<ASK> {agg} {num} <ROUNDING>",
                "<ASKV> round the {agg} {num} to {n} <DP>",
                "{agg} {num}, <ROUNDING>", "the {agg} {num} to {n} <DP>", "{agg} {num} with {n} <DP>",
                "<ASKV> round {agg} {num} to {n} <DP>", "{agg} {num} - <ROUNDING>"],
    "ABS_N": ["absolute difference", "absolute difference", "abs difference", "positive difference",
              "absolute value of the difference", "unsigned difference"],
    "ABS_TAIL": ["as a positive number", "without the sign", "as an absolute value", "always positive",
                 "made positive"],
    "B_ABS": ["<ASK> the <ABS_N> between {num} and {num2} <ROWREF>", "<ASK> the <ABS_N> of {num} and {num2} <ROWREF>",
              "<ROW_LEAD> <ABS_N> between {num} and {num2}", "how far apart {num} and {num2} are <ROWREF>",
              "how far apart are {num} and {num2} <ROWREF>", "<ASK> abs of {num} minus {num2} <ROWREF>",
              "<ASK> the absolute value of {num} - {num2} <ROWREF>", "{num} minus {num2} <ROWREF>, <ABS_TAIL>",
              "<ROW_LEAD> {num} minus {num2} <ABS_TAIL>"],
    "DIV": ["{num} divided by {num2}", "{num} divided by {num2}", "{num} / {num2}", "the ratio of {num} to {num2}",
            "the ratio {num} / {num2}"],
    "ERR0": ["0 if error", "or 0 on error", "0 on error", "with errors as 0", "and 0 if it errors",
             "0 if it fails", "or 0 if the division fails", "errors shown as 0", "with 0 for any error",
             "0 when it errors", "or 0 for errors"],
    "ERR0_VP": ["return 0 if it errors", "give 0 on error", "show 0 for errors", "use 0 if it fails",
                "put 0 for errors"],
    "B_IFERROR_DIV": ["<DIV> <ROWREF>, <ERR0>", "<ROW_LEAD> <DIV>, <ERR0>",
                      "<ASKV> divide {num} by {num2} <ROWREF> and <ERR0_VP>",
                      "<ASK> <DIV> <ROWREF> (<ERR0>)", "<ASK> <DIV> <ROWREF>, <ERR0>",
                      "<ROW_LEAD> divide {num} by {num2}, <ERR0>", "safe division of {num} by {num2} <ROWREF>"],
    "PCT_N": ["percentage change", "percent change", "% change", "change in percent", "percent growth",
              "change as a percentage", "percentage change"],
    "B_PCT_ROWS": ["<ASK> the <PCT_N> in {num} from row {row} to row {row2}",
                   "<ASK> the <PCT_N> of {num} between row {row} and row {row2}",
                   "by what percent did {num} change from row {row} to row {row2}",
                   "how much did {num} change in percent from row {row} to row {row2}",
                   "{num}: <PCT_N> from row {row} to row {row2}",
                   "from row {row} to row {row2}, <ASK> the <PCT_N> in {num}",
                   "<ASK> the <PCT_N> in {num}, row {row} to row {row2}",
                   "how much did {num} grow in % between row {row} and row {row2}"],
    "B_PCT_COLS": ["<ASK> the <PCT_N> from {num} to {num2} <ROWREF>", "<ROW_LEAD> <PCT_N> from {num} to {num2}",
                   "how much did it change in percent from {num} to {num2} <ROWREF>",
                   "moving from {num} to {num2} <ROWREF>, what is the <PCT_N>",
                   "by what percent does it change from {num} to {num2} <ROWREF>",
                   "<ROW_LEAD> from {num} to {num2}, <PCT_N>"],
    "B_SUMPRODUCT": ["<ASK> the <SUM_N> of {num} times {num2}", "<ASK> the <SUM_N> of {num} multiplied by {num2}",
                     "<ASK> the sumproduct of {num} and {num2}",
                     "<ASKV> multiply {num} by {num2} row by row and add it up",
                     "<ASKV> multiply {num} and {num2} in each row and <SUM_V> the results",
                     "<ASK> the <SUM_N> of the products of {num} and {num2}", "{num} times {num2}, <SUM_POST>",
                     "<ASKV> <SUM_V> {num} times {num2} for each row", "<ASK> sumproduct {num} and {num2}"],
    # --- lookups --------------------------------------------------------------------------------------------
    "LOOK_NP": ["{key}'s {tgt}", "the {tgt} of {key}", "the {tgt} for {key}", "{tgt} for {key}", "{key}'s {tgt}"],
    "B_LOOKUP": ["<ASK> {key}'s {tgt}", "<ASK> the {tgt} of {key}", "<ASK> the {tgt} for {key}",
                 "<ASKV> look up {key}'s {tgt}", "<ASKV> look up the {tgt} for {key}", "what {tgt} does {key} have",
                 "which {tgt} does {key} have", "what is the {tgt} of {key}", "{key}: {tgt}?", "{key} - what {tgt}",
                 "<ASKV> look for {key} and return the {tgt}",
                 "<ASKV> find {key} and give me the {tgt}", "<ASK> the {tgt} that goes with {key}",
                 "<ASK> the {tgt} associated with {key}", "{tgt} of {key}", "<ASKV> look for {key}, return the {tgt}"],
    "B_LOOKUP_TEXT": ["<ASKV> look up {key} in {text} and return the {tgt}",
                      "<ASKV> find {key} in {text} and give the {tgt}",
                      "<ASK> the {tgt} of {key} from {text}", "<ASKV> look through {text} for {key}, return the {tgt}",
                      "<ASK> the {tgt} where {text} is {key}", "with {text} = {key}, what is the {tgt}",
                      "<ASK> the {tgt} of the row where {text} is {key}", "{text} {key}: what {tgt}"],
    "B_VLOOKUP": ["<ASKV> vlookup {key} and return the {tgt}", "<ASKV> use vlookup to get {key}'s {tgt}",
                  "<ASKV> use a vlookup to find the {tgt} of {key}", "with vlookup, <ASK> the {tgt} for {key}",
                  "vlookup the {tgt} of {key}", "vlookup - {key}'s {tgt}", "<ASKV> do a vlookup for {key}'s {tgt}",
                  "{key}'s {tgt} via vlookup", "{key}'s {tgt} with a vlookup", "<ASK> {key}'s {tgt} using vlookup"],
    "B_INDEX_MATCH": ["<ASKV> use index match to get {key}'s {tgt}", "index/match the {tgt} of {key}",
                      "with index and match, <ASK> the {tgt} for {key}", "{key}'s {tgt} via index match",
                      "<ASKV> do index/match for {key}'s {tgt}", "index match - {tgt} of {key}",
                      "using index/match, <ASK> {key}'s {tgt}", "<ASK> {key}'s {tgt} with index and match"],
    "NF": ['or "{nf}" if not found', 'or "{nf}" if it is missing', '"{nf}" when not found',
           'or "{nf}" if there is no match', 'or "{nf}" when it can\'t be found', 'showing "{nf}" if not found',
           'or "{nf}" if it is not in the table', 'and "{nf}" if missing', 'or "{nf}" if nothing is found',
           '"{nf}" if not found'],
    "B_IFERROR_LOOKUP": ["<LOOK_NP>, <NF>", "<ASK> <LOOK_NP>, <NF>", "<ASKV> look up <LOOK_NP> <NF>",
                         '<ASKV> find <LOOK_NP>; if it is missing <SAY> "{nf}"',
                         '<ASKV> look up <LOOK_NP>, and if it can\'t be found <SAY> "{nf}"',
                         '<ASK> <LOOK_NP>; if there is no match, <SAY> "{nf}"'],
    # --- text functions -------------------------------------------------------------------------------------
    "CHARS": ["characters", "characters", "chars", "letters", "characters"],
    "B_LEN": ["<ASK> the length of <TXT_ROW>", "<ASK> the character count of <TXT_ROW>",
              "how many characters are in <TXT_ROW>", "<ASKV> count the characters in <TXT_ROW>",
              "how long is <TXT_ROW>", "<TXT_ROW>: how many characters", "<ASK> the number of characters in <TXT_ROW>",
              "how many letters does <TXT_ROW> have", "<ASK> len of <TXT_ROW>", "<TXT_ROW> - length",
              "tell me how many characters <TXT_ROW> has"],
    "UP_N": ["uppercase", "uppercase", "upper case", "upper-case", "caps", "all caps", "block letters"],
    "UP_A": ["uppercase", "upper case", "all caps", "all uppercase", "upper-case"],
    "B_UPPER": ["<TXT_ROW> in <UP_N>", "<ASKV> convert <TXT_ROW> to <UP_N>", "<ASKV> make <TXT_ROW> <UP_A>",
                "<ASK> <TXT_ROW> in <UP_N>", "<ASKV> uppercase <TXT_ROW>",
                "<ASKV> turn <TXT_ROW> into <UP_N>", "<ASKV> write <TXT_ROW> in <UP_N>",
                "<ASK> the <UP_V> version of <TXT_ROW>", "<TXT_ROW>, <UP_A>"],
    "UP_V": ["uppercase", "upper case", "upper-case", "all caps"],
    "LOW_N": ["lowercase", "lowercase", "lower case", "lower-case", "small letters"],
    "LOW_A": ["lowercase", "lower case", "all lowercase", "lower-case"],
    "B_LOWER": ["<TXT_ROW> in <LOW_N>", "<ASKV> convert <TXT_ROW> to <LOW_N>", "<ASKV> make <TXT_ROW> <LOW_A>",
                "<ASK> <TXT_ROW> in <LOW_N>", "<ASKV> lowercase <TXT_ROW>", "<ASKV> turn <TXT_ROW> into <LOW_N>",
                "<ASKV> write <TXT_ROW> in <LOW_N>", "<ASK> the <LOW_V> version of <TXT_ROW>", "<TXT_ROW>, <LOW_A>"],
    "LOW_V": ["lowercase", "lower case", "lower-case"],
    "LEFT_A": ["first", "first", "first", "left", "leftmost", "initial"],
    "RIGHT_A": ["last", "last", "last", "right", "rightmost"],
    "B_LEFT": ["<ASK> the <LEFT_A> {n} <CHARS> of <TXT_ROW>", "<ASK> <LEFT_A> {n} <CHARS> of <TXT_ROW>",
               "<TXT_ROW>, <LEFT_A> {n} <CHARS>", "<ASKV> extract the <LEFT_A> {n} <CHARS> from <TXT_ROW>",
               "<ASKV> grab the <LEFT_A> {n} <CHARS> of <TXT_ROW>", "<ASK> {n} <CHARS> from the left of <TXT_ROW>",
               "<ASK> the <LEFT_A> {n} <CHARS> in <TXT_ROW>", "from <TXT_ROW>, <ASK> the <LEFT_A> {n} <CHARS>"],
    "B_RIGHT": ["<ASK> the <RIGHT_A> {n} <CHARS> of <TXT_ROW>", "<ASK> <RIGHT_A> {n} <CHARS> of <TXT_ROW>",
                "<TXT_ROW>, <RIGHT_A> {n} <CHARS>", "<ASKV> extract the <RIGHT_A> {n} <CHARS> from <TXT_ROW>",
                "<ASKV> grab the <RIGHT_A> {n} <CHARS> of <TXT_ROW>", "<ASK> {n} <CHARS> from the right of <TXT_ROW>",
                "<ASK> the <RIGHT_A> {n} <CHARS> in <TXT_ROW>", "from <TXT_ROW>, <ASK> the <RIGHT_A> {n} <CHARS>",
                "<ASK> {n} <CHARS> from the end of <TXT_ROW>"],
    "B_MID": ["{n} <CHARS> of <TXT_ROW> starting at position {p}",
              "<ASKV> extract {n} <CHARS> from <TXT_ROW> starting at {p}",
              "<ASK> {n} <CHARS> from position {p} of <TXT_ROW>",
              "<ASK> the {n} <CHARS> of <TXT_ROW> starting at position {p}",
              "mid of <TXT_ROW> from character {p}, {n} long",
              "<ASK> the {n} <CHARS> of <TXT_ROW> from position {p} on",
              "<TXT_ROW>: {n} <CHARS> from position {p}",
              "<ASK> a substring of <TXT_ROW>, {n} <CHARS> from position {p}",
              "from <TXT_ROW>, <ASK> {n} <CHARS> starting at {p}",
              "<ASKV> grab {n} <CHARS> of <TXT_ROW> starting at {p}"],
    "EXTRA": ["extra", "extra", "the extra", "leading and trailing", "excess", "unneeded", "redundant",
              "superfluous", "unnecessary", "stray", "the excess"],
    "B_TRIM": ["<ASKV> remove <EXTRA> spaces from <TXT_ROW>", "<ASKV> trim <TXT_ROW>",
               "<ASKV> clean up the spaces in <TXT_ROW>",
               "<ASKV> get rid of <EXTRA> spaces in <TXT_ROW>", "<ASKV> delete <EXTRA> spaces from <TXT_ROW>",
               "<TXT_ROW> without <EXTRA> spaces", "<TXT_ROW> with <EXTRA> spaces removed",
               "<ASKV> tidy up the spaces in <TXT_ROW>", "<ASK> <TXT_ROW>, trimmed",
               "<ASKV> trim the spaces of <TXT_ROW>"],
    "PAIR": ["{text} and {cat} <ROWREF>", "{text} and {cat} of row {row}", "row {row}'s {text} and {cat}",
             "the {text} and {cat} in row {row}", "{text} and {cat} <ROWREF>"],
    "SEP_WITH": ['with "{sep}"', 'separated by "{sep}"', 'using "{sep}"', 'with "{sep}" between them',
                 'with "{sep}" in between', 'using "{sep}" as the separator', 'with a "{sep}" separator',
                 ', "{sep}" between them', 'with "{sep}" in the middle'],
    "B_CONCAT": ["<ASKV> concatenate <PAIR> <SEP_WITH>", "<ASKV> concat <PAIR> <SEP_WITH>",
                 "<PAIR> concatenated <SEP_WITH>",
                 "concat of <PAIR> <SEP_WITH>", "<ASK> <PAIR> concatenated <SEP_WITH>"],
    "B_AMP": ["<ASKV> join <PAIR> <SEP_WITH>", "<ASKV> combine <PAIR> <SEP_WITH>",
              "<ASKV> put <PAIR> together <SEP_WITH>",
              "<ASKV> merge <PAIR> <SEP_WITH>", "{text} & {cat} <ROWREF> <SEP_WITH>", "<PAIR> joined <SEP_WITH>",
              "<ASK> <PAIR> joined <SEP_WITH>", "<PAIR> merged <SEP_WITH>"],
    # --- families added later: conditional MIN/MAX, MEDIAN, RANK, XLOOKUP, PROPER, IF on text, COUNTBLANK,
    # month and year conditions ----------------------------------------------------------------------------
    "MAX_HEAD": ["<ASK> the <MAX_A> <NUMB>", "<ASK> the <MAX_N> of <NUM>", "<ASK> <MAX_A> <NUMB>"],
    "MIN_HEAD": ["<ASK> the <MIN_A> <NUMB>", "<ASK> the <MIN_N> of <NUM>", "<ASK> <MIN_A> <NUMB>"],
    "B_MAXIFS_CV": ["<MAX_HEAD> <COND_CV>", "<MAX_HEAD> <COND_CV>", "for {cat} {val}, the <MAX_N> of <NUM>",
                    "{num} <MAX_POST> <COND_CV>", "where {cat} is {val}, <ASK> the <MAX_A> <NUMB>"],
    "B_MAXIFS_V": ["<MAX_HEAD> <COND_V>", "<MAX_HEAD> <COND_V>", "{val}'s <MAX_A> <NUMB>",
                   "for {val}, the <MAX_N> of <NUM>",
                   "<ASK> the <MAX_A> <NUMB> among {val} rows", "{num} <MAX_POST> <COND_V>",
                   "only {val} rows: the <MAX_N> of <NUM>"],
    "B_MAXIFS_NUM": ["<MAX_HEAD> <COND_N2>", "<MAX_HEAD> <COND_N2>", "<COND_N2_LEAD>, the <MAX_N> of <NUM>",
                     "{num} <MAX_POST> <COND_N2>"],
    "B_MINIFS_CV": ["<MIN_HEAD> <COND_CV>", "<MIN_HEAD> <COND_CV>", "for {cat} {val}, the <MIN_N> of <NUM>",
                    "{num} <MIN_POST> <COND_CV>", "where {cat} is {val}, <ASK> the <MIN_A> <NUMB>"],
    "B_MINIFS_V": ["<MIN_HEAD> <COND_V>", "<MIN_HEAD> <COND_V>", "{val}'s <MIN_A> <NUMB>",
                   "for {val}, the <MIN_N> of <NUM>",
                   "<ASK> the <MIN_A> <NUMB> among {val} rows", "{num} <MIN_POST> <COND_V>",
                   "only {val} rows: the <MIN_N> of <NUM>"],
    "B_MINIFS_NUM": ["<MIN_HEAD> <COND_N2>", "<MIN_HEAD> <COND_N2>", "<COND_N2_LEAD>, the <MIN_N> of <NUM>",
                     "{num} <MIN_POST> <COND_N2>"],
    "MED_N": ["median", "median", "median value", "middle value"],
    "B_MEDIAN": ["<ASK> the <MED_N> of <NUM><TABLE>", "<ASK> the median <NUMB><TABLE>", "<ASK> median <NUMB>",
                 "<ASK> the <MED_N> <IN_NUM>", "{num}: median", "for <NUM>, the <MED_N>", "{num} median",
                 "what is the <MED_N> of <NUM>", "<ASKV> find the median of <NUM>"],
    "DESC": ["highest first", "largest first", "biggest first", "in descending order"],
    "ASC": ["lowest first", "smallest first", "in ascending order", "ascending", "least first"],
    "B_RANK": ["<ASK> the rank of {num} <ROWREF>", "<ASK> the rank of row {row} in {num}",
               "where does row {row} rank in {num}",
               "how does row {row} rank by {num}", "<ASKV> rank row {row} by {num}", "<ASK> row {row}'s rank in {num}",
               "<ASK> the rank of row {row}'s {num}, <DESC>", "<ROW_LEAD> rank by {num}, <DESC>",
               "what rank does row {row} have in {num}", "<ASKV> rank row {row} by {num}, <DESC>"],
    "B_RANK_ASC": ["<ASK> the rank of {num} <ROWREF>, <ASC>", "<ASK> the rank of row {row} in {num}, <ASC>",
                   "where does row {row} rank in {num} in ascending order", "<ASKV> rank row {row} by {num}, <ASC>",
                   "<ASK> row {row}'s ascending rank in {num}", "<ROW_LEAD> rank by {num}, <ASC>",
                   "<ASK> the ascending rank of {num} <ROWREF>", "what rank does row {row} have in {num}, <ASC>"],
    "B_XLOOKUP": ["<ASKV> xlookup {key} and return the {tgt}", "<ASKV> use xlookup to get {key}'s {tgt}",
                  "<ASKV> use xlookup to find the {tgt} of {key}", "with xlookup, <ASK> the {tgt} for {key}",
                  "xlookup the {tgt} of {key}", "xlookup - {key}'s {tgt}", "{key}'s {tgt} with xlookup",
                  "<ASK> {key}'s {tgt} using xlookup", "<ASKV> run xlookup for {key}'s {tgt}"],
    "B_XLOOKUP_TEXT": ["<ASKV> xlookup {key} in {text} and return the {tgt}",
                       "with xlookup, <ASK> {key}'s {tgt} from {text}",
                       "<ASKV> use xlookup on {text} to get {key}'s {tgt}",
                       "xlookup {key} in {text} - return the {tgt}",
                       "<ASKV> xlookup the {tgt} where {text} is {key}"],
    "B_PROPER": ["<TXT_ROW> in proper case", "<ASKV> convert <TXT_ROW> to proper case",
                 "<ASKV> make <TXT_ROW> proper case",
                 "<ASK> <TXT_ROW> in proper case", "<ASKV> capitalize each word of <TXT_ROW>",
                 "<ASK> <TXT_ROW> with each word capitalized", "<ASKV> put <TXT_ROW> in proper case",
                 "<ASK> the proper case version of <TXT_ROW>", "<ASKV> fix the capitalization of <TXT_ROW>"],
    "CT": ["{cat} is {val}", "{cat} = {val}", "{cat} equals {val}", "the {cat} is {val}", "its {cat} is {val}"],
    "B_IF_TEXT": ['<ROW_LEAD> <SAY> "{yes}" if <CT>, <ELSE> "{no}"', '<ROW_LEAD> "{yes}" when <CT>, <ELSE> "{no}"',
                  '<ROW_LEAD> if <CT> then "{yes}", <ELSE> "{no}"',
                  '<SAY> "{yes}" for row {row} if <CT>; <ELSE> "{no}"',
                  'if {cat} in row {row} is {val}, <SAY> "{yes}", <ELSE> "{no}"',
                  '"{yes}" if <CT> in row {row}, "{no}" <ELSE_POST>',
                  'in row {row}, "{yes}" when <CT>; "{no}" <ELSE_POST>'],
    "COLC": ["{col}", "{col}", "{col}", "the {col} column"],
    "BLANK_OBJ": ["blank cells", "empty cells", "blank cells", "empty cells", "blank entries", "empty entries",
                  "cells with nothing in them"],
    "B_COUNTBLANK": ["how many <BLANK_OBJ> are in <COLC>", "<ASKV> count the <BLANK_OBJ> in <COLC>",
                     "<ASK> the <COUNT_N> of <BLANK_OBJ> in <COLC>", "how many {col} cells are empty",
                     "how many {col} cells are blank", "how many rows have no {col}",
                     "how many rows have a blank {col}",
                     "{col}: how many <BLANK_OBJ>", "in <COLC>, how many cells are empty",
                     "<ASKV> count the empty {col} cells", "<ASK> the number of <BLANK_OBJ> in <COLC>"],
    "DIM": ["{date} in {month} {year}", "{date} in {month} {year}", "{date} during {month} {year}",
            "a {date} in {month} {year}", "{date} within {month} {year}"],
    "DIY": ["{date} in {year}", "{date} in {year}", "{date} during {year}", "a {date} in {year}",
            "{date} within {year}",
            "{date} in the year {year}"],
    "B_COUNTIFS_MONTH": ["how many rows have <DIM>", "how many rows with <DIM>", "<ASKV> count the rows with <DIM>",
                         "<ASK> the <COUNT_N> of rows with <DIM>", "how many {date} entries are in {month} {year}",
                         "how often is {date} in {month} {year}", "for {month} {year}, how many rows by {date}",
                         "<ASKV> count how many {date} values are in {month} {year}",
                         "how many {date} in {month} {year} are there", "<ASK> the number of rows with <DIM>"],
    "B_SUMIFS_MONTH": ["<SUM_HEAD> for rows with <DIM>", "<SUM_HEAD> where {date} is in {month} {year}",
                       "<SUM_HEAD> with <DIM>", "for {month} {year} by {date}, <SUM_SHORT_OF> <NUM>",
                       "how much {num} for rows with <DIM>, in total", "{num} <SUM_POST> for rows with <DIM>",
                       "<SUM_HEAD> for {month} {year} by {date}"],
    "B_COUNTIFS_YEAR": ["how many rows have <DIY>", "how many rows with <DIY>", "<ASKV> count the rows with <DIY>",
                        "<ASK> the <COUNT_N> of rows with <DIY>", "how many {date} entries are in {year}",
                        "how often is {date} in {year}", "for {year}, how many rows by {date}",
                        "<ASKV> count how many {date} values are in {year}", "<ASK> the number of rows with <DIY>"],
    "B_SUMPRODUCT_YEAR": ["<SUM_HEAD> for rows with <DIY>", "<SUM_HEAD> where {date} is in {year}",
                          "<SUM_HEAD> with <DIY>",
                          "for {year} by {date}, <SUM_SHORT_OF> <NUM>", "how much {num} for rows with <DIY>, in total",
                          "{num} <SUM_POST> for rows with <DIY>", "<SUM_HEAD> for {year} by {date}"],
    # --- FIND / SEARCH / SUBSTITUTE / TEXT ------------------------------------------------------------------
    "B_FIND": ['<ASK> the position of "{sub}" in <TXT_ROW>', 'where does "{sub}" start in <TXT_ROW>',
               'at what position is "{sub}" in <TXT_ROW>', '<ASKV> find "{sub}" in <TXT_ROW>',
               '<TXT_ROW>: position of "{sub}"', 'at which character does "{sub}" start in <TXT_ROW>',
               '<ASK> the character position of "{sub}" within <TXT_ROW>', 'where is "{sub}" in <TXT_ROW>'],
    "CASE": ["any case", "case-insensitive", "not case sensitive", "regardless of case", "case insensitive"],
    "ASK_POS": ["", "", "", "what's", "what is", "give me", "show me", "get me", "I need", "I want", "tell me",
                "return"],
    "B_SEARCH": ['<ASK_POS> the position of "{sub}" in <TXT_ROW>, <CASE>',
                 '<ASK_POS> the case-insensitive position of "{sub}" in <TXT_ROW>',
                 '<ASKV> search <TXT_ROW> for "{sub}"', 'search for "{sub}" in <TXT_ROW>',
                 'where is "{sub}" in <TXT_ROW>, <CASE>',
                 '<ASKV> search for "{sub}" in <TXT_ROW>, <CASE>',
                 'at which character is "{sub}" in <TXT_ROW>, <CASE>'],
    "B_SUBSTITUTE": ['<ASKV> replace "{old}" with "{new}" in <TXT_ROW>', '<ASKV> swap "{old}" for "{new}" in <TXT_ROW>',
                     '<ASKV> substitute "{new}" for "{old}" in <TXT_ROW>', '<TXT_ROW> with "{old}" replaced by "{new}"',
                     '<ASKV> change "{old}" to "{new}" in <TXT_ROW>', '<ASKV> turn "{old}" into "{new}" in <TXT_ROW>',
                     'in <TXT_ROW>, replace "{old}" by "{new}"',
                     '<ASK> <TXT_ROW> with every "{old}" replaced by "{new}"',
                     '<ASK> <TXT_ROW> after replacing "{old}" with "{new}"'],
    "NUM_ROW": ["{num} <ROWREF>", "row {row}'s {num}", "the {num} of row {row}", "the {num} value <ROWREF>",
                "row {row} {num}"],
    "B_TEXT_FMT": ["<ASKV> format <NUM_ROW> as {fmt}", "<NUM_ROW> formatted as {fmt}",
                   "<ASK> <NUM_ROW> in {fmt} format",
                   "<ASKV> show <NUM_ROW> with the format {fmt}", "<ASKV> display <NUM_ROW> in {fmt} format",
                   "<ASK> <NUM_ROW> using the number format {fmt}", "<NUM_ROW>, formatted {fmt}"],
}

# Numeric intents may also open with a calculating verb (`compute the mean of`), lookups and text functions not.
for _symbol, _alternatives in _GRAMMAR.items():
    if re.search(r"SUM|AVG|MIN|MAX|MED|LARGE|SMALL|COUNT|ROUND|ABS|PCT|DIV|RANK", _symbol):
        _GRAMMAR[_symbol] = [a.replace("<ASK>", "<ASKN>") for a in _alternatives]

# Family -> its start symbols (each has one slot set; `widen_template` uses those matching the template's).
_STARTS: dict[str, tuple[str, ...]] = {
    "sum": ("B_SUM",), "average": ("B_AVERAGE",), "min": ("B_MIN",), "max": ("B_MAX",), "count": ("B_COUNT",),
    "counta": ("B_COUNTA",), "large": ("B_LARGE",), "small": ("B_SMALL",), "sumproduct": ("B_SUMPRODUCT",),
    "round": ("B_ROUND",), "countif_eq": ("B_COUNTIF_CV", "B_COUNTIF_V"), "countif_num": ("B_COUNTIF_NUM",),
    "countif_date": ("B_COUNTIF_DATE",), "countifs": ("B_COUNTIFS_CV", "B_COUNTIFS_V"),
    "sumif": ("B_SUMIF_CV", "B_SUMIF_V"), "sumif_num": ("B_SUMIF_NUM",), "sumifs": ("B_SUMIFS_CV", "B_SUMIFS_V"),
    "sumifs_cat": ("B_SUMIFS_CAT_CV", "B_SUMIFS_CAT_V"), "averageif": ("B_AVERAGEIF_CV", "B_AVERAGEIF_V"),
    "averageifs": ("B_AVERAGEIFS_CV", "B_AVERAGEIFS_V"), "if_and": ("B_IF_AND",), "if_or": ("B_IF_OR",),
    "abs": ("B_ABS",), "iferror_div": ("B_IFERROR_DIV",), "pct_rows": ("B_PCT_ROWS",), "pct_cols": ("B_PCT_COLS",),
    "lookup": ("B_LOOKUP", "B_LOOKUP_TEXT"), "vlookup": ("B_VLOOKUP",), "index_match": ("B_INDEX_MATCH",),
    "iferror_lookup": ("B_IFERROR_LOOKUP",), "len": ("B_LEN",), "upper": ("B_UPPER",), "lower": ("B_LOWER",),
    "left": ("B_LEFT",), "right": ("B_RIGHT",), "mid": ("B_MID",), "trim": ("B_TRIM",), "concat": ("B_CONCAT",),
    "amp": ("B_AMP",), "maxifs": ("B_MAXIFS_CV", "B_MAXIFS_V"), "minifs": ("B_MINIFS_CV", "B_MINIFS_V"),
    "maxifs_num": ("B_MAXIFS_NUM",), "minifs_num": ("B_MINIFS_NUM",), "median": ("B_MEDIAN",), "rank": ("B_RANK",),
    "rank_asc": ("B_RANK_ASC",), "xlookup": ("B_XLOOKUP", "B_XLOOKUP_TEXT"), "proper": ("B_PROPER",),
    "if_text": ("B_IF_TEXT",), "if_num": ("B_IF_NUM",), "countblank": ("B_COUNTBLANK",),
    "countifs_month": ("B_COUNTIFS_MONTH",),
    "sumifs_month": ("B_SUMIFS_MONTH",), "countifs_year": ("B_COUNTIFS_YEAR",),
    "sumproduct_year": ("B_SUMPRODUCT_YEAR",), "find": ("B_FIND",), "search": ("B_SEARCH",),
    "substitute": ("B_SUBSTITUTE",), "text_fmt": ("B_TEXT_FMT",),
}


# ---------------------------------------------------------------------------------------------------------------
# What may be written: read from phrasings.py and topics.py at call time (cached until `phrasings.T` changes).
def _fingerprint() -> tuple:
    """Cheap identity of the wording tables the rules are built from: a family added to `phrasings.T` (or an
    operator, opener or closer table replaced) rebuilds them. The tables are filled at import time."""
    return (id(phrasings.T), len(phrasings.T), id(phrasings.OPS), id(phrasings.DATE_OPS), len(phrasings.PREFIX[1]),
            len(phrasings.SUFFIX[1]))


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


class _Rules:
    """Everything `widen_template` needs for one state of `phrasings.T`: the honest grammar, the WordNet
    substitutions and the checks."""

    def __init__(self) -> None:
        from .topics import (_CATEGORY_VALUES, _CATEGORY_WORDS, _DATE_WORDS, _NUMBER_WORDS, _TEXT_WORDS, TOPICS)

        self._word_ok: dict[str, bool] = {}
        self.training = frozenset(phrasings.training_phrasing_words())
        self.held_only = frozenset(phrasings.held_out_phrasing_words() - self.training)
        held_names = {n.lower() for t in TOPICS if t.split == "test" for c in t.columns
                      for n in list(c.test_names) + [str(v) for v in c.values]}
        all_names = {n.lower() for t in TOPICS for c in t.columns
                     for n in list(c.train_names) + list(c.test_names) + [str(v) for v in c.values]}
        all_names |= {n.lower() for pool in (_NUMBER_WORDS, _CATEGORY_WORDS, _TEXT_WORDS, _DATE_WORDS,
                                             _CATEGORY_VALUES) for n in pool}
        self.held_names = frozenset(held_names)
        held_name_words = {w for n in held_names for w in phrasings.phrase_words(n)}
        # A word no output may hold (template words included): held-out-only and single-word held-out names.
        self.never = self.held_only | {n for n in held_names if " " not in n}
        # A word no *new* word may be: also any word of a held-out name and any single-word header name or value
        # (the linker would link it), unless a training phrasing already uses it (`on`, `last`, `position`).
        self.banned_new = self.never | ((held_name_words | {n for n in all_names if " " not in n}) - self.training)
        self.held_bases = frozenset(b for w in self.held_only for b in _forms(w))
        held_strings = [p for pair in (phrasings.PREFIX, phrasings.SUFFIX) for p in pair[1]]
        held_strings += [p for ops in (phrasings.OPS, phrasings.DATE_OPS) for pair in ops.values() for p in pair[1]]
        self.banned_literals = frozenset(s.strip().lower() for s in held_strings if s.strip())
        phrases = sorted({n for n in all_names | held_names if " " in n}, key=lambda n: (-len(n), n))
        self.banned_phrases = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, phrases)) + r")(?![\w'-])")
        self.banned_strings = tuple(sorted(s for s in self.banned_literals if not s.isalpha() or " " in s))
        self.held_templates = frozenset(_normalise(t) for pair in phrasings.T.values() for t in pair[1])
        self.grammar, self.dropped = self._honest_grammar()
        self.slots = {symbol: self._slot_set(symbol, ()) for symbol in self.grammar}
        self.starts: dict[str, dict[frozenset, list[str]]] = {}
        for family, symbols in _STARTS.items():
            for symbol in symbols:
                if symbol in self.grammar:
                    self.starts.setdefault(family, {}).setdefault(self.slots[symbol], []).append(symbol)
        self.function_names = frozenset(
            {f.lower() for f in phrasings.T} | {w for label, _ in phrasings.FAMILY.values()
                                                for w in re.split(r"[^a-z.]+", label.lower()) if w})
        self.substitutes = self._substitutes()
        keys = set(self.substitutes) | {p for group in (*INTENTS.values(), *GENERIC.values()) for p in group}
        keys = sorted((k for k in keys if re.fullmatch(r"[a-z][a-z' /&-]*", k)), key=lambda k: (-len(k), k))
        self.key_pattern = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, keys)) + r")(?![\w'-])",
                                      re.IGNORECASE)

    # --- honesty ----------------------------------------------------------------------------------------------
    def word_ok(self, word: str) -> bool:
        """A word a widened template may add."""
        ok = self._word_ok.get(word)
        if ok is None:
            ok = word not in self.banned_new and (word in self.training or not _forms(word) & self.held_bases)
            self._word_ok[word] = ok
        return ok

    def text_ok(self, text: str, new_only: bool = True) -> bool:
        """Literal text (no slots) a widened template may add (`new_only=False`: a whole output, whose words may
        come from its training template)."""
        lowered = _SLOT.sub(" ", text.lower())
        words = _WORDS.findall(lowered)
        if any(not self.word_ok(w) for w in words) if new_only else any(w in self.never for w in words):
            return False
        if any(s in lowered for s in self.banned_strings):
            return False  # `(excel)`, `need this:`, `a minimum of` (single words are checked as words)
        return not self.banned_phrases.search(lowered)  # multi-word header names and values (`amount spent`)

    def output_ok(self, template: str, source: str) -> bool:
        if _normalise(template) in self.held_templates:
            return False
        if not self.text_ok(template, new_only=False):
            return False
        source_words = phrasings.phrase_words(source)
        return all(self.word_ok(w) for w in phrasings.phrase_words(template) - source_words)

    # --- grammar ----------------------------------------------------------------------------------------------
    def _honest_grammar(self) -> tuple[dict[str, list[str]], list[str]]:
        """_GRAMMAR without alternatives that would write a banned word, and without those that need a symbol left
        with no alternative."""
        dropped = []
        grammar = {}
        for symbol, alternatives in _GRAMMAR.items():
            kept = [a for a in alternatives if self.text_ok(_SYMBOL.sub(" ", a))]
            dropped += [f"{symbol}: {a}" for a in alternatives if a not in kept]
            grammar[symbol] = kept
        changed = True
        while changed:
            changed = False
            for symbol, alternatives in grammar.items():
                kept = [a for a in alternatives if all(grammar.get(s) for s in _SYMBOL.findall(a))]
                if len(kept) != len(alternatives):
                    dropped += [f"{symbol}: {a}" for a in alternatives if a not in kept]
                    grammar[symbol], changed = kept, True
        return {s: a for s, a in grammar.items() if a}, dropped

    def _slot_set(self, symbol: str, path: tuple[str, ...]) -> frozenset:
        if symbol in path:
            raise ValueError(f"grammar symbol {symbol} is recursive")
        sets = set()
        for alt in self.grammar[symbol]:
            slots = set(_SLOT.findall(alt))
            for child in _SYMBOL.findall(alt):
                slots |= self._slot_set(child, path + (symbol,))
            sets.add(frozenset(slots))
        if len(sets) != 1:
            raise ValueError(f"grammar symbol {symbol} has alternatives with different slots: {sets}")
        return sets.pop()

    def expand(self, symbol: str, rng: random.Random) -> str:
        alternative = rng.choice(self.grammar[symbol])
        return _SYMBOL.sub(lambda m: self.expand(m.group(1), rng), alternative)

    # --- WordNet substitution -----------------------------------------------------------------------------------
    def _substitutes(self) -> dict[str, list[str]]:
        """Intent (and request-verb) word -> its WordNet relatives that keep the meaning (module docstring)."""
        contrasted = {name: words for name, words in INTENTS.items() if name not in _AND_OR}
        relatives = {name: {r for w in words for r in _candidates(w)} for name, words in contrasted.items()}
        out: dict[str, list[str]] = {}
        for groups, is_intent in ((contrasted, True), (GENERIC, False)):
            for name, words in groups.items():
                others = [n for n in contrasted if n != name]
                blocked = set().union(*(relatives[n] | set(contrasted[n]) for n in others))
                other_words = {w for n in others for p in contrasted[n] for w in p.split()}
                for word in words:
                    kept = [r for r in _candidates(word)
                            if self._relative_ok(r, word, words, blocked, other_words)]
                    if kept:
                        out[word] = kept
        return out

    def _relative_ok(self, r: str, word: str, own: tuple[str, ...], blocked: set, other_words: set) -> bool:
        if r == word or r in own or r in _BAD_RELATIVES or r in FUNCTION_WORDS or len(r) < 3:
            return False
        inventory = load_senses()
        if not {s.pos for s in inventory.senses(word)[:3]} <= {s.pos for s in inventory.senses(r)}:
            return False  # `numerate` (a verb only) cannot stand where `count` is a noun
        if all(w in FUNCTION_WORDS for w in r.split()) or not self.text_ok(r):
            return False
        if r in blocked or set(r.split()) & other_words:
            return False  # another intent's word, or a relative of one
        if r in self.function_names:
            return False  # `search` for `lookup`: another family's function
        if r in {a for s in inventory.senses(word) for a in s.antonyms}:
            return False
        if {a for s in inventory.senses(r)[:3] for a in s.antonyms} & set(own):
            return False
        for prefix in ("un", "non", "in", "im", "ir", "il", "dis"):
            if (r.startswith(prefix) and r[len(prefix):].lstrip("-") in (*own, word)) or \
                    (word.startswith(prefix) and word[len(prefix):].lstrip("-") == r):
                return False
        backing = set(own) - {word}  # corroboration by another word of the same intent
        return bool(set(related_words(r, max_senses=3, relations=("lemmas", "similar", "derived", "hypernyms")))
                    & backing)

    def substitute(self, template: str, rng: random.Random, k: int) -> str:
        pieces = _PROTECTED.split(template)  # odd pieces: slots and quoted text
        spots = [(i, m.start(), m.end(), m.group(0).lower()) for i in range(0, len(pieces), 2)
                 for m in self.key_pattern.finditer(pieces[i]) if self.substitutes.get(m.group(0).lower())]
        for i, start, end, key in sorted(rng.sample(spots, min(k, len(spots))), key=lambda s: (s[0], -s[1])):
            pieces[i] = pieces[i][:start] + rng.choice(self.substitutes[key]) + pieces[i][end:]
        return "".join(pieces)


def _forms(word: str) -> set[str]:
    """`word` and the lemmas it may be an inflection or `-ly` adverb of (`belonging` -> `belong`), for comparing
    a word with the held-out-only ones."""
    inventory = load_senses()
    forms = {word}
    if word in inventory.inflections:
        forms.add(inventory.inflections[word])
    for ending, replacement in (("ies", "y"), ("es", ""), ("es", "e"), ("s", ""), ("ing", ""), ("ing", "e"),
                                ("ed", ""), ("ed", "e"), ("ied", "y"), ("er", ""), ("est", ""), ("ly", ""),
                                ("ally", "al")):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)] + replacement
            if stem in inventory:
                forms.add(stem)
    return forms


def _candidates(word: str) -> list[str]:
    """WordNet relatives of `word` in its first three senses: synonyms, similar adjectives, derived forms and the
    hypernyms of noun senses, in a stable order."""
    out: dict[str, None] = {}
    for sense in load_senses().senses(word)[:3]:
        for r in (*sense.lemmas, *sense.similar, *sense.derived, *(sense.hypernyms if sense.pos == "n" else ())):
            if r != word:
                out.setdefault(r)
    return list(out)


_RULES: dict[tuple, _Rules] = {}


def _rules() -> _Rules:
    key = _fingerprint()
    rules = _RULES.get(key)
    if rules is None:
        _RULES.clear()
        rules = _RULES[key] = _Rules()
    return rules


# ---------------------------------------------------------------------------------------------------------------
def _tidy(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r"([,:;]) - ", r"\1 ", text)  # `{num}: - total` -> `{num}: total`
    text = re.sub(r"\s+([,;:?)])", r"\1", text)
    text = re.sub(r"([,;:])(?=[,;:])", "", text)
    text = re.sub(r"\(\s+", "(", text)
    return text.strip(" ,;:-")


def widen_template(family: str, template: str, rng: random.Random) -> str:
    """Another training template of `family` with the same slots and meaning as `template` (or `template`
    itself): a grammar draw (`GRAMMAR_SHARE` of the time, for families and slot sets with a grammar), then
    WordNet substitution of one or two intent words (`SUBSTITUTE_SHARE`). Only for training templates: the output
    never holds held-out wording (module docstring). Deterministic given `rng`'s state."""
    rules = _rules()
    slots = frozenset(_SLOT.findall(template))
    starts = rules.starts.get(family, {}).get(slots)
    out = template
    if starts and rng.random() < GRAMMAR_SHARE:
        for _ in range(_TRIES):
            draw = _tidy(rules.expand(rng.choice(starts), rng))
            if rules.output_ok(draw, template):
                out = draw
                break
    if rng.random() < (SUBSTITUTE_SHARE if starts else NO_GRAMMAR_SUBSTITUTE_SHARE):
        draw = rules.substitute(out, rng, 1 if rng.random() < 0.7 else 2)
        if rules.output_ok(draw, template):
            out = draw
    return out


def breadth_vocabulary() -> set[str]:
    """Every word `widen_template` can emit (lower case, as `phrasings.phrase_words` splits them): the training
    templates' words, the grammar's and the WordNet substitutes'."""
    rules = _rules()
    words = {w for pair in phrasings.T.values() for t in pair[0] for w in phrasings.phrase_words(t)}
    for alternatives in rules.grammar.values():
        for alternative in alternatives:
            words |= phrasings.phrase_words(_SYMBOL.sub(" ", alternative))
    for relatives in rules.substitutes.values():
        for r in relatives:
            words |= phrasings.phrase_words(r)
    return words


def intent_pools() -> dict[str, set[str]]:
    """Intent -> its words: the pool (`INTENTS`) and the WordNet relatives substituted for them."""
    rules = _rules()
    return {name: set(words) | {r for w in words for r in rules.substitutes.get(w, ())}
            for name, words in INTENTS.items()}
