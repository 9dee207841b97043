"""Entry-point module of the template_formatter plugin (loaded at discovery: keep it light)."""
