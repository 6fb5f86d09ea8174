"""Excel-formula assistant: synthetic tables and requests, SFT/LoRA training, execution-scored evaluation."""
