"""Held-out bits per byte scored two ways: each held-out document alone, and the documents joined into one text.

`tinyslm train` reports the joined form (sliding windows cross document boundaries). A model trained with
`--document-masking` never attends across documents, so the per-document form is the one its training optimises;
docs/packing.md compares both. Usage: python scripts/score_per_document.py MODEL_DIR DATA [DATA ...]
(the same data, --validation-fraction and --seed as the training run, so the same documents are held out).
"""

from __future__ import annotations

import argparse
import json

from tinyslm_hf.data import document_texts, load_documents, split_documents
from tinyslm_hf.evaluation import evaluate_text
from tinyslm_hf.modelio import load_model_and_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data", nargs="+")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--text-field", default="text", help="the jsonl / dataset field holding the text")
    args = parser.parse_args()
    held_out = split_documents(load_documents(args.data, args.text_field), args.validation_fraction, args.seed)
    docs = document_texts(held_out["validation"])
    model, tokenizer = load_model_and_tokenizer(args.model)
    bits = n_bytes = 0.0
    for doc in docs:
        scored = evaluate_text(model, tokenizer, doc, block_size=args.block_size)
        bits += scored["bits_per_byte"] * scored["bytes"]
        n_bytes += scored["bytes"]
    joined = evaluate_text(model, tokenizer, "\n\n".join(docs), block_size=args.block_size)["bits_per_byte"]
    print(json.dumps({"documents": len(docs), "per_document_bits_per_byte": round(bits / n_bytes, 4),
                      "joined_bits_per_byte": round(joined, 4)}))


if __name__ == "__main__":
    main()
