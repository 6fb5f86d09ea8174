"""How requests are worded: per template family, training phrasings and a disjoint set of held-out ones (with
operator words, openers and closers), and the typo and filler-word noise applied to training requests.

Phrasings refer to columns by header (as written or lower-cased) or by letter, and get an occasional typo in their
own words (never inside a value the formula has to copy).
"""

from __future__ import annotations

import random
import re

from .words import made_up_word

# (train phrasings, held-out test phrasings) per template family.
T: dict[str, tuple[list[str], list[str]]] = {
    "sum": (["total {num}", "sum of {num}", "what is the total {num}", "add up all the {num}", "sum the {num} column",
             "grand total of {num}", "{num} total", "total of all {num} values"],
            ["overall {num} added together", "{num}: what's the sum", "how much {num} altogether"]),
    "average": (["average {num}", "mean of {num}", "what's the avg {num}", "calculate the average of {num}",
                 "average value in {num}", "avg {num}", "mean {num} across all rows"],
                ["typical {num} on average", "arithmetic mean for {num}", "{num} averaged over every row"]),
    "min": (["lowest {num}", "minimum {num}", "smallest value in {num}", "what is the min {num}",
             "find the lowest {num}", "min of {num}"],
            ["the least {num} recorded", "bottom {num} value", "{num}, smallest one"]),
    "max": (["highest {num}", "maximum {num}", "largest value in {num}", "what is the max {num}",
             "find the biggest {num}", "max of {num}"],
            ["the top {num} recorded", "peak {num}", "{num}, biggest one"]),
    "count": (["how many numbers are in {num}", "count the numeric values in {num}", "count of numbers in {num}",
               "number of numeric entries in {num}", "count numbers in {num}"],
              ["tally numeric cells in {num}", "how many {num} cells hold a number"]),
    "counta": (["how many entries are in {text}", "count non-empty cells in {text}", "count all values in {text}",
                "how many rows have a {text}", "count of filled cells in {text}"],
               ["tally filled cells in {text}", "number of {text} entries listed"]),
    "countif_eq": (["how many rows have {cat} {val}", "count rows where {cat} is {val}", "number of {val} in {cat}",
                    "how many times does {val} appear in {cat}", "count {val} in {cat}", "how many {val} are there in {cat}"],
                   ["tally of {cat} equal to {val}", "in how many rows is {cat} = {val}", "{val} occurrences in {cat}"]),
    "countif_num": (["how many {num} values are {op} {x}", "count rows where {num} is {op} {x}",
                     "number of {num} {op} {x}", "count {num} {op} {x}", "how many rows have {num} {op} {x}"],
                    ["tally {num} entries {op} {x}", "in how many rows is {num} {op} {x}"]),
    "countif_date": (["how many {date} are {dop} {d}", "count rows with {date} {dop} {d}",
                      "number of rows where {date} is {dop} {d}"],
                     ["tally rows whose {date} falls {dop} {d}"]),
    "countifs": (["how many rows have {cat} {val} and {num} {op} {x}", "count where {cat} is {val} and {num} is {op} {x}",
                  "number of {val} rows with {num} {op} {x}", "count {val} in {cat} with {num} {op} {x}"],
                 ["tally rows with {cat} = {val} whose {num} is {op} {x}", "{val} rows having {num} {op} {x}: how many"]),
    "sumif": (["total {num} for {val}", "sum of {num} where {cat} is {val}", "add up {num} for {cat} {val}",
               "what is the total {num} in {val}", "sum {num} if {cat} = {val}", "{val} total {num}"],
              ["{val} {num} added together", "combined {num} across {cat} {val}"]),
    "sumif_num": (["sum of {num} where {num2} is {op} {x}", "total {num} for rows with {num2} {op} {x}",
                   "add up {num} when {num2} is {op} {x}"],
                  ["combined {num} over rows whose {num2} is {op} {x}"]),
    "sumifs": (["total {num} for {val} where {num2} is {op} {x}", "sum {num} where {cat} is {val} and {num2} {op} {x}",
                "add up {num} for {cat} {val} with {num2} {op} {x}"],
               ["combined {num} for {val} rows whose {num2} is {op} {x}"]),
    "sumifs_cat": (["total {num} for {val} and {val2}", "sum {num} where {cat} is {val} and {cat2} is {val2}",
                    "add up {num} for {cat} {val} and {cat2} {val2}"],
                   ["combined {num} when {cat} = {val} together with {cat2} = {val2}"]),
    "averageif": (["average {num} for {val}", "mean {num} where {cat} is {val}", "avg {num} in {cat} {val}",
                   "what is the average {num} for {cat} {val}"],
                  ["typical {num} for {val} on average", "{val}: mean of {num}"]),
    "averageifs": (["average {num} for {val} where {num2} is {op} {x}",
                    "mean {num} where {cat} is {val} and {num2} {op} {x}", "avg {num} for {cat} {val} with {num2} {op} {x}"],
                   ["typical {num} of {val} rows whose {num2} is {op} {x}"]),
    "if_and": (['in row {row}, return "{yes}" if {num} is {op} {x} and {num2} is {op2} {x2}, otherwise "{no}"',
                'row {row}: "{yes}" when {num} {op} {x} and {num2} {op2} {x2}, else "{no}"',
                'flag row {row} as "{yes}" if both {num} {op} {x} and {num2} {op2} {x2}, if not "{no}"',
                'if {num} in row {row} is {op} {x} and {num2} is {op2} {x2} show "{yes}" otherwise "{no}"'],
               ['for row {row} show "{yes}" provided {num} {op} {x} as well as {num2} {op2} {x2}; else "{no}"']),
    "if_or": (['in row {row}, return "{yes}" if {num} is {op} {x} or {num2} is {op2} {x2}, otherwise "{no}"',
               'row {row}: "{yes}" when {num} {op} {x} or {num2} {op2} {x2}, else "{no}"',
               'flag row {row} as "{yes}" if either {num} {op} {x} or {num2} {op2} {x2}, if not "{no}"',
               'if {num} in row {row} is {op} {x} or {num2} is {op2} {x2} show "{yes}" otherwise "{no}"'],
              ['for row {row} show "{yes}" when at least one holds: {num} {op} {x}, {num2} {op2} {x2}; else "{no}"']),
    "round": (["{agg} {num} rounded to {n} decimals", "round the {agg} {num} to {n} decimal places",
               "{agg} of {num}, round to {n} dp", "{agg} {num} to {n} decimal places"],
              ["{agg} {num} with {n} digits after the point"]),
    "abs": (["absolute difference between {num} and {num2} in row {row}", "abs of {num} minus {num2} for row {row}",
             "how far apart are {num} and {num2} in row {row}", "absolute value of {num} - {num2} in row {row}"],
            ["gap between {num} and {num2} on row {row}, ignoring sign"]),
    "lookup": (["what is {key}'s {tgt}", "look up the {tgt} for {key}", "find {tgt} of {key}", "{tgt} for {key}",
                "get the {tgt} of {key} from {text}", "what {tgt} does {key} have"],
               ["retrieve {key}'s {tgt}", "pull the {tgt} where {text} is {key}"]),
    "vlookup": (["vlookup {key} to get {tgt}", "use vlookup to find the {tgt} of {key}"],
                ["vlookup: {tgt} belonging to {key}"]),
    "index_match": (["use index match to get {key}'s {tgt}", "index/match the {tgt} for {key}"],
                    ["with index and match, {tgt} belonging to {key}"]),
    "iferror_lookup": (['{tgt} for {key}, or "{nf}" if not found', 'look up {key}\'s {tgt} and show "{nf}" if missing',
                        'find the {tgt} of {key}; if there is no match return "{nf}"'],
                       ['{key}\'s {tgt}, falling back to "{nf}" when absent']),
    "iferror_div": (["{num} divided by {num2} in row {row}, 0 if error", "{num} / {num2} for row {row}, or 0 on error",
                     "ratio of {num} to {num2} in row {row} with errors shown as 0"],
                    ["row {row}: {num} over {num2}, returning 0 instead of an error"]),
    "len": (["how many characters in {text} in row {row}", "length of {text} in row {row}",
             "character count of the {text} in row {row}", "len of {text} row {row}"],
            ["how long is the {text} text on row {row}"]),
    "upper": (["{text} in row {row} in uppercase", "convert {text} in row {row} to upper case",
               "make row {row}'s {text} all caps", "uppercase {text} in row {row}"],
              ["shout the {text} of row {row} in capitals"]),
    "lower": (["{text} in row {row} in lowercase", "convert {text} in row {row} to lower case",
               "make row {row}'s {text} all small letters", "lowercase {text} in row {row}"],
              ["{text} of row {row} with no capital letters"]),
    "left": (["first {n} characters of {text} in row {row}", "left {n} letters of {text} in row {row}",
              "first {n} chars of row {row} {text}"],
             ["opening {n} characters of {text} on row {row}"]),
    "right": (["last {n} characters of {text} in row {row}", "right {n} letters of {text} in row {row}",
               "last {n} chars of row {row} {text}"],
              ["final {n} characters of {text} on row {row}"]),
    "mid": (["{n} characters of {text} in row {row} starting at position {p}",
             "mid of {text} in row {row} from character {p}, {n} long", "extract {n} letters from {text} in row {row} starting at {p}"],
            ["take {n} chars out of row {row}'s {text} beginning with char {p}"]),
    "trim": (["remove extra spaces from {text} in row {row}", "trim {text} in row {row}",
              "clean up spaces in row {row}'s {text}"],
             ["strip surplus blanks from the {text} on row {row}"]),
    "concat": (['concatenate {text} and {cat} in row {row} with "{sep}"', "concat {text} and {cat} from row {row} separated by \"{sep}\""],
               ['concatenation of row {row} {text} plus {cat}, "{sep}" in between']),
    "amp": (['join {text} and {cat} in row {row} with "{sep}"', 'combine {text} and {cat} from row {row} separated by "{sep}"',
             '{text} & {cat} in row {row} with "{sep}" between them'],
            ['glue row {row} {text} to {cat} using "{sep}"']),
    "pct_rows": (["percentage change in {num} from row {row} to row {row2}", "% change of {num} between row {row} and row {row2}",
                  "growth in {num} from row {row} to row {row2} as a percent"],
                 ["relative change of {num}, row {row} vs row {row2}"]),
    "pct_cols": (["percent change from {num} to {num2} in row {row}", "% change from {num} to {num2} for row {row}",
                  "how much did it change in percent from {num} to {num2} in row {row}"],
                 ["relative increase going from {num} to {num2} on row {row}"]),
    "sumproduct": (["total of {num} times {num2}", "sum of {num} multiplied by {num2}", "sumproduct of {num} and {num2}",
                    "multiply {num} by {num2} row by row and add it up"],
                   ["{num} x {num2} summed over all rows"]),
    "large": (["{kth} highest {num}", "{kth} largest value in {num}", "what is the {kth} biggest {num}"],
              ["number {k} from the top in {num}"]),
    "small": (["{kth} lowest {num}", "{kth} smallest value in {num}", "what is the {kth} lowest {num}"],
              ["number {k} from the bottom in {num}"]),
    # Everyday functions added later (MAXIFS ... TEXT). Their training phrasings avoid every word that only the
    # held-out phrasings above use, and their held-out ones avoid the request-noise filler words (tests check both).
    "maxifs": (["highest {num} for {val}", "max {num} where {cat} is {val}", "maximum {num} in {cat} {val}",
                "what is the largest {num} for {cat} {val}", "I need the biggest {num} among {val} rows",
                "maxifs {num} for {val}", "largest {num} of the {val} rows"],
               ["utmost {num} reached by {cat} {val}", "{val} rows: peak {num}"]),
    "minifs": (["lowest {num} for {val}", "min {num} where {cat} is {val}", "minimum {num} in {cat} {val}",
                "what is the smallest {num} for {cat} {val}", "I need the lowest {num} among {val} rows",
                "minifs {num} for {val}", "smallest {num} of the {val} rows"],
               ["least {num} reached by {cat} {val}", "{val} rows: bottom {num}"]),
    "maxifs_num": (["highest {num} where {num2} is {op} {x}", "max {num} for rows with {num2} {op} {x}",
                    "largest {num} when {num2} {op} {x}",
                    "I need the maximum {num} among rows where {num2} is {op} {x}",
                    "maxifs of {num} with {num2} {op} {x}"],
                   ["peak {num} across rows whose {num2} is {op} {x}"]),
    "minifs_num": (["lowest {num} where {num2} is {op} {x}", "min {num} for rows with {num2} {op} {x}",
                    "smallest {num} when {num2} {op} {x}",
                    "I need the minimum {num} among rows where {num2} is {op} {x}",
                    "minifs of {num} with {num2} {op} {x}"],
                   ["bottom {num} across rows whose {num2} is {op} {x}"]),
    "xlookup": (["xlookup {key} to get {tgt}", "use xlookup to find the {tgt} of {key}", "xlookup the {tgt} for {key}",
                 "I need xlookup for {key}'s {tgt}", "with xlookup, get {key}'s {tgt} from {text}",
                 "xlookup {key} in {text} and return the {tgt}"],
                ["xlookup: {tgt} belonging to {key}", "fetch {key}'s {tgt} via xlookup"]),
    "rank": (["rank of {num} in row {row}", "what rank is row {row}'s {num}", "rank row {row} by {num}",
              "where does row {row} rank in {num}", "I need the rank of the {num} in row {row}",
              "rank of row {row} in {num}, highest first", "rank.eq of {num} for row {row}"],
             ["standing of row {row} among all {num} values", "row {row}'s place in the {num} ranking"]),
    "rank_asc": (["rank of {num} in row {row} in ascending order", "ascending rank of row {row}'s {num}",
                  "rank row {row} by {num}, lowest first", "rank of row {row} in {num} where the smallest ranks first",
                  "I need the ascending rank of {num} in row {row}"],
                 ["standing of row {row} in {num}, counting up from the least"]),
    "median": (["median {num}", "median of {num}", "what is the median {num}", "middle value of {num}",
                "I need the median of the {num} column", "find the median {num}"],
               ["{num}: midpoint once sorted", "central {num} on the ordered list"]),
    "proper": (["{text} in row {row} in proper case", "proper case the {text} in row {row}",
                "capitalize each word of {text} in row {row}", "make row {row}'s {text} proper case",
                "I need row {row} {text} with the first letter of each word capitalized",
                "fix the capitalization of {text} in row {row}"],
               ["{text} on row {row} with initial caps on all words", "tidy the casing of row {row}'s {text}"]),
    "find": (['position of "{sub}" in {text} in row {row}', 'find "{sub}" in the {text} of row {row}',
              'where does "{sub}" occur in {text} row {row}', 'at which character is "{sub}" in row {row}\'s {text}',
              'I need the position of "{sub}" within {text} in row {row}'],
             ['spot where "{sub}" shows up in the {text} on row {row}']),
    "search": (['position of "{sub}" in {text} in row {row}, any case', 'search for "{sub}" in {text} of row {row}',
                'case-insensitive position of "{sub}" in row {row}\'s {text}',
                'where is "{sub}" in {text} row {row}, not case sensitive',
                'I need to search row {row} {text} for "{sub}"'],
               ['locate "{sub}" within row {row}\'s {text}, uppercase or lowercase alike']),
    "substitute": (['replace "{old}" with "{new}" in {text} of row {row}',
                    'substitute "{new}" for "{old}" in row {row}\'s {text}',
                    'in {text} row {row}, swap "{old}" for "{new}"',
                    'change "{old}" to "{new}" in the {text} in row {row}',
                    'I need row {row} {text} with "{old}" replaced by "{new}"'],
                   ['row {row} {text}, but writing "{new}" wherever "{old}" appears']),
    "countifs_month": (["how many {date} in {month} {year}", "count rows with {date} in {month} {year}",
                        "number of rows where {date} is in {month} {year}",
                        "I need the count of {date} entries in {month} {year}", "count {date} during {month} {year}"],
                       ["tally of {date} falling within {month} {year}"]),
    "sumifs_month": (["total {num} with {date} in {month} {year}", "sum of {num} where {date} is in {month} {year}",
                      "add up {num} for rows with {date} in {month} {year}",
                      "I need the {num} total for {month} {year} by {date}",
                      "how much {num} where the {date} is in {month} {year}"],
                     ["combined {num} whose {date} falls in {month} {year}"]),
    "countifs_year": (["how many {date} in {year}", "count rows with {date} in {year}",
                       "number of rows where {date} is in {year}", "I need the count of {date} entries during {year}"],
                      ["tally of {date} falling within calendar {year}"]),
    "sumproduct_year": (["total {num} with {date} in {year}", "sum of {num} where {date} is in {year}",
                         "add up {num} for rows with {date} in {year}", "I need the {num} total for {year} by {date}",
                         "how much {num} where the {date} is in {year}"],
                        ["combined {num} whose {date} falls in calendar {year}"]),
    "if_text": (['in row {row}, return "{yes}" if {cat} is {val}, otherwise "{no}"',
                 'row {row}: "{yes}" when {cat} = {val}, else "{no}"',
                 'if {cat} in row {row} is {val} show "{yes}" otherwise "{no}"',
                 'label row {row} "{yes}" if its {cat} is {val}, if not "{no}"',
                 'I need "{yes}" for row {row} when {cat} equals {val} and "{no}" otherwise'],
                ['for row {row} show "{yes}" provided {cat} reads {val}; else "{no}"']),
    "if_num": (['in row {row}, return "{yes}" if {num} is {op} {x}, otherwise "{no}"',
                'row {row}: "{yes}" when {num} {op} {x}, else "{no}"',
                'if {num} in row {row} is {op} {x} show "{yes}" otherwise "{no}"',
                'I need "{yes}" for row {row} when its {num} is {op} {x} and "{no}" otherwise',
                'row {row}: {yes} if {num} {op} {x}, otherwise {no}',
                'show {yes} for row {row} if the {num} is {op} {x}, else {no}',
                'is the {num} in row {row} {op} {x}? {yes} or {no}',
                'write {yes} if row {row} has {num} {op} {x} and {no} if not'],
               ['for row {row} show "{yes}" provided {num} is {op} {x}; else "{no}"',
                'row {row} gets {yes} whenever its {num} is {op} {x}, and {no} for the rest']),
    "countblank": (["how many blank cells in {col}", "count empty cells in {col}", "number of empty {col} cells",
                    "how many rows have no {col}", "I need the count of blank {col} entries", "countblank {col}"],
                   ["{col}: cells left unfilled, how many", "tally of vacant {col} cells"]),
    "text_fmt": (["format {num} in row {row} as {fmt}", "{num} of row {row} formatted {fmt}",
                  "show row {row}'s {num} with format {fmt}",
                  "I need the {num} in row {row} as a string in {fmt} format",
                  "row {row} {num} using number format {fmt}"],
                 ["render row {row}'s {num} per the pattern {fmt}"]),
}


