"""Build the WordNet sense inventory the Excel assistant ships, from a WordNet 3.0 database folder.

    apt-get download wordnet-base && dpkg -x wordnet-base_*.deb wn
    python scripts/build_wordnet_senses.py wn/usr/share/wordnet

Writes `tinyslm_hf/excel/data/wordnet_senses.json.gz` (read by `tinyslm_hf/excel/senses.py`): for every WordNet
lemma of one to three words, **all** its senses, most frequent first (by the sense-tagged corpus counts of
`cntlist.rev`, across parts of speech; untagged senses after the tagged ones, nouns first, in WordNet's order). The
shipped thesaurus (`scripts/build_thesaurus.py`) keeps only the synonyms of the most frequent sense, which is right
for rewriting a user's word at inference time but far too narrow for widening training requests. Each sense keeps
the relations that give words of (nearly) the same meaning in a request, each for a reason:

* **lemmas** (synonyms of that sense): the words that mean the same thing (`sum`, `total`, `aggregate`). Several
  senses, because a request word is often not in its commonest sense (`mean` is a verb first).
* **hypernyms** (lemmas of the direct `@` hypernym synsets; nouns and verbs): a more general word names the same
  thing in a request (`figure out` -> `calculate`, `amount` -> `quantity`). Only direct ones: two levels up
  (`abstraction`, `entity`) no longer say anything. Instance hypernyms (`@i`, for proper names) are left out.
* **similar** (adjectives, `&` "similar to"): WordNet does not group adjectives into synsets as tightly as nouns;
  the satellite adjectives around a head (`high` -> `higher`, `last` -> `final`) are where its near-synonyms are.
* **derived** (lexical `+` derivationally related forms, and `\\` for adverbs derived from an adjective): the
  same idea in another part of speech (`total` -> `totality`, `add` -> `addition`, `overall` adv -> adj), which is
  how requests switch between commands and noun phrases.
* **antonyms** (lexical `!`): not a word to use but a word to **avoid**: a consumer that widens a request by
  similarity must be able to drop an opposite (`maximum` -> `minimum`) that sits one hop away.

Each sense also has its tagged-corpus **count** (0 for untagged senses). Lemmas are lower-cased, WordNet's `_`
becomes a space, adjective markers (`(a)`, `(p)`) are dropped, and only lemmas of one to three words of the letters
a-z are kept everywhere (no `t-shirt`, `o.k.`, digits or capitals: these are never words a request template needs).
Each synset also keeps its **definition** (the gloss without its quoted examples): a word with no synonym a small
model knows is often defined by words it does (`apex`: "the highest point (of something)"), which
`synonyms.RequestRewriter` reads as a last resort; the definitions are half of the file. The file also holds
WordNet's irregular inflections (`*.exc`, `worst` -> `bad`), so that a reader can find the senses of an inflected
word. Nothing else (verb frames, domain, meronym and other pointers) is kept: they do not name the same thing.

Compact layout (JSON; gzip with mtime 0 and no file name, so that the same WordNet gives the same bytes):

    {"source": ..., "synsets": [[pos, [lemma, ...], [hypernym synset index, ...], [similar synset index, ...]], ...],
     "definitions": [definition of each synset, in the order of "synsets"],
     "senses": {lemma: [[synset index, count, [derived lemma, ...], [antonym lemma, ...]], ...]},
     "inflections": {form: base}}

trailing empty lists left out. Hypernyms and similar-to are relations between synsets, so they are stored once per
synset; derived forms and antonyms are relations between words (WordNet's lexical pointers), so they belong to one
lemma's sense.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_thesaurus import (POS_FILES, WORDS, read_index, read_inflections, read_sense_counts,  # noqa: E402
                             write_json_gz)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tinyslm_hf" / "excel" / "data" / "wordnet_senses.json.gz"


def _lemma(word: str) -> str:
    return re.sub(r"\(.*\)$", "", word).lower()


def read_data(folder: Path) -> dict[tuple[str, str], dict]:
    """(pos, byte offset) -> {"words": lemmas in order (all of them, for word-numbered pointers),
    "pointers": [(symbol, pos, offset, source word number, target word number)], "definition": the gloss without
    its quoted examples}, from the data.* files."""
    synsets = {}
    for pos, name in POS_FILES.items():
        for line in (folder / f"data.{name}").open(encoding="latin-1"):
            if line.startswith("  "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [_lemma(fields[4 + 2 * i]) for i in range(n_words)]
            at = 4 + 2 * n_words
            n_pointers = int(fields[at])
            pointers = []
            for k in range(n_pointers):
                symbol, offset, ppos, st = fields[at + 1 + 4 * k: at + 5 + 4 * k]
                pointers.append((symbol, "a" if ppos == "s" else ppos, offset, int(st[:2], 16), int(st[2:], 16)))
            # the quoted examples follow the definition after `;` or `:` (a quote inside it stays: `"make strides"`)
            definition = re.split(r'[;:]\s*"', gloss.strip())[0].rstrip(" ;:,")
            synsets[(pos, fields[0])] = {"words": words, "pointers": pointers, "definition": definition}
    return synsets


def ordered_senses(offsets: dict[str, list[str]], counts: dict[str, dict[int, int]]) -> list[tuple[str, str, int]]:
    """(pos, offset, count) of every sense of a lemma, most frequent first across parts of speech; ties (untagged
    senses included) keep the part-of-speech order of POS_FILES, then WordNet's sense number."""
    senses = []
    for rank, pos in enumerate(POS_FILES):
        for number, offset in enumerate(offsets.get(pos, ()), start=1):
            senses.append((-counts.get(pos, {}).get(number, 0), rank, number, pos, offset))
    senses.sort()
    return [(pos, offset, -neg) for neg, _, _, pos, offset in senses]


