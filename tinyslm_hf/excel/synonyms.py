"""Rewrite request words the model never read in training into words it did, with a thesaurus (WordNet 3.0).

A model trained from scratch on generated requests knows only their wording: it reads `uppercase` but not
`capital letters`, `last` but not `final`. Without pretrained language knowledge, the cheapest general-English
knowledge there is is a thesaurus. Before the prompt is built, each request word (or WordNet lemma of up to three
words, longest first) outside the training wording is replaced by its own base form when the model knows that
(`averaged` -> `average`), else by the first synonym the model knows in its most frequent WordNet sense
(`capital letters` -> `uppercase`, `final` -> `last`); a word with neither stays as it is. This is the lexical
normalisation step of natural-language interfaces to databases, which map user words onto the vocabulary the system
understands through WordNet.

Never rewritten: words inside quotes, words of the table's own headers and text cells (they are what schema linking
and copying need), capitalised words that do not start a sentence (names), words of one or two letters, and numbers.
Only content words are targets: rewriting into `can` or `have` would add nothing but noise. Without context there
is no telling which sense a user means; the most frequent one is the standard guess, and it is sometimes wrong
(`orders` -> `tell`, WordNet's commonest sense of `order` being the verb).

The thesaurus ships compact in `data/wordnet_thesaurus.json.gz` (built by `scripts/build_thesaurus.py`; WordNet's
licence and attribution in `data/README.md`).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Iterable

from .linking import stems, unit_names

if TYPE_CHECKING:
    from .table import Table

THESAURUS_FILE = "wordnet_thesaurus.json.gz"

# Closed-class words, light verbs and the verbs that frame a request (`tell me`, `show`): they say nothing about
# which formula is wanted, so a word is never rewritten into one of them (WordNet makes `can` a synonym of `bottom`,
# `have` one of `hold`, and the commonest sense of `order` is `tell`).
FUNCTION_WORDS = frozenset("""
a an the this that these those i me my we our you your it its he she they them one ones
be is are was were been being am have has had having do does did done can could will would shall should may might
must get gets got give gives gave make makes made take takes took come comes came go goes went put set let
tell say show want need please
and or but nor if then else so as of in on at to by for from with without into onto out up down over under
what whats which who whom whose when where why how there here not no all any some each every""".split())

# Regular inflections, tried longest ending first; a stripped form counts only if it is a known word or lemma.
INFLECTION_SUFFIXES = (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("zes", "z"),
             ("ing", "e"), ("ing", ""), ("est", "e"), ("est", ""), ("ied", "y"), ("ed", "e"), ("ed", ""),
             ("er", "e"), ("er", ""), ("es", "e"), ("es", ""), ("s", ""))

# Quoted text is the user's own value: "...", curly quotes, and '...' (an apostrophe inside a word is not a quote).
_QUOTED = re.compile(r'("[^"]*"|\u201c[^\u201d]*\u201d|(?<!\w)\'[^\']*\'(?!\w))')
_WORD = re.compile(r"[^\W\d_]+")  # letters of any script: `Zürich` is one word, not `Z` + `rich`
_SENTENCE_ENDS = ".:;!?("  # a capitalised word after one of these (or first) starts a sentence, not a name
_BEFORE_A_VALUE = re.compile(r"(?:\b(?:is|are|was|equals)|=)\s*$", re.IGNORECASE)  # `status is closed`
# Words whose meaning a formula needs as written: number words and month names have WordNet synonyms
# (`four` -> `quaternity`, `august` -> `grand`) but no other reading of them is the same request.
FIXED_MEANING = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred thousand
million first second third fourth fifth half quarter double twice
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec""".split())
_DEFINITION_CUE_FAMILIES = ("SUM", "AVERAGE", "MEDIAN", "MIN", "MAX", "COUNT")  # `default_rewriter`'s cues
DEFAULT_READINGS = 3  # readings per request in `excel eval` / `ask` with the thesaurus on (measured: docs/excel.md)
_CACHE_LIMIT = 100_000  # a long-running server sees ever new words


@dataclass(frozen=True)
class Thesaurus:
    """Read-only after loading (the dicts are not copied)."""

    synonyms: dict[str, list[str]]  # lemma (words joined by spaces) -> the other lemmas of its most frequent sense
    inflections: dict[str, str]  # irregular form -> base form
    lemmas: frozenset[str] = frozenset()  # every one-word lemma: such a word is never taken for an inflection

    def bases(self, word: str, known: frozenset[str] = frozenset()) -> list[str]:
        """`word` and the base forms it could be an inflection of (irregular first), each a lemma or known word."""
        forms = [word]
        if word in self.inflections:
            forms.append(self.inflections[word])
        for ending, replacement in INFLECTION_SUFFIXES:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                stem = word[: -len(ending)] + replacement
                if stem in self.synonyms or stem in self.lemmas or stem in known:
                    forms.append(stem)
        return list(dict.fromkeys(forms))


