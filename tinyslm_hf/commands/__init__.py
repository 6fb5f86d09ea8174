"""One module per `tinyslm <verb>`.

Each module defines `HELP: str`, `add_arguments(parser)` and `run(args) -> int`, and keeps heavy imports inside `run`
so `tinyslm --help` stays fast. Add a verb by adding its module name here.
"""

COMMANDS: list[str] = ["train", "finetune", "eval", "generate", "chat", "serve", "ui", "push", "excel", "export", "bench"]
