"""Training data with `datasets`: inputs -> document pieces (`sources`) -> held-out split and bounded samples
(`documents`) -> tokens and packed blocks (`packing`), put together for the main job in `prepare`.

Every step writes Arrow to the `datasets` cache (under `HF_DATASETS_CACHE`) and is keyed by its inputs'
fingerprint, so memory stays flat as the corpus grows and a second run on the same files and tokenizer reuses the
packed blocks instead of re-tokenizing. docs/data.md describes the layout and its costs.
"""

from ..corpus import embedded_corpus_path
from .documents import column, document_texts, even_sample, split_documents, texts_of
from .packing import PackedBlockCollator, document_positions, pack_blocks, tokenize_and_pack, tokenize_documents
from .prepare import PackedData, describe, evaluation_sample, prepare_data, throughput
from .sources import DataError, check_text_file, load_documents, load_hub_dataset, split_pieces


def training_texts(paths, validation_fraction: float = 0.1, seed: int = 0, text_field: str = "text"):
    """The training split's texts only (for training a tokenizer without seeing validation text)."""
    return texts_of(split_documents(load_documents(paths, text_field), validation_fraction, seed)["train"])


__all__ = [
    "DataError",
    "PackedBlockCollator",
    "PackedData",
    "check_text_file",
    "column",
    "describe",
    "document_positions",
    "document_texts",
    "embedded_corpus_path",
    "evaluation_sample",
    "even_sample",
    "load_documents",
    "load_hub_dataset",
    "pack_blocks",
    "prepare_data",
    "split_documents",
    "split_pieces",
    "texts_of",
    "throughput",
    "tokenize_and_pack",
    "tokenize_documents",
    "training_texts",
]
