"""Execution-scored evaluation: run each predicted formula on its table and compare with the expected value.

Reports execution accuracy (the number that matters: different formulas can be equally right), exact match with the
reference, the share of syntactically valid predictions, and the same three per function family and per difficulty.
A prediction that does not parse or fails to evaluate is simply wrong; nothing in here raises on model output.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

import torch
from transformers import LogitsProcessorList

from .executor import execute, is_valid_syntax, values_equal
from .example import Example
from .prompt import build_messages, clean_answer, fitted_prompt_messages, prompt_text
from .ranking import pick_candidate
from .repairs import repaired
from .view import focused_view, to_table_letters


def _stop_ids(tokenizer) -> list[int]:
    from ..tokenization import stop_token_ids

    return stop_token_ids(tokenizer)


@torch.no_grad()
def predict_formulas(model, tokenizer, requests: list[tuple[Any, str, bool]], *, batch_size: int = 32,
                     max_new_tokens: int = 96, constrained: bool = False, top_k: int = 20,
                     copy_strings: bool = True, candidates: int = 1,
                     rewrite: Callable[[str, Any], str | list[str]] | None = None) -> list[str]:
    """Greedy answers for (table, request, show_samples) triples, batched with left padding (sorted by length).

    `constrained`: grammar-constrained decoding, and with `copy_strings` every quoted string must be copied from the
    request or a cell (constrained.py). `candidates` > 1: beam search with that many beams, keeping the best-ranked
    answer by `ranking.pick_candidate` (the formula that runs on the table and meets most of what the request says)
    among the beams and their repaired copies (`repairs.repaired`: one part of a beam filled in from the request or
    the table); a table wider than `view.VIEW_WIDTH` columns is then also decoded as the narrower view of the
    columns the request links to (`view.focused_view`), its answers written back in the table's letters.
    `rewrite(request, table)`: what the model reads instead of the request (`synonyms.RequestRewriter`); the
    constraint still copies strings from the request as the user wrote it. A rewrite may return several readings (the first is the preferred one): each is decoded, and their
    answers are pooled by the model's own length-normalised log-probability before `pick_candidate` ranks them, so
    the reading the model understands best wins unless a lower one's answer passes more of the checks.
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    readings = [[r] for _, r, _ in requests]
    if rewrite is not None:
        readings = [_as_list(rewrite(r, t)) for t, r, _ in requests]
    rows = [(i, t, reading, s, r, None) for i, ((t, r, s), texts) in enumerate(zip(requests, readings))
            for reading in texts]
    if candidates > 1:
        rows += _view_rows(requests, readings)
    decoded = _decode(model, tokenizer, [(t, reading, s, r) for _, t, reading, s, r, _ in rows],
                      batch_size=batch_size, max_new_tokens=max_new_tokens, constrained=constrained, top_k=top_k,
                      copy_strings=copy_strings, candidates=candidates)
    pooled: list[dict[str, float]] = [{} for _ in requests]
    for (i, *_, letters), answers in zip(rows, decoded):
        for text, logprob in answers:
            if letters is not None and (text := to_table_letters(text, letters)) is None:
                continue
            pooled[i][text] = max(logprob, pooled[i].get(text, float("-inf")))
    answers = []
    for i, (table, _, _) in enumerate(requests):
        ranked = sorted(pooled[i], key=pooled[i].get, reverse=True)
        several = candidates > 1 or len(readings[i]) > 1
        if several:
            written = requests[i][1]
            ranked = repaired(ranked, table, readings[i][0], written)
        answers.append(pick_candidate(ranked, table, readings[i][0], written) if several else ranked[0])
    return answers


def _view_rows(requests: list[tuple[Any, str, bool]], readings: list[list[str]]) -> list[tuple]:
    """A decoding row for the narrower view of each wide table (`view.focused_view`), read as the first reading:
    (request index, view, reading, show_samples, request as written, view letter -> table letter)."""
    rows = []
    for i, ((table, written, samples), texts) in enumerate(zip(requests, readings)):
        if (view := focused_view(table, texts[0])) is not None:
            rows.append((i, view[0], texts[0], samples, written, view[1]))
    return rows


def _as_list(reading: str | list[str]) -> list[str]:
    readings = [reading] if isinstance(reading, str) else list(reading)
    if not readings:
        raise ValueError("a rewrite gave no reading of a request")
    return readings