@lru_cache(maxsize=1)
def load_thesaurus() -> Thesaurus:
    """The shipped WordNet thesaurus (read once per process)."""
    data = (resources.files("tinyslm_hf.excel") / "data" / THESAURUS_FILE).read_bytes()
    table = json.loads(gzip.decompress(data))
    return Thesaurus(table["synonyms"], table["inflections"], frozenset(table["lemmas"]))


def table_words(table: Table | None) -> set[str]:
    """Lower-cased words of a table's headers and text cells, the spoken names of header units (`minutes`) and the
    stems of header words (`direct` of Director): the words schema linking and copying rely on."""
    words: set[str] = set()
    for col in table.columns if table is not None else ():
        header = [w.lower() for w in _WORD.findall(col.header)]
        words.update(header)
        words.update(s for w in header for s in stems(w))
        words.update(w.lower() for name in unit_names(col.header) for w in _WORD.findall(name))
        for value in col.values:
            if isinstance(value, str):
                words.update(w.lower() for w in _WORD.findall(value))
    return words


class RequestRewriter:
    """Maps request words outside `vocabulary` (the wording the model was trained on) onto words inside it."""

    max_span = 3  # WordNet lemmas of up to three words (`capital letter`, `add together`)

    def __init__(self, vocabulary: Iterable[str], thesaurus: Thesaurus | None = None,
                 targets: Iterable[str] | None = None, cues: Iterable[str] = ()):
        """`vocabulary`: words the model knows (never rewritten); `targets`: the known words a rewrite may write
        (default: the vocabulary), less function words; `cues`: the targets a word's definition may lend it as a
        later reading (words that name what to compute: `highest`, `count`; most definition words, `part` or
        `point`, say nothing alone)."""
        self.vocabulary = frozenset(w.lower() for w in vocabulary)
        self.targets = frozenset(w.lower() for w in (vocabulary if targets is None else targets)) - FUNCTION_WORDS
        self.cues = frozenset(w.lower() for w in cues) & self.targets
        self.thesaurus = thesaurus or load_thesaurus()
        self._cache: dict[str, str | None] = {}
        self._alternatives: dict[tuple[str, int], list[str]] = {}

    def replacement(self, phrase: str) -> str | None:
        """The known word to write instead of the lower-cased `phrase` (one to three words), or None to keep it."""
        if phrase not in self._cache:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[phrase] = self._find(phrase)
        return self._cache[phrase]

    def alternatives(self, phrase: str, limit: int = 3) -> list[str]:
        """Up to `limit` known words to write instead of the lower-cased `phrase`, best guess first: the
        `replacement` rule's word, then known words related to it in its three most frequent WordNet senses
        (synonyms, similar adjectives: `senses.related_words`), then the cue words their definitions use
        (`senses.defining_words`: `peak`, "the highest level or degree attainable", -> `highest`), never its
        antonyms."""
        key = (phrase, limit)
        if key not in self._alternatives:
            if len(self._alternatives) >= _CACHE_LIMIT:
                self._alternatives.clear()
            self._alternatives[key] = self._find_alternatives(phrase, limit)
        return self._alternatives[key]

    def _find_alternatives(self, phrase: str, limit: int) -> list[str]:
        from .senses import defining_words, load_senses, related_words

        *head, last = phrase.split(" ")
        if not head and last in self.vocabulary:
            return []
        first = self.replacement(phrase)
        found = [first] if first is not None else []
        if phrase in FIXED_MEANING:
            return found
        inventory = load_senses()
        bases = set(inventory.base_forms(phrase))
        opposite = {a for base in bases for sense in inventory.senses(base) for a in sense.antonyms}
        # Synonyms and similar adjectives only: hypernyms and derived forms drift (`four` -> `figure`), and the
        # word's own base form loses its degree (`longest` -> `long`).
        related = related_words(phrase, relations=("lemmas", "similar"))
        defining = [w for w in defining_words(phrase) if w in self.cues] if self.cues else []
        for word in related + defining:
            if len(found) >= limit:
                break
            if word in self.targets and word not in opposite | bases and word not in found:
                found.append(word)
        return found

    def _find(self, phrase: str) -> str | None:
        *head, last = phrase.split(" ")
        if not head and last in self.vocabulary:
            return None
        forms = [" ".join([*head, base]) for base in self.thesaurus.bases(last, self.vocabulary)]
        if not head:
            if last in self.thesaurus.lemmas:  # a word in its own right: `mining` is not `min`, `lens` not `len`
                forms = forms[:1] + [f for f in forms[1:] if f == self.thesaurus.inflections.get(last)]
            for base in forms[1:]:  # an inflection of a word the model knows: `averaged` -> `average`
                if base in self.targets:
                    return base
        for form in forms:  # the first synonym the model knows, in the most frequent sense
            for synonym in self.thesaurus.synonyms.get(form, ()):
                if synonym in self.targets:
                    return synonym
        return None

    def __call__(self, request: str, table: Table | None = None) -> str:
        """`request` with its unknown words rewritten; quoted text and the table's own words are left alone. A
        table without cell values (`ask --columns`) cannot say which words are values, so a word right after
        `is` / `=` is kept too (`status is final` must not become `status is last`)."""
        return self._rewrite_request(request, table, self.replacement, table_words(table))

    def readings(self, request: str, table: Table | None = None, limit: int = 3) -> list[str]:
        """Up to `limit` rewritten requests, the `__call__` one first; then reading k writes each unknown word's k-th
        alternative (its last one when it has fewer). Without context a word's sense is a guess; decoding each
        reading and letting the model's own score and the answer checks choose (`evaluate.predict_formulas`)
        tries the other senses too. A request whose words are all known has one reading: itself."""
        protected = table_words(table)  # the table's words, read once for every reading
        out = [self._rewrite_request(request, table, self.replacement, protected)]
        for k in range(limit):
            def choose(phrase: str, k: int = k) -> str | None:
                options = self.alternatives(phrase, limit)
                return options[min(k, len(options) - 1)] if options else None

            out.append(self._rewrite_request(request, table, choose, protected))
        return list(dict.fromkeys(out))[:limit]

    def _rewrite_request(self, request: str, table: Table | None, choose, protected: set[str]) -> str:
        guard_values = table is None or not table.has_values
        pieces = _QUOTED.split(request)
        before = ""
        for i in range(0, len(pieces), 2):  # odd pieces are quoted
            rewritten = self._rewrite(pieces[i], before, protected, guard_values, choose)
            before = (before + pieces[i] + (pieces[i + 1] if i + 1 < len(pieces) else ""))[-16:]
            pieces[i] = rewritten
        return "".join(pieces)

    def _keep(self, word: str, prefix: str, protected: set[str], guard_values: bool) -> bool:
        """Words never rewritten: short ones, the table's own, names and acronyms (and, without cell values, a word
        in value position). `prefix` is the text just before the word (a few characters are enough)."""
        lowered = word.lower()
        if len(word) < 3 or lowered in protected or any(c.isupper() for c in word[1:]):
            return True
        if protected & set(self.thesaurus.bases(lowered)):  # `tickets` for the header Ticket: linking needs it
            return True
        if protected & stems(lowered):  # `directed` for the header Director
            return True
        if guard_values and _BEFORE_A_VALUE.search(prefix):
            return True
        stripped = prefix.rstrip()
        return word[0].isupper() and bool(stripped) and stripped[-1] not in _SENTENCE_ENDS

    def _rewrite(self, text: str, before: str, protected: set[str], guard_values: bool, choose) -> str:
        words = list(_WORD.finditer(text))

        def prefix(m: re.Match) -> str:  # the 16 characters before the word, across the previous pieces
            return (before + text[max(0, m.start() - 16):m.start()])[-16:]

        out, pos, i = [], 0, 0
        while i < len(words):
            for span in range(min(self.max_span, len(words) - i), 0, -1):  # longest lemma first
                group = words[i:i + span]
                if any(text[a.end():b.start()] != " " for a, b in zip(group, group[1:])):
                    continue  # only words separated by single spaces form a lemma
                if any(self._keep(m.group(0), prefix(m), protected, guard_values) for m in group):
                    continue
                lowered = [m.group(0).lower() for m in group]
                if all(w in self.vocabulary for w in lowered):
                    continue
                new = choose(" ".join(lowered))
                if new is None:
                    continue
                first = group[0].group(0)
                out.append(text[pos:group[0].start()])
                out.append(new.capitalize() if first[0].isupper() else new)
                pos, i = group[-1].end(), i + span
                break
            else:  # nothing to rewrite at this word
                i += 1
        out.append(text[pos:])
        return "".join(out)


