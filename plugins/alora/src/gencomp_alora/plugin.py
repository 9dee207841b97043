"""Entry-point module of the alora plugin (loaded at discovery: keep it light)."""