def _prompt(tokenizer, table, request: str, samples: bool, context: int | None) -> str:
    """The chat prompt for one request, its table shown with fewer sample values where the whole table would leave a
    model of `context` tokens too little room for the answer (`prompt.fitted_prompt_messages`)."""
    if context is None:
        return prompt_text(tokenizer, build_messages(table, request, samples=samples))
    return prompt_text(tokenizer, fitted_prompt_messages(tokenizer, table, request, samples, context))


def _decode(model, tokenizer, rows: list[tuple[Any, str, bool, str]], *, batch_size: int, max_new_tokens: int,
            constrained: bool, top_k: int, copy_strings: bool, candidates: int) -> list[list[tuple[str, float]]]:
    """For each (table, request the model reads, show_samples, request as written): the distinct answers of its
    `candidates` beams (one for greedy) with their length-normalised log-probabilities, best first."""
    from .constrained import FormulaLogitsProcessor, reference_width  # per call: tests wrap the processor
    limit = getattr(model.config, "max_position_embeddings", None)
    prompts = [_prompt(tokenizer, t, r, s, limit) for t, r, s, _ in rows]
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[list[tuple[str, float]]] = [[] for _ in prompts]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    stop = _stop_ids(tokenizer)
    device = next(model.parameters()).device
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            longest = max(len(encoded[i]) for i in idx)
            new_tokens = max_new_tokens
            if limit is not None:
                if longest >= limit:
                    raise ValueError(f"prompt of {longest} tokens does not fit the model's context of {limit} even "
                                     "without sample values (fewer columns, or a model with a longer context)")
                new_tokens = min(max_new_tokens, limit - longest)
            batch = tokenizer([prompts[i] for i in idx], add_special_tokens=False, padding=True, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            processors = None
            if constrained:
                # beam search runs each prompt's beams as consecutive rows, so each copy list is repeated per beam
                sources = None
                if copy_strings:  # the same list object per beam, so the processor builds its targets once
                    own = [copy_sources(rows[i][0], rows[i][3]) for i in idx]
                    sources = [s for s in own for _ in range(candidates)]
                keep = max(2, 1 + len(stop)) * candidates if candidates > 1 else 1  # what the search can pick
                widths = [reference_width(rows[i][0], rows[i][3]) for i in idx for _ in range(candidates)]
                processors = LogitsProcessorList([FormulaLogitsProcessor(tokenizer, stop, top_k, sources, keep,
                                                                         widths)])
            beams = dict(num_beams=candidates, num_return_sequences=candidates) if candidates > 1 else {}
            out = model.generate(**batch, max_new_tokens=new_tokens, do_sample=False, eos_token_id=stop,
                                 pad_token_id=tokenizer.pad_token_id, logits_processor=processors,
                                 return_dict_in_generate=True, output_scores=candidates > 1,
                                 output_logits=candidates == 1, **beams)
            logprobs = _sequence_logprobs(model, out, candidates, batch["input_ids"].shape[1], stop)
            width = batch["input_ids"].shape[1]
            for row, i in enumerate(idx):
                seen: dict[str, float] = {}
                for k in range(row * candidates, (row + 1) * candidates):
                    text = clean_answer(tokenizer.decode(out.sequences[k][width:], skip_special_tokens=True))
                    seen.setdefault(text, logprobs[k])  # beams that differ only in tokenisation: the best one
                results[i] = list(seen.items())
    finally:
        tokenizer.padding_side = old_side
    return results


def _sequence_logprobs(model, out, candidates: int, width: int, stop: list[int]) -> list[float]:
    """Length-normalised log-probability of each returned sequence under the model itself: beam search's own score
    (it sums the model's log-probabilities; the constraint only masks), or for greedy the mean log-probability of the
    chosen tokens up to and including the first stop token, from the raw logits (after the constraint, which keeps
    one token per step in greedy decoding, every answer would score 0)."""
    if candidates > 1:
        return out.sequences_scores.tolist()
    logprobs = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)
    generated = out.sequences[:, width:width + logprobs.shape[1]]
    chosen = logprobs.gather(-1, generated.unsqueeze(-1)).squeeze(-1)
    values = []
    for tokens, scores in zip(generated.tolist(), chosen):
        n = next((j + 1 for j, token in enumerate(tokens) if token in stop), len(tokens))
        values.append(scores[:n].mean().item() if n else float("-inf"))
    return values


