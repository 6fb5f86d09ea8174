"""Build the compact thesaurus the Excel assistant ships, from a WordNet 3.0 database folder.

    apt-get download wordnet-base && dpkg -x wordnet-base_*.deb wn
    python scripts/build_thesaurus.py wn/usr/share/wordnet

Writes `tinyslm_hf/excel/data/wordnet_thesaurus.json.gz`: for every lemma of one to three words (`capital letter`),
the other lemmas of its **most frequent sense** (the sense the WordNet sense-tagged corpus uses most, across parts
of speech; the first sense when it has none); and WordNet's irregular inflections (`geese` -> `goose`). Without
context there is no telling which sense a user means, and the most frequent sense is the standard guess: it keeps
`bottom` from becoming `can` (a rare noun sense). It also lists every one-word lemma, so that a word which is a
lemma itself (`mining`, `lens`) is never taken for an inflection (`min`, `len`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
ONE_WORD = re.compile(r"^[a-z]+$")
WORDS = re.compile(r"^[a-z]+(_[a-z]+){0,2}$")  # one to three words (WordNet joins them with `_`)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tinyslm_hf" / "excel" / "data" / "wordnet_thesaurus.json.gz"


def read_synsets(folder: Path) -> dict[tuple[str, str], list[str]]:
    """(pos, byte offset) -> lower-cased lemmas of that synset, from the data.* files (wndb(5WN) format)."""
    synsets = {}
    for pos, name in POS_FILES.items():
        for line in (folder / f"data.{name}").open(encoding="latin-1"):
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" ")
            n_words = int(fields[3], 16)
            words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(n_words)]  # drop `(a)` markers
            synsets[(pos, fields[0])] = words
    return synsets


def read_sense_counts(folder: Path) -> dict[tuple[str, str], dict[int, int]]:
    """(lemma, pos) -> {sense number: times the sense-tagged corpus used it}, from cntlist.rev."""
    counts: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    ss_type = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # 5: adjective satellite
    for line in (folder / "cntlist.rev").open(encoding="latin-1"):
        key, number, count = line.split()
        lemma, _, rest = key.partition("%")
        counts[(lemma, ss_type[rest[0]])][int(number)] = int(count)
    return counts


def most_frequent_sense(offsets: dict[str, list[str]], counts: dict[str, dict[int, int]]) -> tuple[str, str]:
    """The (pos, offset) of a lemma's most frequent sense across parts of speech; untagged: its first sense,
    nouns first."""
    best = None
    for pos, offs in offsets.items():  # ties: the first part of speech in POS_FILES order, then the lower number
        for number, count in sorted(counts.get(pos, {}).items()):
            if number <= len(offs) and (best is None or count > best[0]):
                best = (count, pos, offs[number - 1])
    if best is not None:
        return best[1], best[2]
    pos = next(p for p in POS_FILES if p in offsets)
    return pos, offsets[pos][0]


def read_inflections(folder: Path) -> dict[str, str]:
    """WordNet's irregular forms (the *.exc files): one-word form -> its first one-word base (`geese` -> `goose`)."""
    inflections: dict[str, str] = {}
    for name in POS_FILES.values():
        for line in (folder / f"{name}.exc").open(encoding="latin-1"):
            form, *bases = line.split()
            if bases and ONE_WORD.match(form) and ONE_WORD.match(bases[0]) and form != bases[0]:
                inflections.setdefault(form, bases[0])
    return inflections


def read_index(folder: Path) -> dict[str, dict[str, list[str]]]:
    """lemma -> {pos: synset offsets in WordNet's sense order}, for lemmas of one to three words."""
    offsets: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for pos, name in POS_FILES.items():
        for line in (folder / f"index.{name}").open(encoding="latin-1"):
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, n_senses, n_pointers = fields[0], int(fields[2]), int(fields[3])
            if WORDS.match(lemma):
                offsets[lemma][pos] = fields[6 + n_pointers:6 + n_pointers + n_senses]
    return offsets


def build(folder: Path) -> dict:
    synsets = read_synsets(folder)
    counts = read_sense_counts(folder)
    offsets = read_index(folder)
    synonyms: dict[str, list[str]] = {}
    for lemma in sorted(offsets):
        pos, offset = most_frequent_sense(offsets[lemma], {p: counts.get((lemma, p), {}) for p in POS_FILES})
        others = [w.replace("_", " ") for w in synsets[(pos, offset)] if w != lemma and WORDS.match(w)]
        if others:
            synonyms[lemma.replace("_", " ")] = others
    inflections = read_inflections(folder)
    lemmas = sorted(lemma for lemma in offsets if ONE_WORD.match(lemma))  # a lemma is never a stripped inflection
    return {"source": "WordNet 3.0 (Princeton University); see tinyslm_hf/excel/data/README.md",
            "synonyms": synonyms, "inflections": dict(sorted(inflections.items())), "lemmas": lemmas}


def write_json_gz(table: dict, out: Path) -> None:
    """Compact JSON, gzipped with mtime 0 and no file name in the header (the same WordNet gives the same bytes
    wherever it is written), through a temporary file so a failed build leaves the shipped file alone."""
    payload = json.dumps(table, separators=(",", ":"), ensure_ascii=True).encode()
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(payload)
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wordnet", type=Path, help="folder with WordNet 3.0's data.*, index.* and *.exc files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    table = build(args.wordnet)
    write_json_gz(table, args.out)
    print(f"{args.out}: {len(table['synonyms'])} lemmas, {len(table['inflections'])} inflections, "
          f"{args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
