"""Generation helpers (sampling validation, stop sequences, context check, streaming) and the generate/chat verbs."""

from __future__ import annotations

import io
import sys

import pytest
import torch

from tinyslm_hf.cli import main as cli_main
from tinyslm_hf.generation import Generator, PromptTooLongError, SamplingParams, _held_back




@pytest.mark.parametrize("field,value", [
    ("temperature", -0.1), ("temperature", 2.5), ("top_p", 0.0), ("top_p", 1.5), ("top_k", -1),
    ("repetition_penalty", 0.0), ("max_new_tokens", 0), ("seed", -3), ("stop", ["a", "b", "c", "d", "e"]),
    ("stop", [""]),
])
def test_sampling_params_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        SamplingParams(**{field: value}).validate()


def test_greedy_and_sampling_kwargs():
    assert SamplingParams(temperature=0).generate_kwargs()["do_sample"] is False
    kw = SamplingParams(temperature=0.7, top_p=0.9, top_k=5).generate_kwargs()
    assert kw == {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 5, "repetition_penalty": 1.0}


def test_stream_concatenates_to_the_full_completion(generator):
    params = SamplingParams(max_new_tokens=12, temperature=0)
    whole = generator.complete("The quick brown", params)
    stream = generator.stream("The quick brown", SamplingParams(max_new_tokens=12, temperature=0))
    deltas = list(stream)
    assert "".join(deltas) == whole.text and stream.result == whole
    assert whole.completion_tokens <= 12 and whole.prompt_tokens == len(generator.encode("The quick brown"))
    # the same text the model would produce through plain `generate`
    ids = torch.tensor([generator.encode("The quick brown")])
    out = generator.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    assert generator.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True) == whole.text


def test_seed_reproducible(generator):
    a = generator.complete("To be", SamplingParams(max_new_tokens=16, temperature=1.0, seed=5))
    b = generator.complete("To be", SamplingParams(max_new_tokens=16, temperature=1.0, seed=5))
    assert a.text == b.text


def test_stop_sequences_are_cut_and_never_half_streamed(generator):
    ref = generator.complete("Sales", SamplingParams(max_new_tokens=30, temperature=0)).text
    assert len(ref) > 6
    stop = ref[3:6]
    stream = generator.stream("Sales", SamplingParams(max_new_tokens=30, temperature=0, stop=[stop]))
    deltas = list(stream)
    assert "".join(deltas) == ref[: ref.find(stop)]
    assert stream.result.finish_reason == "stop"
    assert all(stop not in d for d in deltas)
    assert _held_back("abc<|", ["<|end|>"]) == 2 and _held_back("abc", ["xyz"]) == 0


def test_prompt_longer_than_context_is_a_clear_error(generator):
    long_prompt = "The quick brown fox. " * 40
    with pytest.raises(PromptTooLongError, match="context length is 64 tokens"):
        generator.complete(long_prompt)
    with pytest.raises(PromptTooLongError, match="lower max_tokens"):
        generator.complete("hi", SamplingParams(max_new_tokens=64))
    # without max_new_tokens, the budget is what still fits
    result = generator.complete("hi", SamplingParams(temperature=0))
    assert result.prompt_tokens + result.completion_tokens <= 64


def test_closing_a_stream_cancels_generation(generator):
    stream = generator.stream("Once", SamplingParams(max_new_tokens=60, temperature=1.0, seed=0))
    iterator = iter(stream)
    next(iterator, None)
    iterator.close()  # e.g. the HTTP client went away
    assert not stream._thread.is_alive()


def test_chat_uses_the_template(generator):
    messages = [{"role": "user", "content": "hello"}]
    ids = generator.encode_chat(messages)
    text = generator.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user\nhello<|im_end|>") and text.endswith("<|im_start|>assistant\n")
    assert generator.chat(messages, SamplingParams(max_new_tokens=4)).completion_tokens <= 4
    with pytest.raises(ValueError, match="empty"):
        generator.encode_chat([])


