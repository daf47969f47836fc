"""State that outlives a request: one small interface per kind, two backends behind them."""
