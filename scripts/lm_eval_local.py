"""Evaluate a TinySLM folder with lm-evaluation-harness on the local Tiny Shakespeare tasks (no downloads).

    python scripts/lm_eval_local.py runs/tinyslm/final [--limit 100]

Equivalent CLI, after `write_local_tasks` has written the task folder:
    lm_eval --model hf --model_args pretrained=DIR,trust_remote_code=True \\
        --include_path TASK_DIR --tasks tinyshakespeare_heldout,tinyshakespeare_continuation
"""

import argparse
import json
import tempfile

from tinyslm_hf.bench.lm_eval import TASKS, run_harness, write_local_tasks

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="model folder")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--limit", type=int, default=None, help="documents per task (default: all)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as task_dir:
        write_local_tasks(task_dir)
        results = run_harness(args.model, task_dir, tuple(args.tasks.split(",")), args.limit, args.batch_size,
                              args.device)
    print(json.dumps(results, indent=2, default=str))
