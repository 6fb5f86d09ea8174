"""Hub publishing: the staged repo folder is complete and loads without tinyslm_hf; the upload goes through HfApi."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import huggingface_hub
import pytest
from huggingface_hub import ModelCard

from tinyslm_hf import hub
from tinyslm_hf.cli import main as cli_main

REPO = "someone/tiny-slm"


@pytest.fixture(scope="module")
def model_with_leftovers(tiny_model_dir, tmp_path_factory):
    """A trained-run folder: the model plus training leftovers and eval numbers."""
    path = tmp_path_factory.mktemp("run") / "final"
    shutil.copytree(tiny_model_dir, path)
    (path / "training_args.bin").write_bytes(b"pickle! never upload")
    (path / "optimizer.pt").write_bytes(b"pickle")
    (path / "eval_results.json").write_text(json.dumps({"eval_loss": 3.21, "perplexity": 24.8,
                                                        "bits_per_byte": 1.9}))
    return path


@pytest.fixture(scope="module")
def staged(model_with_leftovers, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage") / "repo"
    return hub.stage_repo(model_with_leftovers, out, REPO, datasets=["tinyslm/corpus"])


def test_staged_folder_is_complete(staged):
    names = {p.name for p in staged.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "configuration_tinyslm.py",
            "modeling_tinyslm.py", "kernels_tinyslm.py", "tokenizer.json", "tokenizer_config.json",
            "chat_template.jinja", "README.md",
            "app.py", "generation.py", "requirements.txt"} <= names
    assert not {"training_args.bin", "optimizer.pt"} & names
    assert not [p for p in staged.iterdir() if p.suffix in (".bin", ".pt", ".pkl")]
    config = json.loads((staged / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_tinyslm.TinySLMForCausalLM"
    assert config["auto_map"]["AutoConfig"] == "configuration_tinyslm.TinySLMConfig"
    requirements = (staged / "requirements.txt").read_text().split()
    assert "gradio>=5.0" in requirements and any(r.startswith("transformers") for r in requirements)


def test_model_card_metadata(staged):
    card = ModelCard.load(staged / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "text-generation"
    assert data["license"] == "apache-2.0"
    assert "custom_code" in data["tags"] and "tinyslm" in data["tags"]
    assert data["datasets"] == ["tinyslm/corpus"]
    assert set(data["metrics"]) == {"perplexity", "bits_per_byte", "loss"}
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"perplexity": 24.8, "bits_per_byte": 1.9, "loss": 3.21}
    assert REPO in card.text and "trust_remote_code=True" in card.text


ISOLATED = textwrap.dedent("""
    import importlib.util, json, sys
    sys.path.extend(SITE_DIRS)
    # Started with -I -S: no PYTHONPATH, no cwd, no .pth files, so tinyslm_hf's editable install is invisible.
    assert importlib.util.find_spec("tinyslm_hf") is None, "tinyslm_hf is importable"
    try:
        import tinyslm_hf
    except ImportError:
        pass
    else:
        raise SystemExit("tinyslm_hf imported")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
    folder = sys.argv[1]
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    pipe = pipeline("text-generation", model=model, tokenizer=tok)
    out = pipe("The quick brown", max_new_tokens=5, do_sample=False)
    # The Space app runs from the folder with its own generation.py, still without tinyslm_hf.
    sys.path.insert(0, folder)
    import app
    demo = app.build_demo(app._load_standalone(), title="Space")
    assert "tinyslm_hf" not in sys.modules
    print(json.dumps({"cls": type(model).__module__ + "." + type(model).__name__,
                      "text": out[0]["generated_text"], "demo": type(demo).__name__}))