# More training phrasings, written to widen the vocabulary a request may use (synonyms, word order, questions vs
# commands, terse vs wordy). They are training-only: the held-out templates above stay disjoint (a test checks).
MORE_TRAIN: dict[str, list[str]] = {
    "sum": ["what do the {num} add up to", "give me the sum of {num}", "{num} summed", "sum up {num}",
            "how much {num} in total", "total amount of {num}", "calculate the total {num}", "sum all {num} values",
            "combined total of {num}", "can you total the {num}"],
    "average": ["what is the average {num}", "{num} average", "mean value of {num}", "average of the {num} column",
                "find the mean {num}", "avg of {num}", "what's the mean of {num}", "average {num} per row",
                "compute mean {num}"],
    "min": ["smallest {num}", "{num} minimum", "what's the lowest value of {num}", "lowest value in the {num} column",
            "least {num} value", "min {num}", "which {num} is the smallest", "give me the minimum of {num}"],
    "max": ["largest {num}", "{num} maximum", "what's the highest value of {num}", "biggest {num}", "max {num}",
            "which {num} is the largest", "give me the maximum of {num}", "highest value in the {num} column"],
    "count": ["how many values does {num} have", "count {num}", "count of {num} values", "number of entries in {num}",
              "how many numbers in the {num} column"],
    "counta": ["how many {text} are there", "count the {text} entries", "number of {text} values",
               "count how many {text} we have", "how many non-blank {text}"],
    "countif_eq": ["count of {cat} {val}", "how many {cat} are {val}", "number of rows with {cat} {val}",
                   "rows where {cat} equals {val}, how many", "tally of {val} in {cat}", "how many entries are {val}"],
    "countif_num": ["count of {num} {op} {x}", "how many have {num} {op} {x}", "number of rows where {num} {op} {x}",
                    "how often is {num} {op} {x}"],
    "countif_date": ["how many rows have a {date} {dop} {d}", "count {date} {dop} {d}",
                     "number of {date} entries {dop} {d}"],
    "countifs": ["how many {val} have {num} {op} {x}", "count rows with {cat} {val} where {num} is {op} {x}",
                 "number of rows where {cat} = {val} and {num} {op} {x}"],
    "sumif": ["sum {num} for {val}", "total {num} where {cat} = {val}", "how much {num} for {val}",
              "{num} total for {cat} {val}", "add the {num} of {val} rows", "what is the {val} {num} total"],
    "sumif_num": ["total {num} where {num2} {op} {x}", "sum {num} for rows where {num2} is {op} {x}",
                  "how much {num} when {num2} {op} {x}"],
    "sumifs": ["sum of {num} for {cat} {val} and {num2} {op} {x}", "total {num} where {cat} = {val} and {num2} is {op} {x}",
               "how much {num} for {val} with {num2} {op} {x}"],
    "sumifs_cat": ["sum of {num} for {val} in {cat} and {val2} in {cat2}", "total {num} where {cat} = {val} and {cat2} = {val2}",
                   "how much {num} for {val} and {val2}"],
    "averageif": ["mean of {num} for {val}", "average {num} where {cat} = {val}", "avg {num} for {val} rows",
                  "what's the mean {num} in {val}", "{val} average {num}"],
    "averageifs": ["mean of {num} for {val} with {num2} {op} {x}", "average {num} where {cat} = {val} and {num2} is {op} {x}",
                   "avg {num} for {val} when {num2} {op} {x}"],
    "if_and": ['row {row}: show "{yes}" if {num} {op} {x} and {num2} {op2} {x2}, else "{no}"',
               'return "{yes}" for row {row} when {num} is {op} {x} and also {num2} is {op2} {x2}, otherwise "{no}"'],
    "if_or": ['row {row}: show "{yes}" if {num} {op} {x} or {num2} {op2} {x2}, else "{no}"',
              'return "{yes}" for row {row} when either {num} is {op} {x} or {num2} is {op2} {x2}, otherwise "{no}"'],
    "round": ["round {agg} {num} to {n} decimals", "{agg} {num}, rounded to {n} places", "{agg} of {num} to {n} dp"],
    "abs": ["difference between {num} and {num2} in row {row} without sign", "abs difference of {num} and {num2} in row {row}",
            "row {row}: absolute {num} minus {num2}"],
    "lookup": ["{key}'s {tgt}", "what's the {tgt} of {key}", "show the {tgt} for {key}", "{tgt} of {key}?",
               "tell me {key}'s {tgt}", "which {tgt} does {key} have"],
    "vlookup": ["vlookup the {tgt} for {key}", "find {key}'s {tgt} with vlookup", "vlookup {tgt} of {key}"],
    "index_match": ["index match {tgt} for {key}", "get {key}'s {tgt} using index and match",
                    "use index/match to find the {tgt} of {key}"],
    "iferror_lookup": ['{key}\'s {tgt}, "{nf}" if not there', 'get the {tgt} for {key} or "{nf}" when not found'],
    "iferror_div": ["row {row}: {num} / {num2}, show 0 on error", "divide {num} by {num2} in row {row}, errors as 0"],
    "len": ["number of characters in {text} in row {row}", "how long is {text} in row {row}", "len {text} row {row}"],
    "upper": ["capitalize all of {text} in row {row}", "{text} row {row} upper case", "all caps {text} in row {row}"],
    "lower": ["{text} row {row} lower case", "make {text} in row {row} lowercase", "small letters for {text} in row {row}"],
    "left": ["first {n} letters of {text} in row {row}", "left {n} chars of {text} row {row}", "{text} in row {row}, first {n} characters"],
    "right": ["last {n} letters of {text} in row {row}", "right {n} chars of {text} row {row}", "{text} in row {row}, last {n} characters"],
    "mid": ["{n} letters of {text} in row {row} from position {p}", "mid {text} row {row} start {p} length {n}"],
    "trim": ["trim spaces in {text} row {row}", "remove leading and trailing spaces from {text} in row {row}"],
    "concat": ['concat row {row} {text} and {cat} with "{sep}"', 'concatenate {text} with {cat} in row {row} using "{sep}"'],
    "amp": ['row {row}: {text} and {cat} joined by "{sep}"', 'put {text} and {cat} of row {row} together with "{sep}"'],
    "pct_rows": ["percent change of {num} from row {row} to row {row2}", "{num} change in % from row {row} to row {row2}"],
    "pct_cols": ["% change between {num} and {num2} in row {row}", "percentage change from {num} to {num2} in row {row}"],
    "sumproduct": ["sum of {num} * {num2}", "{num} times {num2}, summed", "total of {num} multiplied by {num2} per row"],
    "large": ["{kth} biggest {num}", "{kth} highest value of {num}", "{kth} largest {num}"],
    "small": ["{kth} smallest {num}", "{kth} lowest value of {num}", "{kth} least {num}"],
}


