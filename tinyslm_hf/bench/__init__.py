"""Developer tools, not the library: the side-by-side speed benchmark (`speed`, `tinyslm bench`) and the
lm-evaluation-harness glue on local tasks (`lm_eval`, scripts/lm_eval_local.py)."""