def test_generate_command_streams(tiny_model_dir, capsys):
    assert cli_main(["generate", "--model", str(tiny_model_dir), "The quick", "--max-new-tokens", "8",
                     "--seed", "1", "--show-usage"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() and "completion_tokens=" in out.err
    assert cli_main(["generate", "--model", str(tiny_model_dir), "The quick", "--max-new-tokens", "8",
                     "--seed", "1", "--no-stream"]) == 0
    assert capsys.readouterr().out == out.out  # streamed and whole output agree for the same seed


@pytest.mark.parametrize("argv,message", [
    (["--temperature", "3"], "temperature"),
    (["--top-p", "0"], "top_p"),
    (["--max-new-tokens", "500"], "context length"),
])
def test_generate_command_bad_input_exits_2(tiny_model_dir, capsys, argv, message):
    assert cli_main(["generate", "--model", str(tiny_model_dir), "hi", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_generate_command_missing_model(tmp_path, capsys):
    assert cli_main(["generate", "--model", str(tmp_path / "nope"), "hi"]) == 2
    assert "model folder not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def long_context_dir(tiny_tokenizer, tmp_path_factory):
    """A tiny model with a 256-token window, so a few chat turns fit."""
    from conftest import tiny_config

    from tinyslm_hf import TinySLMForCausalLM
    from tinyslm_hf.modelio import save_model_folder

    torch.manual_seed(0)
    model = TinySLMForCausalLM(tiny_config("seed", vocab_size=len(tiny_tokenizer), max_position_embeddings=256))
    return save_model_folder(model, tiny_tokenizer, tmp_path_factory.mktemp("ctx256") / "model")


def _chat(monkeypatch, model_dir, stdin, *extra):
    seen = []
    original = Generator.encode_chat

    def spy(self, messages):
        seen.append([dict(m) for m in messages])
        return original(self, messages)

    monkeypatch.setattr(Generator, "encode_chat", spy)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert cli_main(["chat", "--model", str(model_dir), "--max-new-tokens", "4", "--seed", "0", *extra]) == 0
    return seen


def test_chat_command_keeps_history(long_context_dir, monkeypatch, capsys):
    seen = _chat(monkeypatch, long_context_dir, "hi there\nand again\n/reset\nfresh start\n/exit\nignored\n",
                 "--system", "Be nice.")
    out = capsys.readouterr().out
    assert out.count("assistant> ") == 3
    assert [m["role"] for m in seen[0]] == ["system", "user"]
    assert [m["role"] for m in seen[1]] == ["system", "user", "assistant", "user"]
    assert seen[1][1]["content"] == "hi there" and seen[1][3]["content"] == "and again"
    assert [m["content"] for m in seen[2]] == ["Be nice.", "fresh start"]  # /reset kept only the system message


def test_chat_command_drops_old_turns_when_the_context_is_full(tiny_model_dir, monkeypatch, capsys):
    turns = [f"message number {i} is here" for i in range(4)]
    seen = _chat(monkeypatch, tiny_model_dir, "\n".join(turns) + "\n" + "x " * 80 + "\n")
    captured = capsys.readouterr()
    assert captured.out.count("assistant> ") == 4  # every fitting turn answered; the oversized one refused
    assert "dropped the oldest turn" in captured.err and "context length" in captured.err
    last_turn_prompts = [m for m in seen if m[-1]["content"] == turns[-1]]
    assert last_turn_prompts[-1][0]["content"] != turns[0]  # the oldest exchange was forgotten


def test_compiled_generator_matches_eager_and_keeps_one_graph_across_lengths(tiny_model_dir):
    """`compile=True` decodes through a static cache sized to the whole context and transformers' compiled decode
    step: same greedy text as the eager path, and requests of other lengths reuse the graph instead of recompiling.
    (The "eager" dynamo backend traces exactly as inductor would, without minutes of code generation.)"""
    from torch._dynamo.utils import counters

    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    eager = Generator(model, tokenizer)
    compiled = Generator(model, tokenizer, compile=True, compile_backend="eager")
    assert compiled.cache_kwargs["max_cache_len"] == compiled.context_length
    params = SamplingParams(max_new_tokens=10, temperature=0)
    first = compiled.complete("The quick brown", params)
    assert hasattr(model, "_compiled_call")  # generate() took its compiled decode path on this CPU
    graphs = counters["stats"]["unique_graphs"]
    second = compiled.complete("Sales of the north region", SamplingParams(max_new_tokens=6, temperature=0))
    assert counters["stats"]["unique_graphs"] == graphs
    assert first == eager.complete("The quick brown", params)
    assert second == eager.complete("Sales of the north region", SamplingParams(max_new_tokens=6, temperature=0))


def test_generate_command_compile_flag(tiny_model_dir, capsys, monkeypatch):
    from tinyslm_hf import generation

    real_config = generation.decode_compile_config
    monkeypatch.setattr(generation, "decode_compile_config", lambda backend="inductor": real_config("eager"))
    argv = ["generate", "--model", str(tiny_model_dir), "The quick", "--max-new-tokens", "8", "--temperature", "0"]
    assert cli_main(argv) == 0
    plain = capsys.readouterr().out
    assert cli_main([*argv, "--compile"]) == 0
    assert capsys.readouterr().out == plain
    for extra, message in ((["--int8"], "--compile and --int8"), (["--backend", "onnx"], "hf backend only")):
        assert cli_main([*argv, "--compile", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_ui_verb_arguments_load_a_generator_with_or_without_compile(tiny_model_dir):
    """`tinyslm ui` shares the loader with generate/chat but has no --int8 flag (it once crashed on a missing
    attribute); its --compile gives the static-cache compiled decode, since the app generates one reply at a time."""
    import argparse

    from tinyslm_hf.commands import ui
    from tinyslm_hf.commands.generate import load_generator

    parser = argparse.ArgumentParser()
    ui.add_arguments(parser)
    generator = load_generator(parser.parse_args(["--model", str(tiny_model_dir)]))
    assert generator.cache_kwargs == {}
    assert generator.complete("The quick", SamplingParams(max_new_tokens=3, temperature=0)).completion_tokens > 0
    compiled = load_generator(parser.parse_args(["--model", str(tiny_model_dir), "--compile"]))
    assert compiled.cache_kwargs["cache_implementation"] == "static"


def test_chat_commands_are_never_sent_to_the_model(long_context_dir, monkeypatch, capsys):
    seen = _chat(monkeypatch, long_context_dir, "/help\n/nonsense\nhello\n")
    err = capsys.readouterr().err
    assert "/reset" in err and "unknown command /nonsense" in err
    assert len(seen) == 1 and [m["content"] for m in seen[0]] == ["hello"]


def test_ctrl_c_stops_the_reply_and_the_chat_goes_on(long_context_dir, monkeypatch, capsys):
    """The first reply is interrupted after its first piece: that piece stays in the history, the next turn runs."""
    from tinyslm_hf.generation import TextStream

    original_iter = TextStream.__iter__
    interrupted = []

    def iter_then_interrupt(self):
        for i, delta in enumerate(original_iter(self)):
            if not interrupted and i == 1:
                interrupted.append(True)
                raise KeyboardInterrupt
            yield delta

    monkeypatch.setattr(TextStream, "__iter__", iter_then_interrupt)
    seen = _chat(monkeypatch, long_context_dir, "first\nsecond\n", "--max-new-tokens", "12", "--temperature", "0")
    out = capsys.readouterr().out
    assert interrupted and out.count("assistant> ") == 2 and "[stopped]" in out
    assert [m["role"] for m in seen[1]] == ["user", "assistant", "user"]


def test_every_option_of_every_verb_has_a_description():
    """Parsed from the parsers `--help` prints: an option whose help is missing or only its default fails, and so
    does one that says `(default: None)`: a default decided later is the field's doc to explain."""
    import argparse

    from tinyslm_hf.cli import build_parser

    missing = []

    def walk(name, parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for verb, sub in action.choices.items():
                    walk(f"{name} {verb}".strip(), sub)
            elif action.option_strings and action.dest != "help":
                text = (action.help or "").strip()
                if not text or text.startswith("(default") or "(default: None)" in text:
                    missing.append(f"{name} {action.option_strings[-1]}")

    walk("", build_parser())
    assert not missing, missing
