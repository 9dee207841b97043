"""Entry-point module of the hf_backend plugin (loaded at discovery: keep it light)."""
