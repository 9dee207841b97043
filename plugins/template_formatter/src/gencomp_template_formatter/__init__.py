"""template_formatter plugin."""
