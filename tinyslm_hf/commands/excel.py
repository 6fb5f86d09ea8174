"""`tinyslm excel ...`: the Excel-formula assistant (generate-data, train, eval, ask)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..excel.synonyms import DEFAULT_READINGS
from ..excel.synthetic.breadth import BREADTH
from ..excel.synthetic.phrasings import REQUEST_NOISE
from ..excel.synthetic.topics import INVENTED_FRACTION

# The hand-written evaluation sets (`excel.independent.SETS`, tested equal): named here because importing that module
# would load the formula engine and numpy before `--help`.
EVALUATION_SETS = ("independent", "blind", "independent2")

# Beams per request for `eval` and `ask`: eight score higher than four on every set but the hand-written one (equal)
# and answer inside 1 s per request on 2 cores (docs/excel.md, twelfth session).
DEFAULT_CANDIDATES = 8

HELP = "Excel-formula assistant: generate synthetic data, train (SFT or LoRA), evaluate by execution, ask."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="excel_command", metavar="<sub-verb>")
    sub.required = True
    for add in (_add_generate_data, _add_train, _add_eval, _add_ask):
        add(sub)


def _add_generate_data(sub) -> None:
    gen = sub.add_parser("generate-data", help="write train/validation/test jsonl files")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--n-train", type=int, default=40000, help="training examples (default 40000)")
    gen.add_argument("--n-validation", type=int, default=500, help="validation examples (default 500)")
    gen.add_argument("--n-test", type=int, default=500, help="held-out test examples (default 500)")
    gen.add_argument("--seed", type=int, default=0, help="fixes the generated data (default 0)")
    gen.add_argument("--invented-fraction", type=float, default=INVENTED_FRACTION,
                     help="share of training tables from invented topics (teaches reading the schema)")
    gen.add_argument("--request-noise", type=float, default=REQUEST_NOISE,
                     help="share of training requests given filler or replaced words (teaches ignoring unknown words)")
    gen.add_argument("--breadth", type=float, default=BREADTH,
                     help="share of training requests whose wording is widened by a request grammar and WordNet "
                          "(default %(default)s; train split only)")
    gen.add_argument("--overwrite", action="store_true", help="replace existing files")


def _add_train(sub) -> None:
    tr = sub.add_parser("train", help="supervised fine-tuning on the synthetic data (answer-only loss)")
    tr.add_argument("--output-dir", "--out", dest="out", default="runs/excel",
                    help="model folder to write (default: runs/excel)")
    tr.add_argument("--data", help="folder with train.jsonl (default: generate --n-train examples in memory)")
    tr.add_argument("--n-train", type=int, help="examples to generate when --data is not given")
    tr.add_argument("--init", help="pretrained TinySLM folder to fine-tune (default: train from scratch)")
    tr.add_argument("--lora", action="store_true", help="train LoRA adapters (needs --init) and merge them")
    tr.add_argument("--lora-r", type=int, help="LoRA rank (default 16)")
    tr.add_argument("--max-steps", "--steps", type=int, dest="max_steps",
                    help="optimizer steps (default: the recipe's 7000)")
    tr.add_argument("--max-minutes", type=float,
                    help="wall-clock budget of the training loop, instead of --max-steps: steps are sized from timed "
                         "steps and the schedule ends at the deadline")
    tr.add_argument("--batch-size", type=int, help="examples per step (default 16)")
    tr.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate",
                    help="peak learning rate (default 3e-3)")
    tr.add_argument("--hidden-size", type=int, help="model width, from scratch only (default 128)")
    tr.add_argument("--num-hidden-layers", "--layers", type=int, dest="num_hidden_layers",
                    help="blocks, from scratch only (default 4)")
    tr.add_argument("--vocab-size", type=int, help="tokenizer vocabulary, from scratch only")
    tr.add_argument("--threads", type=int, help="torch CPU threads")
    tr.add_argument("--seed", type=int, help="seed for data, initialisation and order")
    tr.add_argument("--invented-fraction", type=float,
                    help=f"with generated data: share of invented-topic tables (default {INVENTED_FRACTION})")
    tr.add_argument("--bf16", choices=["auto", "true", "false"], default="auto",
                    help="bf16 autocast (auto: on a bf16 GPU only; slower than fp32 for this small model on a CPU)")
    tr.add_argument("--request-noise", type=float,
                    help=f"with generated data: share of requests given word-level noise (default {REQUEST_NOISE})")
    tr.add_argument("--optimizer", choices=["adamw", "muon"],
                    help="muon: Muon on the blocks' matrices and AdamW on the rest (default from scratch); adamw: AdamW "
                         "on everything (default with --init)")
    tr.add_argument("--muon-learning-rate", type=float, help="Muon's peak learning rate (default 0.01)")
    tr.add_argument("--lr-schedule", choices=["cosine", "wsd"],
                    help="wsd (default): warmup, peak held, linear decay over the last --decay-fraction; or cosine")
    tr.add_argument("--decay-fraction", type=float, help="wsd: share of the run spent decaying (default 0.3)")
    tr.add_argument("--breadth", type=float,
                    help=f"share of generated training requests with widened wording (default {BREADTH})")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing model folder")


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="execution accuracy, exact match, valid-syntax share; JSON output")
    ev.add_argument("--model", required=True, help="model folder")
    ev.add_argument("--data", help="a jsonl file, or a folder holding test.jsonl (default: generate --split)")
    ev.add_argument("--split", default="test",
                    choices=["train", "validation", "test", "handwritten", *EVALUATION_SETS],
                    help="split to generate (handwritten: 30 freely worded requests on a fixed table; independent, "
                         "independent2: hand-written requests on tables outside the generator's topics, never "
                         "trained on; blind: such a set no rule is written from)")
    ev.add_argument("--n", type=int, default=500, help="examples to generate when --data is not given")
    ev.add_argument("--seed", type=int, default=0, help="seed of the generated split (default 0)")
    ev.add_argument("--limit", type=int, help="score only the first N examples")
    ev.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=True,
                    help="decode with the formula-grammar LogitsProcessor (default: on)")
    ev.add_argument("--compare", action="store_true",
                    help="run plain and constrained decoding (each with --candidates), report both")
    ev.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                    help="beam candidates per request; keep the best-ranked one that runs on its table without an "
                         "error, uses every linked column, tests every stated comparison, quotes every named value "
                         "and writes every stated number (execution-guided decoding; default %(default)s; 1: greedy)")
    ev.add_argument("--batch-size", type=int, default=32, help="requests decoded together (default 32)")
    ev.add_argument("--synonyms", action=argparse.BooleanOptionalAction, default=True,
                    help="rewrite request words the model never read in training into known ones with the shipped "
                         "WordNet thesaurus (default: on; it maps onto the wording of `excel generate-data`, so pass "
                         "--no-synonyms for a model trained on requests of your own)")
    ev.add_argument("--readings", type=int, help=_READINGS_HELP)
    ev.add_argument("--json", dest="json_out", help="write the metrics JSON here")
    ev.add_argument("--predictions", help="write one JSON line per example (request, reference, prediction, ...)")
    ev.add_argument("--threads", type=int, help="torch CPU threads")


_READINGS_HELP = (f"readings of a request with unknown words: each tries other WordNet senses of them, all are decoded "
                  f"and the best-scored answer that passes the checks wins (default {DEFAULT_READINGS} with "
                  f"--synonyms; 1: the most frequent sense only)")


def _readings(args) -> int:
    """The readings to decode: --readings as given, else the default with --synonyms and 1 without (there is nothing
    to read differently); a count below 1, or several without --synonyms, is refused."""
    if args.readings is None:
        return DEFAULT_READINGS if args.synonyms else 1
    if args.readings < 1:
        raise ValueError(f"--readings must be >= 1, got {args.readings}")
    if args.readings > 1 and not args.synonyms:
        raise ValueError("--readings rewrites unknown words: it needs --synonyms")
    return args.readings


def _add_ask(sub) -> None:
    ask = sub.add_parser("ask", help="turn a request into a formula")
    ask.add_argument("request", nargs="?", help='e.g. "total sales for the West region"')
    ask.add_argument("--model", required=True, help="model folder")
    ask.add_argument("--columns", help='e.g. "A=Region,B=Rep,C=Sales"')
    ask.add_argument("--rows", default="2:40", help="data row range FIRST:LAST (default 2:40)")
    ask.add_argument("--batch", help="input jsonl: {id, table: {headers, rows}, request} per line")
    ask.add_argument("--out", help="output jsonl for --batch: {id, formula} per line")
    ask.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=True,
                     help="decode with the formula-grammar LogitsProcessor (default: on)")
    ask.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                     help="beam candidates per request: keep the best-ranked one that (--batch, whose tables have "
                          "values) runs without an error, uses every column the request names, tests every "
                          "comparison it states, quotes every value it names and writes every number it states "
                          "(default %(default)s; 1: greedy)")
    ask.add_argument("--readings", type=int, help=_READINGS_HELP)
    ask.add_argument("--threads", type=int, help="torch CPU threads")
    ask.add_argument("--synonyms", action=argparse.BooleanOptionalAction, default=True,
                     help="rewrite request words the model never read in training into known ones with the shipped "
                          "WordNet thesaurus (default: on; it maps onto the wording of `excel generate-data`, so pass "
                          "--no-synonyms for a model trained on requests of your own)")


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def _generate(args) -> int:
    from ..excel.synthetic.generator import generate_dataset

    out = Path(args.out)
    if out.exists() and any(out.glob("*.jsonl")) and not args.overwrite:
        raise FileExistsError(f"{out} already holds jsonl files (pass --overwrite to replace them)")
    for name in ("n_train", "n_validation", "n_test"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
    counts = generate_dataset(out, args.n_train, args.n_validation, args.n_test, seed=args.seed,
                              invented_fraction=args.invented_fraction, noise=args.request_noise,
                              breadth=args.breadth)
    print(json.dumps({"out": str(out), **counts}))
    return 0


def _train(args) -> int:
    from ..excel.train import ExcelTrainConfig, train_excel

    overrides = {k: getattr(args, k) for k in ("n_train", "lora_r", "max_steps", "batch_size", "learning_rate",
                                               "hidden_size", "num_hidden_layers", "vocab_size", "threads", "seed",
                                               "invented_fraction", "request_noise", "max_minutes", "optimizer",
                                               "muon_learning_rate", "lr_schedule", "decay_fraction", "breadth")
                 if getattr(args, k) is not None}
    for key in ("n_train", "max_steps", "batch_size", "hidden_size", "num_hidden_layers", "max_minutes"):
        if key in overrides and overrides[key] <= 0:
            raise ValueError(f"{key} must be positive")
    if "max_minutes" in overrides and "max_steps" in overrides:
        raise ValueError("give --max-steps or --max-minutes, not both")
    for key in ("breadth", "n_train", "invented_fraction", "request_noise"):
        if args.data and key in overrides:
            raise ValueError(f"--{key.replace('_', '-')} shapes generated data: it has no effect with --data")
    bf16 = {"auto": None, "true": True, "false": False}[args.bf16]
    cfg = ExcelTrainConfig(out_dir=args.out, data_dir=args.data, init=args.init, lora=args.lora,
                           overwrite=args.overwrite, bf16=bf16, **overrides)
    summary = train_excel(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0


def _load(path: str):
    from ..modelio import load_model_and_tokenizer

    return load_model_and_tokenizer(path)


def _eval(args) -> int:
    from ..excel.evaluate import evaluate_model, format_report
    from ..excel.example import read_jsonl
    from ..excel.synthetic.generator import generate

    _threads(args)
    if args.candidates < 1:
        raise ValueError(f"--candidates must be >= 1, got {args.candidates}")
    readings = _readings(args)
    if args.data:
        path = Path(args.data)
        if path.is_dir():
            path = path / f"{args.split}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        examples = read_jsonl(path)
    elif args.split == "handwritten":
        from ..excel.synthetic.handwritten import handwritten_examples

        examples = handwritten_examples()
    elif args.split in EVALUATION_SETS:
        from ..excel.independent import set_examples

        examples = set_examples(args.split)
    else:
        examples = list(generate(args.split, args.n, seed=args.seed))
    if args.limit:
        examples = examples[: args.limit]
    if not examples:
        raise ValueError("no examples to evaluate")
    model, tokenizer = _load(args.model)
    modes = [False, True] if args.compare else [args.constrained]
    results = {}
    for constrained in modes:
        res = evaluate_model(model, tokenizer, examples, constrained=constrained, batch_size=args.batch_size,
                             candidates=args.candidates, synonyms=args.synonyms, readings=readings)
        name = "constrained" if constrained else "plain"
        results[name] = res
        print(f"## {name} decoding ({res['metrics']['seconds']} s)\n")
        print(format_report(res["metrics"]) + "\n")
    metrics = {name: r["metrics"] for name, r in results.items()}
    out_json = metrics if len(metrics) > 1 else next(iter(metrics.values()))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(out_json, handle, indent=2)
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as handle:
            for name, res in results.items():
                for rec in res["records"]:
                    handle.write(json.dumps({"decoding": name, **rec}, ensure_ascii=False) + "\n")
    return 0


def _ask(args) -> int:
    from ..cli import CLIError
    from ..excel.ask import answer_batch, ask, parse_columns, parse_rows

    _threads(args)
    if args.candidates < 1:
        raise CLIError(f"--candidates must be >= 1, got {args.candidates}")
    readings = _readings(args)
    if args.batch:
        if not args.out:
            raise CLIError("--batch needs --out OUT.jsonl")
        if not os.path.isfile(args.batch):
            raise FileNotFoundError(f"{args.batch} not found")
        from ..excel.ask import read_batch

        read_batch(args.batch)  # validate before loading the model
        model, tokenizer = _load(args.model)
        n = answer_batch(model, tokenizer, args.batch, args.out, constrained=args.constrained,
                         candidates=args.candidates, synonyms=args.synonyms, readings=readings)
        print(f"wrote {n} formulas to {args.out}", file=sys.stderr)
        return 0
    if not args.request or not args.columns:
        raise CLIError('give a request and --columns (e.g. "A=Region,B=Rep,C=Sales"), or --batch IN --out OUT')
    columns, rows = parse_columns(args.columns), parse_rows(args.rows)
    model, tokenizer = _load(args.model)
    print(ask(model, tokenizer, args.request, columns, rows, constrained=args.constrained,
              candidates=args.candidates, synonyms=args.synonyms, readings=readings))
    return 0


def run(args) -> int:
    handlers = {"generate-data": _generate, "train": _train, "eval": _eval, "ask": _ask}
    return handlers[args.excel_command](args)
