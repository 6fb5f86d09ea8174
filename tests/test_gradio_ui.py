"""The Gradio app in a real headless Chromium (Debian's build, driven by playwright): submit prompts, get text back.

Needs `apt-get install chromium` (or $CHROMIUM pointing at a Chromium binary) and `pip install playwright gradio`;
`playwright install` is not needed (and cannot download here). Screenshots are kept in the test's tmp dir, and
copied to $TINYSLM_TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tinyslm_hf.generation import Generator
from tinyslm_hf.modelio import load_model_and_tokenizer

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def demo_url(tiny_model_dir):
    from tinyslm_hf.serving.app import build_demo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    demo = build_demo(Generator(model, tokenizer), title="TinySLM test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, quiet=True,
                share=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set $CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def keep(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TINYSLM_TEST_ARTIFACTS"):
        os.makedirs(os.environ["TINYSLM_TEST_ARTIFACTS"], exist_ok=True)
        shutil.copy(path, os.environ["TINYSLM_TEST_ARTIFACTS"])
    assert path.stat().st_size > 1000
    return path


def test_completion_tab_returns_text(demo_url, browser, tmp_path):
    page = browser.new_page()
    page.goto(demo_url, wait_until="load", timeout=60_000)
    page.get_by_role("heading", name="TinySLM test").wait_for(timeout=60_000)  # the app rendered
    page.get_by_role("tab", name="Completion").click()
    prompt = "Once upon a time"
    page.locator("#completion-prompt textarea").fill(prompt)
    page.locator("#completion-generate").click()
    page.wait_for_function(
        "p => { const t = document.querySelector('#completion-output textarea');"
        " return t && t.value.startsWith(p) && t.value.length > p.length; }", arg=prompt, timeout=60_000)
    page.wait_for_timeout(500)  # let the stream settle before the screenshot
    output = page.locator("#completion-output textarea").input_value()
    assert output.startswith(prompt) and len(output) > len(prompt)
    keep(page, tmp_path, "gradio-completion.png")
    page.close()


def test_chat_tab_returns_a_reply(demo_url, browser, tmp_path):
    page = browser.new_page()
    page.goto(demo_url, wait_until="load", timeout=60_000)
    box = page.get_by_role("textbox").filter(visible=True).last  # the chat input (the system box comes first)
    box.fill("Hello, who are you?")
    box.press("Enter")
    bot = page.locator(".message.bot, [data-testid='bot']").filter(visible=True)
    bot.first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('.message.bot, [data-testid=\"bot\"]');"
        " return m.length && m[m.length - 1].innerText.trim().length > 0; }", timeout=60_000)
    assert page.get_by_text("Hello, who are you?").count() >= 1  # the user turn is shown
    assert bot.last.inner_text().strip()
    keep(page, tmp_path, "gradio-chat.png")
    page.close()