# A third batch, written as people type into a help box or a chat: questions, commands, noun phrases, with the
# column first or last. They avoid every word that only held-out phrasings use, so the held-out split still
# measures unseen wording (docs/excel.md reports its out-of-vocabulary share).
NATURAL_TRAIN: dict[str, list[str]] = {
    "sum": ["what's the sum of the {num} column", "I need the total of {num}", "show me total {num}",
            "sum {num}", "how much is {num} in total", "give me {num} summed up", "what do all the {num} come to",
            "add together {num}", "calc total {num}"],
    "average": ["what is {num} on average", "show me the mean {num}", "I need the average {num}", "avg value of {num}",
                "mean for {num}", "give me the average of the {num} column", "average across {num}"],
    "min": ["what is the smallest {num}", "show me the minimum {num}", "I need the lowest {num}",
            "lowest number in {num}", "minimum value of {num}", "which is the lowest {num}", "min value in {num}"],
    "max": ["what is the largest {num}", "show me the maximum {num}", "I need the highest {num}",
            "highest number in {num}", "maximum value of {num}", "which is the highest {num}", "greatest {num}",
            "max value in {num}"],
    "count": ["count how many numbers {num} has", "how many numeric values are in {num}", "numeric count of {num}",
              "how many cells in {num} contain numbers"],
    "counta": ["how many {text} do we have", "count the {text}", "number of filled {text} cells",
               "how many non-empty {text} cells are there", "count all {text} entries"],
    "countif_eq": ["how many rows are {val}", "count how many {cat} values are {val}", "count the {val} rows",
                   "how many {val} do we have in {cat}", "number of {val} entries in {cat}",
                   "count {cat} that are {val}"],
    "countif_num": ["how many rows with {num} {op} {x}", "count how many {num} are {op} {x}",
                    "number of {num} values {op} {x}", "count the rows where {num} {op} {x}"],
    "countif_date": ["how many rows with {date} {dop} {d}", "count of {date} {dop} {d}",
                     "how many entries have {date} {dop} {d}"],
    "countifs": ["how many {val} rows have {num} {op} {x}", "count {val} with {num} {op} {x}",
                 "count how many rows are {val} in {cat} and {num} {op} {x}"],
    "sumif": ["what is the total {num} for {val}", "sum the {num} of {val}", "total {num} of {val} rows",
              "how much {num} did {val} have", "{num} for {val} in total", "sum {num} only for {val}"],
    "sumif_num": ["sum {num} only where {num2} is {op} {x}", "total of {num} for rows with {num2} {op} {x}",
                  "what do {num} add up to when {num2} is {op} {x}"],
    "sumifs": ["total {num} of {val} rows with {num2} {op} {x}", "sum {num} only for {val} with {num2} {op} {x}",
               "what is the total {num} for {cat} {val} where {num2} is {op} {x}"],
    "sumifs_cat": ["total {num} of {val} rows in {val2}", "sum {num} only for {cat} {val} and {cat2} {val2}",
                   "what is the total {num} for {val} and {val2}"],
    "averageif": ["what is the mean {num} for {val}", "average {num} of {val} rows", "avg {num} only for {val}",
                  "{num} average for {cat} {val}", "mean {num} among {val}"],
    "averageifs": ["average {num} of {val} rows with {num2} {op} {x}", "mean {num} only for {val} with {num2} {op} {x}",
                   "what is the average {num} for {cat} {val} where {num2} is {op} {x}"],
    "if_and": ['row {row}: give "{yes}" if {num} {op} {x} and {num2} {op2} {x2}, or "{no}" otherwise',
               'show "{yes}" in row {row} if {num} is {op} {x} and {num2} is {op2} {x2}; "{no}" if not'],
    "if_or": ['row {row}: give "{yes}" if {num} {op} {x} or {num2} {op2} {x2}, or "{no}" otherwise',
              'show "{yes}" in row {row} if {num} is {op} {x} or {num2} is {op2} {x2}; "{no}" if not'],
    "round": ["{agg} {num}, {n} decimal places", "round {agg} {num} to {n} places", "{agg} {num} rounded, {n} decimals",
              "give me the {agg} {num} rounded to {n} dp"],
    "abs": ["positive difference of {num} and {num2} in row {row}", "how different are {num} and {num2} in row {row}",
            "row {row}: {num} minus {num2} as a positive number", "absolute {num} - {num2} for row {row}"],
    "lookup": ["look for {key} and return the {tgt}", "what is the {tgt} for {key}", "show me {key}'s {tgt}",
               "get {key}'s {tgt}", "find the {tgt} that {key} has", "{key}: what {tgt}"],
    "vlookup": ["vlookup for {key}, return {tgt}", "use a vlookup to get {key}'s {tgt}"],
    "index_match": ["index and match to return {tgt} for {key}", "with index/match get the {tgt} of {key}"],
    "iferror_lookup": ['{tgt} of {key}, "{nf}" if it can\'t be found', 'find {key}\'s {tgt}, or "{nf}" if not found',
                       'look up the {tgt} for {key}, "{nf}" when it is missing'],
    "iferror_div": ["row {row}: divide {num} by {num2} and return 0 if it errors", "{num} over {num2} in row {row}, 0 on error",
                    "safe division of {num} by {num2} for row {row}"],
    "len": ["count characters of {text} in row {row}", "length of row {row} {text}", "how many letters in {text} row {row}"],
    "upper": ["uppercase version of {text} in row {row}", "row {row} {text} in caps", "make the {text} in row {row} upper case"],
    "lower": ["lowercase version of {text} in row {row}", "row {row} {text} in lower case", "make the {text} in row {row} lower case"],
    "left": ["leftmost {n} characters of {text} in row {row}", "the first {n} letters of row {row}'s {text}"],
    "right": ["rightmost {n} characters of {text} in row {row}", "the last {n} letters of row {row}'s {text}"],
    "mid": ["from {text} in row {row}, {n} characters starting at {p}", "{n} chars from position {p} of {text} in row {row}"],
    "trim": ["remove the extra spaces in row {row}'s {text}", "trim the {text} of row {row}", "clean spaces from {text} row {row}"],
    "concat": ['concatenate row {row} {text} with {cat}, "{sep}" between them', 'concat the {text} and {cat} of row {row} with "{sep}"'],
    "amp": ['join row {row} {text} and {cat} with "{sep}" in the middle', 'put row {row} {text} and {cat} together, "{sep}" between'],
    "pct_rows": ["% change in {num} between rows {row} and {row2}", "how much did {num} change in % from row {row} to row {row2}"],
    "pct_cols": ["percent change {num} to {num2} in row {row}", "change in % from {num} to {num2} on row {row}"],
    "sumproduct": ["sum of products of {num} and {num2}", "multiply {num} and {num2} and sum", "sumproduct {num} {num2}"],
    "large": ["{kth} highest value in {num}", "the {kth} largest {num}", "{kth} greatest {num}"],
    "small": ["{kth} lowest value in {num}", "the {kth} smallest {num}", "{kth} smallest number in {num}"],
}


