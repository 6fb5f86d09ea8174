"""WordNet 3.0 senses of English words, with the relations that give words of (nearly) the same meaning.

`synonyms.py` ships one sense per word (the most frequent one), which is what rewriting a user's word needs. This
module ships every sense, most frequent first, with its synonyms, direct hypernyms, similar adjectives, derived
forms, antonyms and definition (`scripts/build_wordnet_senses.py` says why each is there). The training-data
generator widens request templates with it (`synthetic/breadth.py`); the request rewriter reads a word's other
senses and definitions with it (`synonyms.RequestRewriter.alternatives`).

    from tinyslm_hf.excel.senses import defining_words, load_senses, related_words

    load_senses().senses("total")[0].lemmas   # ('entire', 'full', 'total'): the most frequent sense first
    related_words("total")                    # ['entire', 'full', 'number', 'add up', ..., 'totality', 'be']
    related_words("highest")                  # not a lemma: the senses of `high` (`utmost`, `higher`, ...)
    related_words("maximum", relations=("antonyms",))  # ['minimum']
    defining_words("bottom")                  # ['the', 'lower', 'side', 'of', 'anything', 'lowest', 'part', ...]

The data file is `data/wordnet_senses.json.gz` (WordNet's licence and attribution in `data/README.md`).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .synonyms import INFLECTION_SUFFIXES

SENSES_FILE = "wordnet_senses.json.gz"
RELATIONS = ("lemmas", "similar", "derived", "hypernyms")  # related_words' default, closest relation first


@dataclass(frozen=True)
class Sense:
    """One WordNet sense of a lemma. Words are lower-case lemmas of one to three words (spaces between)."""

    pos: str  # n | v | a | r (adjective satellites are `a`)
    lemmas: tuple[str, ...]  # the synset's lemmas, the looked-up word included: its synonyms in this sense
    hypernyms: tuple[str, ...]  # lemmas of the direct hypernym synsets (nouns and verbs)
    similar: tuple[str, ...]  # lemmas of the `similar to` adjective synsets
    derived: tuple[str, ...]  # derivationally related forms of this word in this sense (and an adverb's adjective)
    antonyms: tuple[str, ...]  # this word's antonyms in this sense: words to avoid, not to use
    count: int  # times WordNet's sense-tagged corpus used this sense (0: untagged)
    definition: str = ""  # WordNet's gloss without its quoted examples ("the highest point (of something)")


class SenseInventory:
    """Read-only lemma -> senses lookup over the shipped data (build senses on demand; the raw lists are shared)."""

    def __init__(self, table: dict):
        self._synsets: list[list] = table["synsets"]
        self._definitions: list[str] = table.get("definitions", [])
        self._senses: dict[str, list[list]] = table["senses"]
        self.inflections: dict[str, str] = table.get("inflections", {})  # irregular form -> base (`worst` -> `bad`)

    def __contains__(self, lemma: str) -> bool:
        return lemma in self._senses

    def __len__(self) -> int:
        return len(self._senses)

    def _lemmas(self, indexes) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w for i in indexes for w in self._synsets[i][1]))

    def senses(self, lemma: str) -> list[Sense]:
        """The senses of the lower-cased `lemma` (one to three words), most frequent first; [] if unknown."""
        out = []
        for entry in self._senses.get(lemma, ()):
            index, count, derived, antonyms = (entry + [[], []])[:4]
            pos, lemmas, hypernyms, similar = (self._synsets[index] + [[], []])[:4]
            definition = self._definitions[index] if index < len(self._definitions) else ""
            out.append(Sense(pos, tuple(lemmas), self._lemmas(hypernyms), self._lemmas(similar), tuple(derived),
                             tuple(antonyms), count, definition))
        return out

    def base_forms(self, word: str) -> list[str]:
        """`word` itself if it is a lemma, else the lemmas it can be an inflection of: WordNet's irregular forms
        first, then regular endings (`highest` -> `high`, `totals` -> `total`, `averaged` -> `average`)."""
        if word in self._senses:
            return [word]
        forms = []
        if self.inflections.get(word) in self._senses:
            forms.append(self.inflections[word])
        for ending, replacement in INFLECTION_SUFFIXES:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                stem = word[: -len(ending)] + replacement
                if stem in self._senses:
                    forms.append(stem)
        return list(dict.fromkeys(forms))


@lru_cache(maxsize=1)
def load_senses() -> SenseInventory:
    """The shipped WordNet sense inventory (read once per process, about a second)."""
    data = (resources.files("tinyslm_hf.excel") / "data" / SENSES_FILE).read_bytes()
    return SenseInventory(json.loads(gzip.decompress(data)))


def related_words(lemma: str, max_senses: int = 3, relations: tuple[str, ...] = RELATIONS) -> list[str]:
    """Words related to `lemma` (lower-cased; an inflected form is looked up through its base forms) in its first
    `max_senses` senses, without `lemma` itself or repeats.

    Stable order: relation by relation in the order of `relations` (any of `lemmas`, `similar`, `derived`,
    `hypernyms`, `antonyms`), within one relation sense by sense (most frequent first), within one sense in
    WordNet's order. So the closest words come first: synonyms of the commonest sense lead. Nothing here knows the
    context; callers that need one meaning must filter (`synthetic/breadth.py` does).
    """
    word = lemma.strip().lower()
    senses = _first_senses(word, max_senses)
    out: dict[str, None] = {}
    for relation in relations:
        for sense in senses:
            for w in getattr(sense, relation):
                if w != word:
                    out.setdefault(w)
    return list(out)


def defining_words(lemma: str, max_senses: int = 3) -> list[str]:
    """The words of the definitions of `lemma`'s first `max_senses` senses (looked up as `related_words` does), in
    order, without `lemma` itself, repeats, or the words of a clause after a negation (`unoccupied`: "not held or
    filled or in use" gives neither `held` nor `filled`).

    A word with no synonym a vocabulary knows is often *defined* by words it knows: `peak` is "the highest level
    or degree attainable", `bottom` "the lowest part of anything". Most definition words say little on their own
    (`level`, `part`); callers keep the ones that matter to them (`synonyms.RequestRewriter` keeps aggregate words).
    """
    word = lemma.strip().lower()
    out: dict[str, None] = {}
    for sense in _first_senses(word, max_senses):
        negated = False
        for token in _DEFINITION_TOKEN.findall(sense.definition.lower()):
            if token in _CLAUSE_ENDS:
                negated = False
            elif token in _NEGATIONS:
                negated = True
            elif not negated and token != word:
                out.setdefault(token)
    return list(out)


_DEFINITION_TOKEN = re.compile(r"[a-z]+|[,;:()]")
# A negation rules out the rest of its clause ("not held or filled or in use", "free from error").
_NEGATIONS = frozenset("not no non never without lacking lack absence free except instead rather".split())
_CLAUSE_ENDS = frozenset((",", ";", ":", "(", ")", "but"))


def _first_senses(word: str, max_senses: int) -> list[Sense]:
    """The first `max_senses` senses of the lower-cased `word` or of the lemmas it inflects, most frequent first."""
    inventory = load_senses()
    senses = [s for base in inventory.base_forms(word) for s in inventory.senses(base)]
    senses.sort(key=lambda s: -s.count)  # stable: a lemma's own order, bases merged by corpus frequency
    return senses[:max_senses]
