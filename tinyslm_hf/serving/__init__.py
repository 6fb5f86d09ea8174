"""Serving front ends: the OpenAI-compatible HTTP server (`server.py`) and the Gradio app (`app.py`).

Both need the optional `serve` extra (fastapi, uvicorn, sse-starlette, gradio); nothing here is imported by
`import tinyslm_hf`.
"""
