"""Export and quantization: GGUF (llama.cpp), ONNX with KV cache (onnxruntime), CPU int8 for transformers.

Submodules import their heavy optional dependencies (gguf, onnxruntime, llama_cpp) lazily, so importing this package
costs nothing.
"""
