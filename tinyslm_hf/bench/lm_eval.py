"""Quality evaluation with lm-evaluation-harness on local tasks (no downloads).

`write_local_tasks(folder)` writes two lm-eval task configs with their data, made from the held-out 10% of the
embedded Tiny Shakespeare corpus (text the default model never trains on):

* `tinyshakespeare_heldout` -- `loglikelihood_rolling` over passages: lm-eval's own word/byte perplexity and bits per
  byte, an independent check of `tinyslm eval`;
* `tinyshakespeare_continuation` -- multiple choice: given the first half of a line, pick its true second half among
  four (the three distractors are second halves of other held-out lines); accuracy, chance = 25%.

`run_harness(model_dir, ...)` runs them through lm-eval's standard `hf` model type with `trust_remote_code=True`,
the same way `lm_eval --model hf --model_args pretrained=DIR,trust_remote_code=True --include_path FOLDER` does.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ..corpus import embedded_corpus_path

TASKS = ("tinyshakespeare_heldout", "tinyshakespeare_continuation")

_HELDOUT_YAML = """task: tinyshakespeare_heldout
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: loglikelihood_rolling
test_split: test
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
"""

_CONTINUATION_YAML = """task: tinyshakespeare_continuation
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def heldout_text(validation_fraction: float = 0.1) -> str:
    text = embedded_corpus_path().read_text(encoding="utf-8")
    return text[int(len(text) * (1.0 - validation_fraction)) :]


def write_local_tasks(folder: str | Path, passages: int = 40, questions: int = 200, seed: int = 0) -> Path:
    """Write the two task YAMLs and their jsonl data into `folder` (use it as lm-eval's include_path)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = heldout_text()
    # Passages: the held-out text cut at blank lines (speech boundaries) into `passages` roughly equal pieces.
    speeches = [s.strip() for s in text.split("\n\n") if s.strip()]
    per = max(1, len(speeches) // passages)
    rows = ["\n\n".join(speeches[i : i + per]) for i in range(0, len(speeches), per)][:passages]
    with open(folder / "heldout.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({"text": row}) + "\n")
    # Continuations: lines long enough to split at a word boundary near the middle.
    rng = random.Random(seed)
    lines = [line.strip() for line in text.splitlines() if len(line.split()) >= 6 and not line.strip().endswith(":")]
    halves = []
    for line in lines:
        words = line.split()
        cut = len(words) // 2
        halves.append((" ".join(words[:cut]), " " + " ".join(words[cut:])))
    rng.shuffle(halves)
    with open(folder / "continuation.jsonl", "w", encoding="utf-8") as handle:
        for i, (context, answer) in enumerate(halves[:questions]):
            distractors = rng.sample([h[1] for j, h in enumerate(halves) if j != i and h[1] != answer], 3)
            choices = distractors + [answer]
            rng.shuffle(choices)
            handle.write(json.dumps({"context": context, "choices": choices, "label": choices.index(answer)}) + "\n")
    (folder / "tinyshakespeare_heldout.yaml").write_text(_HELDOUT_YAML.format(data=folder / "heldout.jsonl"))
    (folder / "tinyshakespeare_continuation.yaml").write_text(
        _CONTINUATION_YAML.format(data=folder / "continuation.jsonl"))
    return folder


def run_harness(model_dir: str | Path, task_dir: str | Path, tasks: tuple[str, ...] = TASKS,
                limit: int | None = None, batch_size: int = 8, device: str = "cpu") -> dict[str, Any]:
    """Evaluate a model folder with lm-eval's `hf` model type on the local tasks; returns lm-eval's results dict."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError as exc:
        raise ImportError("lm-eval is not installed: pip install 'tinyslm-hf[eval]'") from exc
    results = simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir), "trust_remote_code": True, "dtype": "float32"},
        tasks=list(tasks),
        task_manager=TaskManager(include_path=str(task_dir)),
        batch_size=batch_size,
        device=device,
        limit=limit,
        log_samples=False,
    )
    return results["results"]


__all__ = ["TASKS", "run_harness", "write_local_tasks"]
