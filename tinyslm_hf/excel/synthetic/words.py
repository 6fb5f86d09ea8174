"""Made-up words: pronounceable nonsense used as invented headers and values (topics) and as filler noise
(phrasings), so the model learns to copy what it reads rather than recall what it has seen."""

from __future__ import annotations

import random

_SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "zu", "bel", "dor", "fin", "gal", "hex", "jor", "kel", "lum",
              "mar", "nix", "pol", "quo", "ras", "sil", "tor", "ul", "ven", "wex", "yar", "zan", "bri", "cor", "dra"]


def made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
