"""Gradio app for a TinySLM model: a Chat tab and a Completion tab, both streaming.

Used two ways:
- `tinyslm ui --model DIR` calls `build_demo(generator)` and launches it locally;
- copied as `app.py` (with `generation.py` beside it) into the staged Hub repo, where it runs as a Hugging Face
  Space or with `python app.py`, *without* the tinyslm_hf package: it then loads the model from its own folder (if
  the weights are there) or from the repo named by `$MODEL_ID`, with `trust_remote_code=True`.
That is why this file imports only gradio, torch, transformers and the generation helpers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

try:
    from tinyslm_hf.generation import Generator, PromptTooLongError, SamplingParams
except ImportError:  # running from a Hub repo / Space: generation.py ships next to this file
    from generation import Generator, PromptTooLongError, SamplingParams  # type: ignore[no-redef]


def _text(content: Any) -> str:
    """Gradio message content may be a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(_text(part) for part in content)
    return "" if content is None else str(content)


def build_demo(generator: Generator, title: str = "TinySLM") -> gr.Blocks:
    """The Blocks app; one generation at a time (Gradio's queue, concurrency 1), each streamed as it is produced."""

    def start(ids: list[int], max_new_tokens: float, temperature: float, top_p: float, seed: float | None):
        """The slider is an upper bound: ask for what still fits in the context (an over-long prompt still fails)."""
        seed_value = None if seed in (None, "", -1) else int(seed)
        room = max(1, generator.context_length - len(ids))
        params = SamplingParams(max_new_tokens=min(int(max_new_tokens), room), temperature=float(temperature),
                                top_p=float(top_p), seed=seed_value)
        try:
            return generator.stream_ids(ids, params)
        except (PromptTooLongError, ValueError) as exc:
            raise gr.Error(str(exc)) from exc

    def chat(message: str, history: list[dict[str, Any]], system: str, max_new_tokens: float,
             temperature: float, top_p: float) -> Iterator[str]:
        messages = [{"role": "system", "content": system}] if system.strip() else []
        messages += [{"role": m["role"], "content": _text(m["content"])} for m in history
                     if m.get("role") in ("user", "assistant")]
        messages.append({"role": "user", "content": _text(message)})
        try:
            ids = generator.encode_chat(messages)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc
        stream = start(ids, max_new_tokens, temperature, top_p, None)
        text = ""
        for delta in stream:
            text += delta
            yield text
        if not text:
            yield "(the model ended its turn without text)"

    def complete(prompt: str, max_new_tokens: float, temperature: float, top_p: float,
                 seed: float | None) -> Iterator[str]:
        stream = start(generator.encode(prompt), max_new_tokens, temperature, top_p, seed)
        text = prompt
        yield text
        for delta in stream:
            text += delta
            yield text

    ctx = generator.context_length
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nA small language model ({ctx}-token context). Expect playful, unreliable text.")
        with gr.Tab("Chat"):
            # render=False: ChatInterface shows them in its "Settings" accordion below the chat.
            system = gr.Textbox(label="System message", value="", lines=1, render=False)
            chat_tokens = gr.Slider(1, ctx, value=min(128, ctx), step=1, label="Max new tokens", render=False)
            chat_temp = gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature (0 = greedy)", render=False)
            chat_top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.05, label="Top-p", render=False)
            gr.ChatInterface(chat, additional_inputs=[system, chat_tokens, chat_temp, chat_top_p],
                             additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                             api_name="chat", fill_height=False)
        with gr.Tab("Completion"):
            prompt = gr.Textbox(label="Prompt", lines=4, elem_id="completion-prompt")
            with gr.Row():
                tokens = gr.Slider(1, ctx, value=min(64, ctx), step=1, label="Max new tokens")
                temperature = gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature (0 = greedy)")
                top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.05, label="Top-p")
                seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)")
            button = gr.Button("Generate", variant="primary", elem_id="completion-generate")
            output = gr.Textbox(label="Output", lines=8, elem_id="completion-output")
            button.click(complete, [prompt, tokens, temperature, top_p, seed], output, api_name="complete")
    demo.queue(default_concurrency_limit=1, max_size=32)
    return demo


def _load_standalone() -> Generator:
    """Space / `python app.py`: the model next to this file, else the Hub repo in $MODEL_ID."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    here = Path(__file__).resolve().parent
    source = os.environ.get("MODEL_ID") or (str(here) if (here / "config.json").is_file() else None)
    if source is None:
        raise SystemExit("set MODEL_ID to a Hub repo id or a local model folder")
    model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=True, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=True)  # it reads config.json too
    return Generator(model, tokenizer)


if __name__ == "__main__":
    build_demo(_load_standalone(), title=os.environ.get("TITLE", "TinySLM")).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), ssr_mode=False)
