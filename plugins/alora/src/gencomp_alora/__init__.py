"""alora plugin."""