def copy_sources(table, request: str) -> list[str]:
    """What a quoted string in the answer may copy: the request, then the table's distinct text cell values."""
    cells = dict.fromkeys(str(v) for col in table.columns for v in col.values if isinstance(v, str) and v)
    return [request, *cells]


def score(examples: list[Example], predictions: list[str]) -> dict:
    """Metrics for predictions aligned with examples; also returns one record per example."""
    if len(examples) != len(predictions):
        raise ValueError("examples and predictions differ in length")
    groups: dict[str, dict[str, list[int]]] = {"function": defaultdict(lambda: [0, 0, 0, 0]),
                                                "difficulty": defaultdict(lambda: [0, 0, 0, 0])}
    totals = [0, 0, 0, 0]  # n, correct, exact, valid
    records = []
    for ex, pred in zip(examples, predictions):
        result = execute(pred, ex.table)
        correct = result.ok and values_equal(result.value, ex.expected)
        exact = pred.replace(" ", "") == ex.formula.replace(" ", "")
        valid = is_valid_syntax(pred)
        for bucket in (totals, groups["function"][ex.function], groups["difficulty"][ex.difficulty]):
            bucket[0] += 1
            bucket[1] += correct
            bucket[2] += exact
            bucket[3] += valid
        records.append({"id": ex.id, "request": ex.request, "reference": ex.formula, "prediction": pred,
                        "correct": correct, "exact": exact, "valid": valid, "function": ex.function,
                        "difficulty": ex.difficulty, "error": result.error})

    def rates(b):
        n = max(b[0], 1)
        return {"n": b[0], "execution_accuracy": b[1] / n, "exact_match": b[2] / n, "valid_syntax": b[3] / n}

    report = rates(totals)
    report["per_function"] = {k: rates(v) for k, v in sorted(groups["function"].items())}
    report["per_difficulty"] = {k: rates(v) for k, v in sorted(groups["difficulty"].items())}
    return {"metrics": report, "records": records}


def evaluate_model(model, tokenizer, examples: list[Example], *, constrained: bool = False, batch_size: int = 32,
                   max_new_tokens: int = 96, candidates: int = 1, synonyms: bool = False,
                   readings: int = 1) -> dict:
    """Predict and score; the result has "metrics" (JSON-ready) and "records".

    `synonyms`: the model reads each request with its unknown words rewritten (`synonyms.default_rewriter`), in up
    to `readings` readings; a record whose request was rewritten carries the first rewritten text as
    "model_request"."""
    from .synonyms import request_reader

    start = time.time()
    reader = request_reader(synonyms, readings)
    read: dict[tuple[int, str], list[str]] = {}  # (table, request) -> what the model read, for the records
    rewrite = None
    if reader is not None:
        def rewrite(request, table):
            read[id(table), request] = _as_list(reader(request, table))
            return read[id(table), request]

    preds = predict_formulas(model, tokenizer, [(e.table, e.request, e.show_samples) for e in examples],
                             batch_size=batch_size, max_new_tokens=max_new_tokens, constrained=constrained,
                             candidates=candidates, rewrite=rewrite)
    result = score(examples, preds)
    for example, record in zip(examples, result["records"]):
        texts = read.get((id(example.table), example.request), [example.request])
        if texts != [example.request]:
            record["model_request"] = texts[0]
            if len(texts) > 1:
                record["model_readings"] = texts
    result["metrics"]["constrained"] = constrained
    result["metrics"]["candidates"] = candidates
    result["metrics"]["synonyms"] = synonyms
    result["metrics"]["readings"] = readings if synonyms else 1
    result["metrics"]["seconds"] = round(time.time() - start, 1)
    return result


def format_report(metrics: dict) -> str:
    """Markdown tables: overall, per function, per difficulty."""
    def row(name, m):
        return (f"| {name} | {m['n']} | {100 * m['execution_accuracy']:.1f} | {100 * m['exact_match']:.1f} | "
                f"{100 * m['valid_syntax']:.1f} |")

    head = "| {} | n | exec acc % | exact % | valid % |\n|---|---:|---:|---:|---:|"
    lines = [head.format("split"), row("all", metrics), "", head.format("function")]
    lines += [row(k, v) for k, v in metrics["per_function"].items()]
    lines += ["", head.format("difficulty")]
    lines += [row(k, v) for k, v in metrics["per_difficulty"].items()]
    return "\n".join(lines)