@lru_cache(maxsize=1)
def default_rewriter() -> RequestRewriter:
    """The rewriter for models trained on this package's generator: it knows the training phrasings' words
    (`phrasings.training_phrasing_words`) and every word the widened training wording can use
    (`breadth.breadth_vocabulary`)."""
    from .synthetic.breadth import INTENTS, breadth_vocabulary
    from .synthetic.phrasings import training_phrasing_words

    known = training_phrasing_words()
    # The widened wording's words are known (left as they are) but not written: many are filler (`like`, `just`)
    # that would make poor replacements. A definition may lend a one-word aggregate word (`highest`, `count`): other
    # intent words are common in definitions in another role (`first`, `upper`, `length`: "used as the first
    # letter", "the lower side of anything") and would read a word as the wrong function.
    cues = {word for family in _DEFINITION_CUE_FAMILIES for word in INTENTS[family] if " " not in word}
    return RequestRewriter(known | breadth_vocabulary(), targets=known, cues=cues)


def request_reader(synonyms: bool, readings: int = 1):
    """What `evaluate.predict_formulas` takes as `rewrite`: None (the request as written), the default rewriter,
    or with `readings` > 1 up to that many readings of each request (`RequestRewriter.readings`)."""
    if readings < 1:
        raise ValueError(f"readings must be >= 1, got {readings}")
    if not synonyms:
        return None
    rewriter = default_rewriter()
    if readings == 1:
        return rewriter
    return lambda request, table: rewriter.readings(request, table, readings)