for _batch in (MORE_TRAIN, NATURAL_TRAIN):
    for _family, _more in _batch.items():
        T[_family] = (T[_family][0] + [t for t in _more if t not in T[_family][0]], T[_family][1])


OPS = {  # (train words, held-out words)
    ">": (["more than", "greater than", "over", "above", ">"], ["exceeding", "higher than"]),
    ">=": (["at least", "no less than", ">="], ["not below", "a minimum of"]),
    "<": (["less than", "below", "under", "<"], ["lower than", "smaller than"]),
    "<=": (["at most", "no more than", "<="], ["not above", "a maximum of"]),
}


DATE_OPS = {">": (["after", "later than"], ["past"]), "<": (["before", "earlier than"], ["prior to"]),
            ">=": (["on or after"], ["since"]), "<=": (["on or before"], ["until"])}


PREFIX = (["", "", "", "", "Formula: ", "excel: ", "help - ", "pls ", "need "], ["hey, ", "Need this: ", "spreadsheet question: "])


SUFFIX = (["", "", "", "", "?", " please", ", thanks", " in excel"], [" thx", " asap", " (excel)"])


YES_NO = [("Yes", "No"), ("High", "Low"), ("Pass", "Fail"), ("OK", "Check"), ("Bonus", "None"), ("Y", "N")]