def build(folder: Path) -> dict:
    data = read_data(folder)
    counts = read_sense_counts(folder)
    offsets = read_index(folder)
    index: dict[tuple[str, str], int] = {}
    synsets: list[list] = []

    def keep(words) -> list[str]:
        return list(dict.fromkeys(w.replace("_", " ") for w in words if WORDS.match(w)))

    def synset_index(key: tuple[str, str]) -> int:
        if key not in index:
            index[key] = len(synsets)
            synsets.append([])  # filled below, after every reachable synset has a number
        return index[key]

    senses: dict[str, list[list]] = {}
    for lemma in sorted(offsets):
        entries = []
        for pos, offset, count in ordered_senses(offsets[lemma], {p: counts.get((lemma, p), {}) for p in POS_FILES}):
            synset = data[(pos, offset)]
            word_no = synset["words"].index(lemma) + 1 if lemma in synset["words"] else 0
            derived, antonyms = [], []
            for symbol, ppos, poffset, source, target in synset["pointers"]:
                if source != word_no or not target or symbol not in ("+", "\\", "!"):
                    continue  # lexical pointers of this very word only
                word = data[(ppos, poffset)]["words"][target - 1]
                (antonyms if symbol == "!" else derived).append(word)
            entry = [synset_index((pos, offset)), count, keep(derived), keep(antonyms)]
            while entry and entry[-1] == []:
                entry.pop()
            entries.append(entry)
        senses[lemma.replace("_", " ")] = entries
    for key, i in list(index.items()):  # hypernym / similar-to targets are numbered as they come
        synset = data[key]
        hypernyms = [synset_index((p, o)) for s, p, o, _, _ in synset["pointers"] if s == "@"]
        similar = [synset_index((p, o)) for s, p, o, _, _ in synset["pointers"] if s == "&"]
        synsets[i] = [key[0], keep(synset["words"]), hypernyms, similar]
    for key, i in index.items():  # targets first reached above
        if not synsets[i]:
            synsets[i] = [key[0], keep(data[key]["words"]), [], []]
    for row in synsets:
        while len(row) > 2 and row[-1] == []:
            row.pop()
    definitions = [""] * len(synsets)
    for key, i in index.items():
        definitions[i] = data[key]["definition"]
    inflections = read_inflections(folder)
    return {"source": "WordNet 3.0 (Princeton University); see tinyslm_hf/excel/data/README.md",
            "synsets": synsets, "definitions": definitions, "senses": senses,
            "inflections": dict(sorted(inflections.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wordnet", type=Path, help="folder with WordNet 3.0's data.*, index.*, *.exc and cntlist.rev")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    table = build(args.wordnet)
    write_json_gz(table, args.out)
    n_senses = sum(len(v) for v in table["senses"].values())
    print(f"{args.out}: {len(table['senses'])} lemmas, {n_senses} senses, {len(table['synsets'])} synsets, "
          f"{len(table['inflections'])} inflections, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