""")


def test_staged_folder_loads_without_the_package(staged, tmp_path):
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    script = ISOLATED.replace("SITE_DIRS", repr(site_dirs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), GRADIO_ANALYTICS_ENABLED="False",
               MODEL_ID="")
    run = subprocess.run([sys.executable, "-I", "-S", "-c", script, str(staged)], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["cls"].startswith("transformers_modules.") and result["cls"].endswith("TinySLMForCausalLM")
    assert result["text"].startswith("The quick brown")
    assert result["demo"] == "Blocks"


class FakeApi:
    """Stands in for HfApi at the network boundary and records what would have been sent."""

    def __init__(self, token=None):
        self.token = token
        self.calls = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))
        return f"https://huggingface.co/{kwargs['repo_id']}"

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in __import__("pathlib").Path(kwargs["folder_path"]).iterdir())
        self.calls.append(("upload_folder", {**kwargs, "files": files}))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


def test_push_uploads_the_staged_folder(staged):
    api = FakeApi()
    url = hub.push(staged, REPO, private=True, token="hf_fake", api=api)
    assert url.endswith("/commit/abc")
    (create, kw1), (upload, kw2) = api.calls
    assert create == "create_repo" and kw1["repo_id"] == REPO and kw1["private"] is True and kw1["exist_ok"]
    assert upload == "upload_folder" and kw2["repo_id"] == REPO and kw2["folder_path"] == str(staged)
    assert "training_args.bin" in kw2["ignore_patterns"]
    assert "model.safetensors" in kw2["files"] and "README.md" in kw2["files"]


def test_push_command_end_to_end_with_fake_api(model_with_leftovers, monkeypatch, capsys):
    made = []

    def fake_api(token=None):
        made.append(FakeApi(token))
        return made[-1]

    monkeypatch.setattr(hub, "HfApi", fake_api)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert cli_main(["push", "--model", str(model_with_leftovers), "--repo", REPO]) == 0
    api = made[0]
    assert api.token == "hf_from_env"
    upload = dict(api.calls)["upload_folder"]
    assert upload["token"] == "hf_from_env"
    assert "model.safetensors" in upload["files"] and "training_args.bin" not in upload["files"]
    assert "uploaded someone/tiny-slm" in capsys.readouterr().out


def test_push_without_token_is_a_clear_error(model_with_leftovers, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hub, "HfApi", lambda **kw: pytest.fail("must not reach the network"))
    with pytest.raises(ValueError, match="no Hugging Face token"):
        hub.resolve_token(None)
    assert cli_main(["push", "--model", str(model_with_leftovers), "--repo", REPO]) == 2
    assert "no Hugging Face token: set HF_TOKEN" in capsys.readouterr().err


def test_stage_errors(model_with_leftovers, tmp_path, capsys):
    assert cli_main(["push", "--model", str(model_with_leftovers), "--repo", "not-a-repo-id",
                     "--stage-only", str(tmp_path / "x")]) == 2
    assert "USER/NAME" in capsys.readouterr().err
    assert cli_main(["push", "--model", str(tmp_path / "missing"), "--repo", REPO,
                     "--stage-only", str(tmp_path / "y")]) == 2
    assert not (tmp_path / "y").exists()
    (tmp_path / "z").mkdir()
    assert cli_main(["push", "--model", str(model_with_leftovers), "--repo", REPO,
                     "--stage-only", str(tmp_path / "z")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_trained_runs_card_is_staged_as_the_repos(tiny_model_dir, tmp_path):
    """The card `tinyslm train` writes (title = run folder, usage with a placeholder path, a loss-curve image,
    metrics in train_metrics.json) becomes the repo's: repo name and id, the measured numbers as model-index, the
    real vocabulary size, and every file it links uploaded beside it."""
    from tinyslm_hf.card import write_model_card
    from tinyslm_hf.modelio import model_name
    from tinyslm_hf.training import TrainSettings

    run = tmp_path / "runs" / "shakespeare" / "final"
    shutil.copytree(tiny_model_dir, run)
    metrics = {"heldout_loss": 1.5, "heldout_perplexity": 4.48, "heldout_bits_per_byte": 2.07, "eval_loss": 1.6,
               "train_loss": 1.4, "steps": 10, "parameters": 1000, "vocab_size": 298}
    (run / "train_metrics.json").write_text(json.dumps(metrics))
    (run / "loss_curve.png").write_bytes(b"\x89PNG fake")
    write_model_card(run, TrainSettings(vocab_size=1024), metrics, ["corpus.txt"], has_plot=True)
    assert model_name(run) == "shakespeare" and model_name(run.parent) == "shakespeare"
    staged = hub.stage_repo(run, tmp_path / "repo", REPO, space=False)
    card = ModelCard.load(staged / "README.md")
    assert card.text.lstrip().startswith("# tiny-slm") and "PATH" not in card.text
    assert f'from_pretrained("{REPO}"' in card.text and "298 tokens" in card.text and "1024 tokens" not in card.text
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"perplexity": 4.48, "bits_per_byte": 2.07, "loss": 1.5}
    links = hub.linked_files(card.text)
    assert "loss_curve.png" in links and all((staged / link).is_file() for link in links)
    (run / "loss_curve.png").unlink()
    with pytest.raises(FileNotFoundError, match="loss_curve.png"):
        hub.stage_repo(run, tmp_path / "repo2", REPO, space=False)
    assert not (tmp_path / "repo2").exists()


def test_existing_card_text_and_metadata_are_kept(tiny_model_dir, tmp_path):
    model = tmp_path / "final"
    shutil.copytree(tiny_model_dir, model)
    (model / "README.md").write_text("---\nlicense: mit\ntags:\n- excel\ndatasets:\n- me/corpus\n"
                                     "base_model: me/base\n---\n\n# Trained card\n\nNumbers from training.\n")
    card = ModelCard.load(hub.stage_repo(model, tmp_path / "repo", REPO, space=False) / "README.md")
    data = card.data.to_dict()
    assert "Numbers from training." in card.text
    assert data["license"] == "mit" and data["datasets"] == ["me/corpus"] and data["base_model"] == "me/base"
    assert {"excel", "custom_code"} <= set(data["tags"]) and data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "text-generation"
    assert not (tmp_path / "repo" / "app.py").exists()