NOT_FOUND = ["Not found", "N/A", "missing", "none", "-"]


SEPS = [" ", ", ", "-", " - ", "/"]


ORD = {2: ["2nd", "second"], 3: ["3rd", "third"], 4: ["4th", "fourth"], 5: ["5th", "fifth"]}


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # a request names a month in full or by its first three letters ("Mar 2024")


IF_LABELS = [("Local", "Remote"), ("Yes", "No"), ("Match", "Other"), ("Home", "Away"), ("Core", "Extra"),
             ("Keep", "Drop"), ("Y", "N")]  # what IF over a text cell returns


# TEXT formats, by the decimals they show. The `formulas` engine rounds halves to even (TEXT(2.5,"0") -> "2"),
# Excel away from zero, so a format is only used on a value it shows without rounding (and a thousands separator
# only on a value of 1000 or more: the engine writes TEXT(0,"#,##0") as "0,").
TEXT_FORMATS = {"0": 0, "#,##0": 0, "0.0": 1, "0.00": 2, "#,##0.00": 2}


FAMILY = {  # template family -> (function label, difficulty)
    "sum": ("SUM", "easy"), "average": ("AVERAGE", "easy"), "min": ("MIN", "easy"), "max": ("MAX", "easy"),
    "count": ("COUNT", "easy"), "counta": ("COUNTA", "easy"), "countif_eq": ("COUNTIF", "medium"),
    "countif_num": ("COUNTIF", "medium"), "countif_date": ("COUNTIF", "hard"), "countifs": ("COUNTIFS", "hard"),
    "sumif": ("SUMIF", "medium"), "sumif_num": ("SUMIF", "medium"), "sumifs": ("SUMIFS", "hard"),
    "sumifs_cat": ("SUMIFS", "hard"), "averageif": ("AVERAGEIF", "medium"), "averageifs": ("AVERAGEIFS", "hard"),
    "if_and": ("IF+AND", "hard"), "if_or": ("IF+OR", "hard"), "round": ("ROUND", "medium"), "abs": ("ABS", "medium"),
    "lookup": ("LOOKUP", "medium"), "vlookup": ("VLOOKUP", "medium"), "index_match": ("INDEX/MATCH", "hard"),
    "iferror_lookup": ("IFERROR", "hard"), "iferror_div": ("IFERROR", "medium"), "len": ("LEN", "easy"),
    "upper": ("UPPER", "easy"), "lower": ("LOWER", "easy"), "left": ("LEFT", "medium"), "right": ("RIGHT", "medium"),
    "mid": ("MID", "medium"), "trim": ("TRIM", "easy"), "concat": ("CONCAT", "medium"), "amp": ("&", "medium"),
    "pct_rows": ("PCT_CHANGE", "medium"), "pct_cols": ("PCT_CHANGE", "medium"), "sumproduct": ("SUMPRODUCT", "medium"),
    "large": ("LARGE", "easy"), "small": ("SMALL", "easy"),
    "maxifs": ("MAXIFS", "medium"), "minifs": ("MINIFS", "medium"), "maxifs_num": ("MAXIFS", "medium"),
    "minifs_num": ("MINIFS", "medium"), "xlookup": ("XLOOKUP", "medium"), "rank": ("RANK.EQ", "medium"),
    "rank_asc": ("RANK.EQ", "medium"), "median": ("MEDIAN", "easy"), "proper": ("PROPER", "easy"),
    "find": ("FIND", "medium"), "search": ("SEARCH", "medium"), "substitute": ("SUBSTITUTE", "medium"),
    "countifs_month": ("COUNTIFS", "hard"), "sumifs_month": ("SUMIFS", "hard"), "countifs_year": ("COUNTIFS", "hard"),
    "sumproduct_year": ("SUMPRODUCT", "hard"), "if_text": ("IF", "medium"), "if_num": ("IF", "medium"),
    "countblank": ("COUNTBLANK", "easy"),
    "text_fmt": ("TEXT", "medium"),
}


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randint(1, len(word) - 2)
    kind = rng.randint(0, 2)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _own_words(words: list[str], min_len: int) -> list[int]:
    """Positions of a template's own words: alphabetic (so no placeholder or quoted text), at least `min_len` letters,
    and not a function name the request must keep (`vlookup`, `index`, `match`, `xlookup`, ...)."""
    return [i for i, w in enumerate(words) if w.isalpha() and len(w) >= min_len
            and w.lower() not in _KEPT_NAMES]


