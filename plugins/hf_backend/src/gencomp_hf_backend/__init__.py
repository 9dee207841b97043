"""hf_backend plugin."""
