"""Rate limits: provider headers read into resets, cooldowns of accounts."""