_KEPT_NAMES = frozenset({"vlookup", "index", "match", "xlookup", "maxifs", "minifs", "countblank"})


def _with_typo(template: str, rng: random.Random) -> str:
    """Misspell one of the template's own words (placeholders and quoted text stay intact)."""
    words = template.split(" ")
    options = _own_words(words, 4)
    if not options:
        return template
    i = rng.choice(options)
    words[i] = _typo(words[i], rng)
    return " ".join(words)


def phrase_words(phrase: str) -> set[str]:
    """Lower-cased words of a phrasing, header or value, with `{placeholders}` left out."""
    return set(re.findall(r"[a-z0-9']+", re.sub(r"\{[^}]*\}", "", phrase).lower()))


def _phrasing_words(side: int) -> set[str]:
    phrases = [t for pair in T.values() for t in pair[side]] + list(PREFIX[side]) + list(SUFFIX[side])
    phrases += [w for pairs in (OPS, DATE_OPS) for pair in pairs.values() for w in pair[side]]
    return set().union(*(phrase_words(p) for p in phrases))


def held_out_phrasing_words() -> set[str]:
    """Lower-cased words of the held-out phrasings, operator words, openers and closers (placeholders left out)."""
    return _phrasing_words(1)


def training_phrasing_words() -> set[str]:
    """Lower-cased words of the training phrasings, operator words, openers and closers: the request wording a
    model trained on this generator has read (`synonyms.RequestRewriter` maps other words onto these)."""
    return _phrasing_words(0) | {w for words in ORD.values() for w in words}


REQUEST_NOISE = 0.0  # default share of training requests given word-level noise: off, it did not help (docs/excel.md)


# Words a user might wrap around or drop into a request that say nothing about the formula: chit-chat, context,
# hedges. Request noise (below) draws from these and from made-up words. None of them is a word of a held-out
# phrasing, operator, opener or closer (a test checks), so noise teaches "ignore what you do not know" without
# leaking test vocabulary into training.
FILLER_WORDS = [
    "ok", "okay", "so", "just", "really", "actually", "basically", "maybe", "now", "today", "again", "quickly",
    "boss", "report", "sheet", "tab", "workbook", "file", "stuff", "fyi", "hi", "hello", "morning", "btw", "um",
    "sure", "kindly", "could", "you", "can", "we", "my", "our", "want", "wondering", "trying", "monthly", "weekly",
    "quarterly", "annual", "current", "latest", "draft", "meeting", "review", "tomorrow", "tonight", "here", "that",
    "quick", "ask", "help", "thanks", "cheers", "please", "would", "like", "know", "see", "figures", "sheet1",
    "dashboard", "summary", "forecast", "friday", "monday", "lol", "hmm", "yo", "dear", "idk", "exactly",
    "precisely", "roughly", "simply", "colleague", "deck", "slide", "email",
]


def _noise_word(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(FILLER_WORDS)
    word = made_up_word(rng)
    return word.lower() if rng.random() < 0.7 else word


def _with_noise(template: str, rng: random.Random) -> str:
    """Wrap the request in, or slip into it, words that do not matter (or replace one of its own words).

    Held-out requests are full of words no training template has ("spreadsheet question:", "asap", "glue"); a
    model that has only seen clean templates is thrown by them. Word-level noise of this kind (word dropout and
    replacement, as in Iyyer et al. 2015 and SwitchOut, Wang et al. 2018) teaches it to read the rest of the request
    and the Links line instead. Placeholders and quoted text are never touched.
    """
    words = template.split(" ")
    own = _own_words(words, 3)
    filler = " ".join(_noise_word(rng) for _ in range(rng.randint(1, 2)))
    r = rng.random()
    if r < 0.35:
        return filler + rng.choice([" ", ", ", ": ", " - "]) + template
    if r < 0.6:
        return template + rng.choice([" ", ", ", " - "]) + filler
    if r < 0.8 and own:
        words[rng.choice(own)] = _noise_word(rng)
        return " ".join(words)
    words.insert(rng.randint(1, len(words)), _noise_word(rng))
    return " ".join(words)
